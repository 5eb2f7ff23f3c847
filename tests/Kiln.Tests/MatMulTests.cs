using Kiln.Lessons;

namespace Kiln.Tests;

public sealed class MatMulTests
{
    static Tensor Randn(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed));

    /// <summary>
    /// torch.matmul by definition, in double: vectors promoted to matrices, batch dims broadcast, a plain triple loop per
    /// batch. Returns the values and Σ|a||b| per element for the rounding bound.
    /// </summary>
    static (double[] value, double[] magnitude, int[] shape) Reference(Tensor a, Tensor b)
    {
        int[] sa = a.Dim == 1 ? [1, a.Size(0)] : a.Shape, sb = b.Dim == 1 ? [b.Size(0), 1] : b.Shape;
        float[] x = a.ToArray(), y = b.ToArray();
        int m = sa[^2], k = sa[^1], n = sb[^1];
        Assert.Equal(k, sb[^2]);
        int[] ba = sa[..^2], bb = sb[..^2];
        int nd = Math.Max(ba.Length, bb.Length);
        var batch = new int[nd];
        for (int d = 0; d < nd; d++)
        {
            int da = d < nd - ba.Length ? 1 : ba[d - (nd - ba.Length)], db = d < nd - bb.Length ? 1 : bb[d - (nd - bb.Length)];
            Assert.True(da == db || da == 1 || db == 1);
            batch[d] = Math.Max(da, db);
        }
        int batches = batch.Aggregate(1, (p, s) => p * s);
        var value = new double[batches * m * n];
        var magnitude = new double[batches * m * n];
        for (int t = 0; t < batches; t++)
        {
            // Row-major batch index t -> flat matrix index in a and in b, where size-1 (or missing) dims repeat.
            int rem = t, ia = 0, ib = 0, mulA = 1, mulB = 1;
            for (int d = nd - 1; d >= 0; d--)
            {
                int idx = rem % batch[d];
                rem /= batch[d];
                int ja = d - (nd - ba.Length), jb = d - (nd - bb.Length);
                if (ja >= 0) { ia += (ba[ja] == 1 ? 0 : idx) * mulA; mulA *= ba[ja]; }
                if (jb >= 0) { ib += (bb[jb] == 1 ? 0 : idx) * mulB; mulB *= bb[jb]; }
            }
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0, mag = 0;
                    for (int p = 0; p < k; p++)
                    {
                        double v = (double)x[ia * m * k + i * k + p] * y[ib * k * n + p * n + j];
                        s += v;
                        mag += Math.Abs(v);
                    }
                    value[(t * m + i) * n + j] = s;
                    magnitude[(t * m + i) * n + j] = mag;
                }
        }
        var shape = new List<int>(batch);
        if (a.Dim > 1) shape.Add(m);
        if (b.Dim > 1) shape.Add(n);
        return (value, magnitude, [.. shape]);
    }

    /// <summary>Checks a·b against the reference, shape and values (rounding bound of a length-k float sum).</summary>
    static void CheckMatMul(Tensor a, Tensor b, Tensor? got = null)
    {
        got ??= a.MatMul(b);
        var (value, magnitude, shape) = Reference(a, b);
        Assert.Equal(shape, got.Shape);
        var g = got.ToArray();
        int k = a.Size(-1);
        double eps = 2 * (k + 2) * Math.Pow(2, -24);
        for (int i = 0; i < g.Length; i++)
            if (!(Math.Abs(g[i] - value[i]) <= eps * magnitude[i] + 1e-30))
                Assert.Fail($"element {i}: {g[i]} vs {value[i]} for {Str(a.Shape)} @ {Str(b.Shape)}");
    }

    static string Str(int[] s) => "[" + string.Join(",", s) + "]";

    public static TheoryData<int, int, int> Sizes => new()
    {
        { 1, 1, 1 }, { 7, 7, 7 }, { 63, 63, 63 }, { 65, 65, 65 }, { 257, 7, 63 }, { 7, 257, 65 }, { 63, 65, 257 },
        { 1, 257, 7 }, { 257, 1, 7 }, { 1, 1, 257 }, { 5, 10, 784 }, { 1, 300, 400 }, { 300, 1, 400 }, { 2, 3, 1000 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void MatrixTimesMatrix_MatchesTripleLoop(int m, int n, int k) => CheckMatMul(Randn(1, m, k), Randn(2, k, n));

    [Theory]
    [MemberData(nameof(Sizes))]
    public void TransposedViews_MatchTripleLoop(int m, int n, int k)
    {
        var at = Randn(3, k, m).T;
        var bt = Randn(4, n, k).T;
        CheckMatMul(at, Randn(5, k, n));
        CheckMatMul(Randn(6, m, k), bt);
        CheckMatMul(at, bt);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(257)]
    public void VectorForms_MatchTripleLoopAndDropTheVectorDim(int k)
    {
        var v = Randn(1, k);
        var w = Randn(2, k);
        var mat = Randn(3, k, 9);
        var matT = Randn(4, 9, k);
        CheckMatMul(v, w);                  // dot -> 0-d
        Assert.Empty(v.MatMul(w).Shape);
        CheckMatMul(v, mat);                // [k]·[k,9] -> [9]
        CheckMatMul(matT, v);               // [9,k]·[k] -> [9]
        CheckMatMul(Randn(5, 4, 3, 9, k), v); // [4,3,9,k]·[k] -> [4,3,9]
        CheckMatMul(v, Randn(6, 2, k, 5));  // [k]·[2,k,5] -> [2,5]
        Assert.Equal(v.MatMul(w).Item(), v.Dot(w).Item());
    }

    [Fact]
    public void StridedVectors_AreReadWithoutCopyingAndMatchTripleLoop()
    {
        var m = Randn(1, 30, 20);
        var col = m.Select(1, 3);          // stride 20
        var row = m.Select(0, 2).Slice(0, step: 2).Narrow(0, 0, 10); // stride 2
        CheckMatMul(col, Randn(2, 30, 4));
        CheckMatMul(Randn(3, 6, 30), col);
        CheckMatMul(row, Randn(4, 10, 5));
        CheckMatMul(col.Narrow(0, 0, 10), row);
    }

    [Fact]
    public void SlicedViews_ReadOnlyTheirOwnElements()
    {
        // Everything outside the views is NaN, so reading past a row or using the wrong leading dimension poisons the result.
        var big = Tensor.Full([40, 50], float.NaN);
        var a = big.Narrow(0, 3, 7).Narrow(1, 5, 33);
        a.CopyFrom(Randn(1, 7, 33));
        var bigB = Tensor.Full([60, 30], float.NaN);
        var b = bigB.Narrow(0, 10, 33).Narrow(1, 1, 9);
        b.CopyFrom(Randn(2, 33, 9));
        Assert.False(a.IsContiguous);
        CheckMatMul(a, b);
        CheckMatMul(b.T, a.T);
        var bigC = Tensor.Full([40, 70], float.NaN);
        var c = bigC.Narrow(1, 2, 65).T; // [65, 40] transposed view with leading dimension 70
        c.CopyFrom(Randn(3, 65, 40));
        CheckMatMul(c, Randn(4, 40, 3));
        CheckMatMul(Randn(5, 2, 65), c);
    }

    [Fact]
    public void NonUnitStrideInBothMatrixDims_IsCopiedAndStillCorrect()
    {
        var x = Randn(1, 14, 18);
        var a = x.Slice(0, step: 2).Slice(1, step: 3); // [7,6], strides [36,3]
        Assert.False(Tensor.GemmReadsInPlace(a));
        CheckMatMul(a, Randn(2, 6, 5));
        CheckMatMul(Randn(3, 4, 7), a);
    }

    [Fact]
    public void TransposesAndRowSlices_AreHandedToGemmInPlace()
    {
        var x = Randn(1, 20, 30);
        Assert.True(Tensor.GemmReadsInPlace(x));
        Assert.True(Tensor.GemmReadsInPlace(x.T));
        Assert.True(Tensor.GemmReadsInPlace(x.Narrow(1, 3, 10)));
        Assert.True(Tensor.GemmReadsInPlace(x.Narrow(1, 3, 10).T));
        Assert.True(Tensor.GemmReadsInPlace(Randn(2, 4, 5, 6).Transpose(-1, -2)));
        Assert.True(Tensor.GemmReadsInPlace(Randn(2, 1, 6).Expand(5, 7, 6).Narrow(1, 0, 1)));
        Assert.False(Tensor.GemmReadsInPlace(Randn(3, 1, 6).Expand(7, 6))); // rows repeated with stride 0
    }

    [Theory]
    [InlineData(new[] { 3, 7, 5 }, new[] { 3, 5, 4 })]
    [InlineData(new[] { 2, 1, 7, 5 }, new[] { 3, 5, 4 })]
    [InlineData(new[] { 1, 7, 5 }, new[] { 6, 5, 4 })]
    [InlineData(new[] { 4, 3, 63, 65 }, new[] { 65, 7 })]
    [InlineData(new[] { 7, 65 }, new[] { 2, 3, 65, 63 })]
    [InlineData(new[] { 5, 1, 1, 257 }, new[] { 257, 1 })]
    [InlineData(new[] { 2, 3, 1, 4 }, new[] { 3, 4, 6 })]
    [InlineData(new[] { 500, 3, 4 }, new[] { 500, 4, 2 })]
    [InlineData(new[] { 2, 0, 3 }, new[] { 3, 4 })]
    public void BatchedProducts_BroadcastBatchDimsLikeTorch(int[] sa, int[] sb) => CheckMatMul(Randn(1, sa), Randn(2, sb));

    [Fact]
    public void ExpandedAndPermutedBatches_MatchTripleLoop()
    {
        var w = Randn(1, 5, 4).Expand(6, 5, 4);        // stride-0 batch, read in place
        var x = Randn(2, 6, 3, 5);
        CheckMatMul(x, w);
        var xs = Randn(3, 3, 6, 5).Permute(1, 0, 2);   // batch dim not outermost in memory
        CheckMatMul(xs, Randn(4, 5, 2));
        CheckMatMul(xs, w);
        // Stride-0 batch whose matrices need a copy: only the one distinct matrix is copied.
        var strided = Randn(5, 10, 8).Slice(0, step: 2).Slice(1, step: 2).Unsqueeze(0).Expand(9, 5, 4);
        CheckMatMul(Randn(6, 9, 3, 5), strided);
        CheckMatMul(strided.Transpose(-1, -2), Randn(7, 9, 5, 2));
    }

    [Fact]
    public void ExpandedOperandNeedingACopy_CopiesOnlyItsDistinctMatrices()
    {
        var strided = Randn(1, 10, 8).Slice(0, step: 2).Slice(1, step: 2); // [5,4], no unit stride
        var expanded = strided.Unsqueeze(0).Expand(9, 5, 4);
        var copy = Tensor.GemmReadable(expanded);
        Assert.Equal(20, copy.UntypedStorage.Length);
        Assert.Equal(expanded.ToArray(), copy.ToArray());
        Assert.True(Tensor.GemmReadsInPlace(copy));
        var xt = Randn(2, 6, 7).T;
        Assert.Same(xt, Tensor.GemmReadable(xt)); // transposed views are never copied
    }

    [Fact]
    public void FullyExpandedLeftOperand_IsNotFoldedIntoOverlappingRows()
    {
        var row = Randn(1, 5);
        CheckMatMul(row.Expand(3, 4, 5), Randn(2, 5, 2));
        CheckMatMul(row.Unsqueeze(0).Expand(3, 1, 5), Randn(3, 5, 2)); // m = 1, batch stride 0
    }

    [Fact]
    public void BatchedResult_IsBitIdenticalToPerBatchProducts_WhateverTheBatchSplit()
    {
        // Enough tiny products that the batch loop is split across threads.
        var a = Randn(1, 6000, 3, 4);
        var b = Randn(2, 6000, 4, 2).Transpose(-1, -2).Contiguous().Transpose(-1, -2);
        var c = a.MatMul(b).ToArray();
        for (int i = 0; i < 6000; i++)
            Assert.Equal(a.Select(0, i).MatMul(b.Select(0, i)).ToArray(), c.AsSpan(i * 6, 6).ToArray());
        Assert.Equal(c, a.MatMul(b).ToArray());
    }

    [Fact]
    public void FoldedBatch_EqualsPerBatchProducts()
    {
        // [4,3,65]·[65,7] runs as one [12,65]·[65,7] GEMM; rows of each batch must land in their own slice.
        var a = Randn(1, 4, 3, 65);
        var w = Randn(2, 65, 7);
        var c = a.MatMul(w);
        CheckMatMul(a, w, c);
        for (int i = 0; i < 4; i++) CheckMatMul(a.Select(0, i), w, c.Select(0, i));
        CheckMatMul(a.Narrow(2, 1, 60), Randn(3, 60, 7));
    }

    [Fact]
    public void EmptyInnerDimension_GivesZeros()
    {
        var c = Tensor.Zeros(3, 0).MatMul(Tensor.Zeros(0, 4));
        Assert.Equal([3, 4], c.Shape);
        Assert.All(c.ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(0f, Tensor.Zeros(0).Dot(Tensor.Zeros(0)).Item());
        Assert.Equal([0, 4], Tensor.Zeros(0, 3).MatMul(Tensor.Zeros(3, 4)).Shape);
        var emptyView = Tensor.Zeros(0, 7).AsStrided([0, 3], [3, 1], 1); // like x[:, 1:4]: offset 1 into an empty buffer
        Assert.Equal(new float[6], Tensor.Zeros(2, 0).MatMul(emptyView).ToArray());
    }

    [Fact]
    public void InnerDimensionMismatch_NamesBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(5, 784).MatMul(Tensor.Zeros(10, 10)));
        Assert.Equal("MatMul: cannot multiply [5,784] by [10,10] (inner dimensions 784 and 10 differ)", e.Message);
        Assert.Contains("inner dimensions 3 and 4 differ", Assert.Throws<ArgumentException>(() => Tensor.MatMul(Tensor.Zeros(3), Tensor.Zeros(4))).Message);
        Assert.Contains("[2,3,4] by [5,4,2]", Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, 3, 4).MatMul(Tensor.Zeros(5, 4, 2))).Message);
    }

    [Fact]
    public void BadArguments_ThrowNamingTheOperation()
    {
        Assert.StartsWith("MatMul: both arguments need at least 1 dimension", Assert.Throws<ArgumentException>(() => Tensor.Scalar(2).MatMul(Tensor.Zeros(2))).Message);
        Assert.StartsWith("MatMul: expected float32", Assert.Throws<ArgumentException>(() => Tensor.Arange(4).MatMul(Tensor.Zeros(4))).Message);
        Assert.StartsWith("Mm:", Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, 3, 4).Mm(Tensor.Zeros(4, 2))).Message);
        Assert.StartsWith("Bmm:", Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, 3, 4).Bmm(Tensor.Zeros(1, 4, 2))).Message);
        Assert.StartsWith("Dot:", Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, 3).Dot(Tensor.Zeros(3))).Message);
        Assert.Contains("inner dimensions", Assert.Throws<ArgumentException>(() => Tensor.Zeros(3).Dot(Tensor.Zeros(4))).Message);
    }

    [Fact]
    public void MmBmmAndStaticForm_AgreeWithMatMul()
    {
        var a = Randn(1, 3, 4, 5);
        var b = Randn(2, 3, 5, 6);
        Assert.Equal(a.MatMul(b).ToArray(), a.Bmm(b).ToArray());
        Assert.Equal(a.MatMul(b).ToArray(), Tensor.MatMul(a, b).ToArray());
        Assert.Equal(a.Select(0, 1).MatMul(b.Select(0, 1)).ToArray(), a.Select(0, 1).Mm(b.Select(0, 1)).ToArray());
    }

    [Fact]
    public void InputsAreNotModified_AndResultIsContiguous()
    {
        var a = Randn(1, 6, 7);
        var b = Randn(2, 7, 8);
        float[] a0 = a.ToArray(), b0 = b.ToArray();
        var c = a.T.MatMul(Randn(3, 6, 2));
        Assert.True(c.IsContiguous);
        a.MatMul(b);
        Assert.Equal(a0, a.ToArray());
        Assert.Equal(b0, b.ToArray());
    }

    // ---- lesson 8's five variants -----------------------------------------------------------------------------------

    /// <summary>Lesson 8's test_near: allclose with rtol 1e-3, atol 1e-5.</summary>
    static void AssertNear(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        float[] e = expected.ToArray(), a = actual.ToArray();
        for (int i = 0; i < e.Length; i++)
            if (!(Math.Abs(a[i] - e[i]) <= 1e-5 + 1e-3 * Math.Abs(e[i])))
                Assert.Fail($"{what}: element {i} is {a[i]}, expected {e[i]}");
    }

    [Fact]
    public void LessonVariants_AllMatchTheTripleLoop_OnMnistShapes()
    {
        // 5 MNIST-sized rows (values in [0,1) like pixels) times a 784x10 weight matrix, as in the lesson.
        var x = Tensor.Rand([5, 784], new Generator(8));
        var w = Randn(9, 784, 10);
        var expected = MatMulVariants.TripleLoop(x, w);
        CheckMatMul(x, w, expected);
        Assert.Equal(5, MatMulVariants.All.Count);
        foreach (var (name, run) in MatMulVariants.All) AssertNear(expected, run(x, w), name);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 1, 3)]
    [InlineData(1, 63, 1)]
    [InlineData(13, 65, 9)]
    public void LessonVariants_AgreeOnOddShapesAndViews(int m, int k, int n)
    {
        var a = Randn(1, k, m).T;
        var b = Randn(2, k, n);
        var expected = MatMulVariants.TripleLoop(a, b);
        CheckMatMul(a, b, expected);
        foreach (var (name, run) in MatMulVariants.All) AssertNear(expected, run(a, b), name);
    }

    [Fact]
    public void LessonVariants_RejectMismatchedShapes()
    {
        foreach (var (name, run) in MatMulVariants.All)
        {
            var e = Assert.Throws<ArgumentException>(() => run(Tensor.Zeros(5, 784), Tensor.Zeros(10, 10)));
            Assert.Contains("inner dimensions 784 and 10 differ", e.Message);
            Assert.Contains(name, e.Message);
        }
    }
}
