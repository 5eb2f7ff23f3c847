namespace Kiln.Kernels;

/// <summary>
/// Padding and upsampling kernels over contiguous planes (N*C planes of H x W). Index maps are computed once per call;
/// each plane is handled by one thread, so backward scatter-adds inside a plane never race.
/// </summary>
internal static class Resample
{
    static int MinPlanes(int planeElems) => Math.Max(1, 32768 / Math.Max(1, planeElems));

    /// <summary>
    /// 2-d padding: output [planes, h + top + bottom, w + left + right]; negative amounts crop. Zero mode fills outside
    /// cells with 0, replicate mode copies the nearest edge cell.
    /// </summary>
    public static void PadForward(float[] x, int xOff, float[] y, int planes, int h, int w, int left, int top, int oh, int ow, bool replicate)
    {
        int hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(ohw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var xp = x.AsSpan(xOff + p * hw, hw);
                var yp = y.AsSpan(p * ohw, ohw);
                for (int i = 0; i < oh; i++)
                {
                    var yr = yp.Slice(i * ow, ow);
                    int ih = i - top;
                    if (!replicate && (uint)ih >= (uint)h) { yr.Clear(); continue; }
                    ih = Math.Clamp(ih, 0, h - 1);
                    var xr = xp.Slice(ih * w, w);
                    // columns [j0, j1) of the output come straight from the input row
                    int j0 = Math.Clamp(left, 0, ow), j1 = Math.Clamp(left + w, 0, ow);
                    if (replicate)
                    {
                        yr[..j0].Fill(xr[0]);
                        yr[j1..].Fill(xr[w - 1]);
                    }
                    else
                    {
                        yr[..j0].Clear();
                        yr[Math.Max(j0, j1)..].Clear();
                    }
                    if (j1 > j0) xr.Slice(j0 - left, j1 - j0).CopyTo(yr[j0..j1]);
                }
            }
        });
    }

    /// <summary>Backward of <see cref="PadForward"/>: gx [planes, h, w] (zeroed) receives each output gradient at its source cell.</summary>
    public static void PadBackward(float[] gy, int gOff, float[] gx, int planes, int h, int w, int left, int top, int oh, int ow, bool replicate)
    {
        int hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(ohw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var gp = gy.AsSpan(gOff + p * ohw, ohw);
                var xp = gx.AsSpan(p * hw, hw);
                for (int i = 0; i < oh; i++)
                {
                    int ih = i - top;
                    if (!replicate && (uint)ih >= (uint)h) continue;
                    ih = Math.Clamp(ih, 0, h - 1);
                    var gr = gp.Slice(i * ow, ow);
                    var xr = xp.Slice(ih * w, w);
                    if (replicate)
                        for (int j = 0; j < ow; j++) xr[Math.Clamp(j - left, 0, w - 1)] += gr[j];
                    else
                    {
                        int j0 = Math.Clamp(left, 0, ow), j1 = Math.Clamp(left + w, 0, ow);
                        for (int j = j0; j < j1; j++) xr[j - left] += gr[j];
                    }
                }
            }
        });
    }

    /// <summary>Nearest upsampling through precomputed source rows hIdx[oh] and columns wIdx[ow].</summary>
    public static void NearestForward(float[] x, int xOff, float[] y, int planes, int h, int w, int[] hIdx, int[] wIdx)
    {
        int oh = hIdx.Length, ow = wIdx.Length, hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(ohw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var xp = x.AsSpan(xOff + p * hw, hw);
                var yp = y.AsSpan(p * ohw, ohw);
                for (int i = 0; i < oh; i++)
                {
                    var yr = yp.Slice(i * ow, ow);
                    if (i > 0 && hIdx[i] == hIdx[i - 1]) { yp.Slice((i - 1) * ow, ow).CopyTo(yr); continue; }
                    var xr = xp.Slice(hIdx[i] * w, w);
                    for (int j = 0; j < ow; j++) yr[j] = xr[wIdx[j]];
                }
            }
        });
    }

    /// <summary>Backward of nearest upsampling: gx (zeroed) += gy at each output's source cell.</summary>
    public static void NearestBackward(float[] gy, int gOff, float[] gx, int planes, int h, int w, int[] hIdx, int[] wIdx)
    {
        int oh = hIdx.Length, ow = wIdx.Length, hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(ohw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var gp = gy.AsSpan(gOff + p * ohw, ohw);
                var xp = gx.AsSpan(p * hw, hw);
                for (int i = 0; i < oh; i++)
                {
                    var gr = gp.Slice(i * ow, ow);
                    var xr = xp.Slice(hIdx[i] * w, w);
                    for (int j = 0; j < ow; j++) xr[wIdx[j]] += gr[j];
                }
            }
        });
    }

    /// <summary>Bilinear interpolation weights along one axis: source cells i0, i1 and weights l0, l1 per output index.</summary>
    internal readonly record struct Axis(int[] I0, int[] I1, float[] L0, float[] L1);

    /// <summary>PyTorch's linear source index: align corners maps ends to ends; otherwise half-pixel centres clamped at 0.</summary>
    public static Axis LinearAxis(int inSize, int outSize, bool alignCorners, double? scaleFactor)
    {
        float scale = alignCorners
            ? (outSize > 1 ? (float)(inSize - 1) / (outSize - 1) : 0f)
            : (scaleFactor is double sf && sf > 0 ? (float)(1.0 / sf) : (float)inSize / outSize);
        var a = new Axis(new int[outSize], new int[outSize], new float[outSize], new float[outSize]);
        for (int o = 0; o < outSize; o++)
        {
            float src = alignCorners ? scale * o : Math.Max(scale * (o + 0.5f) - 0.5f, 0f);
            int i0 = Math.Min((int)src, inSize - 1);
            int i1 = i0 + (i0 < inSize - 1 ? 1 : 0);
            float l1 = Math.Min(src - i0, 1f);
            a.I0[o] = i0; a.I1[o] = i1; a.L1[o] = l1; a.L0[o] = 1f - l1;
        }
        return a;
    }

    public static void BilinearForward(float[] x, int xOff, float[] y, int planes, int h, int w, Axis ah, Axis aw)
    {
        int oh = ah.I0.Length, ow = aw.I0.Length, hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(ohw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var xp = x.AsSpan(xOff + p * hw, hw);
                var yp = y.AsSpan(p * ohw, ohw);
                for (int i = 0; i < oh; i++)
                {
                    var r0 = xp.Slice(ah.I0[i] * w, w);
                    var r1 = xp.Slice(ah.I1[i] * w, w);
                    float h0 = ah.L0[i], h1 = ah.L1[i];
                    var yr = yp.Slice(i * ow, ow);
                    for (int j = 0; j < ow; j++)
                    {
                        int c0 = aw.I0[j], c1 = aw.I1[j];
                        float w0 = aw.L0[j], w1 = aw.L1[j];
                        yr[j] = h0 * (w0 * r0[c0] + w1 * r0[c1]) + h1 * (w0 * r1[c0] + w1 * r1[c1]);
                    }
                }
            }
        });
    }

    public static void BilinearBackward(float[] gy, int gOff, float[] gx, int planes, int h, int w, Axis ah, Axis aw)
    {
        int oh = ah.I0.Length, ow = aw.I0.Length, hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(ohw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var gp = gy.AsSpan(gOff + p * ohw, ohw);
                var xp = gx.AsSpan(p * hw, hw);
                for (int i = 0; i < oh; i++)
                {
                    var r0 = xp.Slice(ah.I0[i] * w, w);
                    var r1 = xp.Slice(ah.I1[i] * w, w);
                    float h0 = ah.L0[i], h1 = ah.L1[i];
                    var gr = gp.Slice(i * ow, ow);
                    for (int j = 0; j < ow; j++)
                    {
                        int c0 = aw.I0[j], c1 = aw.I1[j];
                        float w0 = aw.L0[j], w1 = aw.L1[j], v = gr[j];
                        r0[c0] += h0 * w0 * v; r0[c1] += h0 * w1 * v;
                        r1[c0] += h1 * w0 * v; r1[c1] += h1 * w1 * v;
                    }
                }
            }
        });
    }
}
