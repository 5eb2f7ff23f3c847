using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Kernels;

/// <summary>
/// Single-precision matrix multiply (SGEMM) on row-major operands: packed panels, cache blocking, a register-blocked
/// FMA micro-kernel and a split of the output across <see cref="Threading.Threads"/> threads; small and skinny products
/// (C with at most 64 rows or columns, or small overall) take the direct path instead (<see cref="GemmDirect"/>:
/// register-blocked kernels reading A and B in place, masked Vector512 edges, no packing).
/// </summary>
/// <remarks>
/// Determinism: each C element is one FMA chain over k in order (k-blocks only park the float accumulator in C, which is
/// exact), every tile uses the same kernel (edge tiles run it on zero-padded panels), and threads only ever split the
/// rows or columns of C. So the result is bit-identical whatever the thread count. The path is a function of the shape
/// alone; the direct Rows kernels compute the same in-order FMA chain as the packed kernel (bit-identical to it), the
/// direct Dot kernels a fixed 16-lane split of k, and the direct path's threads split only C's rows.
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
    internal static long MinWorkPerThread = 1L << 21;

    /// <summary>The same for the direct path: 2^20, so the MLP's 64x50x784 / 64x784x50 / 50x784x64 products (2.5M multiply-adds)
    /// take both cores at two threads (measured at 2 threads, the other core partly busy: 64x50x784 Dot 29 -> 18-20 µs,
    /// 64x784x50 22 -> 18, 50x784x64 22 -> 13-15). Threads split only C's rows, so the bits do not change.</summary>
    internal static long MinDirectWorkPerThread = 1L << 20;

    /// <summary>
    /// A micro-kernel (kc steps over an MR-row A panel and an NR-column B panel, tile at c with row stride ldc;
    /// load = add to C) with its cache blocks: Kc steps per packed panel, Mc rows of A and Nc columns of B per packed block.
    /// </summary>
    internal sealed class Config
    {
        public required int Mr, Nr, Kc, Mc, Nc;
        /// <summary>Lanes of the direct kernels that go with this micro-kernel (<see cref="GemmDirect"/>: 16 or 8; 0 = none, the
        /// direct paths fall back to the unpacked loops). They are used only where <see cref="GemmDirect.Supports"/> says so.</summary>
        public required int DirectLanes;
        /// <summary>Which path to take: 0 = choose by shape (<see cref="ChoosePath"/>), 1 = always packed, 2 = always the scalar-row
        /// unpacked loops, 3 = the direct kernels (<see cref="GemmDirect"/>; where they don't apply, as 2), 4 = the direct kernels
        /// with the Dot kernels for every A·Bᵀ, 5 = the direct kernels never using the Dot kernels (Bᵀ always copied).</summary>
        public int PathMode;
        public required delegate*<int, float*, float*, float*, nint, bool, void> Kernel;
        public required string Name;

        /// <summary>A copy with other cache blocks (tuning experiments: bench/ gemmtune).</summary>
        public Config WithBlocks(int kc, int mc, int nc) => new()
        {
            Mr = Mr, Nr = Nr, Kc = kc, Mc = mc, Nc = nc, Kernel = Kernel, Name = Name, PathMode = PathMode, DirectLanes = DirectLanes,
        };

        /// <summary>A copy that forces one path (see <see cref="PathMode"/>).</summary>
        public Config WithPathMode(int pathMode) => new()
        {
            Mr = Mr, Nr = Nr, Kc = Kc, Mc = Mc, Nc = Nc, Kernel = Kernel, Name = Name, PathMode = pathMode, DirectLanes = DirectLanes,
        };
    }

    // Zen 5 here: 48 KiB L1d, 1 MiB L2 per core, 32 MiB shared L3. A 384x32 B panel (48 KiB) streams through L1, the
    // 240x384 A block (360 KiB) sits in L2, the 384x4096 B block (6 MiB) in L3. Measured: 8x32/12x32/14x32 kernels and
    // Kc 192..512, Mc 96..480 all land within noise of ~220-230 GFLOPS per core; 8x32 packs with plain 8x8 transposes.
    internal static Config Avx512Config => new()
    {
        Mr = 8, Nr = 32, Kc = 384, Mc = 240, Nc = 4096, Name = "Vector512 8x32", Kernel = &GemmKernels.Kernel512x8x32, DirectLanes = 16,
    };

    internal static Config Avx2Config => new()
    {
        Mr = 6, Nr = 16, Kc = 256, Mc = 144, Nc = 4096, Name = "Vector256 6x16", Kernel = &GemmKernels.Kernel256x6x16, DirectLanes = 8,
    };

    internal static Config Vector128Config => new()
    {
        Mr = 6, Nr = 8, Kc = 256, Mc = 144, Nc = 4096, Name = "Vector128 6x8", Kernel = &GemmKernels.Kernel128x6x8, DirectLanes = 0,
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
        int path = cfg.PathMode != 0 ? cfg.PathMode : ChoosePath(cfg, transA, transB, m, n, k);
        if (path >= 3 && !GemmDirect.Supports(cfg.DirectLanes)) path = 2;
        if (path >= 3)
        {
            bool dot = transB && !transA && (path == 4 || (path == 3 && PreferDot(m, n, k)));
            RunDirect(cfg.DirectLanes, transA, transB, dot, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
            return;
        }
        if (path == 2)
        {
            var small = new Job
            {
                Cfg = cfg, TransA = transA, TransB = transB, M = m, N = n, K = k,
                A = a, Lda = lda, B = b, Ldb = ldb, C = c, Ldc = ldc, Accumulate = accumulate, Blocks = m,
            };
            small.Chunks = (int)Math.Min(Math.Min(Threading.Threads, m), Math.Max(1, (long)m * n * k / MinWorkPerThread));
            if (small.Chunks <= 1) small.RunUnpackedChunk(0);
            else Threading.For(small.Chunks, small.RunUnpackedChunk);
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

    /// <summary>Largest op(B) that <see cref="RunDirect"/> transposes on the stack rather than in the per-thread workspace (16 KiB).</summary>
    const int StackTransposeFloats = 4096;

    /// <summary>
    /// The direct path (<see cref="GemmDirect"/>). op(B) = Bᵀ is either multiplied as dot products (op(A) = A, few rows of C
    /// per k: <see cref="PreferDot"/>) or first transposed into a k x n scratch copy so that the Rows kernels apply (the copy
    /// costs n·k moves against m·n·k multiply-adds). Threads split C's rows only, after the copy.
    /// </summary>
    [SkipLocalsInit]
    static void RunDirect(int lanes, bool transA, bool transB, bool dot, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        if (transB && !dot)
        {
            long size = (long)k * n;
            float* bt;
            if (size <= StackTransposeFloats)
            {
                float* onStack = stackalloc float[StackTransposeFloats]; // lives until RunDirect returns
                bt = onStack;
            }
            else bt = Workspace.Get(0, size, 0).B;
            TransposeInto(b, ldb, n, k, bt, n);
            b = bt;
            ldb = n;
            transB = false;
        }
        // Dot splits C's columns, i.e. the rows of B. In a Linear layer's forward B is the weight, so each thread reads the
        // same rows of it step after step: the rows its share of the weight gradient (dhᵀ·x, a Rows product split by C's
        // rows) and of the optimizer's update (Optimizer.ForEachRange) wrote. The weight never crosses between cores' caches.
        bool splitColumns = transB;
        int align = transB ? GemmDirect.DotRowsB : GemmDirect.MaxRows, extent = splitColumns ? n : m, blocks = (extent + align - 1) / align;
        int chunks = (int)Math.Min(Math.Min(Threading.Threads, blocks), Math.Max(1, (long)m * n * k / MinDirectWorkPerThread));
        if (chunks <= 1) GemmDirect.Run(lanes, transA, transB, 0, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        else DirectParallel(lanes, chunks, align, splitColumns, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    }

    /// <summary>The direct path on <paramref name="chunks"/> threads, each a contiguous run of <paramref name="align"/>-row
    /// blocks of C's rows or (Dot) columns (a separate method so the closure is only allocated here).</summary>
    static void DirectParallel(int lanes, int chunks, int align, bool splitColumns, bool transA, bool transB, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        int extent = splitColumns ? n : m, blocks = (extent + align - 1) / align;
        Threading.For(chunks, chunk =>
        {
            int s0 = Math.Min(extent, (int)((long)blocks * chunk / chunks) * align);
            int s1 = Math.Min(extent, (int)((long)blocks * (chunk + 1) / chunks) * align);
            if (splitColumns) GemmDirect.Run(lanes, transA, transB, 0, m, s1 - s0, k, a, lda, b + (nint)s0 * ldb, ldb, c + s0, ldc, accumulate);
            else GemmDirect.Run(lanes, transA, transB, s0, s1, n, k, a, lda, b, ldb, c, ldc, accumulate);
        });
    }

    /// <summary>dst[p*ldd + j] = src[j*lds + p] for j &lt; rows, p &lt; cols (8x8 AVX blocks, scalar edges).</summary>
    internal static void TransposeInto(float* src, nint lds, int rows, int cols, float* dst, nint ldd)
    {
        int rows8 = Avx.IsSupported ? rows & ~7 : 0, cols8 = cols & ~7;
        for (int j = 0; j < rows8; j += 8)
        {
            for (int p = 0; p < cols8; p += 8) Transpose8x8(src + j * lds + p, lds, dst + p * ldd + j, ldd);
            for (int p = cols8; p < cols; p++)
                for (int r = 0; r < 8; r++) dst[p * ldd + j + r] = src[(j + r) * lds + p];
        }
        for (int j = rows8; j < rows; j++)
            for (int p = 0; p < cols; p++) dst[p * ldd + j] = src[j * lds + p];
    }

    sealed class Job
    {
        public required Config Cfg;
        public bool TransA, TransB, Accumulate, SplitRows;
        public int M, N, K, Lda, Ldb, Ldc, Blocks, Chunks;
        public float* A, B, C;

        public void RunUnpackedChunk(int chunk)
        {
            int i0 = (int)((long)M * chunk / Chunks), i1 = (int)((long)M * (chunk + 1) / Chunks);
            Unpacked(TransA, TransB, i0, i1, N, K, A, Lda, B, Ldb, C, Ldc, Accumulate);
        }

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
        for (int ir = 0; ir < mc; ir += mr, dst += (nint)mr * kc)
        {
            int rows = Math.Min(mr, mc - ir);
            if (transA) PackDirect(a + (nint)pc * lda + ic + ir, lda, rows, kc, mr, dst);
            else PackTransposed(a + (nint)(ic + ir) * lda + pc, lda, rows, kc, mr, dst);
        }
    }

    /// <summary>Packs op(B)[pc..pc+kc, jc..jc+nc] into NR-column micro-panels (NR floats per k step), zero-padding the last panel.</summary>
    static void PackB(bool transB, float* b, int ldb, int pc, int kc, int jc, int nc, int nr, float* dst)
    {
        for (int jr = 0; jr < nc; jr += nr, dst += (nint)nr * kc)
        {
            int cols = Math.Min(nr, nc - jr);
            if (transB) PackTransposed(b + (nint)(jc + jr) * ldb + pc, ldb, cols, kc, nr, dst);
            else PackDirect(b + (nint)pc * ldb + jc + jr, ldb, cols, kc, nr, dst);
        }
    }

    /// <summary>Panel of width w from lines that run along the panel: dst[p*w + l] = src[p*ld + l] for l &lt; count, 0 up to w.</summary>
    static void PackDirect(float* src, nint ld, int count, int kc, int w, float* dst)
    {
        int vec = count & ~(Vector256<float>.Count - 1);
        for (int p = 0; p < kc; p++, src += ld, dst += w)
        {
            int l = 0;
            for (; l < vec; l += Vector256<float>.Count) Vector256.Store(Vector256.Load(src + l), dst + l);
            for (; l < count; l++) dst[l] = src[l];
            for (; l < w; l++) dst[l] = 0;
        }
    }

    /// <summary>Panel of width w from lines contiguous in k: dst[p*w + l] = src[l*ld + p] for l &lt; count, 0 up to w.</summary>
    static void PackTransposed(float* src, nint ld, int count, int kc, int w, float* dst)
    {
        if (count < w) new Span<float>(dst, w * kc).Clear();
        int full = Avx.IsSupported ? count & ~7 : 0, pFull = 0;
        if (full > 0)
            for (; pFull + 8 <= kc; pFull += 8)
                for (int g = 0; g < full; g += 8)
                    Transpose8x8(src + g * ld + pFull, ld, dst + (nint)pFull * w + g, w);
        for (int l = 0; l < count; l++)
        {
            float* s = src + l * ld, d = dst + l;
            for (int p = l < full ? pFull : 0; p < kc; p++) d[(nint)p * w] = s[p];
        }
    }

    /// <summary>
    /// <see cref="TransposeInto"/> in destination order: each block of 8 destination rows is written whole (all of its
    /// <paramref name="rows"/> columns) before the next, so no cache line of dst is left half-written while others are
    /// filled, which matters when dst's rows are far apart (staging with image-inner or position-major layouts).
    /// </summary>
    internal static void TransposeIntoByDstRows(float* src, nint lds, int rows, int cols, float* dst, nint ldd)
    {
        if (!Avx.IsSupported) { TransposeInto(src, lds, rows, cols, dst, ldd); return; }
        int rows8 = rows & ~7, cols8 = cols & ~7;
        for (int p = 0; p < cols8; p += 8)
        {
            for (int j = 0; j < rows8; j += 8) Transpose8x8(src + j * lds + p, lds, dst + p * ldd + j, ldd);
            for (int q = p; q < p + 8; q++)
                for (int j = rows8; j < rows; j++) dst[q * ldd + j] = src[j * lds + q];
        }
        for (int p = cols8; p < cols; p++)
            for (int j = 0; j < rows; j++) dst[p * ldd + j] = src[j * lds + p];
    }

    /// <summary>d[c*ds + r] = s[r*ss + c] for an 8x8 block (AVX unpack/shuffle/permute network).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(float* s, nint ss, float* d, nint ds)
    {
        var r0 = Avx.LoadVector256(s); var r1 = Avx.LoadVector256(s + ss);
        var r2 = Avx.LoadVector256(s + 2 * ss); var r3 = Avx.LoadVector256(s + 3 * ss);
        var r4 = Avx.LoadVector256(s + 4 * ss); var r5 = Avx.LoadVector256(s + 5 * ss);
        var r6 = Avx.LoadVector256(s + 6 * ss); var r7 = Avx.LoadVector256(s + 7 * ss);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + ds, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * ds, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * ds, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * ds, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * ds, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * ds, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * ds, Avx.Permute2x128(u3, u7, 0x31));
    }

    // ---- path choice -------------------------------------------------------------------------------------------------

    /// <summary>Path for a shape (a function of the shape alone, never of the thread count): 1 packed, 2 unpacked loops, 3 direct.</summary>
    internal static int ChoosePath(Config cfg, bool transA, bool transB, int m, int n, int k)
    {
        if (GemmDirect.Supports(cfg.DirectLanes) && PreferDirect(cfg.DirectLanes, transA, transB, m, n, k)) return 3;
        return PreferUnpacked(m, n, transB) ? 2 : 1;
    }

    /// <summary>Largest op(B) = Bᵀ (n·k floats) the direct path transposes into a scratch copy (4 MiB, about the packed path's B block).</summary>
    internal const long MaxDirectTranspose = 1L << 20;

    /// <summary>
    /// The direct kernels win (measured with <c>bench/run.sh paths</c>, see docs/PERFORMANCE.md) whenever C has at most 64 rows
    /// or columns, and on any product of up to 2^21 multiply-adds; beyond that (say 128x128 and up with k in the hundreds)
    /// the packed path's cache blocking catches up and wins at large k. The direct path has no k blocking (each row tile
    /// streams a k x 64 strip of B), so very long k with more than a few row tiles stays packed (measured up to k = 2048).
    /// The Vector256 kernels (16-column strips, cut into k-chunks of 256) were measured on an AVX2 host (Zen 3, 2026-12-02,
    /// <c>paths --threads 1</c>): they beat or tie the packed path on every small and skinny shape after their full-width
    /// stores stopped using vmaskmovps, and lose from k = 2048 once C is at least 64 x 64 (64x128x2048 and 64x784x2048 by
    /// 6-20 % on the best call), so those stay packed there.
    /// </summary>
    internal static bool PreferDirect(int lanes, bool transA, bool transB, int m, int n, int k)
    {
        if (transB && (transA || !PreferDot(m, n, k)) && (long)n * k > MaxDirectTranspose) return false;
        if (k > 4096 && m > 16) return false;
        if (lanes == 8 && k >= 2048 && Math.Min(m, n) >= 64) return false;
        return Math.Min(m, n) <= 64 || (long)m * n * k <= 1L << 21;
    }

    /// <summary>On the direct path with op(A) = A, op(B) = Bᵀ: dot products (cost ~ one horizontal sum per C element) rather than
    /// transposing B (cost ~ n·k moves) when C has few rows for the length of k.</summary>
    /// <remarks>Measured (<c>bench/run.sh paths</c>, forced modes 4 and 5) after the Dot kernels got a one-pass 4x4 tree
    /// reduction: Dot also wins for long k against a Bᵀ of at most 64 rows that stays in L2 (64x50x784, the MLP's forward: 28.5 vs
    /// 30 µs; 64x16x784 8.6 vs 10; 128x16x784 17 vs 20), and loses when Bᵀ has hundreds of rows (64x784x784 1.5x slower).</remarks>
    internal static bool PreferDot(int m, int n, int k) => (long)m * 16 <= k || (n <= 64 && k >= 512);

    // ---- unpacked path ----------------------------------------------------------------------------------------------

    /// <summary>
    /// Shapes where packing costs more than it saves (measured, see the commit message): one or two rows of C
    /// (vector-matrix products: each B element would be packed to be used once or twice), and op(B) = Bᵀ with few
    /// columns or a tiny output (a mostly empty NR-wide panel, while rows of A and B are contiguous dot products).
    /// </summary>
    internal static bool PreferUnpacked(int m, int n, bool transB) => m <= 2 || (transB && (n <= 8 || m * n <= 64));

    /// <summary>Rows [i0,i1) of C without packing: row-times-matrix axpys, or dot products when op(B) = Bᵀ.</summary>
    static void Unpacked(bool transA, bool transB, int i0, int i1, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        float* rowBuf = transA ? Workspace.Get(0, 0, k).Tile : null;
        for (int i = i0; i < i1; i++)
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
            // Four independent accumulators hide the FMA latency; the order still depends only on n.
            Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            for (; j + 64 <= n; j += 64)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + j), Vector512.Load(y + j), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.Load(x + j + 16), Vector512.Load(y + j + 16), acc1);
                acc2 = Vector512.FusedMultiplyAdd(Vector512.Load(x + j + 32), Vector512.Load(y + j + 32), acc2);
                acc3 = Vector512.FusedMultiplyAdd(Vector512.Load(x + j + 48), Vector512.Load(y + j + 48), acc3);
            }
            for (; j + 16 <= n; j += 16) acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + j), Vector512.Load(y + j), acc0);
            sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
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
    sealed class Workspace : ThreadBuffers
    {
        [ThreadStatic] static Workspace? t_current;

        public float* A => P0;
        public float* B => P1;
        public float* Tile => P2;

        public static Workspace Get(long a, long b, long tile)
        {
            var ws = t_current ??= new Workspace();
            ws.Ensure(a, b, tile);
            return ws;
        }
    }
}
