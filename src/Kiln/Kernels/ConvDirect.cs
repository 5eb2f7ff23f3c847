using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kiln.Kernels;

/// <summary>
/// Direct stride-1 convolution (no im2col): for one output row and 8 output channels, a 32-wide strip of outputs stays in
/// 16 Vector512 accumulators while the loop runs over every input channel and kernel tap (two input loads and eight
/// weight broadcasts feed 16 FMAs). Stride-1 layers with many input channels otherwise write and re-read a column matrix
/// kh·kw times the size of the input; this touches only the padded input, the packed weights and the output once.
/// The input gradient of a stride-1 convolution is the same kernel on the padded output gradient with flipped weights.
/// </summary>
internal static unsafe class ConvDirect
{
    const int CoBlock = 8, Strip = 32;

    /// <summary>Whether the direct kernel applies: Vector512, stride 1, one group, and output rows wide enough to fill most of a 32-wide strip.</summary>
    internal static bool Applies(in ConvShape s) =>
        Vector512.IsHardwareAccelerated && s.Sh == 1 && s.Sw == 1 && s.Groups == 1 && s.Ow >= 12 && s.Cb >= MinChannels && s.Cs >= CoBlock;

    /// <summary>Fewest input channels for which the direct kernel beats im2col + GEMM (with one channel the column matrix is tiny).</summary>
    internal static int MinChannels = 4;

    /// <summary>
    /// Packs the weight into blocks of 8 output channels, [Cs/8 rounded up][Cb][Kh][Kw][8], zero for missing channels. w is
    /// [Cs, Cb, Kh, Kw], or with flip [Cb, Cs, Kh, Kw] used transposed and rotated 180° (w'[o, i, a, b] = w[i, o, Kh-1-a, Kw-1-b]:
    /// the weight of the convolution that computes a stride-1 convolution's input gradient).
    /// </summary>
    internal static float[] PackWeights(in ConvShape s, float* w, bool flip)
    {
        int blocks = (s.Cs + CoBlock - 1) / CoBlock, kk = s.Kh * s.Kw;
        var packed = GC.AllocateUninitializedArray<float>(blocks * s.Cb * kk * CoBlock, pinned: true);
        for (int b = 0; b < blocks; b++)
            for (int ci = 0; ci < s.Cb; ci++)
                for (int t = 0; t < kk; t++)
                    for (int r = 0; r < CoBlock; r++)
                    {
                        int co = b * CoBlock + r;
                        float v = 0;
                        if (co < s.Cs)
                            v = flip ? w[((nint)ci * s.Cs + co) * kk + (kk - 1 - t)] : w[((nint)co * s.Cb + ci) * kk + t];
                        packed[(((nint)b * s.Cb + ci) * kk + t) * CoBlock + r] = v;
                    }
        return packed;
    }

    /// <summary>
    /// small[i] = conv(big[i]) (+ bias) for i &lt; n with stride 1, one group: big [n, Cb, H, W], packed weights from
    /// <see cref="PackWeights"/>, bias [Cs] or null, small [n, Cs, Oh, Ow] (written). Threads split the images.
    /// </summary>
    internal static void Forward(ConvShape s, int n, float* big, float[] packed, float* bias, float* small)
    {
        int hp = s.H + 2 * s.Ph, wp = s.W + 2 * s.Pw;
        // Strips read up to 31 floats past a row's last output (discarded lanes): slack at the end of the buffer.
        long padFloats = (long)s.Cb * hp * wp + Strip + 16;
        fixed (float* pw = packed)
        {
            float* wpk = pw;
            Threading.For(n, i =>
            {
                float* pad = Workspace.Get(padFloats);
                PadCopy(big + (long)i * s.BigSize, s, hp, wp, pad);
                new Span<float>(pad + (long)s.Cb * hp * wp, Strip + 16).Clear();
                Image(s, hp, wp, pad, wpk, bias, small + (long)i * s.SmallSize);
            }, (long)s.Cs * s.K * s.L * n >= 1L << 18 ? 0 : 1);
        }
    }

