using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kiln.Kernels;

/// <summary>
/// Row reductions over contiguous data. Sums use a fixed lane layout (unaligned loads, fixed combine order), so the
/// result depends only on the values and their count, never on memory alignment or thread count.
/// </summary>
internal static class Reduce
{
    /// <summary>Deterministic vectorised sum of a span.</summary>
    public static float Sum(ReadOnlySpan<float> x)
    {
        int n = x.Length, i = 0;
        ref float r = ref MemoryMarshal.GetReference(x);
        float total = 0f;
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - 32; i += 32)
            {
                a0 += Vector256.LoadUnsafe(ref r, (nuint)i);
                a1 += Vector256.LoadUnsafe(ref r, (nuint)(i + 8));
                a2 += Vector256.LoadUnsafe(ref r, (nuint)(i + 16));
                a3 += Vector256.LoadUnsafe(ref r, (nuint)(i + 24));
            }
            for (; i <= n - 8; i += 8) a0 += Vector256.LoadUnsafe(ref r, (nuint)i);
            total = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; i < n; i++) total += Unsafe.Add(ref r, i);
        return total;
    }

    /// <summary>Sum of ints (wrapping like int32 arithmetic).</summary>
    public static int SumInt(ReadOnlySpan<int> x)
    {
        int s = 0;
        foreach (int v in x) s += v;
        return s;
    }

    /// <summary>Maximum (NaN propagates).</summary>
    public static float Max(ReadOnlySpan<float> x) => TensorPrimitives.Max(x);

    /// <summary>Minimum (NaN propagates).</summary>
    public static float Min(ReadOnlySpan<float> x) => TensorPrimitives.Min(x);

    /// <summary>Index of the first maximum (a NaN counts as the maximum, as in PyTorch).</summary>
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        float bv = x[0];
        if (float.IsNaN(bv)) return 0;
        for (int i = 1; i < x.Length; i++)
        {
            float v = x[i];
            if (float.IsNaN(v)) return i;
            if (v > bv) { bv = v; best = i; }
        }
        return best;
    }

    /// <summary>Index of the first minimum (a NaN counts as the minimum, as in PyTorch).</summary>
    public static int ArgMin(ReadOnlySpan<float> x)
    {
        int best = 0;
        float bv = x[0];
        if (float.IsNaN(bv)) return 0;
        for (int i = 1; i < x.Length; i++)
        {
            float v = x[i];
            if (float.IsNaN(v)) return i;
            if (v < bv) { bv = v; best = i; }
        }
        return best;
    }

    /// <summary>Index of the first maximum of ints.</summary>
    public static int ArgMaxInt(ReadOnlySpan<int> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    /// <summary>Index of the first minimum of ints.</summary>
    public static int ArgMinInt(ReadOnlySpan<int> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] < x[best]) best = i;
        return best;
    }

    /// <summary>Variance with the given correction (1 = unbiased), two-pass in double for accuracy.</summary>
    public static float Var(ReadOnlySpan<float> x, int correction)
    {
        int n = x.Length;
        if (n - correction <= 0) return float.NaN;
        double mean = 0;
        foreach (float v in x) mean += v;
        mean /= n;
        double ss = 0;
        foreach (float v in x)
        {
            double d = v - mean;
            ss += d * d;
        }
        return (float)(ss / (n - correction));
    }

    /// <summary>log(sum(exp(x))) computed stably around the maximum.</summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        float m = Max(x);
        if (float.IsNegativeInfinity(m)) return m;
        if (float.IsNaN(m) || float.IsPositiveInfinity(m)) return m;
        float s = 0;
        foreach (float v in x) s += MathF.Exp(v - m);
        return m + MathF.Log(s);
    }

    /// <summary>d = softmax(x) (or log-softmax when log), stable: shifts by the row maximum.</summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> d, bool log)
    {
        float m = Max(x);
        TensorPrimitives.Subtract(x, m, d);
        if (log)
        {
            Span<float> tmp = x.Length <= 1024 ? stackalloc float[x.Length] : new float[x.Length];
            TensorPrimitives.Exp(d, tmp);
            float lse = MathF.Log(Sum(tmp));
            TensorPrimitives.Subtract(d, lse, d);
        }
        else
        {
            TensorPrimitives.Exp(d, d);
            TensorPrimitives.Divide(d, Sum(d), d);
        }
    }
}
