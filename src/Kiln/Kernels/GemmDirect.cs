// Driver for Gemm's direct (unpacked) path: register-blocked Vector512 kernels that read A and B where they lie, for
// small and skinny products where packing B (or A) into panels costs more than the multiply (lesson 8's 5x784 @ 784x10,
// an MLP's per-step products). The kernels themselves are generated into GemmDirect.g.cs by bench/tools/gen-gemm-direct.py.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Kernels;

/// <summary>
/// Two unpacked kernel families, both needing AVX-512F (masked loads and stores handle every edge without reading or
/// writing outside the operands):
/// <list type="bullet">
/// <item><b>Rows</b> (op(B) = B, rows of B contiguous along n; op(A) either way): an R x 16V tile of C (R &lt;= 6, V &lt;= 4
/// vectors, the last one masked) kept in registers; per k step load V vectors of a B row, broadcast R elements of op(A),
/// R·V FMAs. Each C element is one FMA chain over k in order starting from 0 (or from C when accumulating): exactly
/// the arithmetic of the packed micro-kernel, so the Rows path and the packed path give bit-identical results.</item>
/// <item><b>Dot</b> (op(A) = A, op(B) = Bᵀ: rows of A and of B both contiguous along k): an Ra x Rb block of dot products
/// (Ra, Rb &lt;= 4) in 16-lane partial sums over k (the last step masked), then <see cref="Vector512.Sum"/>.</item>
/// </list>
/// Each C element's arithmetic depends only on k (and, for Dot, the fixed lane split), never on the block it fell in or the
/// rows a thread was given, so any split of C's rows gives bit-identical results.
/// </summary>
static unsafe partial class GemmDirect
{
    internal const int MaxRows = 6, MaxVectors = 4, DotRowsA = 4, DotRowsB = 4;

    internal static bool IsSupported => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>The direct path handles op(B) = B (Rows kernels) and op(A) = A with op(B) = Bᵀ (Dot kernels); not Aᵀ·Bᵀ.</summary>
    internal static bool Handles(bool transA, bool transB) => IsSupported && !(transA && transB);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> FirstLanes(int count) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    /// <summary>Rows [i0,i1) of C = op(A)·op(B) (or C += when <paramref name="load"/>), all n columns; k &gt; 0.</summary>
    internal static void Run(bool transA, bool transB, int i0, int i1, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, bool load)
    {
        if (transB)
        {
            // Dot: Ra rows of A stay in L1 while Rb rows of B at a time stream past them.
            var kMask = FirstLanes(k & 15);
            for (int i = i0; i < i1; i += DotRowsA)
            {
                int ra = Math.Min(DotRowsA, i1 - i);
                float* ai = a + i * lda, ci = c + i * ldc;
                for (int j = 0; j < n; j += DotRowsB)
                    Dot(ra, Math.Min(DotRowsB, n - j), k, ai, lda, b + j * ldb, ldb, ci + j, ldc, kMask, load);
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
}
