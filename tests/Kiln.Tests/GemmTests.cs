using Kiln.Kernels;

namespace Kiln.Tests;

/// <summary>Tests that change the global <see cref="Threading.Threads"/> run in this collection, never in parallel with each other.</summary>
[CollectionDefinition("Threading", DisableParallelization = true)]
public sealed class ThreadingCollection { }

public sealed class GemmTests
{
    /// <summary>A row-major matrix of the given shape stored with extra padding per row (a sub-matrix view); the padding holds NaN so any read of it poisons the result.</summary>
    internal static float[] RandomMatrix(Random rng, int rows, int cols, int ld)
    {
        var x = new float[rows == 0 ? 0 : (rows - 1) * ld + cols];
        Array.Fill(x, float.NaN);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                x[i * ld + j] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    static float OpA(float[] a, int lda, bool trans, int i, int p) => trans ? a[p * lda + i] : a[i * lda + p];
    static float OpB(float[] b, int ldb, bool trans, int p, int j) => trans ? b[j * ldb + p] : b[p * ldb + j];

    /// <summary>Naive triple loop in double; also returns Σ|a||b| per element for the error bound.</summary>
    static (double[] value, double[] magnitude) Reference(bool transA, bool transB, int m, int n, int k,
        float[] a, int lda, float[] b, int ldb, float[]? c0, int ldc)
    {
        var value = new double[m * n];
        var magnitude = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = c0 is null ? 0 : c0[i * ldc + j], mag = Math.Abs(s);
                for (int p = 0; p < k; p++)
                {
                    double x = OpA(a, lda, transA, i, p), y = OpB(b, ldb, transB, p, j);
                    s += x * y;
                    mag += Math.Abs(x * y);
                }
                value[i * n + j] = s;
                magnitude[i * n + j] = mag;
            }
        return (value, magnitude);
    }

