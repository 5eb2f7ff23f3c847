// Micro-kernels for Gemm. Each computes one MR x NR tile of C from a packed A micro-panel (MR floats per k step)
// and a packed B micro-panel (NR floats per k step), keeping the whole tile in registers; every C element is a plain
// FMA chain over k in order, so a tile's values never depend on which thread or which tile position computed them.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kiln.Kernels;

static unsafe class GemmKernels
{
    /// <summary>8x32 tile: C[0..8,0..32] (+)= packed A micro-panel · packed B micro-panel over kc steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel512x8x32(int kc, float* a, float* b, float* c, nint ldc, bool load)
    {
        Vector512<float> c0_0, c0_1, c1_0, c1_1, c2_0, c2_1, c3_0, c3_1, c4_0, c4_1, c5_0, c5_1, c6_0, c6_1, c7_0, c7_1;
        if (load)
        {
            c0_0 = Vector512.Load(c + 0 * ldc + 0); c0_1 = Vector512.Load(c + 0 * ldc + 16);
            c1_0 = Vector512.Load(c + 1 * ldc + 0); c1_1 = Vector512.Load(c + 1 * ldc + 16);
            c2_0 = Vector512.Load(c + 2 * ldc + 0); c2_1 = Vector512.Load(c + 2 * ldc + 16);
            c3_0 = Vector512.Load(c + 3 * ldc + 0); c3_1 = Vector512.Load(c + 3 * ldc + 16);
            c4_0 = Vector512.Load(c + 4 * ldc + 0); c4_1 = Vector512.Load(c + 4 * ldc + 16);
            c5_0 = Vector512.Load(c + 5 * ldc + 0); c5_1 = Vector512.Load(c + 5 * ldc + 16);
            c6_0 = Vector512.Load(c + 6 * ldc + 0); c6_1 = Vector512.Load(c + 6 * ldc + 16);
            c7_0 = Vector512.Load(c + 7 * ldc + 0); c7_1 = Vector512.Load(c + 7 * ldc + 16);
        }
        else
        {
            c0_0 = default; c0_1 = default;
            c1_0 = default; c1_1 = default;
            c2_0 = default; c2_1 = default;
            c3_0 = default; c3_1 = default;
            c4_0 = default; c4_1 = default;
            c5_0 = default; c5_1 = default;
            c6_0 = default; c6_1 = default;
            c7_0 = default; c7_1 = default;
        }
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b + 0); var b1 = Vector512.Load(b + 16);
            { var ai = Vector512.Create(a[0]); c0_0 = Vector512.FusedMultiplyAdd(ai, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(ai, b1, c0_1); }
            { var ai = Vector512.Create(a[1]); c1_0 = Vector512.FusedMultiplyAdd(ai, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(ai, b1, c1_1); }
            { var ai = Vector512.Create(a[2]); c2_0 = Vector512.FusedMultiplyAdd(ai, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(ai, b1, c2_1); }
            { var ai = Vector512.Create(a[3]); c3_0 = Vector512.FusedMultiplyAdd(ai, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(ai, b1, c3_1); }
            { var ai = Vector512.Create(a[4]); c4_0 = Vector512.FusedMultiplyAdd(ai, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(ai, b1, c4_1); }
            { var ai = Vector512.Create(a[5]); c5_0 = Vector512.FusedMultiplyAdd(ai, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(ai, b1, c5_1); }
            { var ai = Vector512.Create(a[6]); c6_0 = Vector512.FusedMultiplyAdd(ai, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(ai, b1, c6_1); }
            { var ai = Vector512.Create(a[7]); c7_0 = Vector512.FusedMultiplyAdd(ai, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(ai, b1, c7_1); }
            a += 8; b += 32;
        }
        c0_0.Store(c + 0 * ldc + 0); c0_1.Store(c + 0 * ldc + 16);
        c1_0.Store(c + 1 * ldc + 0); c1_1.Store(c + 1 * ldc + 16);
        c2_0.Store(c + 2 * ldc + 0); c2_1.Store(c + 2 * ldc + 16);
        c3_0.Store(c + 3 * ldc + 0); c3_1.Store(c + 3 * ldc + 16);
        c4_0.Store(c + 4 * ldc + 0); c4_1.Store(c + 4 * ldc + 16);
        c5_0.Store(c + 5 * ldc + 0); c5_1.Store(c + 5 * ldc + 16);
        c6_0.Store(c + 6 * ldc + 0); c6_1.Store(c + 6 * ldc + 16);
        c7_0.Store(c + 7 * ldc + 0); c7_1.Store(c + 7 * ldc + 16);
    }

    /// <summary>6x16 tile: C[0..6,0..16] (+)= packed A micro-panel · packed B micro-panel over kc steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel256x6x16(int kc, float* a, float* b, float* c, nint ldc, bool load)
    {
        Vector256<float> c0_0, c0_1, c1_0, c1_1, c2_0, c2_1, c3_0, c3_1, c4_0, c4_1, c5_0, c5_1;
        if (load)
        {
            c0_0 = Vector256.Load(c + 0 * ldc + 0); c0_1 = Vector256.Load(c + 0 * ldc + 8);
            c1_0 = Vector256.Load(c + 1 * ldc + 0); c1_1 = Vector256.Load(c + 1 * ldc + 8);
            c2_0 = Vector256.Load(c + 2 * ldc + 0); c2_1 = Vector256.Load(c + 2 * ldc + 8);
            c3_0 = Vector256.Load(c + 3 * ldc + 0); c3_1 = Vector256.Load(c + 3 * ldc + 8);
            c4_0 = Vector256.Load(c + 4 * ldc + 0); c4_1 = Vector256.Load(c + 4 * ldc + 8);
            c5_0 = Vector256.Load(c + 5 * ldc + 0); c5_1 = Vector256.Load(c + 5 * ldc + 8);
        }
        else
        {
            c0_0 = default; c0_1 = default;
            c1_0 = default; c1_1 = default;
            c2_0 = default; c2_1 = default;
            c3_0 = default; c3_1 = default;
            c4_0 = default; c4_1 = default;
            c5_0 = default; c5_1 = default;
        }
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b + 0); var b1 = Vector256.Load(b + 8);
            { var ai = Vector256.Create(a[0]); c0_0 = Vector256.FusedMultiplyAdd(ai, b0, c0_0); c0_1 = Vector256.FusedMultiplyAdd(ai, b1, c0_1); }
            { var ai = Vector256.Create(a[1]); c1_0 = Vector256.FusedMultiplyAdd(ai, b0, c1_0); c1_1 = Vector256.FusedMultiplyAdd(ai, b1, c1_1); }
            { var ai = Vector256.Create(a[2]); c2_0 = Vector256.FusedMultiplyAdd(ai, b0, c2_0); c2_1 = Vector256.FusedMultiplyAdd(ai, b1, c2_1); }
            { var ai = Vector256.Create(a[3]); c3_0 = Vector256.FusedMultiplyAdd(ai, b0, c3_0); c3_1 = Vector256.FusedMultiplyAdd(ai, b1, c3_1); }
            { var ai = Vector256.Create(a[4]); c4_0 = Vector256.FusedMultiplyAdd(ai, b0, c4_0); c4_1 = Vector256.FusedMultiplyAdd(ai, b1, c4_1); }
            { var ai = Vector256.Create(a[5]); c5_0 = Vector256.FusedMultiplyAdd(ai, b0, c5_0); c5_1 = Vector256.FusedMultiplyAdd(ai, b1, c5_1); }
            a += 6; b += 16;
        }
        c0_0.Store(c + 0 * ldc + 0); c0_1.Store(c + 0 * ldc + 8);
        c1_0.Store(c + 1 * ldc + 0); c1_1.Store(c + 1 * ldc + 8);
        c2_0.Store(c + 2 * ldc + 0); c2_1.Store(c + 2 * ldc + 8);
        c3_0.Store(c + 3 * ldc + 0); c3_1.Store(c + 3 * ldc + 8);
        c4_0.Store(c + 4 * ldc + 0); c4_1.Store(c + 4 * ldc + 8);
        c5_0.Store(c + 5 * ldc + 0); c5_1.Store(c + 5 * ldc + 8);
    }

    /// <summary>6x8 tile: C[0..6,0..8] (+)= packed A micro-panel · packed B micro-panel over kc steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel128x6x8(int kc, float* a, float* b, float* c, nint ldc, bool load)
    {
        Vector128<float> c0_0, c0_1, c1_0, c1_1, c2_0, c2_1, c3_0, c3_1, c4_0, c4_1, c5_0, c5_1;
        if (load)
        {
            c0_0 = Vector128.Load(c + 0 * ldc + 0); c0_1 = Vector128.Load(c + 0 * ldc + 4);
            c1_0 = Vector128.Load(c + 1 * ldc + 0); c1_1 = Vector128.Load(c + 1 * ldc + 4);
            c2_0 = Vector128.Load(c + 2 * ldc + 0); c2_1 = Vector128.Load(c + 2 * ldc + 4);
            c3_0 = Vector128.Load(c + 3 * ldc + 0); c3_1 = Vector128.Load(c + 3 * ldc + 4);
            c4_0 = Vector128.Load(c + 4 * ldc + 0); c4_1 = Vector128.Load(c + 4 * ldc + 4);
            c5_0 = Vector128.Load(c + 5 * ldc + 0); c5_1 = Vector128.Load(c + 5 * ldc + 4);
        }
        else
        {
            c0_0 = default; c0_1 = default;
            c1_0 = default; c1_1 = default;
            c2_0 = default; c2_1 = default;
            c3_0 = default; c3_1 = default;
            c4_0 = default; c4_1 = default;
            c5_0 = default; c5_1 = default;
        }
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector128.Load(b + 0); var b1 = Vector128.Load(b + 4);
            { var ai = Vector128.Create(a[0]); c0_0 = Vector128.FusedMultiplyAdd(ai, b0, c0_0); c0_1 = Vector128.FusedMultiplyAdd(ai, b1, c0_1); }
            { var ai = Vector128.Create(a[1]); c1_0 = Vector128.FusedMultiplyAdd(ai, b0, c1_0); c1_1 = Vector128.FusedMultiplyAdd(ai, b1, c1_1); }
            { var ai = Vector128.Create(a[2]); c2_0 = Vector128.FusedMultiplyAdd(ai, b0, c2_0); c2_1 = Vector128.FusedMultiplyAdd(ai, b1, c2_1); }
            { var ai = Vector128.Create(a[3]); c3_0 = Vector128.FusedMultiplyAdd(ai, b0, c3_0); c3_1 = Vector128.FusedMultiplyAdd(ai, b1, c3_1); }
            { var ai = Vector128.Create(a[4]); c4_0 = Vector128.FusedMultiplyAdd(ai, b0, c4_0); c4_1 = Vector128.FusedMultiplyAdd(ai, b1, c4_1); }
            { var ai = Vector128.Create(a[5]); c5_0 = Vector128.FusedMultiplyAdd(ai, b0, c5_0); c5_1 = Vector128.FusedMultiplyAdd(ai, b1, c5_1); }
            a += 6; b += 8;
        }
        c0_0.Store(c + 0 * ldc + 0); c0_1.Store(c + 0 * ldc + 4);
        c1_0.Store(c + 1 * ldc + 0); c1_1.Store(c + 1 * ldc + 4);
        c2_0.Store(c + 2 * ldc + 0); c2_1.Store(c + 2 * ldc + 4);
        c3_0.Store(c + 3 * ldc + 0); c3_1.Store(c + 3 * ldc + 4);
        c4_0.Store(c + 4 * ldc + 0); c4_1.Store(c + 4 * ldc + 4);
        c5_0.Store(c + 5 * ldc + 0); c5_1.Store(c + 5 * ldc + 4);
    }
}
