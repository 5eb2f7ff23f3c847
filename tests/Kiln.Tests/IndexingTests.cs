using static Kiln.TensorIndex;

namespace Kiln.Tests;

public sealed class IndexingTests
{
    static void AssertTensor(float[] expected, int[] shape, Tensor actual)
    {
        Assert.Equal(shape, actual.Shape);
        Assert.Equal(expected, actual.ToArray());
    }

    /// <summary>Elements of shape in row-major order, each computed by f from its multi-index: the reference loop.</summary>
    static float[] Build(int[] shape, Func<int[], float> f)
    {
        int n = 1;
        foreach (int s in shape) n *= s;
        var r = new float[n];
        var pos = new int[shape.Length];
        for (int flat = 0; flat < n; flat++)
        {
            r[flat] = f(pos);
            for (int k = shape.Length - 1; k >= 0; k--)
            {
                if (++pos[k] < shape[k]) break;
                pos[k] = 0;
            }
        }
        return r;
    }

    static int Wrap(int i, int n) => i < 0 ? i + n : i;

    /// <summary>A logical [a,b,c] tensor in one of four layouts: contiguous, fully transposed, sliced with a step, or expanded.</summary>
    static Tensor Layout(int[] s, int kind) => kind switch
    {
        0 => Tensor.Randn(s[0], s[1], s[2]),
        1 => Tensor.Randn(s[2], s[1], s[0]).Permute(2, 1, 0),
        2 => Tensor.Randn(s[0] + 2, s[1], 2 * s[2]).Slice(0, 1, 1 + s[0]).Slice(2, null, null, 2),
        _ => Tensor.Randn(1, s[1], s[2]).Expand(s[0], s[1], s[2]),
    };

    static int[] RandomIndices(Random rng, int size, int count)
    {
        var r = new int[count];
        for (int i = 0; i < count; i++) r[i] = rng.Next(-size, size);
        return r;
    }

    // ---- basic indexing: views ----

    [Fact]
    public void NewAxis_InsertsSizeOneDims_AndBroadcastsToOuterProduct_Lesson8()
    {
        var c = Tensor.Of(10, 20, 30);
        AssertTensor([10, 20, 30], [1, 3], c[None]);
        AssertTensor([10, 20, 30], [1, 3], c[NewAxis, ..]);
        AssertTensor([10, 20, 30], [3, 1], c[.., NewAxis]);
        AssertTensor([10, 20, 30], [3, 1], c[.., None]);
        var outer = c[NewAxis, ..] * c[.., NewAxis];
        AssertTensor([100, 200, 300, 200, 400, 600, 300, 600, 900], [3, 3], outer);
        Assert.Same(c.UntypedStorage, c[None].UntypedStorage);
        Assert.Equal([1, 1, 3, 1], c[None, None, .., None].Shape);
    }

    [Fact]
    public void BasicIndexing_ReturnsViewSharingStorage_WritesReachTheOriginal()
    {
        var t = Tensor.Arange(0f, 12f).Reshape(3, 4);
        var row = t[1];
        var col = t[.., 2];
        Assert.Same(t.UntypedStorage, row.UntypedStorage);
        Assert.Same(t.UntypedStorage, col.UntypedStorage);
        row.FillInPlace(-1);
        col.CopyFrom(Tensor.Of(7, 8, 9));
        AssertTensor([0, 1, 7, 3, -1, -1, 8, -1, 8, 9, 9, 11], [3, 4], t);
        t[2, 3].FillInPlace(42);
        Assert.Equal(42f, t.ToArray()[11]);
    }

