namespace Kiln.Tests;

public sealed class JoinTests
{
    static readonly int[] Sizes = [1, 7, 65];

    /// <summary>Reads one element straight from storage, shape and strides: independent of CopyStrided.</summary>
    static float At(Tensor t, int[] idx)
    {
        int off = t.Offset;
        var st = t.Strides;
        for (int k = 0; k < idx.Length; k++) off += idx[k] * st[k];
        return t.DType == DType.Float32 ? t.UntypedStorage.Floats![off] : t.UntypedStorage.Ints![off];
    }

    /// <summary>Every multi-index of shape in row-major order.</summary>
    static IEnumerable<int[]> Indices(int[] shape)
    {
        int n = 1;
        foreach (int s in shape) n *= s;
        for (int flat = 0; flat < n; flat++)
        {
            var idx = new int[shape.Length];
            for (int d = shape.Length - 1, f = flat; d >= 0; d--) { idx[d] = f % shape[d]; f /= shape[d]; }
            yield return idx;
        }
    }

    /// <summary>
    /// Random float tensor of the given shape in a chosen layout: 0 contiguous, 1 a permuted (transposed) copy,
    /// 2 every other element of a wider base at a non-zero offset.
    /// </summary>
    static Tensor Make(Random rng, int[] shape, int layout)
    {
        Tensor Rand(int[] s)
        {
            int n = 1;
            foreach (int x in s) n *= x;
            var d = new float[n];
            for (int i = 0; i < n; i++) d[i] = (float)Math.Round(rng.NextDouble() * 200 - 100, 2);
            return Tensor.FromArray(d, s.Length == 0 ? [1] : s).Reshape(s);
        }
        int r = shape.Length;
        switch (layout)
        {
            case 1 when r >= 2:
                var rev = shape.Reverse().ToArray();
                var perm = Enumerable.Range(0, r).Reverse().ToArray();
                return Rand(rev).Permute(perm);
            case 2 when r >= 1:
                var wide = (int[])shape.Clone();
                wide[^1] = shape[^1] * 2 + 1;
                return Rand(wide).Slice(-1, 1, null, 2);
            default:
                return Rand(shape);
        }
    }

    [Fact]
    public void TestInputLayoutsAreReallyNonContiguous()
    {
        var rng = new Random(1);
        Assert.False(Make(rng, [7, 65], 1).IsContiguous);
        Assert.False(Make(rng, [7], 2).IsContiguous);
        Assert.NotEqual(0, Make(rng, [7, 7], 2).Offset);
    }

    static void AssertEqualElements(Func<int[], float> expected, Tensor actual)
    {
        foreach (var idx in Indices(actual.Shape))
        {
            float e = expected(idx), a = At(actual, idx);
            if (e != a) Assert.Fail($"at [{string.Join(",", idx)}]: expected {e}, got {a}");
        }
    }

    public static IEnumerable<object[]> RankAndDims()
    {
        for (int rank = 1; rank <= 3; rank++)
            for (int dim = -rank; dim < rank; dim++)
                yield return [rank, dim];
    }

    [Theory]
    [MemberData(nameof(RankAndDims))]
    public void CatMatchesElementLoopReferenceForAllDimsAndLayouts(int rank, int dim)
    {
        var rng = new Random(rank * 100 + dim);
        int d = dim < 0 ? dim + rank : dim;
        for (int trial = 0; trial < 6; trial++)
        {
            var baseShape = new int[rank];
            for (int k = 0; k < rank; k++) baseShape[k] = Sizes[rng.Next(rank == 3 ? 2 : 3)]; // keeps rank-3 cases small
            int count = rng.Next(1, 4);
            var inputs = new Tensor[count];
            for (int i = 0; i < count; i++)
            {
                var s = (int[])baseShape.Clone();
                s[d] = Sizes[rng.Next(3)];
                inputs[i] = Make(rng, s, (i + trial) % 3);
            }
            var result = Tensor.Cat(inputs, dim);

            var expectedShape = (int[])baseShape.Clone();
            expectedShape[d] = inputs.Sum(t => t.Shape[d]);
            Assert.Equal(expectedShape, result.Shape);
            Assert.True(result.IsContiguous);
            AssertEqualElements(idx =>
            {
                int j = idx[d], which = 0;
                while (j >= inputs[which].Shape[d]) j -= inputs[which++].Shape[d];
                var src = (int[])idx.Clone();
                src[d] = j;
                return At(inputs[which], src);
            }, result);
        }
    }

    public static IEnumerable<object[]> RankAndNewDims()
    {
        for (int rank = 0; rank <= 3; rank++)
            for (int dim = -rank - 1; dim <= rank; dim++)
                yield return [rank, dim];
    }

