using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kiln.Kernels;

/// <summary>
/// Normalisation kernels. Batch norm works on [N, C, S] rows (S = H*W, L or 1): each sample's row of C*S elements is
/// combined elementwise with per-position accumulators (vectorised whatever S is), and the N rows are split into a fixed
/// number of chunks (so sums never depend on the thread count). Layer/group norm work on independent rows.
/// </summary>
internal static class Norm
{
    /// <summary>Elements below which a kernel runs on one thread (thread start-up costs more than the work).</summary>
    const int ParallelMin = 1 << 15;

    /// <summary>Fixed chunk count for reductions over the batch: deterministic, and enough to keep 2-4 threads busy.</summary>
    static int Chunks(int n, long total) => total < ParallelMin ? 1 : Math.Min(n, 4);

    /// <summary>Repeats per-channel values over S positions: [C] -> [C*S].</summary>
    static float[] Expand(ReadOnlySpan<float> perChannel, int s)
    {
        var e = TensorMemory.NewFloats(perChannel.Length * s, zeroed: false);
        for (int c = 0; c < perChannel.Length; c++) e.AsSpan(c * s, s).Fill(perChannel[c]);
        return e;
    }

    /// <summary>
    /// One pass over x [N, C, S]: per-channel mean and biased variance, from sums of (x - k) and (x - k)^2 shifted by the
    /// channel's first value k (so large offsets do not cancel), accumulated in float per position and in double across
    /// positions and chunks.
    /// </summary>
    public static void BatchStats(float[] x, int xOff, int n, int c, int s, double[] mean, double[] var)
    {
        int r = c * s;
        var k = new float[c];
        for (int ch = 0; ch < c; ch++) k[ch] = x[xOff + ch * s];
        if (s >= SegmentMin)
        {
            SegmentSums(n, c, s, (i, ch) => SegShifted(x.AsSpan(xOff + (i * c + ch) * s, s), k[ch]), mean, var);
        }
        else
        {
            var kExp = Expand(k, s);
            RowPairSums(n, c, s, (i, a1, a2) => AccShifted(x.AsSpan(xOff + i * r, r), kExp, a1, a2), mean, var);
        }
        double mm = (double)n * s;
        for (int ch = 0; ch < c; ch++)
        {
            double mu = mean[ch] / mm;
            var[ch] = Math.Max(0.0, var[ch] / mm - mu * mu);
            mean[ch] = k[ch] + mu;
        }
    }

    /// <summary>
    /// The row-wise path of the per-channel reductions: rows [C*S] of n samples split into chunks over threads, each chunk
    /// accumulating two per-position float arrays with accRow(sample, acc1, acc2); then per channel, in double, the sums
    /// over positions and chunks into sum1 and sum2.
    /// </summary>
    static void RowPairSums(int n, int c, int s, Action<int, float[], float[]> accRow, double[] sum1, double[] sum2)
    {
        int r = c * s;
        int chunks = Chunks(n, (long)n * r);
        var s1 = new float[chunks][];
        var s2 = new float[chunks][];
        Threading.For(chunks, q =>
        {
            int n0 = (int)((long)n * q / chunks), n1 = (int)((long)n * (q + 1) / chunks);
            var a1 = new float[r];
            var a2 = new float[r];
            for (int i = n0; i < n1; i++) accRow(i, a1, a2);
            s1[q] = a1;
            s2[q] = a2;
        });
        for (int ch = 0; ch < c; ch++)
        {
            double t1 = 0, t2 = 0;
            for (int q = 0; q < chunks; q++)
            {
                t1 += SumD(s1[q].AsSpan(ch * s, s));
                t2 += SumD(s2[q].AsSpan(ch * s, s));
            }
            sum1[ch] = t1;
            sum2[ch] = t2;
        }
    }

    /// <summary>Spatial sizes from which batch norm walks each (sample, channel) segment with per-channel scalars in registers, instead of whole rows against expanded per-position arrays.</summary>
    const int SegmentMin = 32;