    [Fact]
    public void Ranges_WithHat_SliceAndClampLikePython()
    {
        var t = Tensor.Arange(0f, 10f);
        AssertTensor([2, 3, 4], [3], t[2..5]);
        AssertTensor([7, 8, 9], [3], t[^3..]);
        AssertTensor([1, 2, 3, 4, 5, 6, 7, 8], [8], t[1..^1]);
        AssertTensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10], t[..100]);
        AssertTensor([0, 1], [2], t[^20..2]);
        AssertTensor([], [0], t[7..3]);
        Assert.Equal(9f, t[^1].Item());
        var m = Tensor.Arange(0f, 20f).Reshape(4, 5);
        AssertTensor([8, 9, 13, 14], [2, 2], m[1..^1, ^2..]);
        Assert.Equal(8, m[1..^1, ^2..].Offset);
    }

    [Fact]
    public void Slice_WithStep_PicksEveryKthElementAsAView()
    {
        var t = Tensor.Arange(0f, 7f);
        AssertTensor([1, 3, 5], [3], t[Slice(1, null, 2)]);
        AssertTensor([0, 3, 6], [3], t[Slice(null, null, 3)]);
        AssertTensor([4, 5, 6], [3], t[Slice(-3)]);
        AssertTensor([0, 4], [2], t[Slice(null, -1, 4)]);
        var m = Tensor.Arange(0f, 24f).Reshape(4, 6);
        var v = m[Slice(null, null, 2), Slice(1, null, 2)];
        AssertTensor([1, 3, 5, 13, 15, 17], [2, 3], v);
        Assert.Equal([12, 2], v.Strides);
        Assert.Same(m.UntypedStorage, v.UntypedStorage);
        Assert.Throws<ArgumentException>(() => Slice(0, 3, 0));
    }

    [Fact]
    public void Ellipsis_ExpandsToTheNeededFullSlices_On4d()
    {
        var x = Tensor.Arange(0f, 120f).Reshape(2, 3, 4, 5);
        var data = x.ToArray();
        float X(int a, int b, int c, int d) => data[((a * 3 + b) * 4 + c) * 5 + d];
        AssertTensor(Build([2, 3, 4], p => X(p[0], p[1], p[2], 0)), [2, 3, 4], x[Ellipsis, 0]);
        AssertTensor(Build([3, 4], p => X(1, p[0], p[1], 4)), [3, 4], x[1, Ellipsis, ^1]);
        AssertTensor(Build([2, 4], p => X(p[0], 2, p[1], 3)), [2, 4], x[.., 2, Ellipsis, 3]);
        Assert.Equal([2, 3, 4, 5], x[Ellipsis].Shape);
        Assert.Equal([2, 3, 4, 5, 1], x[Ellipsis, None].Shape);
        Assert.Equal([1, 2, 3, 4, 5], x[None, Ellipsis].Shape);
        Assert.Equal(X(1, 2, 3, 4), x[1, 2, 3, 4, Ellipsis].Item());
        Assert.Throws<ArgumentException>(() => x[Ellipsis, 0, Ellipsis]);
    }

    [Fact]
    public void NegativeInts_CountFromTheEnd()
    {
        var m = Tensor.Arange(0f, 12f).Reshape(3, 4);
        Assert.Equal(10f, m[-1, -2].Item());
        Assert.Equal(8f, m[^1, ^4].Item());
        AssertTensor([0, 1, 2, 3], [4], m[-3]);
        AssertTensor([3, 7, 11], [3], m[.., -1]);
    }

    [Fact]
    public void FewerIndicesThanDims_MeansTrailingFullSlices()
    {
        var x = Tensor.Arange(0f, 24f).Reshape(2, 3, 4);
        AssertTensor(Build([3, 4], p => 12 + p[0] * 4 + p[1]), [3, 4], x[1]);
        AssertTensor(x[1, .., ..].ToArray(), [3, 4], x[1]);
        AssertTensor([20, 21, 22, 23], [4], x[1, 2]);
    }

    // ---- advanced indexing: gathers ----

    [Fact]
    public void IntTensorPairs_PickOneElementPerRow_Lesson4()
    {
        var acts = Tensor.Randn(5, 10);
        var a = acts.ToArray();
        int[] t = [3, 0, 9, 1, -1];
        var targets = Tensor.FromArray(t);
        var picked = acts[Tensor.Arange(5), targets];
        AssertTensor(Build([5], p => a[p[0] * 10 + Wrap(t[p[0]], 10)]), [5], picked);
        Assert.NotSame(acts.UntypedStorage, picked.UntypedStorage);
        AssertTensor(acts.Gather(1, targets.Unsqueeze(1)).ToArray(), [5], picked);
    }

    [Fact]
    public void TwoIndexTensors_BroadcastTogether()
    {
        var m = Tensor.Arange(0f, 20f).Reshape(4, 5);
        var rows = Tensor.FromArray([0, 3, 1], 3, 1);
        var cols = Tensor.FromArray([4, 0]);
        AssertTensor([4, 0, 19, 15, 9, 5], [3, 2], m[rows, cols]);
        var ex = Assert.Throws<ArgumentException>(() => m[Tensor.FromArray([0, 1, 2]), Tensor.FromArray([0, 1])]);
        Assert.Contains("Index", ex.Message);
        Assert.Contains("[3]", ex.Message);
        Assert.Contains("[2]", ex.Message);
    }

    [Fact]
    public void AdvancedIndexDims_GoInPlaceWhenAdjacent_FirstWhenSeparated()
    {
        var x = Tensor.Randn(5, 6, 7, 8);
        var xs = x.ToArray();
        float X(int a, int b, int c, int d) => xs[((a * 6 + b) * 7 + c) * 8 + d];
        int[] i2 = [1, 0];
        AssertTensor(Build([5, 2, 8], p => X(p[0], i2[p[1]], i2[p[1]], p[2])), [5, 2, 8], x[.., i2, i2]);
        AssertTensor(Build([2, 6, 7], p => X(i2[p[0]], p[1], p[2], i2[p[0]])), [2, 6, 7], x[i2, Ellipsis, i2]);
        AssertTensor(Build([2, 6, 8], p => X(i2[p[0]], p[1], i2[p[0]], p[2])), [2, 6, 8], x[i2, .., i2]);
        AssertTensor(Build([2, 5, 7], p => X(p[1], i2[p[0]], p[2], i2[p[0]])), [2, 5, 7], x[.., i2, .., i2]);
        // As in PyTorch (not NumPy), an int selects first, so a lone index tensor after it stays in place.
        AssertTensor(Build([6, 7, 2], p => X(0, p[0], p[1], i2[p[2]])), [6, 7, 2], x[0, .., .., i2]);
        // A NewAxis between two index tensors separates them.
        Assert.Equal([2, 5, 1, 8], x[.., i2, None, i2].Shape);
    }

    [Fact]
    public void IndexLists_FromIntArraysAndCollectionExpressions_SelectAlongADim()
    {
        var m = Tensor.Arange(0f, 12f).Reshape(3, 4);
        AssertTensor([8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11], [3, 4], m[new[] { 2, 0, 2 }]);
        AssertTensor([8, 9, 10, 11, 0, 1, 2, 3], [2, 4], m[[2, 0]]);
        AssertTensor([1, 3, 5, 7, 9, 11], [3, 2], m[.., new[] { 1, -1 }]);
        AssertTensor([], [0, 4], m[Array.Empty<int>()]);
    }

    [Fact]
    public void MixedIndexing_MatchesReferenceLoop_OnRandomShapesAndLayouts()
    {
        var rng = new Random(1234);
        int[] sizes = [1, 7, 65];
        Tensor.ManualSeed(7);
        for (int trial = 0; trial < 12; trial++)
        {
            var s = new[] { sizes[trial % 3], sizes[trial / 3 % 3], sizes[rng.Next(3)] };
            if (trial == 11) s = [65, 7, 65];
            int a = s[0], b = s[1], c = s[2];
            for (int kind = 0; kind < 4; kind++)
            {
                var x = Layout(s, kind);
                if (kind > 0 && a > 1 && c > 1) Assert.False(x.IsContiguous);
                var xs = x.ToArray();
                float X(int i, int j, int k) => xs[(i * b + j) * c + k];
                int m = rng.Next(0, 9), m2 = rng.Next(1, 5);
                int[] ia = RandomIndices(rng, a, m), ib = RandomIndices(rng, b, m), ic = RandomIndices(rng, c, m);
                int[] ia2 = RandomIndices(rng, a, m2), ib2 = RandomIndices(rng, b, 2 * m);
                int ka = rng.Next(-a, a), kc = rng.Next(-c, c);

                AssertTensor(Build([m, b, c], p => X(Wrap(ia[p[0]], a), p[1], p[2])), [m, b, c], x[ia]);
                AssertTensor(Build([a, 2, m, c], p => X(p[0], Wrap(ib2[p[1] * m + p[2]], b), p[3])), [a, 2, m, c],
                    x[.., Tensor.FromArray(ib2, 2, m)]);
                int len = (c - Math.Min(1, c) + 1) / 2;
                AssertTensor(Build([m, len], p => X(Wrap(ka, a), Wrap(ib[p[0]], b), 1 + 2 * p[1])), [m, len],
                    x[ka, ib, Slice(1, null, 2)]);
                AssertTensor(Build([m, b], p => X(Wrap(ia[p[0]], a), p[1], Wrap(ic[p[0]], c))), [m, b], x[ia, .., ic]);
                AssertTensor(Build([(a + 1) / 2, m], p => X(2 * p[0], Wrap(ib[p[1]], b), Wrap(kc, c))), [(a + 1) / 2, m],
                    x[Slice(null, null, 2), ib, kc]);
                AssertTensor(Build([m2, m, c], p => X(Wrap(ia2[p[0]], a), Wrap(ib[p[1]], b), p[2])), [m2, m, c],
                    x[Tensor.FromArray(ia2, m2, 1), Tensor.FromArray(ib, 1, m)]);
                AssertTensor(Build([b, m], p => X(Wrap(ka, a), p[0], Wrap(ic[p[1]], c))), [b, m], x[ka, .., ic]);

                var maskBits = new bool[a * b];
                for (int i = 0; i < maskBits.Length; i++) maskBits[i] = rng.Next(3) == 0;
                var rowsOfMask = Enumerable.Range(0, a * b).Where(i => maskBits[i]).ToArray();
                AssertTensor(Build([rowsOfMask.Length, c], p => xs[rowsOfMask[p[0]] * c + p[1]]), [rowsOfMask.Length, c],
                    x[Tensor.FromArray(maskBits, a, b)]);
            }
        }
    }

    [Fact]
    public void ZeroDimIndexTensorsAndMasks_BehaveLikePyTorch()
    {
        var m = Tensor.Arange(0f, 12f).Reshape(3, 4);
        var i = Tensor.Arange(3)[1];
        Assert.Equal(0, i.Dim);
        var row = m[i];
        AssertTensor([4, 5, 6, 7], [4], row);
        Assert.NotSame(m.UntypedStorage, row.UntypedStorage);
        AssertTensor(m.ToArray(), [1, 3, 4], m[Tensor.Scalar(1) > 0f]);
        Assert.Equal([0, 3, 4], m[Tensor.Scalar(0) > 0f].Shape);
        var s = Tensor.Scalar(5);
        AssertTensor([5], [1], s[None]);
        Assert.Equal(5f, s[Ellipsis].Item());
        Assert.Throws<IndexOutOfRangeException>(() => s[0]);
    }

    // ---- masks ----

    [Fact]
    public void BoolMask_OfFullShape_SelectsElementsInRowMajorOrder()
    {
        var t = Tensor.FromArray([1f, -2, 3, -4, 5, -6], 2, 3);
        AssertTensor([1, 3, 5], [3], t[t > 0]);
        AssertTensor([1, 5, 3], [3], t.T[t.T > 0]);
        AssertTensor([1, 3, 5], [3], t.MaskedSelect(t > 0));
        AssertTensor([], [0], t[t > 10]);
        AssertTensor([-2, 3, 5, -6], [4], t.MaskedSelect(Tensor.FromArray([false, true, true])));
    }

    [Fact]
    public void BoolMask_OverLeadingOrMiddleDims_SelectsSubTensors()
    {
        var x = Tensor.Arange(0f, 24f).Reshape(4, 3, 2);
        var xs = x.ToArray();
        int[] keepRows = [0, 2, 3];
        AssertTensor(Build([3, 3, 2], p => xs[(keepRows[p[0]] * 3 + p[1]) * 2 + p[2]]), [3, 3, 2], x[new[] { true, false, true, true }]);
        AssertTensor(Build([4, 2, 2], p => xs[(p[0] * 3 + 1 + p[1]) * 2 + p[2]]), [4, 2, 2], x[.., new[] { false, true, true }]);
        var m2 = x[.., .., 0] > 10f;
        AssertTensor([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [6, 2], x[m2]);
        var ex = Assert.Throws<ArgumentException>(() => x[new[] { true, false, true }]);
        Assert.Contains("Index", ex.Message);
        Assert.Contains("[3]", ex.Message);
        Assert.Contains("[4,3,2]", ex.Message);
    }

    // ---- assignment ----

    [Fact]
    public void Assignment_IntoSlices_WritesThroughAndBroadcastsTheValue()
    {
        var t = Tensor.Zeros(3, 4);
        int v0 = t.UntypedStorage.Version;
        t[.., 1] = Tensor.Of(1, 2, 3);
        t[1..3, 2..] = Tensor.Of(7, 8);
        t[0] = Tensor.Ones(1, 4) * 9f;
        AssertTensor([9, 9, 9, 9, 0, 2, 7, 8, 0, 3, 7, 8], [3, 4], t);
        Assert.True(t.UntypedStorage.Version > v0);
        t.IndexPut(-1, Slice(null, null, 2), ^1);
        AssertTensor([9, 9, 9, -1, 0, 2, 7, 8, 0, 3, 7, -1], [3, 4], t);
        var tt = Tensor.Zeros(2, 3);
        tt.T[0] = Tensor.Of(5, 6);
        AssertTensor([5, 0, 0, 6, 0, 0], [2, 3], tt);
        var ex = Assert.Throws<ArgumentException>(() => t[0] = Tensor.Of(1, 2, 3));
        Assert.Contains("Index", ex.Message);
        Assert.Contains("[3]", ex.Message);
        Assert.Contains("[4]", ex.Message);
    }

    [Fact]
    public void Assignment_WithMask_SetsOnlyTheMaskedElements()
    {
        var t = Tensor.FromArray([1f, -2, 3, -4]);
        int v0 = t.UntypedStorage.Version;
        t.IndexPut(0, t < 0);
        AssertTensor([1, 0, 3, 0], [4], t);
        Assert.True(t.UntypedStorage.Version > v0);
        var x = Tensor.Zeros(3, 2);
        x[new[] { true, false, true }] = Tensor.Of(4, 5);
        AssertTensor([4, 5, 0, 0, 4, 5], [3, 2], x);
        x[x > 4f] = Tensor.Of(-5);
        AssertTensor([4, -5, 0, 0, 4, -5], [3, 2], x);
    }

    [Fact]
    public void Assignment_WithIntTensors_ScattersAndTheLastDuplicateWins()
    {
        var t = Tensor.Zeros(5);
        int v0 = t.UntypedStorage.Version;
        t[Tensor.FromArray([1, 3, 1, -1])] = Tensor.Of(10, 20, 30, 40);
        AssertTensor([0, 30, 0, 20, 40], [5], t);
        Assert.True(t.UntypedStorage.Version > v0);
        var m = Tensor.Zeros(3, 3);
        m[Tensor.Arange(3), Tensor.FromArray([0, 2, 1])] = Tensor.Of(1, 2, 3);
        AssertTensor([1, 0, 0, 0, 0, 2, 0, 3, 0], [3, 3], m);
        m[[0, 2]] = Tensor.Of(7, 8, 9);
        AssertTensor([7, 8, 9, 0, 0, 2, 7, 8, 9], [3, 3], m);
        m.IndexPut(-1, .., new[] { 1 });
        AssertTensor([7, -1, 9, 0, -1, 2, 7, -1, 9], [3, 3], m);
        Assert.Throws<IndexOutOfRangeException>(() => m[Tensor.FromArray([0, 3])] = Tensor.Scalar(1));
        AssertTensor([7, -1, 9, 0, -1, 2, 7, -1, 9], [3, 3], m);
    }

    [Fact]
    public void Assignment_FromAValueThatReadsTheSameStorage_UsesTheOriginalValues()
    {
        var t = Tensor.Arange(0f, 5f);
        t[Tensor.FromArray([1, 2, 3, 4])] = t[0..4];
        AssertTensor([0, 0, 1, 2, 3], [5], t);
        var u = Tensor.Arange(0f, 5f);
        u[1..] = u[..4];
        AssertTensor([0, 0, 1, 2, 3], [5], u);
    }

    [Fact]
    public void Assignment_MatchesReferenceLoop_OnNonContiguousTargets()
    {
        var rng = new Random(99);
        foreach (var s in new[] { new[] { 7, 65, 1 }, [1, 7, 7], [65, 7, 7] })
        {
            int a = s[0], b = s[1], c = s[2];
            for (int kind = 0; kind < 3; kind++)
            {
                var x = Layout(s, kind);
                var expected = x.ToArray();
                int m = rng.Next(1, 9);
                int[] ia = RandomIndices(rng, a, m), ic = RandomIndices(rng, c, m);
                var value = Tensor.Randn(m, b);
                var vs = value.ToArray();
                x[ia, .., ic] = value;
                for (int p = 0; p < m; p++)
                    for (int j = 0; j < b; j++)
                        expected[(Wrap(ia[p], a) * b + j) * c + Wrap(ic[p], c)] = vs[p * b + j];
                AssertTensor(expected, s, x);

                x[Slice(1, null, 3), ^1] = Tensor.Of(-7);
                for (int i = 1; i < a; i += 3)
                    for (int k = 0; k < c; k++) expected[(i * b + b - 1) * c + k] = -7;
                AssertTensor(expected, s, x);
            }
        }
    }

    // ---- dtypes ----

    [Fact]
    public void Int32AndBoolTensors_IndexAndAssignKeepingTheirDType()
    {
        var it = Tensor.Arange(12).Reshape(3, 4);
        var g = it[Tensor.FromArray([2, 0]), 1..3];
        Assert.Equal(DType.Int32, g.DType);
        Assert.Equal([9, 10, 1, 2], g.ToIntArray());
        Assert.Equal(DType.Int32, it[1].DType);
        it[0, 0] = Tensor.Scalar(2.7f);
        it[Tensor.FromArray([1]), 0] = Tensor.Scalar(-3.9f);
        Assert.Equal(2, it[0, 0].Item<int>());
        Assert.Equal(-3, it[1, 0].Item<int>());

        var bt = Tensor.FromArray([true, false, true, false], 2, 2);
        Assert.Equal(DType.Bool, bt[.., 0].DType);
        Assert.Equal([true, true], bt[.., 0].ToBoolArray());
        Assert.Equal(DType.Bool, bt[bt].DType);
        bt[Tensor.FromArray([0]), 1] = Tensor.Scalar(5);
        bt.IndexPut(0, 1, ..);
        Assert.Equal([true, true, false, false], bt.ToBoolArray());
        Assert.Equal([1, 1, 0, 0], bt.Storage.Ints![..4]);
    }

    [Fact]
    public void ExpandedInput_GathersTheRepeatedValues()
    {
        var row = Tensor.Of(1, 2, 3);
        var e = row.Expand(4, 3);
        AssertTensor([3, 1, 3, 1], [4], e[Tensor.Arange(4), Tensor.FromArray([2, 0, 2, 0])]);
        AssertTensor([1, 2, 3, 1, 2, 3], [2, 3], e[[3, 0]]);
        AssertTensor([3, 3, 3, 3], [4], e[e > 2f]);
    }

    [Fact]
    public void Assignment_IntoAnExpandedTensor_ThrowsUnlessTheRegionIsSingleElements()
    {
        var row = Tensor.Of(1, 2, 3);
        var e = row.Expand(4, 3);
        var ex = Assert.Throws<InvalidOperationException>(() => e[.., 0] = Tensor.Of(9));
        Assert.Contains("expanded", ex.Message);
        Assert.Throws<InvalidOperationException>(() => e[[0, 1]] = Tensor.Of(9));
        Assert.Throws<InvalidOperationException>(() => e.IndexPut(9, e > 2f));
        AssertTensor([1, 2, 3], [3], row);
        e[0] = Tensor.Of(4, 5, 6);
        AssertTensor([4, 5, 6], [3], row);
    }

    // ---- helpers: IndexSelect, MaskedFill, MaskedSelect, Nonzero ----

    [Fact]
    public void IndexSelect_PicksPositionsAlongADim()
    {
        var x = Tensor.Arange(0f, 24f).Reshape(2, 3, 4);
        var xs = x.ToArray();
        int[] ix = [3, 0, 3];
        AssertTensor(Build([2, 3, 3], p => xs[(p[0] * 3 + p[1]) * 4 + ix[p[2]]]), [2, 3, 3], x.IndexSelect(-1, Tensor.FromArray(ix)));
        AssertTensor(Build([2, 1, 4], p => xs[(p[0] * 3 + 2) * 4 + p[2]]), [2, 1, 4], x.IndexSelect(1, Tensor.Arange(3)[2]));
        Assert.Throws<ArgumentException>(() => x.IndexSelect(0, Tensor.Of(0)));
        var ex = Assert.Throws<IndexOutOfRangeException>(() => x.IndexSelect(0, Tensor.FromArray([2])));
        Assert.Contains("IndexSelect", ex.Message);
    }

    [Fact]
    public void MaskedFill_ReturnsACopyAndBroadcastsTheMask()
    {
        var x = Tensor.Arange(0f, 6f).Reshape(2, 3);
        var r = x.MaskedFill(Tensor.FromArray([true, false, true]), -1);
        AssertTensor([-1, 1, -1, -1, 4, -1], [2, 3], r);
        AssertTensor([0, 1, 2, 3, 4, 5], [2, 3], x);
        var ir = Tensor.Arange(4).MaskedFill(Tensor.Arange(4) > 1f, 9);
        Assert.Equal(DType.Int32, ir.DType);
        Assert.Equal([0, 1, 9, 9], ir.ToIntArray());
        Assert.Throws<ArgumentException>(() => x.MaskedFill(Tensor.FromArray([true, false]), 0));
        Assert.Throws<ArgumentException>(() => x.MaskedFill(Tensor.Of(1, 0, 1), 0));
    }

    [Fact]
    public void Nonzero_ListsCoordinatesInRowMajorOrder()
    {
        var x = Tensor.FromArray([0f, 2, 0, 3, 4, 0], 2, 3);
        var nz = x.Nonzero();
        Assert.Equal([3, 2], nz.Shape);
        Assert.Equal([0, 1, 1, 0, 1, 1], nz.ToIntArray());
        Assert.Equal([0, 2], Tensor.Zeros(0, 1).Nonzero().Shape);
        Assert.Equal([1, 0], Tensor.Scalar(3).Nonzero().Shape);
    }

    // ---- errors ----

    [Fact]
    public void OutOfRange_ThrowsNamingTheOperationDimIndexAndSize()
    {
        var m = Tensor.Zeros(3, 4);
        var ex = Assert.Throws<IndexOutOfRangeException>(() => m[3]);
        Assert.Contains("Index:", ex.Message);
        Assert.Contains("index 3", ex.Message);
        Assert.Contains("dimension 0", ex.Message);
        Assert.Contains("size 3", ex.Message);
        ex = Assert.Throws<IndexOutOfRangeException>(() => m[0, -5]);
        Assert.Contains("index -5", ex.Message);
        Assert.Contains("dimension 1", ex.Message);
        Assert.Contains("size 4", ex.Message);
        Assert.Throws<IndexOutOfRangeException>(() => m[^0]);
        ex = Assert.Throws<IndexOutOfRangeException>(() => m[.., Tensor.FromArray([0, 4])]);
        Assert.Contains("index 4", ex.Message);
        Assert.Contains("dimension 1", ex.Message);
        Assert.Throws<IndexOutOfRangeException>(() => m[Tensor.FromArray([-4])]);
        Assert.Throws<IndexOutOfRangeException>(() => m.IndexPut(1, 0, 4));
    }

    [Fact]
    public void TooManyIndicesAndWrongIndexTypes_Throw()
    {
        var m = Tensor.Zeros(3, 4);
        var ex = Assert.Throws<IndexOutOfRangeException>(() => m[0, 0, 0]);
        Assert.Contains("too many indices", ex.Message);
        Assert.Contains("[3,4]", ex.Message);
        Assert.Throws<IndexOutOfRangeException>(() => m[.., .., None, ..]);
        Assert.Throws<IndexOutOfRangeException>(() => m[0, m > 0]);
        Assert.Equal([3, 4, 1], m[.., .., None].Shape);
        var fe = Assert.Throws<ArgumentException>(() => m[Tensor.Of(0, 1)]);
        Assert.Contains("float32", fe.Message);
    }
}