    [Theory]
    [MemberData(nameof(RankAndNewDims))]
    public void StackMatchesElementLoopReferenceForAllDimsAndLayouts(int rank, int dim)
    {
        var rng = new Random(rank * 100 + dim + 50);
        int d = dim < 0 ? dim + rank + 1 : dim;
        var shape = new int[rank];
        for (int k = 0; k < rank; k++) shape[k] = rank == 3 ? Sizes[rng.Next(2)] : Sizes[rng.Next(3)];
        int count = Sizes[rng.Next(2)];
        var inputs = Enumerable.Range(0, count).Select(i => Make(rng, shape, i % 3)).ToArray();
        var result = Tensor.Stack(inputs, dim);

        Assert.Equal([.. shape[..d], count, .. shape[d..]], result.Shape);
        AssertEqualElements(idx => At(inputs[idx[d]], [.. idx[..d], .. idx[(d + 1)..]]), result);
    }

    [Fact]
    public void CatPromotesIntsWithFloatsToFloat32AndBoolsWithIntsToInt32()
    {
        var f = Tensor.Of(1.5f, 2.5f);
        var i = Tensor.FromArray(new[] { 3, -4 });
        var b = Tensor.FromArray(new[] { true, false });
        var fi = Tensor.Cat([f, i]);
        Assert.Equal(DType.Float32, fi.DType);
        Assert.Equal(new[] { 1.5f, 2.5f, 3f, -4f }, fi.ToArray());
        var ib = Tensor.Cat([b, i]);
        Assert.Equal(DType.Int32, ib.DType);
        Assert.Equal(new[] { 1, 0, 3, -4 }, ib.ToIntArray());
        Assert.Equal(DType.Bool, Tensor.Stack([b, b]).DType);
        Assert.Equal(DType.Float32, Tensor.Stack([b, f]).DType);
    }

    [Fact]
    public void CatSkipsLegacyOneDimEmptyTensors()
    {
        var a = Tensor.Ones(2, 3);
        var r = Tensor.Cat([Tensor.Zeros(0), a, Tensor.Zeros(0), a], dim: 1);
        Assert.Equal(new[] { 2, 6 }, r.Shape);
        Assert.Equal(new[] { 0 }, Tensor.Cat([Tensor.Zeros(0), Tensor.Zeros(0)]).Shape);
        // A non-legacy empty tensor still has to match.
        Assert.Equal(new[] { 2, 3 }, Tensor.Cat([Tensor.Zeros(2, 0), a], dim: 1).Shape);
        Assert.Throws<ArgumentException>(() => Tensor.Cat([Tensor.Zeros(0, 3), Tensor.Ones(2, 4)]));
    }

    [Fact]
    public void CatAcceptsAnyEnumerable()
    {
        var parts = Enumerable.Range(0, 3).Select(i => Tensor.Full([1, 2], i));
        Assert.Equal(new[] { 0f, 0f, 1f, 1f, 2f, 2f }, Tensor.Cat(parts).ToArray());
        Assert.Equal(new[] { 3, 1, 2 }, Tensor.Stack(parts).Shape);
    }

    [Fact]
    public void CatOutputDoesNotAliasInputs()
    {
        var a = Tensor.Ones(2);
        var r = Tensor.Cat([a]);
        Assert.NotSame(a.UntypedStorage, r.UntypedStorage);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(-1)]
    [InlineData(-2)]
    public void SplitBySizeThenCatRoundTrips(int dim)
    {
        var rng = new Random(7 + dim);
        var t = Make(rng, [65, 7], 1);
        foreach (int size in new[] { 1, 3, 7, 10, 65, 100 })
        {
            var pieces = t.Split(size, dim);
            int n = t.Size(dim);
            Assert.Equal((n + size - 1) / size, pieces.Length);
            for (int i = 0; i < pieces.Length - 1; i++) Assert.Equal(size, pieces[i].Size(dim));
            Assert.Equal(n - (pieces.Length - 1) * size, pieces[^1].Size(dim));
            Assert.Equal(t.ToArray(), Tensor.Cat(pieces, dim).ToArray());
        }
    }

    [Fact]
    public void SplitBySizesGivesExactPiecesThatRoundTrip()
    {
        var t = Make(new Random(3), [4, 65], 2);
        var pieces = t.Split([0, 1, 7, 57], dim: -1);
        Assert.Equal(new[] { 0, 1, 7, 57 }, pieces.Select(p => p.Size(1)));
        Assert.Equal(t.ToArray(), Tensor.Cat(pieces, 1).ToArray());
        Assert.Equal(t.Narrow(1, 8, 57).ToArray(), pieces[3].ToArray());
    }