    static void PadCopy(float* x, in ConvShape s, int hp, int wp, float* pad)
    {
        if (s.Ph == 0 && s.Pw == 0)
        {
            new ReadOnlySpan<float>(x, s.BigSize).CopyTo(new Span<float>(pad, s.BigSize));
            return;
        }
        for (int c = 0; c < s.Cb; c++)
        {
            float* dst = pad + (nint)c * hp * wp, src = x + (nint)c * s.H * s.W;
            new Span<float>(dst, s.Ph * wp + s.Pw).Clear();
            for (int y = 0; y < s.H; y++)
            {
                float* row = dst + (nint)(y + s.Ph) * wp + s.Pw;
                new ReadOnlySpan<float>(src + (nint)y * s.W, s.W).CopyTo(new Span<float>(row, s.W));
                new Span<float>(row + s.W, y + 1 < s.H ? wp - s.W : (hp - s.Ph - s.H) * wp + wp - s.W - s.Pw).Clear();
            }
        }
    }

    /// <summary>One image: every 8-channel block, output row and 32-wide strip.</summary>
    static void Image(in ConvShape s, int hp, int wp, float* pad, float* wpk, float* bias, float* y)
    {
        int blocks = (s.Cs + CoBlock - 1) / CoBlock, kk = s.Kh * s.Kw, l = s.L;
        float* tile = stackalloc float[CoBlock * Strip];
        for (int b = 0; b < blocks; b++)
        {
            int co0 = b * CoBlock, rows = Math.Min(CoBlock, s.Cs - co0);
            float* wb = wpk + (nint)b * s.Cb * kk * CoBlock;
            for (int oy = 0; oy < s.Oh; oy++)
                for (int ox0 = 0; ox0 < s.Ow; ox0 += Strip)
                {
                    Strip8(s, hp, wp, pad + (nint)oy * wp + ox0, wb, tile);
                    int cols = Math.Min(Strip, s.Ow - ox0);
                    for (int r = 0; r < rows; r++)
                    {
                        float* dst = y + (nint)(co0 + r) * l + (nint)oy * s.Ow + ox0;
                        float add = bias == null ? 0f : bias[co0 + r];
                        float* src = tile + r * Strip;
                        for (int j = 0; j < cols; j++) dst[j] = src[j] + add;
                    }
                }
        }
    }

    /// <summary>tile[r, 0..32) = Σ_{ci, ki, kj} w[r, ci, ki, kj] · pad[ci, ki*Dh + row, kj*Dw + col] for the strip starting at x0.</summary>
    static void Strip8(in ConvShape s, int hp, int wp, float* x0, float* wb, float* tile)
    {
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector512<float> a40 = default, a41 = default, a50 = default, a51 = default, a60 = default, a61 = default, a70 = default, a71 = default;
        int kh = s.Kh, kw = s.Kw, dh = s.Dh, dw = s.Dw;
        nint plane = (nint)hp * wp;
        float* w = wb;
        for (int ci = 0; ci < s.Cb; ci++)
        {
            float* xc = x0 + ci * plane;
            for (int ki = 0; ki < kh; ki++)
            {
                float* row = xc + (nint)ki * dh * wp;
                for (int kj = 0; kj < kw; kj++, w += CoBlock)
                {
                    var v0 = Vector512.Load(row + kj * dw);
                    var v1 = Vector512.Load(row + kj * dw + 16);
                    var b = Vector512.Create(w[0]); a00 = Vector512.FusedMultiplyAdd(b, v0, a00); a01 = Vector512.FusedMultiplyAdd(b, v1, a01);
                    b = Vector512.Create(w[1]); a10 = Vector512.FusedMultiplyAdd(b, v0, a10); a11 = Vector512.FusedMultiplyAdd(b, v1, a11);
                    b = Vector512.Create(w[2]); a20 = Vector512.FusedMultiplyAdd(b, v0, a20); a21 = Vector512.FusedMultiplyAdd(b, v1, a21);
                    b = Vector512.Create(w[3]); a30 = Vector512.FusedMultiplyAdd(b, v0, a30); a31 = Vector512.FusedMultiplyAdd(b, v1, a31);
                    b = Vector512.Create(w[4]); a40 = Vector512.FusedMultiplyAdd(b, v0, a40); a41 = Vector512.FusedMultiplyAdd(b, v1, a41);
                    b = Vector512.Create(w[5]); a50 = Vector512.FusedMultiplyAdd(b, v0, a50); a51 = Vector512.FusedMultiplyAdd(b, v1, a51);
                    b = Vector512.Create(w[6]); a60 = Vector512.FusedMultiplyAdd(b, v0, a60); a61 = Vector512.FusedMultiplyAdd(b, v1, a61);
                    b = Vector512.Create(w[7]); a70 = Vector512.FusedMultiplyAdd(b, v0, a70); a71 = Vector512.FusedMultiplyAdd(b, v1, a71);
                }
            }
        }
        a00.Store(tile); a01.Store(tile + 16); a10.Store(tile + 32); a11.Store(tile + 48);
        a20.Store(tile + 64); a21.Store(tile + 80); a30.Store(tile + 96); a31.Store(tile + 112);
        a40.Store(tile + 128); a41.Store(tile + 144); a50.Store(tile + 160); a51.Store(tile + 176);
        a60.Store(tile + 192); a61.Store(tile + 208); a70.Store(tile + 224); a71.Store(tile + 240);
    }