    /// <summary>Runs Sgemm (optionally with an explicit kernel config) on padded operands and checks it against the reference, and that C's padding is untouched.</summary>
    static void CheckProduct(bool transA, bool transB, int m, int n, int k, int pad, bool accumulate, Gemm.Config? cfg = null, int seed = 1)
    {
        var rng = new Random(seed);
        int lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad;
        var a = RandomMatrix(rng, transA ? k : m, transA ? m : k, lda);
        var b = RandomMatrix(rng, transB ? n : k, transB ? k : n, ldb);
        var c = RandomMatrix(rng, m, n, ldc);
        for (int i = 0; i + 1 < m; i++)
            for (int j = n; j < ldc; j++) c[i * ldc + j] = 12345f; // sentinel in C's padding
        var c0 = (float[])c.Clone();
        if (cfg is null) Gemm.Sgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        else Gemm.Sgemm(cfg, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);

        var (value, magnitude) = Reference(transA, transB, m, n, k, a, lda, b, ldb, accumulate ? c0 : null, ldc);
        double eps = 2 * k * Math.Pow(2, -24) + Math.Pow(2, -23);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float got = c[i * ldc + j];
                double want = value[i * n + j], tol = eps * magnitude[i * n + j] + 1e-30;
                if (!(Math.Abs(got - want) <= tol))
                    Assert.Fail($"C[{i},{j}] = {got}, expected {want} (tol {tol}) for transA={transA} transB={transB} m={m} n={n} k={k} pad={pad} acc={accumulate} cfg={cfg?.Name}");
            }
            for (int j = n; j < ldc && i + 1 < m; j++) Assert.Equal(12345f, c[i * ldc + j]);
        }
    }

    public static TheoryData<int, int, int> Sizes => new()
    {
        { 1, 1, 1 }, { 7, 7, 7 }, { 1, 257, 7 }, { 257, 1, 7 }, { 7, 1, 257 }, { 1, 1, 257 }, { 3, 5, 2 },
        { 63, 63, 63 }, { 65, 65, 65 }, { 63, 65, 257 }, { 65, 257, 63 }, { 257, 63, 65 }, { 5, 10, 784 },
        { 1, 300, 400 }, { 300, 1, 400 }, { 70, 45, 600 }, { 20, 33, 1000 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void ProductMatchesNaiveLoop_AllTransposeForms(int m, int n, int k)
    {
        foreach (var transA in new[] { false, true })
            foreach (var transB in new[] { false, true })
                CheckProduct(transA, transB, m, n, k, pad: 0, accumulate: false);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void SubMatrixViewsWithLargerLeadingDimensions_ReadAndWriteOnlyTheView(int m, int n, int k)
    {
        foreach (var transA in new[] { false, true })
            foreach (var transB in new[] { false, true })
                CheckProduct(transA, transB, m, n, k, pad: 3, accumulate: false);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 9, 5)]
    [InlineData(65, 63, 257)]
    [InlineData(70, 45, 600)]
    public void Accumulate_AddsProductToExistingC(int m, int n, int k)
    {
        foreach (var transA in new[] { false, true })
            foreach (var transB in new[] { false, true })
                CheckProduct(transA, transB, m, n, k, pad: 2, accumulate: true);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void EveryKernelAndThePackedPathMatchNaiveLoop(bool transA, bool transB)
    {
        foreach (var baseCfg in new[] { Gemm.Avx512Config, Gemm.Avx2Config, Gemm.Vector128Config })
        {
            // Force each path for every shape, so edge tiles, panel padding, the unpacked loops and (where this machine runs
            // them) the config's direct kernels are all exercised.
            foreach (var cfg in new[] { baseCfg.WithPathMode(1), baseCfg.WithPathMode(2), baseCfg.WithPathMode(3) })
                foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 7, 7), (13, 33, 5), (1, 257, 7), (17, 65, 257), (20, 37, 520), (9, 10, 100) })
                {
                    CheckProduct(transA, transB, m, n, k, pad: 1, accumulate: false, cfg);
                    CheckProduct(transA, transB, m, n, k, pad: 0, accumulate: true, cfg);
                }
        }
    }

    /// <summary>Lesson 8 and the MLP 784-50-ReLU-10 training products (batch 1, 8, 16, 64), (m, n, k) for every form.</summary>
    public static TheoryData<int, int, int> SmallTrainingShapes => new()
    {
        { 5, 10, 784 }, { 64, 50, 784 }, { 64, 10, 50 }, { 64, 50, 10 }, { 10, 50, 64 }, { 64, 784, 50 }, { 50, 784, 64 },
        { 50, 10, 64 }, { 784, 50, 64 }, { 16, 50, 784 }, { 8, 50, 784 }, { 1, 50, 784 }, { 1, 784, 50 }, { 50, 784, 1 },
        { 10, 50, 1 }, { 50, 784, 8 }, { 8, 10, 50 }, { 1, 10, 50 },
    };

    static readonly int[] EdgeSizes = [1, 7, 63, 65];

    /// <summary>The configs whose direct kernels run here (Vector512 and Vector256 on an AVX-512 machine, Vector256 on AVX2).</summary>
    static IEnumerable<Gemm.Config> DirectConfigs() =>
        new[] { Gemm.Avx512Config, Gemm.Avx2Config }.Where(cfg => GemmDirect.Supports(cfg.DirectLanes));

    [Fact]
    public void DirectPath_MatchesNaiveLoop_EdgeSizesAllFormsAccumulateAndViews()
    {
        foreach (var cfg in DirectConfigs().Select(c => c.WithPathMode(3)))
        foreach (int m in EdgeSizes)
            foreach (int n in EdgeSizes)
                foreach (int k in EdgeSizes)
                    foreach (var transA in new[] { false, true })
                        foreach (var transB in new[] { false, true })
                        {
                            CheckProduct(transA, transB, m, n, k, pad: 0, accumulate: false, cfg);
                            CheckProduct(transA, transB, m, n, k, pad: 3, accumulate: true, cfg);
                        }
    }

    [Theory]
    [MemberData(nameof(SmallTrainingShapes))]
    public void DirectPath_MatchesNaiveLoop_TrainingShapes(int m, int n, int k)
    {
        foreach (var cfg in DirectConfigs().Select(c => c.WithPathMode(3)))
        foreach (var transA in new[] { false, true })
            foreach (var transB in new[] { false, true })
            {
                CheckProduct(transA, transB, m, n, k, pad: 0, accumulate: false, cfg);
                CheckProduct(transA, transB, m, n, k, pad: 1, accumulate: true, cfg);
                CheckProduct(transA, transB, m, n, k, pad: 0, accumulate: false); // whatever path the shape picks
            }
    }

    /// <summary>The Dot kernels (A·Bᵀ, both operands contiguous along k) forced for every shape, and the Bᵀ copy + Rows kernels forced.</summary>
    [Fact]
    public void DirectDotAndCopyPaths_MatchNaiveLoop_EdgeSizesTrainingShapesAccumulateAndViews()
    {
        foreach (var cfg in DirectConfigs().SelectMany(c => new[] { c.WithPathMode(4), c.WithPathMode(5) }))
        {
            foreach (int m in EdgeSizes)
                foreach (int n in EdgeSizes)
                    foreach (int k in EdgeSizes.Concat([16, 17, 784]))
                    {
                        CheckProduct(false, true, m, n, k, pad: 0, accumulate: false, cfg);
                        CheckProduct(false, true, m, n, k, pad: 3, accumulate: true, cfg);
                    }
            foreach (var (m, n, k) in new[] { (64, 50, 784), (64, 10, 50), (64, 50, 10), (64, 784, 50), (16, 50, 784), (1, 50, 784), (5, 10, 784) })
                foreach (var transA in new[] { false, true })
                    foreach (var transB in new[] { false, true })
                    {
                        CheckProduct(transA, transB, m, n, k, pad: 0, accumulate: false, cfg);
                        CheckProduct(transA, transB, m, n, k, pad: 1, accumulate: true, cfg);
                    }
        }
    }

    /// <summary>
    /// A Dot-kernel element does not depend on where its row and column fall in the 4x4 blocks (full or edge block, first row or
    /// not): C computed from A and B shifted by one to three rows equals the matching part of the full C bit for bit. This is
    /// what makes any split of C across threads give the same bits.
    /// </summary>
    [Theory]
    [InlineData(64, 50, 784)]
    [InlineData(65, 63, 65)]
    [InlineData(7, 9, 33)]
    public void DotPath_ElementIsIndependentOfItsBlockPosition(int m, int n, int k)
    {
        foreach (var cfg in DirectConfigs().Select(c => c.WithPathMode(4)))
        {
            var rng = new Random(m + 3 * n + k);
            var a = RandomMatrix(rng, m, k, k);
            var b = RandomMatrix(rng, n, k, k);
            var full = new float[m * n];
            Gemm.Sgemm(cfg, false, true, m, n, k, a, k, b, k, full, n);
            foreach (var (di, dj) in new[] { (1, 0), (0, 1), (2, 3), (3, 2) })
            {
                int ms = m - di, ns = n - dj;
                if (ms <= 0 || ns <= 0) continue;
                var part = new float[ms * ns];
                Gemm.Sgemm(cfg, false, true, ms, ns, k, a.AsSpan(di * k), k, b.AsSpan(dj * k), k, part, ns);
                for (int i = 0; i < ms; i++)
                    for (int j = 0; j < ns; j++)
                        Assert.True(BitConverter.SingleToInt32Bits(part[i * ns + j]) == BitConverter.SingleToInt32Bits(full[(i + di) * n + j + dj]),
                            $"C[{i + di},{j + dj}] differs when the product starts at row {di}, column {dj}");
            }
        }
    }

    /// <summary>
    /// The Rows kernels (op(B) = B, or Bᵀ copied to k x n first) compute each C element as the same in-order FMA chain as the
    /// packed micro-kernel, so the two paths agree bit for bit; the Dot kernels (op(A) = A, op(B) = Bᵀ, few rows) only to rounding.
    /// </summary>
    [Theory]
    [InlineData(5, 10, 784)]
    [InlineData(64, 50, 784)]
    [InlineData(65, 63, 257)]
    [InlineData(7, 65, 63)]
    public void DirectRowsPath_IsBitIdenticalToPackedPath(int m, int n, int k)
    {
        foreach (var cfg in DirectConfigs())
        foreach (var transA in new[] { false, true })
            foreach (var transB in new[] { false, true })
            {
                if (!transA && transB && Gemm.PreferDot(m, n, k)) continue;
                foreach (var accumulate in new[] { false, true })
                {
                    var rng = new Random(m + n + k);
                    int lda = transA ? m : k, ldb = transB ? k : n;
                    var a = RandomMatrix(rng, transA ? k : m, transA ? m : k, lda);
                    var b = RandomMatrix(rng, transB ? n : k, transB ? k : n, ldb);
                    var c0 = RandomMatrix(rng, m, n, n);
                    var packed = (float[])c0.Clone();
                    var direct = (float[])c0.Clone();
                    Gemm.Sgemm(cfg.WithPathMode(1), transA, transB, m, n, k, a, lda, b, ldb, packed, n, accumulate);
                    Gemm.Sgemm(cfg.WithPathMode(3), transA, transB, m, n, k, a, lda, b, ldb, direct, n, accumulate);
                    Assert.True(System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(packed)
                            .SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(direct)),
                        $"{cfg.Name}: packed and direct differ: transA={transA} transB={transB} m={m} n={n} k={k} accumulate={accumulate}");
                }
            }
    }

    [Fact]
    public void ZeroK_GivesZeroOrLeavesCUnchangedWhenAccumulating()
    {
        var c = new float[] { 1, 2, 3, 4, 5, 6 };
        Gemm.Sgemm(false, false, 2, 3, 0, ReadOnlySpan<float>.Empty, 0, ReadOnlySpan<float>.Empty, 3, c, 3, accumulate: true);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, c);
        Gemm.Sgemm(true, true, 2, 3, 0, ReadOnlySpan<float>.Empty, 2, ReadOnlySpan<float>.Empty, 0, c, 3);
        Assert.Equal(new float[6], c);
    }

    [Fact]
    public void ZeroMOrN_DoesNothing()
    {
        var c = new float[] { 7 };
        Gemm.Sgemm(false, false, 0, 1, 4, new float[4], 4, new float[4], 1, c, 1);
        Gemm.Sgemm(false, false, 1, 0, 4, new float[4], 4, new float[4], 0, c, 0);
        Assert.Equal(7f, c[0]);
    }

    [Fact]
    public unsafe void PointerOverload_MatchesSpanOverload()
    {
        var rng = new Random(5);
        int m = 70, n = 90, k = 110;
        var a = RandomMatrix(rng, k, m, m);
        var b = RandomMatrix(rng, n, k, k);
        var c1 = new float[m * n];
        var c2 = new float[m * n];
        Gemm.Sgemm(true, true, m, n, k, a, m, b, k, c1, n);
        fixed (float* pa = a, pb = b, pc = c2)
            Gemm.Sgemm(true, true, m, n, k, pa, m, pb, k, pc, n);
        Assert.Equal(c1, c2);
    }

    [Fact]
    public void BadArguments_ThrowArgumentExceptionNamingTheValues()
    {
        var big = new float[10000];
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, -1, 2, 3, big, 3, big, 2, big, 2));
        Assert.StartsWith("Gemm:", ex.Message);
        Assert.Contains("m=-1", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 5, 6, big, 5, big, 5, big, 5));
        Assert.StartsWith("Gemm:", ex.Message);
        Assert.Contains("lda=5", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, true, 4, 5, 6, big, 6, big, 5, big, 5));
        Assert.StartsWith("Gemm:", ex.Message);
        Assert.Contains("ldb=5", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 5, 6, big, 6, big, 5, big, 4));
        Assert.StartsWith("Gemm:", ex.Message);
        Assert.Contains("ldc=4", ex.Message);

        // a is m x k = 4 x 6 with lda 6: needs 24 floats.
        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 5, 6, new float[23], 6, big, 5, big, 5));
        Assert.StartsWith("Gemm:", ex.Message);
        Assert.Contains("a has length 23", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 5, 6, big, 6, new float[29], 5, big, 5));
        Assert.Contains("b has length 29", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 5, 6, big, 6, big, 5, new float[19], 5));
        Assert.Contains("c has length 19", ex.Message);

        // Transposed a is k x m = 6 x 4 with lda 4: 24 floats is enough, 23 is not.
        Gemm.Sgemm(true, false, 4, 5, 6, new float[24], 4, big, 5, big, 5);
        Assert.Throws<ArgumentException>(() => Gemm.Sgemm(true, false, 4, 5, 6, new float[23], 4, big, 5, big, 5));
    }

    /// <summary>Thread-count changes live in the Threading collection so they never race other tests.</summary>
    [Collection("Threading")]
    public sealed class Determinism
    {
        public static TheoryData<bool, bool, int, int, int> Shapes => new()
        {
            { false, false, 300, 280, 530 }, { false, true, 300, 280, 530 }, { true, false, 300, 280, 530 }, { true, true, 300, 280, 530 },
            { false, false, 1024, 50, 784 }, { false, false, 50, 784, 1024 }, { true, false, 50, 784, 1024 }, { false, true, 1024, 50, 784 },
            { false, false, 37, 2000, 300 }, { false, false, 1000, 17, 300 },
            // Shapes that take the unpacked or direct paths, which are also split by rows.
            { false, true, 1024, 8, 784 }, { true, true, 600, 5, 300 }, { false, false, 2, 3000, 400 },
            // MLP training products big enough for the direct path to use two threads (Rows kernels, Bᵀ copied, Dot kernels).
            { false, true, 64, 50, 784 }, { false, false, 64, 784, 50 }, { true, false, 50, 784, 64 }, { false, true, 64, 784, 50 },
            { true, false, 784, 50, 64 }, { true, true, 64, 784, 50 }, { false, true, 40, 784, 784 }, { false, true, 7, 3000, 784 },
        };

        static ReadOnlySpan<int> Bits(float[] x) => System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(x);

        [Theory]
        [MemberData(nameof(Shapes))]
        public void ResultIsBitIdenticalAtOneTwoAndThreeThreads(bool transA, bool transB, int m, int n, int k)
        {
            var rng = new Random(m * 7 + n);
            int lda = transA ? m : k, ldb = transB ? k : n;
            var a = RandomMatrix(rng, transA ? k : m, transA ? m : k, lda);
            var b = RandomMatrix(rng, transB ? n : k, transB ? k : n, ldb);
            var c0 = RandomMatrix(rng, m, n, n);
            int old = Threading.Threads;
            try
            {
                float[] Run(int threads, bool accumulate)
                {
                    Threading.Threads = threads;
                    var c = (float[])c0.Clone();
                    Gemm.Sgemm(transA, transB, m, n, k, a, lda, b, ldb, c, n, accumulate);
                    return c;
                }
                foreach (var accumulate in new[] { false, true })
                {
                    var one = Run(1, accumulate);
                    var two = Run(2, accumulate);
                    var three = Run(3, accumulate);
                    Assert.True(Bits(one).SequenceEqual(Bits(two)), $"1 vs 2 threads differ (accumulate={accumulate})");
                    Assert.True(Bits(one).SequenceEqual(Bits(three)), $"1 vs 3 threads differ (accumulate={accumulate})");
                }
            }
            finally
            {
                Threading.Threads = old;
            }
        }
    }
    /// <summary>Both transposes against the definition dst[p*ldd + j] = src[j*lds + p], on awkward sizes with padded leading
    /// dimensions: the padding of dst is left alone.</summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 9)]
    [InlineData(8, 8)]
    [InlineData(65, 49)]
    [InlineData(16, 257)]
    public unsafe void TransposeInto_BothOrders_MatchDefinition(int rows, int cols)
    {
        int lds = cols + 3, ldd = rows + 5;
        var r = new Random(rows * 31 + cols);
        var src = new float[rows * lds];
        for (int i = 0; i < src.Length; i++) src[i] = (float)r.NextDouble();
        var want = new float[cols * ldd];
        Array.Fill(want, -1f);
        for (int j = 0; j < rows; j++)
            for (int p = 0; p < cols; p++) want[p * ldd + j] = src[j * lds + p];
        foreach (bool byDstRows in new[] { false, true })
        {
            var got = new float[cols * ldd];
            Array.Fill(got, -1f);
            fixed (float* ps = src, pd = got)
                if (byDstRows) Gemm.TransposeIntoByDstRows(ps, lds, rows, cols, pd, ldd);
                else Gemm.TransposeInto(ps, lds, rows, cols, pd, ldd);
            Assert.Equal(want, got);
        }
    }
}