    /// <summary>
    /// Per channel, the two sums segFn(sample, channel) returns, over all samples: the batch is split into a fixed number
    /// of chunks summed in double in chunk order (deterministic whatever the thread count).
    /// </summary>
    static void SegmentSums(int n, int c, int s, Func<int, int, (double, double)> segFn, double[] t1, double[] t2)
    {
        int chunks = Chunks(n, (long)n * c * s);
        var p1 = new double[chunks * c];
        var p2 = new double[chunks * c];
        Threading.For(chunks, q =>
        {
            int n0 = (int)((long)n * q / chunks), n1 = (int)((long)n * (q + 1) / chunks);
            for (int i = n0; i < n1; i++)
                for (int ch = 0; ch < c; ch++)
                {
                    var (u, v) = segFn(i, ch);
                    p1[q * c + ch] += u;
                    p2[q * c + ch] += v;
                }
        });
        Array.Clear(t1);
        Array.Clear(t2);
        for (int q = 0; q < chunks; q++)
            for (int ch = 0; ch < c; ch++)
            {
                t1[ch] += p1[q * c + ch];
                t2[ch] += p2[q * c + ch];
            }
    }

    /// <summary>(Σ (x - k), Σ (x - k)^2) over a segment, in vector registers.</summary>
    static (double, double) SegShifted(ReadOnlySpan<float> x, float k)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        double s1 = 0, s2 = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var vk = Vector512.Create(k);
            Vector512<float> a1 = default, a2 = default;
            for (; i <= n - 16; i += 16)
            {
                var d = Vector512.LoadUnsafe(ref xr, (nuint)i) - vk;
                a1 += d;
                a2 = Vector512.FusedMultiplyAdd(d, d, a2);
            }
            s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var vk = Vector256.Create(k);
            Vector256<float> a1 = default, a2 = default;
            for (; i <= n - 8; i += 8)
            {
                var d = Vector256.LoadUnsafe(ref xr, (nuint)i) - vk;
                a1 += d;
                a2 = Vector256.FusedMultiplyAdd(d, d, a2);
            }
            s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2);
        }
        for (; i < n; i++)
        {
            double d = Unsafe.Add(ref xr, i) - k;
            s1 += d; s2 += d * d;
        }
        return (s1, s2);
    }

    /// <summary>(Σ g, Σ g * (x - m)) over a segment, in vector registers.</summary>
    static (double, double) SegGrad(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float m)
    {
        int n = x.Length, i = 0;
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float xr = ref MemoryMarshal.GetReference(x);
        double s1 = 0, s2 = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var vm = Vector512.Create(m);
            Vector512<float> a1 = default, a2 = default;
            for (; i <= n - 16; i += 16)
            {
                var gv = Vector512.LoadUnsafe(ref gr, (nuint)i);
                a1 += gv;
                a2 = Vector512.FusedMultiplyAdd(gv, Vector512.LoadUnsafe(ref xr, (nuint)i) - vm, a2);
            }
            s1 = Vector512.Sum(a1); s2 = Vector512.Sum(a2);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var vm = Vector256.Create(m);
            Vector256<float> a1 = default, a2 = default;
            for (; i <= n - 8; i += 8)
            {
                var gv = Vector256.LoadUnsafe(ref gr, (nuint)i);
                a1 += gv;
                a2 = Vector256.FusedMultiplyAdd(gv, Vector256.LoadUnsafe(ref xr, (nuint)i) - vm, a2);
            }
            s1 = Vector256.Sum(a1); s2 = Vector256.Sum(a2);
        }
        for (; i < n; i++)
        {
            float gv = Unsafe.Add(ref gr, i);
            s1 += gv; s2 += gv * (Unsafe.Add(ref xr, i) - m);
        }
        return (s1, s2);
    }

    /// <summary>dx = g * a + x * b + d with scalar coefficients (one pass).</summary>
    static void GradApply(ReadOnlySpan<float> g, ReadOnlySpan<float> x, float a, float b, float d, Span<float> dx)
    {
        int n = x.Length, i = 0;
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float o = ref MemoryMarshal.GetReference(dx);
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(a); var vb = Vector512.Create(b); var vd = Vector512.Create(d);
            for (; i <= n - 16; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), vb, Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref gr, (nuint)i), va, vd)).StoreUnsafe(ref o, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b); var vd = Vector256.Create(d);
            for (; i <= n - 8; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), vb, Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref gr, (nuint)i), va, vd)).StoreUnsafe(ref o, (nuint)i);
        }
        for (; i < n; i++)
            Unsafe.Add(ref o, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref xr, i), b, MathF.FusedMultiplyAdd(Unsafe.Add(ref gr, i), a, d));
    }

    /// <summary>a1 += x - k; a2 += (x - k)^2, elementwise (one pass).</summary>
    static void AccShifted(ReadOnlySpan<float> x, ReadOnlySpan<float> k, Span<float> a1, Span<float> a2)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float kr = ref MemoryMarshal.GetReference(k);
        ref float r1 = ref MemoryMarshal.GetReference(a1);
        ref float r2 = ref MemoryMarshal.GetReference(a2);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
            {
                var d = Vector512.LoadUnsafe(ref xr, (nuint)i) - Vector512.LoadUnsafe(ref kr, (nuint)i);
                (Vector512.LoadUnsafe(ref r1, (nuint)i) + d).StoreUnsafe(ref r1, (nuint)i);
                Vector512.FusedMultiplyAdd(d, d, Vector512.LoadUnsafe(ref r2, (nuint)i)).StoreUnsafe(ref r2, (nuint)i);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
            {
                var d = Vector256.LoadUnsafe(ref xr, (nuint)i) - Vector256.LoadUnsafe(ref kr, (nuint)i);
                (Vector256.LoadUnsafe(ref r1, (nuint)i) + d).StoreUnsafe(ref r1, (nuint)i);
                Vector256.FusedMultiplyAdd(d, d, Vector256.LoadUnsafe(ref r2, (nuint)i)).StoreUnsafe(ref r2, (nuint)i);
            }
        for (; i < n; i++)
        {
            float d = Unsafe.Add(ref xr, i) - Unsafe.Add(ref kr, i);
            Unsafe.Add(ref r1, i) += d;
            Unsafe.Add(ref r2, i) = MathF.FusedMultiplyAdd(d, d, Unsafe.Add(ref r2, i));
        }
    }

    /// <summary>a1 += g; a2 += g * (x - m), elementwise (one pass).</summary>
    static void AccGrad(ReadOnlySpan<float> g, ReadOnlySpan<float> x, ReadOnlySpan<float> m, Span<float> a1, Span<float> a2)
    {
        int n = x.Length, i = 0;
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float mr = ref MemoryMarshal.GetReference(m);
        ref float r1 = ref MemoryMarshal.GetReference(a1);
        ref float r2 = ref MemoryMarshal.GetReference(a2);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
            {
                var gv = Vector512.LoadUnsafe(ref gr, (nuint)i);
                (Vector512.LoadUnsafe(ref r1, (nuint)i) + gv).StoreUnsafe(ref r1, (nuint)i);
                Vector512.FusedMultiplyAdd(gv, Vector512.LoadUnsafe(ref xr, (nuint)i) - Vector512.LoadUnsafe(ref mr, (nuint)i), Vector512.LoadUnsafe(ref r2, (nuint)i)).StoreUnsafe(ref r2, (nuint)i);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
            {
                var gv = Vector256.LoadUnsafe(ref gr, (nuint)i);
                (Vector256.LoadUnsafe(ref r1, (nuint)i) + gv).StoreUnsafe(ref r1, (nuint)i);
                Vector256.FusedMultiplyAdd(gv, Vector256.LoadUnsafe(ref xr, (nuint)i) - Vector256.LoadUnsafe(ref mr, (nuint)i), Vector256.LoadUnsafe(ref r2, (nuint)i)).StoreUnsafe(ref r2, (nuint)i);
            }
        for (; i < n; i++)
        {
            float gv = Unsafe.Add(ref gr, i);
            Unsafe.Add(ref r1, i) += gv;
            Unsafe.Add(ref r2, i) = MathF.FusedMultiplyAdd(gv, Unsafe.Add(ref xr, i) - Unsafe.Add(ref mr, i), Unsafe.Add(ref r2, i));
        }
    }

    /// <summary>dx = g * a + x * b + d, elementwise (one pass).</summary>
    static void GradApply(ReadOnlySpan<float> g, ReadOnlySpan<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> d, Span<float> dx)
    {
        int n = x.Length, i = 0;
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        ref float dr = ref MemoryMarshal.GetReference(d);
        ref float o = ref MemoryMarshal.GetReference(dx);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512.LoadUnsafe(ref br, (nuint)i),
                    Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref gr, (nuint)i), Vector512.LoadUnsafe(ref ar, (nuint)i), Vector512.LoadUnsafe(ref dr, (nuint)i)))
                    .StoreUnsafe(ref o, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref br, (nuint)i),
                    Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref gr, (nuint)i), Vector256.LoadUnsafe(ref ar, (nuint)i), Vector256.LoadUnsafe(ref dr, (nuint)i)))
                    .StoreUnsafe(ref o, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref o, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref xr, i), Unsafe.Add(ref br, i), MathF.FusedMultiplyAdd(Unsafe.Add(ref gr, i), Unsafe.Add(ref ar, i), Unsafe.Add(ref dr, i)));
    }

    static double SumD(ReadOnlySpan<float> v)
    {
        if (v.Length >= 16) return Reduce.Sum(v);
        double t = 0;
        foreach (float f in v) t += f;
        return t;
    }

    /// <summary>y = x * scale[c] + shift[c] over [N, C, S].</summary>
    public static void BatchApply(float[] x, int xOff, float[] y, int n, int c, int s, float[] scale, float[] shift)
    {
        int r = c * s;
        if (s >= SegmentMin)
        {
            Threading.ForRange(n * c, Math.Max(1, ParallelMin / s), (q0, q1) =>
            {
                for (int q = q0; q < q1; q++)
                    Affine(x.AsSpan(xOff + q * s, s), scale[q % c], shift[q % c], y.AsSpan(q * s, s));
            });
            return;
        }
        var sc = Expand(scale, s);
        var sh = Expand(shift, s);
        Threading.ForRange(n, Math.Max(1, ParallelMin / Math.Max(1, r)), (n0, n1) =>
        {
            for (int i = n0; i < n1; i++)
                TensorPrimitives.MultiplyAdd(x.AsSpan(xOff + i * r, r), sc, sh, y.AsSpan(i * r, r));
        });
    }

    /// <summary>Per channel: sumG = Σ g and sumGx = Σ g * (x - mean[c]) over [N, C, S].</summary>
    public static void BatchBackwardReduce(float[] g, int gOff, float[] x, int xOff, int n, int c, int s, float[] mean, double[] sumG, double[] sumGx)
    {
        int r = c * s;
        if (s >= SegmentMin)
        {
            SegmentSums(n, c, s, (i, ch) => SegGrad(g.AsSpan(gOff + (i * c + ch) * s, s), x.AsSpan(xOff + (i * c + ch) * s, s), mean[ch]), sumG, sumGx);
            return;
        }
        var mExp = Expand(mean, s);
        RowPairSums(n, c, s, (i, a1, a2) => AccGrad(g.AsSpan(gOff + i * r, r), x.AsSpan(xOff + i * r, r), mExp, a1, a2), sumG, sumGx);
    }

    /// <summary>dx = a[c] * g + b[c] * x + d[c] over [N, C, S] (the closed-form batch-norm input gradient).</summary>
    public static void BatchBackwardApply(float[] g, int gOff, float[] x, int xOff, float[] dx, int n, int c, int s, float[] a, float[] b, float[] d)
    {
        int r = c * s;
        if (s >= SegmentMin)
        {
            Threading.ForRange(n * c, Math.Max(1, ParallelMin / s), (q0, q1) =>
            {
                for (int q = q0; q < q1; q++)
                    GradApply(g.AsSpan(gOff + q * s, s), x.AsSpan(xOff + q * s, s), a[q % c], b[q % c], d[q % c], dx.AsSpan(q * s, s));
            });
            return;
        }
        var aE = Expand(a, s);
        var bE = Expand(b, s);
        var dE = Expand(d, s);
        Threading.ForRange(n, Math.Max(1, ParallelMin / Math.Max(1, r)), (n0, n1) =>
        {
            for (int i = n0; i < n1; i++) GradApply(g.AsSpan(gOff + i * r, r), x.AsSpan(xOff + i * r, r), aE, bE, dE, dx.AsSpan(i * r, r));
        });
    }

    // ---------------- rows: layer norm and group norm ----------------

    /// <summary>
    /// Row layout shared by layer and group norm: rows of Len = Segs * SegLen elements; row r uses affine parameters
    /// [(r % Groups) * Segs + k] for its k-th segment. Layer norm: Groups 1, Segs = Len, SegLen 1. Group norm over
    /// [N, C, S] with G groups: rows N*G, Segs C/G, SegLen S.
    /// </summary>
    internal readonly record struct RowGeom(int Rows, int Groups, int Segs, int SegLen)
    {
        public int Len => Segs * SegLen;
        public int Params => Groups * Segs;
    }

    static int MinRows(RowGeom g) => Math.Max(1, ParallelMin / Math.Max(1, g.Len));

    /// <summary>Σ (v - mean)^2 with vector accumulators.</summary>
    static double SumSqDev(ReadOnlySpan<float> v, float mean)
    {
        int n = v.Length, i = 0;
        ref float r = ref MemoryMarshal.GetReference(v);
        double total = 0;
        if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var m = Vector256.Create(mean);
            Vector256<float> a0 = default, a1 = default;
            for (; i <= n - 16; i += 16)
            {
                var d0 = Vector256.LoadUnsafe(ref r, (nuint)i) - m;
                var d1 = Vector256.LoadUnsafe(ref r, (nuint)(i + 8)) - m;
                a0 += d0 * d0;
                a1 += d1 * d1;
            }
            total = Vector256.Sum(a0 + a1);
        }
        for (; i < n; i++)
        {
            double d = Unsafe.Add(ref r, i) - mean;
            total += d * d;
        }
        return total;
    }

    /// <summary>y = x * a + b for a span.</summary>
    static void Affine(ReadOnlySpan<float> x, float a, float b, Span<float> y)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(a);
            var vb = Vector512.Create(b);
            for (; i <= n - 16; i += 16) Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), va, vb).StoreUnsafe(ref yr, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a);
            var vb = Vector256.Create(b);
            for (; i <= n - 8; i += 8) Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), va, vb).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref xr, i), a, b);
    }

    /// <summary>y = (x - mu) * a + b for a span (subtracting first keeps values near the mean exact).</summary>
    static void Centered(ReadOnlySpan<float> x, float mu, float a, float b, Span<float> y)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (Vector256.IsHardwareAccelerated)
        {
            var vm = Vector256.Create(mu);
            var va = Vector256.Create(a);
            var vb = Vector256.Create(b);
            for (; i <= n - 8; i += 8) Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i) - vm, va, vb).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref yr, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref xr, i) - mu, a, b);
    }

    /// <summary>Normalises each row (biased variance, eps inside the root), applies the optional affine; writes mean and 1/std per row.</summary>
    public static void RowsForward(float[] x, int xOff, float[] y, RowGeom g, float[]? w, float[]? b, float eps, float[] mean, float[] rstd)
    {
        int len = g.Len;
        Threading.ForRange(g.Rows, MinRows(g), (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = x.AsSpan(xOff + r * len, len);
                var yr = y.AsSpan(r * len, len);
                float mu = len == 0 ? 0f : (float)(SumD(xr) / len);
                float rs = (float)(1.0 / Math.Sqrt(SumSqDev(xr, mu) / Math.Max(len, 1) + eps));
                mean[r] = mu;
                rstd[r] = rs;
                int pb = r % g.Groups * g.Segs;
                if (g.SegLen == 1 && (w != null || b != null))
                {
                    Centered(xr, mu, rs, 0f, yr);
                    if (w != null) TensorPrimitives.Multiply(yr, w.AsSpan(pb, len), yr);
                    if (b != null) TensorPrimitives.Add(yr, b.AsSpan(pb, len), yr);
                }
                else
                    for (int k = 0; k < g.Segs; k++)
                    {
                        float sc = (w != null ? w[pb + k] : 1f) * rs, sh = b != null ? b[pb + k] : 0f;
                        Centered(xr.Slice(k * g.SegLen, g.SegLen), mu, sc, sh, yr.Slice(k * g.SegLen, g.SegLen));
                    }
            }
        });
    }

    /// <summary>
    /// Backward of <see cref="RowsForward"/>: dx (when not null) = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with
    /// gw = g * w; dw = Σ g * xhat and db = Σ g per parameter (when not null), summed over rows in a fixed chunk order.
    /// </summary>
    public static void RowsBackward(float[] gy, int gOff, float[] x, int xOff, RowGeom g, float[]? w, float[] mean, float[] rstd, float[]? dx, float[]? dw, float[]? db)
    {
        int len = g.Len, np = g.Params;
        bool wantParams = dw != null || db != null;
        int chunks = (long)g.Rows * len < ParallelMin ? 1 : Math.Min(g.Rows, 8);
        var pw = new float[chunks][];
        var pb = new float[chunks][];
        Threading.For(chunks, q =>
        {
            int r0 = (int)((long)g.Rows * q / chunks), r1 = (int)((long)g.Rows * (q + 1) / chunks);
            var xhat = TensorMemory.NewFloats(len, zeroed: false);
            var gw = g.SegLen == 1 ? TensorMemory.NewFloats(len, zeroed: false) : null;
            var aw = wantParams ? new float[np] : null;
            var ab = wantParams ? new float[np] : null;
            for (int r = r0; r < r1; r++)
            {
                var gr = gy.AsSpan(gOff + r * len, len);
                var xr = x.AsSpan(xOff + r * len, len);
                float rs = rstd[r];
                Centered(xr, mean[r], rs, 0f, xhat);
                int p0 = r % g.Groups * g.Segs;
                double sumA, sumB;
                if (g.SegLen == 1)
                {
                    if (w != null) TensorPrimitives.Multiply(gr, w.AsSpan(p0, len), gw);
                    else gr.CopyTo(gw);
                    sumA = SumD(gw);
                    sumB = TensorPrimitives.Dot(gw, xhat);
                    if (wantParams)
                    {
                        TensorPrimitives.MultiplyAdd(gr, xhat, aw.AsSpan(p0, len), aw.AsSpan(p0, len));
                        TensorPrimitives.Add(ab.AsSpan(p0, len), gr, ab.AsSpan(p0, len));
                    }
                    if (dx != null)
                    {
                        var o = dx.AsSpan(r * len, len);
                        Affine(gw!, rs, (float)(-rs * sumA / len), o);
                        TensorPrimitives.MultiplyAdd(xhat, (float)(-rs * sumB / len), o, o);
                    }
                }
                else
                {
                    sumA = 0; sumB = 0;
                    for (int k = 0; k < g.Segs; k++)
                    {
                        var gs = gr.Slice(k * g.SegLen, g.SegLen);
                        double sg = SumD(gs), sgx = TensorPrimitives.Dot(gs, xhat.AsSpan(k * g.SegLen, g.SegLen));
                        float wk = w != null ? w[p0 + k] : 1f;
                        sumA += wk * sg;
                        sumB += wk * sgx;
                        if (wantParams)
                        {
                            aw![p0 + k] += (float)sgx;
                            ab![p0 + k] += (float)sg;
                        }
                    }
                    if (dx != null)
                    {
                        float ca = (float)(-rs * sumA / len), cb = (float)(-rs * sumB / len);
                        for (int k = 0; k < g.Segs; k++)
                        {
                            float wk = w != null ? w[p0 + k] : 1f;
                            var o = dx.AsSpan(r * len + k * g.SegLen, g.SegLen);
                            Affine(gr.Slice(k * g.SegLen, g.SegLen), rs * wk, ca, o);
                            TensorPrimitives.MultiplyAdd(xhat.AsSpan(k * g.SegLen, g.SegLen), cb, o, o);
                        }
                    }
                }
            }
            pw[q] = aw!;
            pb[q] = ab!;
        });
        if (!wantParams) return;
        for (int q = 0; q < chunks; q++)
        {
            if (dw != null) TensorPrimitives.Add(dw, pw[q], dw);
            if (db != null) TensorPrimitives.Add(db, pb[q], db);
        }
    }
}
