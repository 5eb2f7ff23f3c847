using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Kernels;

/// <summary>Geometry of a 2-d pooling window over Planes = N*C planes of H x W, giving OH x OW outputs per plane.</summary>
internal readonly record struct PoolGeom(int Planes, int H, int W, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW)
{
    /// <summary>True for the common non-overlapping 2x2 window with stride 2, no padding or dilation, on even sizes.</summary>
    public bool Is2x2 => KH == 2 && KW == 2 && SH == 2 && SW == 2 && PH == 0 && PW == 0 && DH == 1 && DW == 1 && OH * 2 <= H && OW * 2 <= W;

    /// <summary>The same window in ceil mode on an odd height or width (lesson 18's AvgPool2d(2, ceil_mode=True) on 7x7):
    /// the windows tile the plane, the last row or column of windows being one cell high or wide.</summary>
    public bool Is2x2Ceil => KH == 2 && KW == 2 && SH == 2 && SW == 2 && PH == 0 && PW == 0 && DH == 1 && DW == 1 &&
        OH == (H + 1) / 2 && OW == (W + 1) / 2 && (H % 2 == 1 || W % 2 == 1);
}

/// <summary>
/// Pooling kernels over contiguous NCHW planes (each plane handled by one thread, so scatter-adds inside a plane never
/// race). Max pooling keeps, per output, the flat index of the chosen input inside its plane (PyTorch's indices).
/// </summary>
internal static class Pool
{
    /// <summary>Planes per parallel chunk so a chunk carries at least ~32K input elements (smaller work runs on one thread).</summary>
    static int MinPlanes(int planeElems) => Math.Max(1, 32768 / Math.Max(1, planeElems));

