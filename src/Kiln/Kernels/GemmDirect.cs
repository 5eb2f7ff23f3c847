// Driver for Gemm's direct (unpacked) path: register-blocked Vector512 or Vector256 kernels that read A and B where they lie, for
// small and skinny products where packing B (or A) into panels costs more than the multiply (lesson 8's 5x784 @ 784x10,
// an MLP's per-step products). The kernels themselves are generated into GemmDirect.g.cs by bench/tools/gen-gemm-direct.py.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Kernels;

/// <summary>
/// Two unpacked kernel shapes, each in two widths: Vector512 (16 lanes, AVX-512F) and Vector256 (8 lanes, AVX2 + FMA; the
/// kernels whose names end in 256). Masked loads and stores handle every edge without reading or writing outside the
/// operands (AVX-512's mask registers; AVX's vmaskmovps, which does not fault on masked-off elements).
/// <list type="bullet">
/// <item><b>Rows</b> (op(B) = B, rows of B contiguous along n; op(A) either way): an R x LV tile of C (L lanes, R &lt;= 6,
/// V &lt;= 4 vectors of 16 or V &lt;= 2 of 8, the last one masked) kept in registers; per k step load V vectors of a B row,
/// broadcast R elements of op(A), R·V FMAs. Each C element is one FMA chain over k in order starting from 0 (or from C when
/// accumulating): exactly the arithmetic of the packed micro-kernels, so the Rows path and the packed path give
/// bit-identical results.</item>
/// <item><b>Dot</b> (op(A) = A, op(B) = Bᵀ: rows of A and of B both contiguous along k): an Ra x Rb block of dot products
/// (Ra, Rb &lt;= 4 at 16 lanes; Ra &lt;= 2, Rb &lt;= 4 at 8) in L-lane partial sums over k (the last step masked), then one
/// tree reduction of all accumulators into one vector (<see cref="Reduce4x4"/>, <see cref="Reduce2x4"/>: the same lane
/// order for every element).</item>
/// </list>
/// Each C element's arithmetic depends only on k (and, for Dot, the fixed lane split), never on the block it fell in or the
/// rows a thread was given, so any split of C's rows gives bit-identical results.
/// </summary>
static unsafe partial class GemmDirect
{
    internal const int MaxRows = 6;

    /// <summary>Longest run of k the Vector256 Rows kernels take in one pass over a B strip (see <see cref="Run256"/>).</summary>
    internal static int KChunk256 = 256;

    /// <summary>Whether the Dot loops prefetch the next rows of A (experiments switch it off).</summary>
    internal static bool Prefetch = true;

    /// <summary>Whether the kernels of <paramref name="lanes"/> lanes (16 or 8; 0 = none) run on this machine.</summary>
    internal static bool Supports(int lanes) => lanes switch
    {
        16 => Avx512F.IsSupported && Vector512.IsHardwareAccelerated,
        8 => Avx2.IsSupported && Fma.IsSupported,
        _ => false,
    };

