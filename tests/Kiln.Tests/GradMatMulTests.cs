namespace Kiln.Tests;

/// <summary>Gradients of MatMul/Mm/Bmm/Dot and Einsum: finite differences, and the hand formulas dA = g·Bᵀ, dB = Aᵀ·g.</summary>
public sealed class GradMatMulTests
{
    static Tensor Leaf(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed)).RequiresGradInPlace();

    /// <summary>A [rows, cols] leaf stored transposed (column-major): strides [1, rows].</summary>
    static Tensor TransposedLeaf(int seed, int rows, int cols) => Tensor.Randn([cols, rows], new Generator(seed)).T.RequiresGradInPlace();

    /// <summary>A [rows, cols] leaf that is every other column of a wider matrix: GEMM cannot read it in place.</summary>
    static Tensor SteppedLeaf(int seed, int rows, int cols) =>
        Tensor.Randn([rows, 2 * cols], new Generator(seed)).Slice(1, null, null, 2).RequiresGradInPlace();

    static void Check(Func<Tensor, Tensor, Tensor> f, Tensor a, Tensor b) => GradCheck.Assert(t => f(t[0], t[1]), a, b);

    [Theory]
    [InlineData(3, 4, 5)]
    [InlineData(1, 7, 1)]
    [InlineData(7, 1, 7)]
    [InlineData(2, 65, 3)]
    [InlineData(5, 3, 9)]
    public void MatMul2D_MatchesFiniteDifferences_ForAwkwardSizes(int m, int k, int n) =>
        Check((a, b) => a.MatMul(b), Leaf(1, m, k), Leaf(2, k, n));

    [Fact]
    public void MatMul2D_MatchesFiniteDifferences_ForTransposedAndSlicedOperands()
    {
        Check((a, b) => a.MatMul(b), TransposedLeaf(3, 4, 6), SteppedLeaf(4, 6, 5));
        Check((a, b) => a.MatMul(b), SteppedLeaf(5, 3, 6), TransposedLeaf(6, 6, 4));
        // Transposes taken inside the function: the graph holds Transpose nodes before the product.
        Check((a, b) => a.T.MatMul(b.T), Leaf(7, 6, 3), Leaf(8, 5, 6));
    }

    [Fact]
    public void MmAndDot_MatchFiniteDifferences()
    {
        Check((a, b) => a.Mm(b), Leaf(9, 3, 7), TransposedLeaf(10, 7, 2));
        Check((a, b) => a.Dot(b), Leaf(11, 7), Leaf(12, 7));
        Check((a, b) => a.Dot(b), Leaf(13, 1), Leaf(14, 1));
        // A stepped vector (stride 3).
        Check((a, b) => a.Dot(b), Tensor.Randn([21], new Generator(15)).Slice(0, null, null, 3).RequiresGradInPlace(), Leaf(16, 7));
    }

    [Theory]
    [InlineData(new[] { 5 }, new[] { 5 })]          // dot -> 0-d
    [InlineData(new[] { 4 }, new[] { 4, 3 })]       // vector-matrix
    [InlineData(new[] { 3, 4 }, new[] { 4 })]       // matrix-vector
    [InlineData(new[] { 4 }, new[] { 2, 4, 3 })]    // vector against a batch
    [InlineData(new[] { 2, 3, 4 }, new[] { 4 })]    // batch against a vector
    [InlineData(new[] { 1 }, new[] { 3, 1, 2 })]
    public void MatMul_VectorPromotion_MatchesFiniteDifferences(int[] sa, int[] sb) =>
        Check((a, b) => a.MatMul(b), Leaf(17, sa), Leaf(18, sb));

    [Theory]
    [InlineData(new[] { 2, 1, 3, 4 }, new[] { 3, 4, 5 })]  // a broadcast along dim 1, b along dim 0
    [InlineData(new[] { 3, 4, 5 }, new[] { 5, 2 })]        // shared 2-D right operand (folded rows)
    [InlineData(new[] { 3, 4 }, new[] { 2, 4, 5 })]        // shared 2-D left operand
    [InlineData(new[] { 1, 4, 5 }, new[] { 3, 5, 2 })]
    [InlineData(new[] { 2, 1, 1, 3 }, new[] { 1, 2, 3, 1 })]
    public void MatMul_BroadcastBatchDims_SumGradientsBackToEachShape(int[] sa, int[] sb) =>
        Check((a, b) => a.MatMul(b), Leaf(19, sa), Leaf(20, sb));

    [Fact]
    public void BatchedMatMul_MatchesFiniteDifferences_ForPermutedOperands()
    {
        // [2,3,4] stored as [4,2,3] (permuted) times a [2,4,5] batch of stepped matrices.
        var a = Tensor.Randn([4, 2, 3], new Generator(21)).Permute(1, 2, 0).RequiresGradInPlace();
        var b = Tensor.Randn([2, 4, 10], new Generator(22)).Slice(2, null, null, 2).RequiresGradInPlace();
        Check((x, y) => x.Bmm(y), a, b);
        Check((x, y) => x.MatMul(y), a, b);
    }

    [Fact]
    public void MatMul_OfATensorWithItself_AccumulatesBothUses()
    {
        GradCheck.Assert(t => t[0].MatMul(t[0]), Leaf(23, 4, 4));
        GradCheck.Assert(t => t[0].MatMul(t[0].T), Leaf(24, 3, 5));
        GradCheck.Assert(t => t[0].MatMul(t[0]).MatMul(t[0]).Tanh(), Leaf(25, 3, 3));
    }

    [Fact]
    public void MatMul_GradientFlowsOnlyToInputsThatRequireIt()
    {
        var a = Leaf(26, 3, 4);
        var b = Tensor.Randn([4, 2], new Generator(27));
        a.MatMul(b).Sum().Backward();
        Assert.NotNull(a.Grad);
        Assert.Null(b.Grad);
        GradCheck.Assert(t => t[0].MatMul(t[1]), a, b);
    }

    [Fact]
    public void MatMul_EmptyInnerDimension_GivesEmptyGradients()
    {
        var a = Leaf(28, 3, 0);
        var b = Leaf(29, 0, 4);
        a.MatMul(b).Backward(Tensor.Ones(3, 4));
        Assert.Equal([3, 0], a.Grad!.Shape);
        Assert.Equal([0, 4], b.Grad!.Shape);
    }

    /// <summary>C = A·B by a double-precision triple loop over [m,k]·[k,n] arrays.</summary>
    static double[] Product(float[] a, float[] b, int m, int k, int n, bool transA = false, bool transB = false)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = s;
            }
        return c;
    }

    static void AssertClose(double[] expected, Tensor actual, double tol = 1e-4)
    {
        var v = actual.ToArray();
        Assert.Equal(expected.Length, v.Length);
        for (int i = 0; i < v.Length; i++) Assert.True(Math.Abs(expected[i] - v[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {v[i]}");
    }

    [Fact]
    public void MatMulBackward_EqualsHandFormulas_GBt_And_AtG()
    {
        int m = 5, k = 7, n = 3;
        var a = TransposedLeaf(30, m, k);
        var b = Leaf(31, k, n);
        var g = Tensor.Randn([m, n], new Generator(32));
        a.MatMul(b).Backward(g);
        float[] av = a.ToArray(), bv = b.ToArray(), gv = g.ToArray();
        AssertClose(Product(gv, bv, m, n, k, transB: true), a.Grad!);   // g·Bᵀ: [m,n]·[n,k]
        AssertClose(Product(av, gv, k, m, n, transA: true), b.Grad!);   // Aᵀ·g: [k,m]·[m,n]
    }

    [Fact]
    public void BatchedBackward_EqualsHandFormulas_SummedOverTheBroadcastBatch()
    {
        // x [B,m,k] · W [k,n]: dW = Σ_b x_bᵀ·g_b, dx_b = g_b·Wᵀ.
        int batches = 3, m = 2, k = 4, n = 5;
        var x = Leaf(33, batches, m, k);
        var w = Leaf(34, k, n);
        var g = Tensor.Randn([batches, m, n], new Generator(35));
        x.MatMul(w).Backward(g);
        float[] xv = x.ToArray(), wv = w.ToArray(), gv = g.ToArray();
        var dw = new double[k * n];
        var dx = new List<double>();
        for (int bi = 0; bi < batches; bi++)
        {
            var xb = xv[(bi * m * k)..((bi + 1) * m * k)];
            var gb = gv[(bi * m * n)..((bi + 1) * m * n)];
            var p = Product(xb, gb, k, m, n, transA: true);
            for (int i = 0; i < dw.Length; i++) dw[i] += p[i];
            dx.AddRange(Product(gb, wv, m, n, k, transB: true));
        }
        AssertClose(dw, w.Grad!);
        AssertClose([.. dx], x.Grad!);
    }

    [Fact]
    public void VectorBackward_EqualsHandFormulas()
    {
        // y = A·v: dA = g vᵀ (outer product), dv = Aᵀ g.
        var a = Leaf(36, 3, 4);
        var v = Leaf(37, 4);
        var g = Tensor.Randn([3], new Generator(38));
        a.MatMul(v).Backward(g);
        float[] av = a.ToArray(), vv = v.ToArray(), gv = g.ToArray();
        AssertClose(Product(gv, vv, 3, 1, 4), a.Grad!);
        AssertClose(Product(av, gv, 4, 3, 1, transA: true), v.Grad!);
    }

    // ---- einsum ----

    [Theory]
    [InlineData("ij,jk->ik", new[] { 3, 4 }, new[] { 4, 5 })]
    [InlineData("ij,jk", new[] { 1, 7 }, new[] { 7, 2 })]
    [InlineData("bij,bjk->bik", new[] { 2, 3, 4 }, new[] { 2, 4, 3 })]
    [InlineData("bij,bkj->bki", new[] { 2, 3, 4 }, new[] { 2, 5, 4 })]
    [InlineData("i,j->ij", new[] { 3 }, new[] { 4 })]
    [InlineData("ij,ij->ij", new[] { 3, 4 }, new[] { 3, 4 })]
    [InlineData("ij,ij->", new[] { 3, 4 }, new[] { 3, 4 })]
    [InlineData("ij,jk->", new[] { 3, 4 }, new[] { 4, 2 })]
    [InlineData("ijk,k->ij", new[] { 2, 3, 4 }, new[] { 4 })]
    [InlineData("...ij,...jk->...ik", new[] { 2, 1, 3, 4 }, new[] { 3, 4, 2 })]
    [InlineData("...ij,jk", new[] { 2, 3, 4 }, new[] { 4, 2 })]
    [InlineData("ij,jk->ik", new[] { 3, 1 }, new[] { 4, 2 })]   // j has size 1 in a, 4 in b: broadcast
    [InlineData("ii,ij->j", new[] { 3, 3 }, new[] { 3, 2 })]
    [InlineData("iij,jk->ik", new[] { 3, 3, 4 }, new[] { 4, 2 })]
    [InlineData("ijk,jil->kl", new[] { 2, 3, 4 }, new[] { 3, 2, 5 })]
    public void Einsum_TwoOperands_MatchesFiniteDifferences(string eq, int[] sa, int[] sb) =>
        Check((a, b) => Tensor.Einsum(eq, a, b), Leaf(40, sa), Leaf(41, sb));

    [Theory]
    [InlineData("ii->i", new[] { 4, 4 })]
    [InlineData("ii->", new[] { 5, 5 })]
    [InlineData("ii", new[] { 1, 1 })]
    [InlineData("iii->i", new[] { 3, 3, 3 })]
    [InlineData("iji->j", new[] { 3, 2, 3 })]
    [InlineData("ij->ji", new[] { 3, 4 })]
    [InlineData("ijk->", new[] { 2, 3, 4 })]
    [InlineData("ijk->kj", new[] { 2, 3, 4 })]
    [InlineData("...ii->...i", new[] { 2, 3, 3 })]
    public void Einsum_OneOperand_DiagonalsAndSums_MatchFiniteDifferences(string eq, int[] shape) =>
        GradCheck.Assert(t => Tensor.Einsum(eq, t[0]), Leaf(42, shape));

    [Fact]
    public void EinsumDiagonal_OfNonContiguousOperands_MatchesFiniteDifferences()
    {
        // Transposed and stepped operands: the diagonal's gradient must land in the logical positions, not the storage ones.
        var t = Tensor.Randn([4, 4], new Generator(43)).T.RequiresGradInPlace();
        GradCheck.Assert(x => Tensor.Einsum("ii->i", x[0]), t);
        var s = Tensor.Randn([3, 6], new Generator(44)).Slice(1, null, null, 2).RequiresGradInPlace();
        GradCheck.Assert(x => Tensor.Einsum("ii,ij->ij", x[0], x[1]), s, Leaf(45, 3, 2));
        var p = Tensor.Randn([3, 2, 3], new Generator(46)).Permute(2, 1, 0).RequiresGradInPlace();
        GradCheck.Assert(x => Tensor.Einsum("iji->ij", x[0]), p);
    }

    [Fact]
    public void Einsum_SameOperandTwice_AccumulatesBothUses()
    {
        GradCheck.Assert(t => Tensor.Einsum("i,i->", t[0], t[0]), Leaf(47, 7));
        GradCheck.Assert(t => Tensor.Einsum("ij,jk->ik", t[0], t[0]), Leaf(48, 3, 3));
        GradCheck.Assert(t => Tensor.Einsum("ij,kj,k->i", t[0], t[0], t[1]), Leaf(49, 3, 4), Leaf(50, 3));
    }

    [Fact]
    public void EinsumBackward_EqualsMatMulHandFormulas()
    {
        int m = 4, k = 6, n = 3;
        var a = Leaf(51, m, k);
        var b = TransposedLeaf(52, k, n);
        var g = Tensor.Randn([m, n], new Generator(53));
        Tensor.Einsum("ik,kj->ij", a, b).Backward(g);
        float[] av = a.ToArray(), bv = b.ToArray(), gv = g.ToArray();
        AssertClose(Product(gv, bv, m, n, k, transB: true), a.Grad!);
        AssertClose(Product(av, gv, k, m, n, transA: true), b.Grad!);
    }

    [Fact]
    public void EinsumTraceBackward_IsTheIdentity()
    {
        var x = Tensor.Randn([5, 5], new Generator(54)).T.RequiresGradInPlace();
        Tensor.Einsum("ii->", x).Backward();
        Assert.Equal(Tensor.Eye(5).ToArray(), x.Grad!.ToArray());
    }
}