    /// <summary>PyTorch's pooling output size (floor or ceil mode; in ceil mode the last window must start inside the input or left padding).</summary>
    public static int OutSize(int inSize, int k, int s, int p, int d, bool ceil)
    {
        int num = inSize + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0);
        int o = (int)Math.Floor(num / (double)s) + 1;
        if (ceil && (o - 1) * s >= inSize + p) o--;
        return o;
    }

    // ---------------- max ----------------

    public static void MaxForward(float[] x, int xOff, float[] y, int[] idx, PoolGeom g)
    {
        if (MaxTinyPlanes(x, xOff, y, idx, g)) return;
        int hw = g.H * g.W, ohw = g.OH * g.OW;
        Threading.ForRange(g.Planes, MinPlanes(hw), (p0, p1) =>
        {
            float[]? rowMax = null;
            int[]? rowIdx = null;
            for (int p = p0; p < p1; p++)
            {
                var xp = x.AsSpan(xOff + p * hw, hw);
                var yp = y.AsSpan(p * ohw, ohw);
                var ip = idx.AsSpan(p * ohw, ohw);
                if (g.Is2x2) Max2x2(xp, yp, ip, g);
                else if (Avx2.IsSupported)
                {
                    rowMax ??= GC.AllocateUninitializedArray<float>(g.H * g.OW);
                    rowIdx ??= GC.AllocateUninitializedArray<int>(g.H * g.OW);
                    MaxPlaneSeparable(xp, yp, ip, g, rowMax, rowIdx);
                }
                else MaxPlane(xp, yp, ip, g);
            }
        });
    }

    /// <summary>
    /// Any window, in two vectorised passes: per input row, the first maximum over each output's kw columns (gathered,
    /// 8 outputs at a time); then per output, the first maximum of those row results over its kh rows. Equivalent to
    /// PyTorch's row-major scan: a later row or column wins only if strictly greater, and the last NaN wins.
    /// </summary>
    static unsafe void MaxPlaneSeparable(ReadOnlySpan<float> x, Span<float> y, Span<int> idx, PoolGeom g, float[] rowMax, int[] rowIdx)
    {
        int w = g.W, ow = g.OW;
        // outputs whose kw columns are all inside the row
        int lo = Math.Min(ow, (g.PW + g.SW - 1) / g.SW);
        int hiEx = Math.Max(lo, Math.Min(ow, (w - 1 + g.PW - (g.KW - 1) * g.DW) >= 0 ? (w - 1 + g.PW - (g.KW - 1) * g.DW) / g.SW + 1 : 0));
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * g.SW;
        fixed (float* xp0 = x)
        {
            for (int ih = 0; ih < g.H; ih++)
            {
                float* row = xp0 + ih * w;
                int rb = ih * ow;
                int j = 0;
                for (; j < lo; j++) RowScalar(row, g, j, out rowMax[rb + j], out rowIdx[rb + j]);
                for (; j <= hiEx - 8; j += 8)
                {
                    var c0 = Vector256.Create(j * g.SW - g.PW) + lane;
                    var best = Avx2.GatherVector256(row, c0, 4);
                    var bi = c0;
                    for (int kw = 1; kw < g.KW; kw++)
                    {
                        var c = c0 + Vector256.Create(kw * g.DW);
                        Pick(ref best, ref bi, Avx2.GatherVector256(row, c, 4), c);
                    }
                    best.StoreUnsafe(ref rowMax[rb + j]);
                    bi.StoreUnsafe(ref rowIdx[rb + j]);
                }
                for (; j < ow; j++) RowScalar(row, g, j, out rowMax[rb + j], out rowIdx[rb + j]);
            }
        }
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref int ir = ref MemoryMarshal.GetReference(idx);
        for (int oh = 0; oh < g.OH; oh++)
        {
            int o = oh * ow, hs = oh * g.SH - g.PH;
            int kh0 = 0;
            while (kh0 < g.KH && (uint)(hs + kh0 * g.DH) >= (uint)g.H) kh0++;
            if (kh0 == g.KH)
            {
                y.Slice(o, ow).Fill(float.NegativeInfinity);
                idx.Slice(o, ow).Fill(-1);
                continue;
            }
            int j = 0;
            for (; j <= ow - 8; j += 8)
            {
                int ih = hs + kh0 * g.DH;
                var best = Vector256.LoadUnsafe(ref rowMax[ih * ow + j]);
                var bi = Vector256.LoadUnsafe(ref rowIdx[ih * ow + j]) + Vector256.Create(ih * w);
                for (int kh = kh0 + 1; kh < g.KH; kh++)
                {
                    ih = hs + kh * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    Pick(ref best, ref bi, Vector256.LoadUnsafe(ref rowMax[ih * ow + j]), Vector256.LoadUnsafe(ref rowIdx[ih * ow + j]) + Vector256.Create(ih * w));
                }
                best.StoreUnsafe(ref yr, (nuint)(o + j));
                bi.StoreUnsafe(ref ir, (nuint)(o + j));
            }
            for (; j < ow; j++)
            {
                int ih = hs + kh0 * g.DH;
                float best = rowMax[ih * ow + j];
                int bi = rowIdx[ih * ow + j] + ih * w;
                for (int kh = kh0 + 1; kh < g.KH; kh++)
                {
                    ih = hs + kh * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    float v = rowMax[ih * ow + j];
                    if (v > best || float.IsNaN(v)) { best = v; bi = rowIdx[ih * ow + j] + ih * w; }
                }
                y[o + j] = best;
                idx[o + j] = bi;
            }
        }
    }

    /// <summary>First maximum of output column j's window inside one row (skipping padding); column index, or -1 with -inf when the window is all padding.</summary>
    static unsafe void RowScalar(float* row, PoolGeom g, int j, out float best, out int bi)
    {
        best = float.NegativeInfinity;
        bi = -1;
        int ws = j * g.SW - g.PW;
        for (int kw = 0; kw < g.KW; kw++)
        {
            int iw = ws + kw * g.DW;
            if ((uint)iw >= (uint)g.W) continue;
            float v = row[iw];
            if (bi < 0 || v > best || float.IsNaN(v)) { best = v; bi = iw; }
        }
    }

    static void MaxPlane(ReadOnlySpan<float> x, Span<float> y, Span<int> idx, PoolGeom g)
    {
        int o = 0;
        for (int oh = 0; oh < g.OH; oh++)
        {
            int hs = oh * g.SH - g.PH;
            for (int ow = 0; ow < g.OW; ow++, o++)
            {
                int ws = ow * g.SW - g.PW;
                float best = float.NegativeInfinity;
                int bi = -1;
                for (int kh = 0; kh < g.KH; kh++)
                {
                    int ih = hs + kh * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    int row = ih * g.W;
                    for (int kw = 0; kw < g.KW; kw++)
                    {
                        int iw = ws + kw * g.DW;
                        if ((uint)iw >= (uint)g.W) continue;
                        float v = x[row + iw];
                        if (bi < 0 || v > best || float.IsNaN(v)) { best = v; bi = row + iw; }
                    }
                }
                y[o] = best;
                idx[o] = bi;
            }
        }
    }

    /// <summary>The 2x2 choice among four candidate vectors in PyTorch's order: a later candidate wins only if strictly greater, or NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Pick(ref Vector256<float> best, ref Vector256<int> bi, Vector256<float> v, Vector256<int> vi)
    {
        var m = Vector256.GreaterThan(v, best) | ~Vector256.Equals(v, v);
        best = Vector256.ConditionalSelect(m, v, best);
        bi = Vector256.ConditionalSelect(m.AsInt32(), vi, bi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Pick(ref Vector128<float> best, ref Vector128<int> bi, Vector128<float> v, Vector128<int> vi)
    {
        var m = Vector128.GreaterThan(v, best) | ~Vector128.Equals(v, v);
        best = Vector128.ConditionalSelect(m, v, best);
        bi = Vector128.ConditionalSelect(m.AsInt32(), vi, bi);
    }

    static void Max2x2(ReadOnlySpan<float> x, Span<float> y, Span<int> idx, PoolGeom g)
    {
        int w = g.W, ow = g.OW;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref int ir = ref MemoryMarshal.GetReference(idx);
        // Shuffle 0x88 / 0xDD take the even / odd elements of two vectors, per 128-bit lane: 256-bit outputs come out in
        // the order 0 1 4 5 2 3 6 7, so the index offsets use that order too and one 64-bit permute (0xD8) fixes both.
        var offs8 = Vector256.Create(0, 2, 8, 10, 4, 6, 12, 14);
        var offs4 = Vector128.Create(0, 2, 4, 6);
        var vw8 = Vector256.Create(w);
        var vw4 = Vector128.Create(w);
        bool avx = Avx2.IsSupported;
        for (int oh = 0; oh < g.OH; oh++)
        {
            int r0 = 2 * oh * w, r1 = r0 + w, o = oh * ow, j = 0;
            if (avx && ow >= 8)
            {
                // full vectors, then one more ending at ow (recomputing a few outputs is harmless)
                for (; ; j += 8)
                {
                    if (j > ow - 8) { if (j == ow) break; j = ow - 8; }
                    int c = r0 + 2 * j;
                    var a0 = Vector256.LoadUnsafe(ref xr, (nuint)c);
                    var a1 = Vector256.LoadUnsafe(ref xr, (nuint)(c + 8));
                    var b0 = Vector256.LoadUnsafe(ref xr, (nuint)(c + w));
                    var b1 = Vector256.LoadUnsafe(ref xr, (nuint)(c + w + 8));
                    var best = Avx.Shuffle(a0, a1, 0x88);
                    var bi = Vector256.Create(c) + offs8;
                    var i0 = bi;
                    Pick(ref best, ref bi, Avx.Shuffle(a0, a1, 0xDD), i0 + Vector256<int>.One);
                    Pick(ref best, ref bi, Avx.Shuffle(b0, b1, 0x88), i0 + vw8);
                    Pick(ref best, ref bi, Avx.Shuffle(b0, b1, 0xDD), i0 + vw8 + Vector256<int>.One);
                    Avx2.Permute4x64(best.AsDouble(), 0b11_01_10_00).AsSingle().StoreUnsafe(ref yr, (nuint)(o + j));
                    Avx2.Permute4x64(bi.AsDouble(), 0b11_01_10_00).AsInt32().StoreUnsafe(ref ir, (nuint)(o + j));
                    if (j == ow - 8) break;
                }
                continue;
            }
            if (avx && ow >= 4)
            {
                for (; ; j += 4)
                {
                    if (j > ow - 4) { if (j == ow) break; j = ow - 4; }
                    int c = r0 + 2 * j;
                    var a0 = Vector128.LoadUnsafe(ref xr, (nuint)c);
                    var a1 = Vector128.LoadUnsafe(ref xr, (nuint)(c + 4));
                    var b0 = Vector128.LoadUnsafe(ref xr, (nuint)(c + w));
                    var b1 = Vector128.LoadUnsafe(ref xr, (nuint)(c + w + 4));
                    var best = Sse.Shuffle(a0, a1, 0x88);
                    var bi = Vector128.Create(c) + offs4;
                    var i0 = bi;
                    Pick(ref best, ref bi, Sse.Shuffle(a0, a1, 0xDD), i0 + Vector128<int>.One);
                    Pick(ref best, ref bi, Sse.Shuffle(b0, b1, 0x88), i0 + vw4);
                    Pick(ref best, ref bi, Sse.Shuffle(b0, b1, 0xDD), i0 + vw4 + Vector128<int>.One);
                    best.StoreUnsafe(ref yr, (nuint)(o + j));
                    bi.StoreUnsafe(ref ir, (nuint)(o + j));
                    if (j == ow - 4) break;
                }
                continue;
            }
            for (; j < ow; j++)
            {
                int c = r0 + 2 * j, d = r1 + 2 * j;
                float best = x[c]; int bi = c;
                if (x[c + 1] > best || float.IsNaN(x[c + 1])) { best = x[c + 1]; bi = c + 1; }
                if (x[d] > best || float.IsNaN(x[d])) { best = x[d]; bi = d; }
                if (x[d + 1] > best || float.IsNaN(x[d + 1])) { best = x[d + 1]; bi = d + 1; }
                y[o + j] = best;
                idx[o + j] = bi;
            }
        }
    }

    /// <summary>
    /// 2x2 stride-2 max pooling of small planes (at most 64 outputs, fewer than 4 output columns, or fewer than 8 in ceil
    /// mode on odd sizes: 4x4 to 2x2, 7x7 to 3x3, and 7x7 to 4x4 in ceil mode): the tensor's outputs in blocks of whole planes,
    /// lcm(outputs per plane, 8) outputs each, gathered 8 consecutive outputs at a time, each window cell's input offsets
    /// following one fixed pattern per block. A cell past the plane's edge (ceil mode's last row or column of windows) reads
    /// the cell before it in the window's scan order again, which never changes the first maximum or the last NaN. Plane by
    /// plane such planes went through scalar or per-plane separable loops: 256x64 planes of 7x7 in ceil mode took 3.7-3.9 ms
    /// against TorchSharp's 3.0 (2 threads, Zen 4, 2026-12-03); gathers lost to the row kernel from 4 output columns on.
    /// </summary>
    static bool MaxTinyPlanes(float[] x, int xOff, float[] y, int[] idx, PoolGeom g)
    {
        int po = g.OH * g.OW, hw = g.H * g.W;
        if (!Avx2.IsSupported || po > 64 || !(g.Is2x2 && g.OW < 4 || g.Is2x2Ceil && g.OW < 8)) return false;
        int period = po / Gcd(po, 8) * 8, vecs = period / 8, planesPer = period / po;
        // output k of a block: plane k / po, row (k % po) / OW, column k % OW; cells in scan order (0,0) (0,1) (1,0) (1,1)
        var cell = new Vector256<int>[vecs * 4];
        var pb = new Vector256<int>[vecs];
        Span<int> c8 = stackalloc int[8 * 4], p8 = stackalloc int[8];
        for (int v = 0; v < vecs; v++)
        {
            for (int l = 0; l < 8; l++)
            {
                int k = v * 8 + l, pl = k / po, r = 2 * (k % po / g.OW), c = 2 * (k % po % g.OW);
                p8[l] = pl * hw;
                for (int q = 0; q < 4; q++)
                {
                    int rr = r + q / 2, cc = c + q % 2;
                    c8[q * 8 + l] = rr < g.H && cc < g.W ? p8[l] + rr * g.W + cc : c8[(q - 1) * 8 + l];
                }
            }
            for (int q = 0; q < 4; q++) cell[v * 4 + q] = Vector256.Create<int>(c8.Slice(q * 8, 8));
            pb[v] = Vector256.Create<int>(p8);
        }
        int blocks = g.Planes / planesPer;
        Threading.ForRange(blocks, Math.Max(1, 4096 / vecs), (b0, b1) =>
        {
            unsafe
            {
                fixed (float* xp = &x[xOff])
                    for (int b = b0; b < b1; b++)
                    {
                        int baseIn = b * planesPer * hw;
                        var vb = Vector256.Create(baseIn);
                        for (int v = 0; v < vecs; v++)
                        {
                            var bi = vb + cell[v * 4];
                            var best = Avx2.GatherVector256(xp, bi, 4);
                            for (int q = 1; q < 4; q++)
                            {
                                var iq = vb + cell[v * 4 + q];
                                Pick(ref best, ref bi, Avx2.GatherVector256(xp, iq, 4), iq);
                            }
                            best.StoreUnsafe(ref y[0], (nuint)(b * period + v * 8));
                            (bi - vb - pb[v]).StoreUnsafe(ref idx[0], (nuint)(b * period + v * 8));
                        }
                    }
            }
        });
        // the planes after the last whole block
        for (int pl = blocks * planesPer; pl < g.Planes; pl++)
            MaxPlane(x.AsSpan(xOff + pl * hw, hw), y.AsSpan(pl * po, po), idx.AsSpan(pl * po, po), g);
        return true;
    }

    static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    /// <summary>
    /// Backward of non-overlapping 2x2 max pooling whose windows tile the plane: writes (not adds) every element, the
    /// output gradient where the index points and 0 elsewhere, so gx needs no zeroing.
    /// </summary>
    public static void MaxBackward2x2(float[] gy, int gyOff, int[] idx, float[] gx, PoolGeom g)
    {
        int hw = g.H * g.W, ohw = g.OH * g.OW;
        Threading.ForRange(g.Planes, MinPlanes(hw), (p0, p1) =>
        {
            if (!Avx2.IsSupported || g.OW < 4)
            {
                // narrow planes: clear, then store each gradient at its index (windows do not overlap, so no adds)
                gx.AsSpan(p0 * hw, (p1 - p0) * hw).Clear();
                for (int p = p0; p < p1; p++)
                {
                    int gb = gyOff + p * ohw, ib = p * ohw, xb = p * hw;
                    for (int o = 0; o < ohw; o++) gx[xb + idx[ib + o]] = gy[gb + o];
                }
                return;
            }
            for (int p = p0; p < p1; p++)
            {
                int w = g.W, ow = g.OW;
                ref float gr = ref gy[gyOff + p * ohw];
                ref int ir = ref idx[p * ohw];
                ref float xr = ref gx[p * hw];
                var offs8 = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
                var offs4 = Vector128.Create(0, 2, 4, 6);
                var vw8 = Vector256.Create(w);
                var vw4 = Vector128.Create(w);
                for (int oh = 0; oh < g.OH; oh++)
                {
                    int r0 = 2 * oh * w, o = oh * ow;
                    // full vectors, then one ending at ow (rewriting a few elements with the same values is harmless)
                    if (ow >= 8)
                        for (int j = 0; ; j += 8)
                        {
                            if (j > ow - 8) { if (j == ow) break; j = ow - 8; }
                            int c = r0 + 2 * j;
                            var gv = Vector256.LoadUnsafe(ref gr, (nuint)(o + j));
                            var iv = Vector256.LoadUnsafe(ref ir, (nuint)(o + j));
                            var c0 = Vector256.Create(c) + offs8;
                            var e0 = Vector256.ConditionalSelect(Vector256.Equals(iv, c0).AsSingle(), gv, default);
                            var d0 = Vector256.ConditionalSelect(Vector256.Equals(iv, c0 + Vector256<int>.One).AsSingle(), gv, default);
                            var e1 = Vector256.ConditionalSelect(Vector256.Equals(iv, c0 + vw8).AsSingle(), gv, default);
                            var d1 = Vector256.ConditionalSelect(Vector256.Equals(iv, c0 + vw8 + Vector256<int>.One).AsSingle(), gv, default);
                            // interleave even/odd columns back: unpack per lane, then join lanes
                            var lo = Avx.UnpackLow(e0, d0); var hi = Avx.UnpackHigh(e0, d0);
                            Avx.Permute2x128(lo, hi, 0x20).StoreUnsafe(ref xr, (nuint)c);
                            Avx.Permute2x128(lo, hi, 0x31).StoreUnsafe(ref xr, (nuint)(c + 8));
                            lo = Avx.UnpackLow(e1, d1); hi = Avx.UnpackHigh(e1, d1);
                            Avx.Permute2x128(lo, hi, 0x20).StoreUnsafe(ref xr, (nuint)(c + w));
                            Avx.Permute2x128(lo, hi, 0x31).StoreUnsafe(ref xr, (nuint)(c + w + 8));
                            if (j == ow - 8) break;
                        }
                    else
                        for (int j = 0; ; j += 4)
                        {
                            if (j > ow - 4) { if (j == ow) break; j = ow - 4; }
                            int c = r0 + 2 * j;
                            var gv = Vector128.LoadUnsafe(ref gr, (nuint)(o + j));
                            var iv = Vector128.LoadUnsafe(ref ir, (nuint)(o + j));
                            var c0 = Vector128.Create(c) + offs4;
                            var e0 = Vector128.ConditionalSelect(Vector128.Equals(iv, c0).AsSingle(), gv, default);
                            var d0 = Vector128.ConditionalSelect(Vector128.Equals(iv, c0 + Vector128<int>.One).AsSingle(), gv, default);
                            var e1 = Vector128.ConditionalSelect(Vector128.Equals(iv, c0 + vw4).AsSingle(), gv, default);
                            var d1 = Vector128.ConditionalSelect(Vector128.Equals(iv, c0 + vw4 + Vector128<int>.One).AsSingle(), gv, default);
                            Sse.UnpackLow(e0, d0).StoreUnsafe(ref xr, (nuint)c);
                            Sse.UnpackHigh(e0, d0).StoreUnsafe(ref xr, (nuint)(c + 4));
                            Sse.UnpackLow(e1, d1).StoreUnsafe(ref xr, (nuint)(c + w));
                            Sse.UnpackHigh(e1, d1).StoreUnsafe(ref xr, (nuint)(c + w + 4));
                            if (j == ow - 4) break;
                        }
                }
            }
        });
    }

    /// <summary>gx (zeroed, planes of inPlane elements) += gy scattered through idx.</summary>
    public static void MaxBackward(float[] gy, int gyOff, int[] idx, float[] gx, int planes, int inPlane, int outPlane)
    {
        Threading.ForRange(planes, MinPlanes(inPlane), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var gp = gy.AsSpan(gyOff + p * outPlane, outPlane);
                var ip = idx.AsSpan(p * outPlane, outPlane);
                var xp = gx.AsSpan(p * inPlane, inPlane);
                for (int o = 0; o < outPlane; o++) xp[ip[o]] += gp[o];
            }
        });
    }

    // ---------------- average ----------------

    /// <summary>The divisor of PyTorch's avg_pool2d for the window starting at (hs, ws).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float AvgWindow(PoolGeom g, int hs, int ws, bool countIncludePad, int divisorOverride, out int h0, out int h1, out int w0, out int w1)
    {
        int he = Math.Min(hs + g.KH, g.H + g.PH), we = Math.Min(ws + g.KW, g.W + g.PW);
        int poolSize = (he - hs) * (we - ws);
        h0 = Math.Max(hs, 0); w0 = Math.Max(ws, 0);
        h1 = Math.Min(he, g.H); w1 = Math.Min(we, g.W);
        int div = divisorOverride > 0 ? divisorOverride : countIncludePad ? poolSize : (h1 - h0) * (w1 - w0);
        return div > 0 ? 1f / div : 0f;
    }

    public static void AvgForward(float[] x, int xOff, float[] y, PoolGeom g, bool countIncludePad, int divisorOverride)
    {
        if (divisorOverride <= 0 && AvgTinyPlanes(x, xOff, y, g)) return;
        int hw = g.H * g.W, ohw = g.OH * g.OW;
        // PyTorch's divisor is (window rows) x (window columns), each counted with or without padding: separable.
        var rows = AvgAxis(g.OH, g.H, g.KH, g.SH, g.PH, countIncludePad);
        var cols = AvgAxis(g.OW, g.W, g.KW, g.SW, g.PW, countIncludePad);
        if (divisorOverride > 0)
        {
            Array.Fill(rows.Inv, 1f / divisorOverride);
            Array.Fill(cols.Inv, 1f);
        }
        Threading.ForRange(g.Planes, MinPlanes(hw), (p0, p1) =>
        {
            float[]? rowSums = null;
            for (int p = p0; p < p1; p++)
            {
                var xp = x.AsSpan(xOff + p * hw, hw);
                var yp = y.AsSpan(p * ohw, ohw);
                if (g.Is2x2 && divisorOverride <= 0) Avg2x2(xp, yp, g);
                else if (g.Is2x2Ceil && divisorOverride <= 0) Avg2x2Ceil(xp, yp, g);
                else
                {
                    rowSums ??= GC.AllocateUninitializedArray<float>(g.H * g.OW);
                    AvgPlaneSeparable(xp, yp, g, rows, cols, rowSums);
                }
            }
        });
    }

    /// <summary>Per output index along one axis: the valid input range [Lo, Hi) and this axis' factor of 1/divisor.</summary>
    internal readonly record struct AvgAxisInfo(int[] Lo, int[] Hi, float[] Inv);

    static AvgAxisInfo AvgAxis(int outSize, int inSize, int k, int s, int p, bool countIncludePad)
    {
        var a = new AvgAxisInfo(new int[outSize], new int[outSize], new float[outSize]);
        for (int o = 0; o < outSize; o++)
        {
            int st = o * s - p, en = Math.Min(st + k, inSize + p);
            int lo = Math.Max(st, 0), hi = Math.Min(en, inSize);
            a.Lo[o] = lo; a.Hi[o] = hi;
            int cnt = countIncludePad ? en - st : hi - lo;
            a.Inv[o] = cnt > 0 ? 1f / cnt : 0f;
        }
        return a;
    }

    /// <summary>Any average window in two passes: per input row, each output column's window sum (gathered 8 at a time inside the row); then per output, the sum over its rows times the separable 1/divisor.</summary>
    static unsafe void AvgPlaneSeparable(ReadOnlySpan<float> x, Span<float> y, PoolGeom g, AvgAxisInfo rows, AvgAxisInfo cols, float[] rowSums)
    {
        int w = g.W, ow = g.OW;
        int lo = Math.Min(ow, (g.PW + g.SW - 1) / g.SW);
        int lastFull = w - g.KW + g.PW;   // window start column (+ p) must leave k columns inside the row
        int hiEx = Math.Max(lo, Math.Min(ow, lastFull >= 0 ? lastFull / g.SW + 1 : 0));
        var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * g.SW;
        bool gather = Avx2.IsSupported;
        fixed (float* xp0 = x)
        {
            for (int ih = 0; ih < g.H; ih++)
            {
                float* row = xp0 + ih * w;
                int rb = ih * ow, j = 0;
                if (gather)
                {
                    for (; j < lo; j++) rowSums[rb + j] = SumCols(row, cols.Lo[j], cols.Hi[j]);
                    for (; j <= hiEx - 8; j += 8)
                    {
                        var c0 = Vector256.Create(j * g.SW - g.PW) + lane;
                        var acc = Avx2.GatherVector256(row, c0, 4);
                        for (int kw = 1; kw < g.KW; kw++) acc += Avx2.GatherVector256(row, c0 + Vector256.Create(kw), 4);
                        acc.StoreUnsafe(ref rowSums[rb + j]);
                    }
                }
                for (; j < ow; j++) rowSums[rb + j] = SumCols(row, cols.Lo[j], cols.Hi[j]);
            }
        }
        ref float yr = ref MemoryMarshal.GetReference(y);
        for (int oh = 0; oh < g.OH; oh++)
        {
            int o = oh * ow, r0 = rows.Lo[oh], r1 = rows.Hi[oh];
            float ri = rows.Inv[oh];
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; j <= ow - 8; j += 8)
                {
                    var acc = Vector256<float>.Zero;
                    for (int ih = r0; ih < r1; ih++) acc += Vector256.LoadUnsafe(ref rowSums[ih * ow + j]);
                    (acc * Vector256.LoadUnsafe(ref cols.Inv[j]) * ri).StoreUnsafe(ref yr, (nuint)(o + j));
                }
            for (; j < ow; j++)
            {
                float acc = 0f;
                for (int ih = r0; ih < r1; ih++) acc += rowSums[ih * ow + j];
                y[o + j] = acc * cols.Inv[j] * ri;
            }
        }
    }

    static unsafe float SumCols(float* row, int lo, int hi)
    {
        float s = 0f;
        for (int c = lo; c < hi; c++) s += row[c];
        return s;
    }

    static void Avg2x2(ReadOnlySpan<float> x, Span<float> y, PoolGeom g)
    {
        int w = g.W, ow = g.OW;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        var q8 = Vector256.Create(0.25f);
        var q4 = Vector128.Create(0.25f);
        bool avx = Avx2.IsSupported;
        for (int oh = 0; oh < g.OH; oh++)
        {
            int r0 = 2 * oh * w, r1 = r0 + w, o = oh * ow, j = 0;
            if (avx && ow >= 8)
            {
                // 16 inputs of each row -> 8 outputs: add the rows, then pairwise-add neighbours (hadd works per 128-bit
                // lane, so a 64-bit permute restores the order); a last vector ends at ow (recomputing is harmless)
                for (; ; j += 8)
                {
                    if (j > ow - 8) { if (j == ow) break; j = ow - 8; }
                    var a = Vector256.LoadUnsafe(ref xr, (nuint)(r0 + 2 * j)) + Vector256.LoadUnsafe(ref xr, (nuint)(r1 + 2 * j));
                    var b = Vector256.LoadUnsafe(ref xr, (nuint)(r0 + 2 * j + 8)) + Vector256.LoadUnsafe(ref xr, (nuint)(r1 + 2 * j + 8));
                    var h = Avx2.Permute4x64(Avx.HorizontalAdd(a, b).AsDouble(), 0b11_01_10_00).AsSingle();
                    (h * q8).StoreUnsafe(ref yr, (nuint)(o + j));
                    if (j == ow - 8) break;
                }
                continue;
            }
            if (avx && ow >= 4)
            {
                for (; ; j += 4)
                {
                    if (j > ow - 4) { if (j == ow) break; j = ow - 4; }
                    var a = Vector128.LoadUnsafe(ref xr, (nuint)(r0 + 2 * j)) + Vector128.LoadUnsafe(ref xr, (nuint)(r1 + 2 * j));
                    var b = Vector128.LoadUnsafe(ref xr, (nuint)(r0 + 2 * j + 4)) + Vector128.LoadUnsafe(ref xr, (nuint)(r1 + 2 * j + 4));
                    (Sse3.HorizontalAdd(a, b) * q4).StoreUnsafe(ref yr, (nuint)(o + j));
                    if (j == ow - 4) break;
                }
                continue;
            }
            for (; j < ow; j++)
            {
                int c0 = r0 + 2 * j, c1 = r1 + 2 * j;
                Unsafe.Add(ref yr, o + j) = ((Unsafe.Add(ref xr, c0) + Unsafe.Add(ref xr, c0 + 1)) + (Unsafe.Add(ref xr, c1) + Unsafe.Add(ref xr, c1 + 1))) * 0.25f;
            }
        }
    }

    /// <summary>2x2 stride-2 average pooling in ceil mode on odd sizes (<see cref="PoolGeom.Is2x2Ceil"/>): each window
    /// averages the cells it has inside the plane (PyTorch's divisor without padding), summed in row-major order.</summary>
    static void Avg2x2Ceil(ReadOnlySpan<float> x, Span<float> y, PoolGeom g) => Avg2x2CeilPass(x, y, g, backward: false);

    /// <summary>Backward of <see cref="Avg2x2Ceil"/>: writes (not adds) every element, as the windows tile the plane.</summary>
    static void AvgBack2x2Ceil(ReadOnlySpan<float> gy, Span<float> gx, PoolGeom g) => Avg2x2CeilPass(gy, gx, g, backward: true);

    /// <summary>The window walk of both: forward src = x, dst = y; backward src = gy, dst = gx.</summary>
    static void Avg2x2CeilPass(ReadOnlySpan<float> src, Span<float> dst, PoolGeom g, bool backward)
    {
        int w = g.W, o = 0;
        for (int oh = 0; oh < g.OH; oh++)
        {
            int r0 = 2 * oh * w;
            bool tall = 2 * oh + 1 < g.H;
            for (int ow = 0; ow < g.OW; ow++, o++)
            {
                int c = r0 + 2 * ow;
                bool wide = 2 * ow + 1 < w;
                float f = tall ? wide ? 0.25f : 0.5f : wide ? 0.5f : 1f;
                if (backward)
                {
                    float v = src[o] * f;
                    dst[c] = v;
                    if (wide) dst[c + 1] = v;
                    if (tall) { dst[c + w] = v; if (wide) dst[c + w + 1] = v; }
                }
                else
                {
                    float sum = src[c];
                    if (wide) sum += src[c + 1];
                    if (tall) { sum += src[c + w]; if (wide) sum += src[c + w + 1]; }
                    dst[o] = sum * f;
                }
            }
        }
    }

    /// <summary>2x2 stride-2 average pooling of planes with 1, 2, 4 or 8 outputs, eight outputs of the whole tensor gathered at once (see <see cref="MaxTinyPlanes"/>).</summary>
    static bool AvgTinyPlanes(float[] x, int xOff, float[] y, PoolGeom g)
    {
        int po = g.OH * g.OW, hw = g.H * g.W;
        if (!Avx2.IsSupported || !g.Is2x2 || g.OH * 2 != g.H || g.OW * 2 != g.W || 8 % po != 0) return false;
        var tl = new int[8];
        for (int k = 0; k < 8; k++) tl[k] = k / po * hw + 2 * (k % po / g.OW) * g.W + 2 * (k % po % g.OW);
        var vtl = Vector256.Create(tl);
        var vw = Vector256.Create(g.W);
        var q = Vector256.Create(0.25f);
        int blocks = (int)((long)g.Planes * po / 8);
        Threading.ForRange(blocks, 4096, (b0, b1) =>
        {
            unsafe
            {
                fixed (float* xp = &x[xOff])
                    for (int b = b0; b < b1; b++)
                    {
                        var i0 = Vector256.Create(b * (8 / po) * hw) + vtl;
                        var s = (Avx2.GatherVector256(xp, i0, 4) + Avx2.GatherVector256(xp, i0 + Vector256<int>.One, 4))
                              + (Avx2.GatherVector256(xp, i0 + vw, 4) + Avx2.GatherVector256(xp, i0 + vw + Vector256<int>.One, 4));
                        (s * q).StoreUnsafe(ref y[0], (nuint)(b * 8));
                    }
            }
        });
        for (int pl = blocks * 8 / po; pl < g.Planes; pl++) Avg2x2(x.AsSpan(xOff + pl * hw, hw), y.AsSpan(pl * po, po), g);
        return true;
    }

    /// <summary>gx (zeroed unless the windows tile the plane: 2x2 stride 2 on even sizes, or in ceil mode on odd ones)
    /// receives each output gradient spread evenly over its window's counted cells.</summary>
    public static void AvgBackward(float[] gy, int gyOff, float[] gx, PoolGeom g, bool countIncludePad, int divisorOverride)
    {
        int hw = g.H * g.W, ohw = g.OH * g.OW;
        Threading.ForRange(g.Planes, MinPlanes(hw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var gp = gy.AsSpan(gyOff + p * ohw, ohw);
                var xp = gx.AsSpan(p * hw, hw);
                if (g.Is2x2 && divisorOverride <= 0 && g.OH * 2 == g.H && g.OW * 2 == g.W) AvgBack2x2(gp, xp, g);
                else if (g.Is2x2Ceil && divisorOverride <= 0) AvgBack2x2Ceil(gp, xp, g);
                else
                {
                    int o = 0;
                    for (int oh = 0; oh < g.OH; oh++)
                        for (int ow = 0; ow < g.OW; ow++, o++)
                        {
                            float inv = AvgWindow(g, oh * g.SH - g.PH, ow * g.SW - g.PW, countIncludePad, divisorOverride, out int h0, out int h1, out int w0, out int w1);
                            float v = gp[o] * inv;
                            for (int ih = h0; ih < h1; ih++)
                                for (int iw = w0; iw < w1; iw++) xp[ih * g.W + iw] += v;
                        }
                }
            }
        });
    }

    /// <summary>Writes (not adds) every element of the plane: the windows tile it exactly.</summary>
    static void AvgBack2x2(ReadOnlySpan<float> gy, Span<float> gx, PoolGeom g)
    {
        int w = g.W, ow = g.OW;
        ref float gr = ref MemoryMarshal.GetReference(gy);
        ref float xr = ref MemoryMarshal.GetReference(gx);
        var quarter = Vector256.Create(0.25f);
        for (int oh = 0; oh < g.OH; oh++)
        {
            int r0 = 2 * oh * w, r1 = r0 + w, o = oh * ow, j = 0;
            if (Avx2.IsSupported && ow >= 8)
            {
                // full vectors, then one ending at ow (rewriting a few elements with the same values is harmless)
                for (; ; j += 8)
                {
                    if (j > ow - 8) { if (j == ow) break; j = ow - 8; }
                    // [v0..v7] -> [v0 v0 v1 v1 v2 v2 v3 v3] and [v4 v4 ... v7 v7]
                    var v = Vector256.LoadUnsafe(ref gr, (nuint)(o + j)) * quarter;
                    var p = Avx2.Permute4x64(v.AsDouble(), 0b11_01_10_00).AsSingle(); // [v0 v1 v4 v5 | v2 v3 v6 v7]
                    var lo = Avx.UnpackLow(p, p);   // [v0 v0 v1 v1 | v2 v2 v3 v3]
                    var hi = Avx.UnpackHigh(p, p);  // [v4 v4 v5 v5 | v6 v6 v7 v7]
                    lo.StoreUnsafe(ref xr, (nuint)(r0 + 2 * j));
                    hi.StoreUnsafe(ref xr, (nuint)(r0 + 2 * j + 8));
                    lo.StoreUnsafe(ref xr, (nuint)(r1 + 2 * j));
                    hi.StoreUnsafe(ref xr, (nuint)(r1 + 2 * j + 8));
                    if (j == ow - 8) break;
                }
                continue;
            }
            if (Avx2.IsSupported && ow >= 4)
            {
                var q4 = Vector128.Create(0.25f);
                for (; ; j += 4)
                {
                    if (j > ow - 4) { if (j == ow) break; j = ow - 4; }
                    var v = Vector128.LoadUnsafe(ref gr, (nuint)(o + j)) * q4;
                    var lo = Sse.UnpackLow(v, v);
                    var hi = Sse.UnpackHigh(v, v);
                    lo.StoreUnsafe(ref xr, (nuint)(r0 + 2 * j));
                    hi.StoreUnsafe(ref xr, (nuint)(r0 + 2 * j + 4));
                    lo.StoreUnsafe(ref xr, (nuint)(r1 + 2 * j));
                    hi.StoreUnsafe(ref xr, (nuint)(r1 + 2 * j + 4));
                    if (j == ow - 4) break;
                }
                continue;
            }
            for (; j < ow; j++)
            {
                float v = Unsafe.Add(ref gr, o + j) * 0.25f;
                int c0 = r0 + 2 * j, c1 = r1 + 2 * j;
                Unsafe.Add(ref xr, c0) = v; Unsafe.Add(ref xr, c0 + 1) = v;
                Unsafe.Add(ref xr, c1) = v; Unsafe.Add(ref xr, c1 + 1) = v;
            }
        }
    }

    // ---------------- adaptive ----------------

    /// <summary>PyTorch's adaptive bin [floor(i*in/out), ceil((i+1)*in/out)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (int Start, int End) Bin(int i, int inSize, int outSize) =>
        ((int)((long)i * inSize / outSize), (int)(((long)(i + 1) * inSize + outSize - 1) / outSize));

    public static void AdaptiveAvgForward(float[] x, int xOff, float[] y, int planes, int h, int w, int oh, int ow)
    {
        int hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(hw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var xp = x.AsSpan(xOff + p * hw, hw);
                int o = p * ohw;
                if (ohw == 1) { y[o] = Reduce.Sum(xp) / hw; continue; }
                for (int i = 0; i < oh; i++)
                {
                    var (h0, h1) = Bin(i, h, oh);
                    for (int j = 0; j < ow; j++, o++)
                    {
                        var (w0, w1) = Bin(j, w, ow);
                        float s = 0f;
                        for (int ih = h0; ih < h1; ih++)
                            for (int iw = w0; iw < w1; iw++) s += xp[ih * w + iw];
                        y[o] = s / ((h1 - h0) * (w1 - w0));
                    }
                }
            }
        });
    }

    public static void AdaptiveAvgBackward(float[] gy, int gyOff, float[] gx, int planes, int h, int w, int oh, int ow)
    {
        int hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(hw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var xp = gx.AsSpan(p * hw, hw);
                int o = gyOff + p * ohw;
                if (ohw == 1) { xp.Fill(gy[o] / hw); continue; }
                for (int i = 0; i < oh; i++)
                {
                    var (h0, h1) = Bin(i, h, oh);
                    for (int j = 0; j < ow; j++, o++)
                    {
                        var (w0, w1) = Bin(j, w, ow);
                        float v = gy[o] / ((h1 - h0) * (w1 - w0));
                        for (int ih = h0; ih < h1; ih++)
                            for (int iw = w0; iw < w1; iw++) xp[ih * w + iw] += v;
                    }
                }
            }
        });
    }

    public static void AdaptiveMaxForward(float[] x, int xOff, float[] y, int[] idx, int planes, int h, int w, int oh, int ow)
    {
        int hw = h * w, ohw = oh * ow;
        Threading.ForRange(planes, MinPlanes(hw), (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                var xp = x.AsSpan(xOff + p * hw, hw);
                int o = p * ohw;
                for (int i = 0; i < oh; i++)
                {
                    var (h0, h1) = Bin(i, h, oh);
                    for (int j = 0; j < ow; j++, o++)
                    {
                        var (w0, w1) = Bin(j, w, ow);
                        float best = float.NegativeInfinity;
                        int bi = -1;
                        for (int ih = h0; ih < h1; ih++)
                            for (int iw = w0; iw < w1; iw++)
                            {
                                float v = xp[ih * w + iw];
                                if (bi < 0 || v > best || float.IsNaN(v)) { best = v; bi = ih * w + iw; }
                            }
                        y[o] = best;
                        idx[o] = bi;
                    }
                }
            }
        });
    }
}