    /// <summary>Rows of B a Dot block takes at either width (the thread split, over B's rows, aligns to it).</summary>
    internal const int DotRowsB = 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> FirstLanes(int count) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> FirstLanes256(int count) => Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(count)).AsSingle();

    /// <summary>
    /// Horizontal sums of 8 vectors in one pass: lane L of the result is the sum of the 8 lanes of v[L], always the tree
    /// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) (two levels of vhaddps, then the 128-bit halves), whatever the other
    /// inputs are; the Dot256 kernels pass zero for the accumulators their edge blocks don't have.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Reduce2x4(
        Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3,
        Vector256<float> v4, Vector256<float> v5, Vector256<float> v6, Vector256<float> v7)
    {
        // [v0 01, v0 23, v1 01, v1 23 | v0 45, v0 67, v1 45, v1 67], then [S0 lo, S1 lo, S2 lo, S3 lo | S0 hi, ..., S3 hi].
        var g0 = Avx.HorizontalAdd(Avx.HorizontalAdd(v0, v1), Avx.HorizontalAdd(v2, v3));
        var g1 = Avx.HorizontalAdd(Avx.HorizontalAdd(v4, v5), Avx.HorizontalAdd(v6, v7));
        return Avx.Permute2x128(g0, g1, 0x20) + Avx.Permute2x128(g0, g1, 0x31);
    }

    /// <summary>
    /// Horizontal sums of 16 vectors in one pass: lane 4L + q of the result is the sum of the 16 lanes of v[4q + L]. Every
    /// sum is the same tree over the lanes, (((l + l+8) + (l+4 + l+12)) pairs, then lanes 0+2, 1+3, then those two), whatever
    /// the other inputs are; the Dot kernels pass zero for the accumulators their edge blocks don't have.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Reduce4x4(
        Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        Vector512<float> v4, Vector512<float> v5, Vector512<float> v6, Vector512<float> v7,
        Vector512<float> v8, Vector512<float> v9, Vector512<float> v10, Vector512<float> v11,
        Vector512<float> v12, Vector512<float> v13, Vector512<float> v14, Vector512<float> v15)
    {
        // Level 1: 128-bit chunks c and c+2 of a pair -> [a02, a13, b02, b13].
        var x0 = Halves(v0, v1); var x1 = Halves(v2, v3); var x2 = Halves(v4, v5); var x3 = Halves(v6, v7);
        var x4 = Halves(v8, v9); var x5 = Halves(v10, v11); var x6 = Halves(v12, v13); var x7 = Halves(v14, v15);
        // Level 2: [a02, a13, b02, b13] + [c02, c13, d02, d13] -> [a, b, c, d] (4 partial sums per 128-bit chunk).
        var y0 = Quarters(x0, x1); var y1 = Quarters(x2, x3); var y2 = Quarters(x4, x5); var y3 = Quarters(x6, x7);
        // Level 3 and 4 within 128-bit chunks (vshufps): chunk L of the result holds v[L], v[4+L], v[8+L], v[12+L].
        var z0 = Avx512F.Shuffle(y0, y1, 0x44) + Avx512F.Shuffle(y0, y1, 0xEE);
        var z1 = Avx512F.Shuffle(y2, y3, 0x44) + Avx512F.Shuffle(y2, y3, 0xEE);
        return Avx512F.Shuffle(z0, z1, 0x88) + Avx512F.Shuffle(z0, z1, 0xDD);

        static Vector512<float> Halves(Vector512<float> a, Vector512<float> b) =>
            Avx512F.Shuffle4x128(a, b, 0x44) + Avx512F.Shuffle4x128(a, b, 0xEE);
        static Vector512<float> Quarters(Vector512<float> a, Vector512<float> b) =>
            Avx512F.Shuffle4x128(a, b, 0x88) + Avx512F.Shuffle4x128(a, b, 0xDD);
    }

    /// <summary>Rows [i0,i1) of C = op(A)·op(B) (or C += when <paramref name="load"/>), all n columns; k &gt; 0; with the
    /// kernels of <paramref name="lanes"/> lanes (16 or 8, <see cref="Supports"/>). Not Aᵀ·Bᵀ.</summary>
    internal static void Run(int lanes, bool transA, bool transB, int i0, int i1, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, bool load)
    {
        if (lanes == 8) Run256(transA, transB, i0, i1, n, k, a, lda, b, ldb, c, ldc, load);
        else Run512(transA, transB, i0, i1, n, k, a, lda, b, ldb, c, ldc, load);
    }

    /// <summary>64-byte lines of each next row of A that one block of B in a Dot pass prefetches (0 when <see cref="Prefetch"/> is off):
    /// the row's lines spread evenly over the pass's ceil(n / rowsB) blocks.</summary>
    static int PrefetchPerBlock(int n, int rowsB, int k)
    {
        int blocks = (n + rowsB - 1) / rowsB, lines = (k + 15) >> 4;
        return Prefetch ? (lines + blocks - 1) / blocks : 0;
    }

    /// <summary>
    /// The Dot passes' prefetch of the next rows of A (often fresh from memory: a batch of inputs): block <paramref name="jb"/>
    /// of B fetches its slice of their lines, so they are in cache when their turn comes instead of stalling the first block
    /// of the next pass on every line.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchSlice(float* next, nint lda, int rows, int jb, int perBlock, int k)
    {
        int lines = (k + 15) >> 4;
        for (int l = jb * perBlock, le = Math.Min(lines, l + perBlock); l < le; l++)
            for (int r = 0; r < rows; r++) Sse.Prefetch0(next + r * lda + l * 16);
    }

    static void Run512(bool transA, bool transB, int i0, int i1, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, bool load)
    {
        const int DotRowsA = 4, MaxVectors = 4;
        if (transB)
        {
            // Dot: Ra rows of A stay in L1 while Rb rows of B at a time stream past them.
            var kMask = FirstLanes(k & 15);
            int perBlock = PrefetchPerBlock(n, DotRowsB, k);
            for (int i = i0; i < i1; i += DotRowsA)
            {
                int ra = Math.Min(DotRowsA, i1 - i), next = Math.Min(DotRowsA, i1 - i - ra);
                float* ai = a + i * lda, ci = c + i * ldc;
                for (int j = 0, jb = 0; j < n; j += DotRowsB, jb++)
                {
                    PrefetchSlice(ai + DotRowsA * lda, lda, next, jb, perBlock, k);
                    Dot(ra, Math.Min(DotRowsB, n - j), k, ai, lda, b + j * ldb, ldb, ci + j, ldc, kMask, load);
                }
            }
            return;
        }
        // Rows: 64-column strips of B (k x 64) outermost, R-row tiles of C down each strip.
        const int strip = 16 * MaxVectors;
        for (int j = 0; j < n; j += strip)
        {
            int cols = Math.Min(strip, n - j), vectors = (cols + 15) >> 4;
            var mask = FirstLanes(cols - 16 * (vectors - 1));
            float* bj = b + j;
            for (int i = i0; i < i1; i += MaxRows)
            {
                int rows = Math.Min(MaxRows, i1 - i);
                float* ci = c + i * ldc + j;
                if (transA) RowsT(rows, vectors, k, a + i, lda, bj, ldb, ci, ldc, mask, load);
                else RowsN(rows, vectors, k, a + i * lda, lda, bj, ldb, ci, ldc, mask, load);
            }
        }
    }

    static void Run256(bool transA, bool transB, int i0, int i1, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, bool load)
    {
        const int DotRowsA = 2, MaxVectors = 2;
        if (transB)
        {
            var kMask = FirstLanes256(k & 7);
            int perBlock = PrefetchPerBlock(n, DotRowsB, k);
            for (int i = i0; i < i1; i += DotRowsA)
            {
                int ra = Math.Min(DotRowsA, i1 - i), next = Math.Min(DotRowsA, i1 - i - ra);
                float* ai = a + i * lda, ci = c + i * ldc;
                for (int j = 0, jb = 0; j < n; j += DotRowsB, jb++)
                {
                    PrefetchSlice(ai + DotRowsA * lda, lda, next, jb, perBlock, k);
                    Dot256(ra, Math.Min(DotRowsB, n - j), k, ai, lda, b + j * ldb, ldb, ci + j, ldc, kMask, load);
                }
            }
            return;
        }
        // 16-column strips of B, cut into k-chunks of at most KChunk256 rows (16 KiB, so the chunk stays in L1 while every row
        // tile of C passes over it); a tile's FMA chain carries on through C between chunks, so the bits do not change.
        const int strip = 8 * MaxVectors;
        int kChunks = (k + KChunk256 - 1) / KChunk256, kc = (k + kChunks - 1) / kChunks;
        for (int j = 0; j < n; j += strip)
        {
            int cols = Math.Min(strip, n - j), vectors = (cols + 7) >> 3;
            var mask = FirstLanes256(cols - 8 * (vectors - 1));
            for (int p = 0; p < k; p += kc)
            {
                int kk = Math.Min(kc, k - p);
                bool loadC = load || p > 0;
                float* bj = b + p * ldb + j;
                for (int i = i0; i < i1; i += MaxRows)
                {
                    int rows = Math.Min(MaxRows, i1 - i);
                    float* ci = c + i * ldc + j;
                    if (transA) RowsT256(rows, vectors, kk, a + p * lda + i, lda, bj, ldb, ci, ldc, mask, loadC);
                    else RowsN256(rows, vectors, kk, a + i * lda + p, lda, bj, ldb, ci, ldc, mask, loadC);
                }
            }
        }
    }
}