    [Theory]
    [InlineData(7, 3, new[] { 3, 3, 1 })]
    [InlineData(6, 4, new[] { 2, 2, 2 })] // ceil(6/4) = 2: only 3 pieces, as torch.chunk
    [InlineData(5, 5, new[] { 1, 1, 1, 1, 1 })]
    [InlineData(2, 5, new[] { 1, 1 })]
    [InlineData(65, 1, new[] { 65 })]
    [InlineData(0, 3, new[] { 0, 0, 0 })]
    public void ChunkFollowsTorchSizing(int n, int chunks, int[] expected)
    {
        var t = Tensor.Zeros(3, n);
        Assert.Equal(expected, t.Chunk(chunks, dim: 1).Select(p => p.Size(1)));
    }

    [Fact]
    public void SplitChunkAndUnbindReturnViewsSharingStorage()
    {
        var t = Tensor.Arange(0f, 12f).Reshape(3, 4);
        var pieces = t.Split(2, 1).Concat(t.Split([1, 2], 0)).Concat(t.Chunk(2, -1)).Concat(t.Unbind(1)).ToArray();
        Assert.All(pieces, p => Assert.Same(t.UntypedStorage, p.UntypedStorage));
        var col = t.Unbind(1)[2];
        Assert.Equal(new[] { 3 }, col.Shape);
        Assert.Equal(new[] { 2f, 6f, 10f }, col.ToArray());
        // Writing through the original shows up in the view: nothing was copied.
        t.UntypedStorage.Floats![6] = 99f;
        Assert.Equal(new[] { 2f, 99f, 10f }, col.ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(-1)]
    [InlineData(-3)]
    public void UnbindThenStackRoundTrips(int dim)
    {
        var t = Make(new Random(11), [7, 1, 5], 1);
        var parts = t.Unbind(dim);
        Assert.Equal(t.Size(dim), parts.Length);
        Assert.Equal(t.ToArray(), Tensor.Stack(parts, dim).ToArray());
    }

    [Fact]
    public void ErrorsNameTheOpAndShapes()
    {
        Assert.Contains("Cat: expected a non-empty", Assert.Throws<ArgumentException>(() => Tensor.Cat(Array.Empty<Tensor>())).Message);
        Assert.Contains("Stack: expected a non-empty", Assert.Throws<ArgumentException>(() => Tensor.Stack(Array.Empty<Tensor>())).Message);

        var m = Assert.Throws<ArgumentException>(() => Tensor.Cat([Tensor.Zeros(2, 3), Tensor.Zeros(4, 4)], 1)).Message;
        Assert.Contains("Cat", m); Assert.Contains("[2,3]", m); Assert.Contains("[4,4]", m);

        m = Assert.Throws<ArgumentException>(() => Tensor.Cat([Tensor.Zeros(2, 3), Tensor.Zeros(3)])).Message;
        Assert.Contains("same number of dimensions", m); Assert.Contains("[3]", m);

        m = Assert.Throws<ArgumentException>(() => Tensor.Cat([Tensor.Scalar(1), Tensor.Scalar(2)])).Message;
        Assert.Contains("zero-dimensional", m);

        m = Assert.Throws<ArgumentException>(() => Tensor.Stack([Tensor.Zeros(2, 3), Tensor.Zeros(3, 2)])).Message;
        Assert.Contains("Stack", m); Assert.Contains("[2,3]", m); Assert.Contains("[3,2]", m);

        m = Assert.Throws<ArgumentException>(() => Tensor.Zeros(4, 5).Split([2, 2], 1)).Message;
        Assert.Contains("Split", m); Assert.Contains("sum to 4", m); Assert.Contains("[4,5]", m);

        Assert.Throws<ArgumentException>(() => Tensor.Zeros(4).Split([5, -1]));
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(4).Split(0));
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(4).Chunk(0));
        Assert.Contains("Unbind", Assert.Throws<ArgumentException>(() => Tensor.Scalar(1).Unbind()).Message);
        Assert.Contains("Cat", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Cat([Tensor.Zeros(2, 2)], 2)).Message);
        Assert.Contains("Stack", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Stack([Tensor.Zeros(2, 2)], -4)).Message);
    }

    [Fact]
    public void SplitOfEmptyDimGivesOneEmptyPiece()
    {
        var pieces = Tensor.Zeros(0, 3).Split(2);
        Assert.Single(pieces);
        Assert.Equal(new[] { 0, 3 }, pieces[0].Shape);
    }
}