    /// <summary>Whether <see cref="WeightGrad"/> applies: as <see cref="Applies"/>, with whole blocks of 8 output channels.</summary>
    internal static bool WeightGradApplies(in ConvShape s) => Applies(s) && s.Cs % 8 == 0;

    /// <summary>
    /// Weight and bias gradients of a stride-1 convolution without im2col: dw [Cs, Cb, Kh, Kw] = Σ_images Σ_positions
    /// small·big at each tap, dbias [Cs] = Σ small (when not null); both overwritten. For each image, input channel, tap and
    /// block of 8 output channels, 8 accumulators (one per output channel, lanes along the output row) run over the
    /// image's positions and are summed at the end. Images are split into up to four fixed ranges whose partial sums are
    /// added in order (the result does not depend on the thread count).
    /// </summary>
    internal static void WeightGrad(ConvShape s, int n, float* small, float* big, float* dw, float* dbias)
    {
        int hp = s.H + 2 * s.Ph, wp = s.W + 2 * s.Pw, wr = (s.Ow + 15) & ~15;
        long padFloats = (long)s.Cb * hp * wp + Strip + 16 + wr;
        long wSize = (long)s.Cs * s.K;
        int slots = Math.Min(n, 4);
        if (slots == 0)
        {
            new Span<float>(dw, (int)wSize).Clear();
            if (dbias != null) new Span<float>(dbias, s.Cs).Clear();
            return;
        }
        var partial = new float[(slots - 1) * (wSize + s.Cs)];
        fixed (float* pp = partial)
        {
            float* parts = pp;
            Threading.For(slots, slot =>
            {
                float* sdw = slot == 0 ? dw : parts + (slot - 1) * (wSize + s.Cs);
                float* sdb = slot == 0 ? dbias : sdw + wSize;
                new Span<float>(sdw, (int)wSize).Clear();
                if (sdb != null) new Span<float>(sdb, s.Cs).Clear();
                float* pad = Workspace.Get(padFloats + (long)s.Cs * s.Oh * wr);
                float* dys = pad + padFloats;
                int i0 = (int)((long)n * slot / slots), i1 = (int)((long)n * (slot + 1) / slots);
                for (int i = i0; i < i1; i++)
                {
                    PadCopy(big + (long)i * s.BigSize, s, hp, wp, pad);
                    new Span<float>(pad + (long)s.Cb * hp * wp, Strip + 16 + wr).Clear();
                    // dY rows widened to a multiple of 16 with zeros, so every accumulator step is two whole vectors.
                    float* g = small + (long)i * s.SmallSize;
                    for (int r = 0; r < s.Cs * s.Oh; r++)
                    {
                        new ReadOnlySpan<float>(g + (nint)r * s.Ow, s.Ow).CopyTo(new Span<float>(dys + (nint)r * wr, s.Ow));
                        new Span<float>(dys + (nint)r * wr + s.Ow, wr - s.Ow).Clear();
                        if (sdb != null) sdb[r / s.Oh] += System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(g + (nint)r * s.Ow, s.Ow));
                    }
                    ImageWeightGrad(s, hp, wp, wr, pad, dys, sdw);
                }
            });
        }
        for (int slot = 1; slot < slots; slot++)
            fixed (float* pp = partial)
            {
                float* sdw = pp + (slot - 1) * (wSize + s.Cs);
                System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(dw, (int)wSize), new ReadOnlySpan<float>(sdw, (int)wSize), new Span<float>(dw, (int)wSize));
                if (dbias != null)
                    System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(dbias, s.Cs), new ReadOnlySpan<float>(sdw + wSize, s.Cs), new Span<float>(dbias, s.Cs));
            }
    }

    /// <summary>dw[co, ci, ki, kj] += Σ_{oy, ox} dys[co, oy, ox] · pad[ci, oy + ki·Dh, ox + kj·Dw] for one image.</summary>
    static void ImageWeightGrad(in ConvShape s, int hp, int wp, int wr, float* pad, float* dys, float* dw)
    {
        int kk = s.Kh * s.Kw, vecs = wr / 16;
        nint plane = (nint)hp * wp, dyPlane = (nint)s.Oh * wr;
        // Lanes past the row's end: dY is zero there; the input is masked too, so a non-finite pixel can't leak in as 0·inf.
        var tailMask = Vector512.LessThan(Vector512<int>.Indices + Vector512.Create(wr - 16), Vector512.Create(s.Ow)).AsSingle();
        float* sums = stackalloc float[8];
        for (int co0 = 0; co0 < s.Cs; co0 += 8)  // 8 rows of dY (8·Oh·wr floats) stay in L1 across every input channel and tap
        {
            float* d0 = dys + co0 * dyPlane;
            for (int ci = 0; ci < s.Cb; ci++)
                for (int ki = 0; ki < s.Kh; ki++)
                    for (int kj = 0; kj < s.Kw; kj++)
                    {
                        float* x0 = pad + ci * plane + (nint)ki * s.Dh * wp + kj * s.Dw;
                        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                        for (int oy = 0; oy < s.Oh; oy++)
                        {
                            float* xr = x0 + (nint)oy * wp;
                            float* dr = d0 + (nint)oy * wr;
                            for (int v = 0; v < vecs; v++)
                            {
                                var x = Vector512.Load(xr + v * 16);
                                if (v == vecs - 1) x = Vector512.ConditionalSelect(tailMask, x, Vector512<float>.Zero);
                                float* d = dr + v * 16;
                                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(d), x, a0);
                                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(d + dyPlane), x, a1);
                                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 2 * dyPlane), x, a2);
                                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 3 * dyPlane), x, a3);
                                a4 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 4 * dyPlane), x, a4);
                                a5 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 5 * dyPlane), x, a5);
                                a6 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 6 * dyPlane), x, a6);
                                a7 = Vector512.FusedMultiplyAdd(Vector512.Load(d + 7 * dyPlane), x, a7);
                            }
                        }
                        sums[0] = Vector512.Sum(a0); sums[1] = Vector512.Sum(a1); sums[2] = Vector512.Sum(a2); sums[3] = Vector512.Sum(a3);
                        sums[4] = Vector512.Sum(a4); sums[5] = Vector512.Sum(a5); sums[6] = Vector512.Sum(a6); sums[7] = Vector512.Sum(a7);
                        nint at = ((nint)co0 * s.Cb + ci) * kk + ki * s.Kw + kj, step = (nint)s.Cb * kk;
                        for (int r = 0; r < 8; r++) dw[at + r * step] += sums[r];
                    }
        }
    }

    /// <summary>Per-thread 64-byte-aligned padded-image buffer, grown on demand and reused.</summary>
    sealed class Workspace
    {
        [ThreadStatic] static Workspace? t_current;
        float* _p;
        long _cap;

        public static float* Get(long floats)
        {
            var ws = t_current ??= new Workspace();
            if (floats > ws._cap)
            {
                NativeMemory.AlignedFree(ws._p);
                ws._p = null;
                ws._cap = 0;
                ws._p = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
                ws._cap = floats;
            }
            return ws._p;
        }

        ~Workspace() => NativeMemory.AlignedFree(_p);
    }
}
