using System.Numerics;

namespace Kiln.Kernels;

/// <summary>Fused activation kernels on contiguous spans (one pass each), threaded over ranges for large inputs.</summary>
internal static class Activations
{
    const int MinPerChunk = 1 << 16;

    /// <summary>Lesson 18's GeneralRelu without a clamp: d = (x &gt; 0 ? x : leak*x) - sub.</summary>
    public static void LeakySub(float[] x, int xOff, float[] d, int n, float leak, float sub) =>
        Threading.ForRange(n, MinPerChunk, (s, e) =>
        {
            var xs = x.AsSpan(xOff + s, e - s);
            var ds = d.AsSpan(s, e - s);
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                Vector<float> l = new(leak), b = new(sub);
                for (; i <= ds.Length - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var v = new Vector<float>(xs[i..]);
                    (Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, v * l) - b).CopyTo(ds[i..]);
                }
            }
            for (; i < ds.Length; i++) ds[i] = (xs[i] > 0f ? xs[i] : xs[i] * leak) - sub;
        });

    /// <summary>Its backward: d = x &gt; 0 ? g : leak*g (PyTorch's rule at 0: the leak).</summary>
    public static void LeakyGrad(float[] g, int gOff, float[] x, int xOff, float[] d, int n, float leak) =>
        Threading.ForRange(n, MinPerChunk, (s, e) =>
        {
            var gs = g.AsSpan(gOff + s, e - s);
            var xs = x.AsSpan(xOff + s, e - s);
            var ds = d.AsSpan(s, e - s);
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                Vector<float> l = new(leak);
                for (; i <= ds.Length - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var gv = new Vector<float>(gs[i..]);
                    Vector.ConditionalSelect(Vector.GreaterThan(new Vector<float>(xs[i..]), Vector<float>.Zero), gv, gv * l).CopyTo(ds[i..]);
                }
            }
            for (; i < ds.Length; i++) ds[i] = xs[i] > 0f ? gs[i] : gs[i] * leak;
        });
}
