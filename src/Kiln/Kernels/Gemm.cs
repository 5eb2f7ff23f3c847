using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kiln.Kernels;

/// <summary>
/// Single-precision matrix multiply (SGEMM) on row-major operands: packed panels, cache blocking, a register-blocked
/// FMA micro-kernel and a split of the output across <see cref="Threading.Threads"/> threads.
/// </summary>
/// <remarks>
/// Determinism: each C element is one FMA chain over k, cut into k-blocks whose boundaries depend only on k, and threads
/// only ever split the rows or columns of C. So the result is bit-identical whatever the thread count.
/// </remarks>
public static unsafe class Gemm
{
    /// <summary>
    /// C[m,n] = op(A)[m,k] · op(B)[k,n] (or C += ... when <paramref name="accumulate"/>), all row-major, where
    /// op(A)[i,p] = transA ? a[p*lda + i] : a[i*lda + p], op(B)[p,j] = transB ? b[j*ldb + p] : b[p*ldb + j] and C[i,j] = c[i*ldc + j].
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate = false)
    {
        ValidateShape(transA, transB, m, n, k, lda, ldb, ldc);
        CheckLength("a", a.Length, transA ? k : m, transA ? m : k, lda, transA, m, k);
        CheckLength("b", b.Length, transB ? n : k, transB ? k : n, ldb, transB, k, n);
        CheckLength("c", c.Length, m, n, ldc, false, m, n);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
            Run(Current, transA, transB, m, n, k, pa, lda, pb, ldb, pc, ldc, accumulate);
    }

    /// <summary>Span form run with an explicit kernel configuration (tests use it to cover every kernel and path).</summary>
    internal static void Sgemm(Config cfg, bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool accumulate = false)
    {
        ValidateShape(transA, transB, m, n, k, lda, ldb, ldc);
        CheckLength("a", a.Length, transA ? k : m, transA ? m : k, lda, transA, m, k);
        CheckLength("b", b.Length, transB ? n : k, transB ? k : n, ldb, transB, k, n);
        CheckLength("c", c.Length, m, n, ldc, false, m, n);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
            Run(cfg, transA, transB, m, n, k, pa, lda, pb, ldb, pc, ldc, accumulate);
    }

    /// <summary>
    /// Pointer form of <see cref="Sgemm(bool, bool, int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, bool)"/>:
    /// same contract; the caller guarantees the buffers are large enough.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k,
        float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate = false)
    {
        ValidateShape(transA, transB, m, n, k, lda, ldb, ldc);
        if (m == 0 || n == 0) return;
        if (c == null) throw new ArgumentException($"Gemm: c is null for m={m}, n={n}", nameof(c));
        if (k > 0 && (a == null || b == null))
            throw new ArgumentException($"Gemm: {(a == null ? "a" : "b")} is null for m={m}, n={n}, k={k}", a == null ? nameof(a) : nameof(b));
        Run(Current, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    }

    static void ValidateShape(bool transA, bool transB, int m, int n, int k, int lda, int ldb, int ldc)
    {
        if (m < 0 || n < 0 || k < 0)
            throw new ArgumentException($"Gemm: sizes must be non-negative (m={m}, n={n}, k={k})");
        int aCols = transA ? m : k, bCols = transB ? k : n;
        if (lda < aCols)
            throw new ArgumentException($"Gemm: lda={lda} is smaller than the row length {aCols} of a ({(transA ? "transposed, k x m" : "m x k")} with m={m}, k={k})", nameof(lda));
        if (ldb < bCols)
            throw new ArgumentException($"Gemm: ldb={ldb} is smaller than the row length {bCols} of b ({(transB ? "transposed, n x k" : "k x n")} with k={k}, n={n})", nameof(ldb));
        if (ldc < n)
            throw new ArgumentException($"Gemm: ldc={ldc} is smaller than the row length n={n} of c", nameof(ldc));
    }

    static void CheckLength(string name, int length, int rows, int cols, int ld, bool trans, int d0, int d1)
    {
        long need = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException(
                $"Gemm: {name} has length {length} but a {rows}x{cols} matrix with leading dimension {ld} needs {need} (trans={trans}, sizes {d0}x{d1})", name);
    }

    // ---- tuning ----------------------------------------------------------------------------------------------------

    /// <summary>Minimum multiply-adds per thread before another thread is worth waking (measured).</summary>
    internal static long MinWorkPerThread = 1L << 20;

    /// <summary>Micro-kernel signature: kc steps over packed panels, tile written at c with row stride ldc; load = add to C.</summary>
    internal sealed class Config
    {
        public required int Mr, Nr, Kc, Mc, Nc;
        /// <summary>At or below this many multiply-adds (m·n·k) the unpacked single-threaded loop is used (measured).</summary>
        public long SmallWork = 48 * 48 * 48;
        public required delegate*<int, float*, float*, float*, nint, bool, void> Kernel;
        public required string Name;

        /// <summary>A copy with a different small-problem threshold.</summary>
        public Config WithSmallWork(long smallWork) => new()
        {
            Mr = Mr, Nr = Nr, Kc = Kc, Mc = Mc, Nc = Nc, Kernel = Kernel, Name = Name, SmallWork = smallWork,
        };
    }

    internal static Config Avx512Config => new()
    {
        Mr = 12, Nr = 32, Kc = 256, Mc = 240, Nc = 4096, Name = "Vector512 12x32", Kernel = &GemmKernels.Kernel512x12x32,
    };

    internal static Config Avx2Config => new()
    {
        Mr = 6, Nr = 16, Kc = 256, Mc = 144, Nc = 4096, Name = "Vector256 6x16", Kernel = &GemmKernels.Kernel256x6x16,
    };

    internal static Config Vector128Config => new()
    {
        Mr = 6, Nr = 8, Kc = 256, Mc = 144, Nc = 4096, Name = "Vector128 6x8", Kernel = &GemmKernels.Kernel128x6x8,
    };

    /// <summary>The kernel and block sizes in use; swapped only by tests and benchmarks.</summary>
    internal static Config Current = Vector512.IsHardwareAccelerated ? Avx512Config
        : Vector256.IsHardwareAccelerated ? Avx2Config : Vector128Config;

    // ---- driver ----------------------------------------------------------------------------------------------------

    static void Run(Config cfg, bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) new Span<float>(c + (nint)i * ldc, n).Clear();
            return;
        }
        if ((long)m * n * k <= cfg.SmallWork)
        {
            Small(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
            return;
        }

        var job = new Job
        {
            Cfg = cfg, TransA = transA, TransB = transB, M = m, N = n, K = k,
            A = a, Lda = lda, B = b, Ldb = ldb, C = c, Ldc = ldc, Accumulate = accumulate,
        };
        int mBlocks = (m + job.Cfg.Mr - 1) / job.Cfg.Mr, nBlocks = (n + job.Cfg.Nr - 1) / job.Cfg.Nr;
        job.SplitRows = mBlocks >= nBlocks;
        job.Blocks = job.SplitRows ? mBlocks : nBlocks;
        long work = (long)m * n * k;
        int threads = (int)Math.Min(Math.Min(Threading.Threads, job.Blocks), Math.Max(1, work / MinWorkPerThread));
        job.Chunks = threads;
        if (threads <= 1) job.RunChunk(0);
        else Threading.For(threads, job.RunChunk);
    }

    sealed class Job
    {
        public required Config Cfg;
        public bool TransA, TransB, Accumulate, SplitRows;
        public int M, N, K, Lda, Ldb, Ldc, Blocks, Chunks;
        public float* A, B, C;

        public void RunChunk(int chunk)
        {
            int b0 = (int)((long)Blocks * chunk / Chunks), b1 = (int)((long)Blocks * (chunk + 1) / Chunks);
            if (SplitRows)
                Compute(b0 * Cfg.Mr, Math.Min(M, b1 * Cfg.Mr), 0, N);
            else
                Compute(0, M, b0 * Cfg.Nr, Math.Min(N, b1 * Cfg.Nr));
        }

        /// <summary>Rows [i0,i1) x columns [j0,j1) of C, GotoBLAS loop order: jc (NC) → pc (KC) → ic (MC) → jr (NR) → ir (MR).</summary>
        void Compute(int i0, int i1, int j0, int j1)
        {
            var cfg = Cfg;
            int mr = cfg.Mr, nr = cfg.Nr, k = K;
            // k-blocks of near-equal size, a function of k alone: the arithmetic of every C element is fixed by k.
            int kBlocks = (k + cfg.Kc - 1) / cfg.Kc, kcMax = (k + kBlocks - 1) / kBlocks;
            int ncMax = Math.Min(cfg.Nc, RoundUp(j1 - j0, nr)), mcMax = Math.Min(cfg.Mc, RoundUp(i1 - i0, mr));
            var ws = Workspace.Get((long)mcMax * kcMax, (long)ncMax * kcMax, mr * nr);
            float* pa = ws.A, pb = ws.B, tile = ws.Tile;
            var kernel = cfg.Kernel;
            nint ldc = Ldc;

            for (int jc = j0; jc < j1; jc += cfg.Nc)
            {
                int nc = Math.Min(cfg.Nc, j1 - jc);
                for (int kb = 0; kb < kBlocks; kb++)
                {
                    int pc = kb * kcMax, kc = Math.Min(kcMax, k - pc);
                    bool load = Accumulate || kb > 0;
                    PackB(TransB, B, Ldb, pc, kc, jc, nc, nr, pb);
                    for (int ic = i0; ic < i1; ic += cfg.Mc)
                    {
                        int mc = Math.Min(cfg.Mc, i1 - ic);
                        PackA(TransA, A, Lda, ic, mc, pc, kc, mr, pa);
                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            int nrr = Math.Min(nr, nc - jr);
                            float* bPanel = pb + (nint)jr * kc;
                            for (int ir = 0; ir < mc; ir += mr)
                            {
                                int mrr = Math.Min(mr, mc - ir);
                                float* aPanel = pa + (nint)ir * kc;
                                float* cTile = C + (nint)(ic + ir) * ldc + jc + jr;
                                if (mrr == mr && nrr == nr)
                                    kernel(kc, aPanel, bPanel, cTile, ldc, load);
                                else
                                {
                                    // Edge tile: run the same kernel on a scratch tile (zero-padded panels), copy back the valid part.
                                    if (load)
                                        for (int i = 0; i < mrr; i++)
                                            new ReadOnlySpan<float>(cTile + i * ldc, nrr).CopyTo(new Span<float>(tile + i * nr, nrr));
                                    kernel(kc, aPanel, bPanel, tile, nr, load);
                                    for (int i = 0; i < mrr; i++)
                                        new ReadOnlySpan<float>(tile + i * nr, nrr).CopyTo(new Span<float>(cTile + i * ldc, nrr));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    /// <summary>Packs op(A)[ic..ic+mc, pc..pc+kc] into MR-row micro-panels (MR floats per k step), zero-padding the last panel.</summary>
    static void PackA(bool transA, float* a, int lda, int ic, int mc, int pc, int kc, int mr, float* dst)
    {
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            if (transA)
            {
                // op(A)[i,p] = a[p*lda + i]: each k step is a contiguous run of rows.
                float* src = a + (nint)pc * lda + ic + ir;
                for (int p = 0; p < kc; p++, src += lda, dst += mr)
                {
                    int i = 0;
                    for (; i < rows; i++) dst[i] = src[i];
                    for (; i < mr; i++) dst[i] = 0;
                }
            }
            else
            {
                for (int i = 0; i < mr; i++)
                {
                    float* d = dst + i;
                    if (i < rows)
                    {
                        float* src = a + (nint)(ic + ir + i) * lda + pc;
                        for (int p = 0; p < kc; p++) d[p * mr] = src[p];
                    }
                    else
                        for (int p = 0; p < kc; p++) d[p * mr] = 0;
                }
                dst += (nint)mr * kc;
            }
        }
    }

    /// <summary>Packs op(B)[pc..pc+kc, jc..jc+nc] into NR-column micro-panels (NR floats per k step), zero-padding the last panel.</summary>
    static void PackB(bool transB, float* b, int ldb, int pc, int kc, int jc, int nc, int nr, float* dst)
    {
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            if (!transB)
            {
                float* src = b + (nint)pc * ldb + jc + jr;
                if (cols == nr && nr % Vector256<float>.Count == 0)
                {
                    for (int p = 0; p < kc; p++, src += ldb, dst += nr)
                        for (int j = 0; j < nr; j += Vector256<float>.Count)
                            Vector256.Store(Vector256.Load(src + j), dst + j);
                }
                else
                {
                    for (int p = 0; p < kc; p++, src += ldb, dst += nr)
                    {
                        int j = 0;
                        for (; j < cols; j++) dst[j] = src[j];
                        for (; j < nr; j++) dst[j] = 0;
                    }
                }
            }
            else
            {
                // op(B)[p,j] = b[j*ldb + p]: each column of the panel is a contiguous run of b.
                for (int j = 0; j < nr; j++)
                {
                    float* d = dst + j;
                    if (j < cols)
                    {
                        float* src = b + (nint)(jc + jr + j) * ldb + pc;
                        for (int p = 0; p < kc; p++) d[p * nr] = src[p];
                    }
                    else
                        for (int p = 0; p < kc; p++) d[p * nr] = 0;
                }
                dst += (nint)nr * kc;
            }
        }
    }

    // ---- small problems --------------------------------------------------------------------------------------------

    /// <summary>Unpacked single-threaded path for tiny products, where packing and thread hand-off cost more than they save.</summary>
    static void Small(bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        float* rowBuf = transA ? Workspace.Get(0, 0, k).Tile : null;
        for (int i = 0; i < m; i++)
        {
            float* ar;
            if (transA)
            {
                for (int p = 0; p < k; p++) rowBuf[p] = a[(nint)p * lda + i];
                ar = rowBuf;
            }
            else ar = a + (nint)i * lda;
            float* cr = c + (nint)i * ldc;
            if (transB)
            {
                for (int j = 0; j < n; j++)
                {
                    float d = Dot(ar, b + (nint)j * ldb, k);
                    cr[j] = accumulate ? cr[j] + d : d;
                }
            }
            else
            {
                if (!accumulate) new Span<float>(cr, n).Clear();
                for (int p = 0; p < k; p++) Axpy(ar[p], b + (nint)p * ldb, cr, n);
            }
        }
    }

    /// <summary>y[0..n) = fma(s, x, y) elementwise.</summary>
    static void Axpy(float s, float* x, float* y, int n)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(s);
            for (; j + 16 <= n; j += 16) Vector512.FusedMultiplyAdd(vs, Vector512.Load(x + j), Vector512.Load(y + j)).Store(y + j);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(s);
            for (; j + 8 <= n; j += 8) Vector256.FusedMultiplyAdd(vs, Vector256.Load(x + j), Vector256.Load(y + j)).Store(y + j);
        }
        for (; j < n; j++) y[j] = MathF.FusedMultiplyAdd(s, x[j], y[j]);
    }

    /// <summary>Dot product with a fixed (size-determined) summation order.</summary>
    static float Dot(float* x, float* y, int n)
    {
        int j = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; j + 16 <= n; j += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(x + j), Vector512.Load(y + j), acc);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; j + 8 <= n; j += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(x + j), Vector256.Load(y + j), acc);
            sum = Vector256.Sum(acc);
        }
        for (; j < n; j++) sum = MathF.FusedMultiplyAdd(x[j], y[j], sum);
        return sum;
    }

    // ---- per-thread packing buffers --------------------------------------------------------------------------------

    /// <summary>Per-thread 64-byte-aligned packing buffers, grown on demand and reused across calls; freed when the thread dies.</summary>
    sealed class Workspace
    {
        [ThreadStatic] static Workspace? t_current;

        public float* A, B, Tile;
        long _capA, _capB, _capTile;

        public static Workspace Get(long a, long b, long tile)
        {
            var ws = t_current ??= new Workspace();
            Ensure(ref ws.A, ref ws._capA, a);
            Ensure(ref ws.B, ref ws._capB, b);
            Ensure(ref ws.Tile, ref ws._capTile, tile);
            return ws;
        }

        static void Ensure(ref float* p, ref long cap, long need)
        {
            if (need <= cap) return;
            NativeMemory.AlignedFree(p);
            p = null;
            cap = 0;
            p = (float*)NativeMemory.AlignedAlloc((nuint)(need * sizeof(float)), 64);
            cap = need;
        }

        ~Workspace()
        {
            NativeMemory.AlignedFree(A);
            NativeMemory.AlignedFree(B);
            NativeMemory.AlignedFree(Tile);
        }
    }
}
