using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Kernels;

/// <summary>
/// Direct convolution (no im2col): for 8 output channels, a strip of 32 outputs stays in 16 Vector512 accumulators while
/// the loop runs over every input channel and kernel tap (two input loads and eight weight broadcasts feed 16 FMAs);
/// strips run over the flattened output across row ends (<see cref="Wrapped"/>). With Vector256 only (AVX2, 16
/// registers) blocks are 4 output channels and a strip is 24
/// outputs of the row-major padded plane (three input loads and four broadcasts feed 12 accumulators): strips run across
/// row ends, and the outputs that land in the padding columns are computed and dropped, so a 14-wide row wastes 2 of 16
/// lanes instead of 10 of 24; stride-2 layers run the same kernels on the image split into its four phase planes (see
/// <see cref="Flat"/>). Stride-1 layers with many input channels otherwise write and re-read a column matrix
/// kh·kw times the size of the input; this touches only the padded input, the packed weights and the output once.
/// The input gradient of a stride-1 convolution is the same kernel on the padded output gradient with flipped weights.
/// </summary>
internal static unsafe class ConvDirect
{
    /// <summary>Vector512 (AVX-512) or, failing that, Vector256 with FMA (AVX2): the two widths the kernels are written for.</summary>
    static readonly bool Wide = Vector512.IsHardwareAccelerated, Supported = Wide || (Vector256.IsHardwareAccelerated && Fma.IsSupported);

    /// <summary>Output channels per block of packed weights (declared after <see cref="Wide"/>: static fields initialise in order).</summary>
    static readonly int CoBlock = Wide ? 8 : 4;

    /// <summary>Outputs per Vector512 strip: two vectors of 16 (AVX2's strips are 24).</summary>
    const int Strip = 32;

    /// <summary>Zeroed floats after the padded image: strips read up to a strip past the last output (discarded lanes).</summary>
    const int Slack = 48;

    /// <summary>Whether the direct forward (and stride-1 input gradient) applies: Vector512 with stride 1 (the
    /// <see cref="Wrapped"/> layout) with output rows at least as wide as the input's, or at least <see cref="MinWidthWide"/>
    /// wide; or AVX2 with stride 1 or 2 (the same in both directions) and rows of at least <see cref="MinWidth"/>; one
    /// group, and more than one tap (a 1x1 layer is a plain matrix product). Measured on the wrapped layout (Zen 4, 2
    /// threads, batch 256, GFLOPS forward / input gradient, 2026-12-03): model4's 2a (32->64, 14x14) 152 / 152 against 136 /
    /// 134 on the im2col / channels-last paths, 16->32 at 7x7 122 / 130 against 81 / 96, 8->16 at 14x14 119 / 129 against
    /// 71 / 54.</summary>
    internal static bool Applies(in ConvShape s) => Fits(s, Wide ? s.Ow >= s.W ? 1 : MinWidthWide : s.Sh == 1 ? MinWidth : MinWidth2);

    static bool Fits(in ConvShape s, int minWidth) => Eligible(s) && s.Cs >= CoBlock && s.Ow >= minWidth;

    /// <summary>
    /// Narrowest output rows for the Vector512 forward and input gradient when they are narrower than the input's (no or
    /// little padding): positions ox ≥ Ow of each row of the <see cref="Wrapped"/> layout are computed and dropped, a
    /// fraction (W − Ow) / W of the lanes. The weight gradient keeps <see cref="MinWidthWideWeightGrad"/>.
    /// </summary>
    internal const int MinWidthWide = 16;

    /// <summary>Narrowest output rows for the Vector512 weight gradient (see <see cref="WeightGradApplies"/>).</summary>
    internal const int MinWidthWideWeightGrad = 12;

    /// <summary>What both the forward and the weight gradient need: a supported width, more than one tap, one group, enough
    /// input channels, and stride 1 (Vector512) or stride 1 or 2 the same both ways (AVX2).</summary>
    static bool Eligible(in ConvShape s) =>
        Supported && s.Kh * s.Kw > 1 && s.Groups == 1 && s.Cb >= MinChannels &&
        (Wide ? s.Sh == 1 && s.Sw == 1 : s.Sh == s.Sw && s.Sh <= 2);

    /// <summary>Narrowest output rows for AVX2's stride-1 and stride-2 kernels.</summary>
    internal static int MinWidth = 12, MinWidth2 = 7;

    /// <summary>Fewest input channels for which the direct kernel beats im2col + GEMM (with one channel the column matrix is tiny).</summary>
    internal static int MinChannels = 4;

    /// <summary>
    /// Packs the weight into blocks of <see cref="CoBlock"/> output channels (8, or 4 with AVX2), [Cs/CoBlock rounded
    /// up][Cb][Kh][Kw][CoBlock], zero for missing channels. w is
    /// [Cs, Cb, Kh, Kw], or with flip [Cb, Cs, Kh, Kw] used transposed and rotated 180° (w'[o, i, a, b] = w[i, o, Kh-1-a, Kw-1-b]:
    /// the weight of the convolution that computes a stride-1 convolution's input gradient).
    /// </summary>
    internal static float[] PackWeights(in ConvShape s, float* w, bool flip)
    {
        int blocks = (s.Cs + CoBlock - 1) / CoBlock, kk = s.Kh * s.Kw;
        var packed = Conv.Scratch.Weights((long)blocks * s.Cb * kk * CoBlock);
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
    /// small[i] = conv(big[i]) (+ bias) for i &lt; n where <see cref="Applies"/> holds: big [n, Cb, H, W], packed weights from
    /// <see cref="PackWeights"/>, bias [Cs] or null, small [n, Cs, Oh, Ow] (written). Threads split the images.
    /// </summary>
    internal static void Forward(ConvShape s, int n, float* big, float[] packed, float* bias, float* small)
    {
        var g = new Flat(s);
        var wr = new Wrapped(s);
        fixed (float* pw = packed)
        {
            float* wpk = pw;
            Threading.For(n, i =>
            {
                if (Wide)
                {
                    float* buf = Conv.Workspace.Get(0, 0, wr.Floats(s)).Pad;
                    wr.Fill(big + (long)i * s.BigSize, s, buf);
                    ImageWrapped(s, wr, buf, wpk, bias, small + (long)i * s.SmallSize);
                    return;
                }
                float* pad = Conv.Workspace.Get(0, 0, g.Floats(s.Cb)).Pad;
                g.Fill(big + (long)i * s.BigSize, s, pad);
                ImageFlat(s, g, pad, wpk, bias, small + (long)i * s.SmallSize);
            }, (long)s.Cs * s.K * s.L * n >= 1L << 18 ? 0 : 1);
        }
    }

    /// <summary>
    /// The padded image as the kernels read it: stride S splits it into S·S phase planes of Hs x Ws (plane (ry, rx) holds the
    /// padded pixels (S·y + ry, S·x + rx)), so the taps of a strided convolution read consecutive positions too; with stride 1
    /// it is the padded image itself. Output position (oy, ox) is q = oy·Ws + ox, and tap t reads q + Offset(t) of its channel.
    /// </summary>
    readonly struct Flat
    {
        public readonly int S, Hp, Wp, Hs, Ws;
        /// <summary>Floats per input channel (all its phase planes).</summary>
        public readonly long CiStride;

        public Flat(in ConvShape s)
        {
            S = s.Sh; Hp = s.H + 2 * s.Ph; Wp = s.W + 2 * s.Pw;
            Hs = (Hp + S - 1) / S; Ws = (Wp + S - 1) / S;
            CiStride = (long)S * S * Hs * Ws;
        }

        /// <summary>Floats of a buffer for cb channels, with zeroed slack after them.</summary>
        public long Floats(int cb) => cb * CiStride + Slack;

        /// <summary>Where tap t = ki·Kw + kj reads, relative to the output position, in its input channel.</summary>
        public int Offset(in ConvShape s, int t)
        {
            int r = t / s.Kw * s.Dh, c = t % s.Kw * s.Dw;
            return (r % S * S + c % S) * Hs * Ws + r / S * Ws + c / S;
        }

        /// <summary>Writes image x [Cb, H, W] into pad in this layout (zeros around it and in the slack).</summary>
        public void Fill(float* x, in ConvShape s, float* pad)
        {
            new Span<float>(pad + s.Cb * CiStride, Slack).Clear();
            if (S == 1)
            {
                Conv.PadCopy(x, s, Hp, Wp, pad);
                return;
            }
            new Span<float>(pad, (int)(s.Cb * CiStride)).Clear();
            int plane = Hs * Ws;
            for (int ci = 0; ci < s.Cb; ci++)
                for (int y = 0; y < s.H; y++)
                {
                    int py = y + s.Ph;
                    float* even = pad + ci * CiStride + (nint)(py & 1) * 2 * plane + (nint)(py >> 1) * Ws, odd = even + plane;
                    float* src = x + ((nint)ci * s.H + y) * s.W;
                    // source column xx lands at padded column xx + Pw: its phase is that column's parity
                    if ((s.Pw & 1) == 0) Deinterleave(src, s.W, even + s.Pw / 2, odd + s.Pw / 2);
                    else Deinterleave(src, s.W, odd + s.Pw / 2, even + (s.Pw + 1) / 2);
                }
        }

        /// <summary>e[j] = src[2j], o[j] = src[2j + 1] for the n floats of src.</summary>
        static void Deinterleave(float* src, int n, float* e, float* o)
        {
            int i = 0;
            for (; i + 16 <= n; i += 16)
            {
                var a = Vector256.Load(src + i); var b = Vector256.Load(src + i + 8);
                // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6], and the same for the odd lanes
                Avx2.Permute4x64(Avx.Shuffle(a, b, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle().Store(e + i / 2);
                Avx2.Permute4x64(Avx.Shuffle(a, b, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle().Store(o + i / 2);
            }
            for (; i < n; i++) ((i & 1) == 0 ? e : o)[i >> 1] = src[i];
        }
    }

    /// <summary>
    /// The Vector512 layout of stride-1 layers: each input channel's rows are R = max(W, Ow) floats apart (zeros after the
    /// W pixels), with Ph zero rows above and below and a margin before and after, so output position q = oy·R + ox reads
    /// tap (ki, kj) at q + ki·Dh·R + kj·Dw − Pw: one offset for the whole image. Strips of 32 run over q and cross row
    /// ends instead of wasting the lanes past the end of each row (a 28-wide row filled 28 of 32 lanes, a 14-wide one 14);
    /// the lanes whose tap column falls outside the image (they would read the neighbouring row) are zeroed by a mask per
    /// kernel column, and when Ow &lt; W the positions ox ≥ Ow are computed and dropped. In a "same" convolution (Ow = W)
    /// q is the output's own flat index.
    /// </summary>
    readonly struct Wrapped
    {
        /// <summary>Zeroed floats before the first row of a channel (≥ Pw: the first strip's leftmost taps read there).</summary>
        public readonly int Lead;
        /// <summary>Row stride R = max(W, Ow).</summary>
        public readonly int R;
        /// <summary>Floats per input channel.</summary>
        public readonly long CiStride;

        public Wrapped(in ConvShape s)
        {
            Lead = (s.Pw + 15) & ~15;
            R = Math.Max(s.W, s.Ow);
            CiStride = Lead + (long)(s.H + 2 * s.Ph) * R;
        }

        /// <summary>Positions q of the flattened output up to the last real one.</summary>
        public int Positions(in ConvShape s) => (s.Oh - 1) * R + s.Ow;

        /// <summary>Floats of the buffer, with zeroed slack after the last channel (the last strip reads past the image).</summary>
        public long Floats(in ConvShape s) => s.Cb * CiStride + Slack + s.Pw;

        /// <summary>
        /// For every kernel column kj, masks[kj·stride] = the lanes of positions q .. q + 15 whose tap column
        /// ox + kj·Dw − Pw (ox = position mod R) lies inside the image and whose position is below limit.
        /// </summary>
        public void ColumnMasks(in ConvShape s, int q, int limit, Vector512<float>* masks, int stride)
        {
            var p = Vector512.Create(q) + Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            var ox = p - Vector512.Create(R) * (p / Vector512.Create(R));
            var inside = Vector512.LessThan(p, Vector512.Create(limit));
            for (int kj = 0; kj < s.Kw; kj++)
            {
                var c = ox + Vector512.Create(kj * s.Dw - s.Pw);
                masks[kj * stride] = (inside & Vector512.GreaterThanOrEqual(c, Vector512<int>.Zero) & Vector512.LessThan(c, Vector512.Create(s.W))).AsSingle();
            }
        }

        /// <summary>Writes image x [Cb, H, W] into buf in this layout.</summary>
        public void Fill(float* x, in ConvShape s, float* buf)
        {
            int hw = s.H * s.W, edge = s.Ph * R;
            for (int ci = 0; ci < s.Cb; ci++)
            {
                float* dst = buf + ci * CiStride, src = x + (nint)ci * hw;
                new Span<float>(dst, Lead + edge).Clear();
                if (R == s.W) new ReadOnlySpan<float>(src, hw).CopyTo(new Span<float>(dst + Lead + edge, hw));
                else
                    for (int y = 0; y < s.H; y++)
                    {
                        float* row = dst + Lead + edge + (nint)y * R;
                        new ReadOnlySpan<float>(src + (nint)y * s.W, s.W).CopyTo(new Span<float>(row, s.W));
                        new Span<float>(row + s.W, R - s.W).Clear();
                    }
                new Span<float>(dst + Lead + edge + (nint)s.H * R, edge).Clear();
            }
            new Span<float>(buf + s.Cb * CiStride, Slack + s.Pw).Clear();
        }
    }

    /// <summary>One image on the <see cref="Wrapped"/> layout: every 32-position strip and 8-channel block. Kernel rows
    /// that read only padding rows for every position of a strip are skipped.</summary>
    static void ImageWrapped(in ConvShape s, in Wrapped g, float* buf, float* wpk, float* bias, float* y)
    {
        int blocks = (s.Cs + CoBlock - 1) / CoBlock, kk = s.Kh * s.Kw, l = s.L, r = g.R, positions = g.Positions(s);
        float* tile = stackalloc float[8 * Strip];
        var masks = stackalloc Vector512<float>[2 * s.Kw];
        for (int q0 = 0; q0 < positions; q0 += Strip)
        {
            int cols = Math.Min(Strip, positions - q0);
            int oyFirst = q0 / r, oyLast = (q0 + cols - 1) / r, kiLo = 0, kiHi = s.Kh;
            // tap row ki reads input row oy + ki·Dh − Ph
            while (kiLo < kiHi && oyLast + kiLo * s.Dh < s.Ph) kiLo++;
            while (kiHi > kiLo && oyFirst + (kiHi - 1) * s.Dh - s.Ph >= s.H) kiHi--;
            // lane masks [kj][vector]: the lanes past the last position are dropped at the store, so no limit
            g.ColumnMasks(s, q0, int.MaxValue, masks, 2);
            g.ColumnMasks(s, q0 + 16, int.MaxValue, masks + 1, 2);
            for (int b = 0; b < blocks; b++)
            {
                int co0 = b * CoBlock, rows = Math.Min(CoBlock, s.Cs - co0);
                Strip8Wrapped(s, g, buf + g.Lead + q0 - s.Pw, wpk + (nint)b * s.Cb * kk * CoBlock, kiLo, kiHi, masks, tile);
                for (int row = 0; row < rows; row++)
                {
                    float* dst = y + (nint)(co0 + row) * l, src = tile + row * Strip;
                    float add = bias == null ? 0f : bias[co0 + row];
                    if (r == s.Ow && cols == Strip)
                    {
                        var vb = Vector512.Create(add);
                        (Vector512.Load(src) + vb).Store(dst + q0);
                        (Vector512.Load(src + 16) + vb).Store(dst + q0 + 16);
                    }
                    else
                        for (int j = 0, oy = q0 / r, ox = q0 - oy * r; j < cols; j++)
                        {
                            if (ox < s.Ow) dst[oy * s.Ow + ox] = src[j] + add;
                            if (++ox == r) { ox = 0; oy++; }
                        }
                }
            }
        }
    }

    /// <summary>tile[r, 0..32) = Σ_{ci, kiLo ≤ ki &lt; kiHi, kj} w[r, ci, ki, kj] · (x0[ci·CiStride + ki·Dh·R + kj·Dw + (0..32)]
    /// masked by kernel column kj), x0 = the strip's first output position shifted left by Pw.</summary>
    static void Strip8Wrapped(in ConvShape s, in Wrapped g, float* x0, float* wb, int kiLo, int kiHi, Vector512<float>* masks, float* tile)
    {
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector512<float> a40 = default, a41 = default, a50 = default, a51 = default, a60 = default, a61 = default, a70 = default, a71 = default;
        int kh = s.Kh, kw = s.Kw, dw = s.Dw;
        nint rowStep = (nint)s.Dh * g.R, ciStride = (nint)g.CiStride;
        for (int ci = 0; ci < s.Cb; ci++)
        {
            float* w = wb + ((nint)ci * kh + kiLo) * kw * CoBlock;
            for (int ki = kiLo; ki < kiHi; ki++)
            {
                float* row = x0 + ci * ciStride + ki * rowStep;
                Vector512<float>* m = masks;
                for (int kj = 0; kj < kw; kj++, w += CoBlock, row += dw, m += 2)
                {
                    var v0 = Vector512.Load(row) & m[0];
                    var v1 = Vector512.Load(row + 16) & m[1];
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

    /// <summary>
    /// The AVX2 image: for each block of 4 output channels, strips of 24 consecutive positions q = oy·Ws + ox of the
    /// <see cref="Flat"/> layout; positions with ox ≥ Ow are computed and dropped.
    /// </summary>
    static void ImageFlat(in ConvShape s, in Flat g, float* pad, float* wpk, float* bias, float* y)
    {
        int blocks = (s.Cs + CoBlock - 1) / CoBlock, kk = s.Kh * s.Kw, l = s.L, ow = s.Ow, ws = g.Ws;
        int end = (s.Oh - 1) * ws + ow;   // one past the last output position
        float* tile = stackalloc float[4 * 24];
        int* toff = stackalloc int[kk];
        for (int t = 0; t < kk; t++) toff[t] = g.Offset(s, t);
        for (int b = 0; b < blocks; b++)
        {
            int co0 = b * CoBlock, rows = Math.Min(CoBlock, s.Cs - co0);
            float* wb = wpk + (nint)b * s.Cb * kk * CoBlock;
            for (int q0 = 0; q0 < end; q0 += 24)
            {
                Strip4x24(s.Cb, kk, (nint)g.CiStride, toff, pad + q0, wb, tile);
                int q1 = Math.Min(q0 + 24, end);
                for (int r = 0; r < rows; r++)
                {
                    float* dst = y + (nint)(co0 + r) * l, src = tile + r * 24 - q0;
                    float add = bias == null ? 0f : bias[co0 + r];
                    int oy = q0 / ws, ox = q0 - oy * ws;
                    for (int q = q0; q < q1; oy++, q += ws - ox, ox = 0)
                    {
                        int stop = Math.Min(q1, q - ox + ow);   // end of this row's outputs within the strip
                        for (int t = q, d = oy * ow + ox; t < stop; t++, d++) dst[d] = src[t] + add;
                    }
                }
            }
        }
    }

    /// <summary>tile[r, 0..24) = Σ_{ci, t} w[r, ci, t] · x0[ci·ciStride + toff[t] + (0..24)] for the 4 channels of the block.</summary>
    static void Strip4x24(int cb, int kk, nint ciStride, int* toff, float* x0, float* wb, float* tile)
    {
        Vector256<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        float* w = wb;
        for (int ci = 0; ci < cb; ci++)
        {
            float* xc = x0 + ci * ciStride;
            for (int t = 0; t < kk; t++, w += 4)
            {
                float* x = xc + toff[t];
                var v0 = Vector256.Load(x); var v1 = Vector256.Load(x + 8); var v2 = Vector256.Load(x + 16);
                var b = Vector256.Create(w[0]);
                a00 = Vector256.FusedMultiplyAdd(b, v0, a00); a01 = Vector256.FusedMultiplyAdd(b, v1, a01); a02 = Vector256.FusedMultiplyAdd(b, v2, a02);
                b = Vector256.Create(w[1]);
                a10 = Vector256.FusedMultiplyAdd(b, v0, a10); a11 = Vector256.FusedMultiplyAdd(b, v1, a11); a12 = Vector256.FusedMultiplyAdd(b, v2, a12);
                b = Vector256.Create(w[2]);
                a20 = Vector256.FusedMultiplyAdd(b, v0, a20); a21 = Vector256.FusedMultiplyAdd(b, v1, a21); a22 = Vector256.FusedMultiplyAdd(b, v2, a22);
                b = Vector256.Create(w[3]);
                a30 = Vector256.FusedMultiplyAdd(b, v0, a30); a31 = Vector256.FusedMultiplyAdd(b, v1, a31); a32 = Vector256.FusedMultiplyAdd(b, v2, a32);
            }
        }
        a00.Store(tile); a01.Store(tile + 8); a02.Store(tile + 16);
        a10.Store(tile + 24); a11.Store(tile + 32); a12.Store(tile + 40);
        a20.Store(tile + 48); a21.Store(tile + 56); a22.Store(tile + 64);
        a30.Store(tile + 72); a31.Store(tile + 80); a32.Store(tile + 88);
    }

    /// <summary>Whether <see cref="WeightGradWrapped"/> applies: Vector512, the <see cref="Wrapped"/> layout ("same"-width
    /// stride-1 rows), whole blocks of 4 output channels and at least 64 output positions. Measured against the kernel with
    /// lanes over output channels (<see cref="ImageWeightGrad"/>) and im2col (Zen 4, 2 threads, batch 256, GFLOPS median
    /// (best), 2026-12-03): lesson 15's (d) 16->16 5x5 at 28x28 158 (180) against 150 (162); model4's 1a 16->32 at 28x28 160
    /// (178) against 124 (143); 2a 32->64 at 14x14 142 (179) against 142 (171); 8->16 at 14x14 136 against 45 (im2col);
    /// but 16->32 at 7x7 (49 positions, a quarter of the last vector wasted) 81 against 99 (im2col).</summary>
    internal static bool WeightGradWrappedApplies(in ConvShape s) => Wide && Eligible(s) && s.Ow >= s.W && s.Cs % WgCo == 0 && s.L >= 64;

    /// <summary>Output channels × (input channel, kernel row) pairs per tile of <see cref="WgTile"/>: 24 accumulators.</summary>
    const int WgCo = 4, WgPairs = 6;

    /// <summary>Bytes of a group of images' padded inputs and output gradients that <see cref="WeightGradWrapped"/> walks
    /// together for every tile (so they stay in the 1 MiB L2 cache).</summary>
    internal static long WgGroupBytes = 512 << 10;

    /// <summary>Most images per group of <see cref="WeightGradWrapped"/>.</summary>
    internal static int WgMaxGroup = 8;

    /// <summary>
    /// Weight and bias gradients on the <see cref="Wrapped"/> layout, lanes over output positions: dw[co, ci, ki, kj] =
    /// Σ_images Σ_p small[co, p] · x[ci, p + ki·Dh·W + kj·Dw − Pw], with the lanes whose tap column falls outside the image
    /// masked (on the output gradient, whose mask depends only on p and kj). A tile keeps 4 output channels × 6 (ci, ki)
    /// pairs for one kj in 24 Vector512 accumulators over every position of a group of images (4 gradient loads and 6 input
    /// loads feed 24 FMAs), and only then sums each accumulator's lanes. The output gradient is read in place. Images are
    /// split into up to four fixed ranges (<see cref="Conv.InSlots"/>).
    /// </summary>
    internal static void WeightGradWrapped(ConvShape s, int n, float* small, float* big, float* dw, float* dbias)
    {
        var g = new Wrapped(s);
        int l = s.L, nvt = (l + 15) / 16, pairs = s.Cb * s.Kh, pairBlocks = (pairs + WgPairs - 1) / WgPairs;
        long gf = (g.Floats(s) + 15) & ~15L;
        int group = (int)Math.Clamp(WgGroupBytes / (4 * (gf + (long)s.Cs * l)), 1, WgMaxGroup), chunks = (n + group - 1) / group;
        // masks[kj, v]: lanes of position vector v whose tap column ox + kj·Dw − Pw is inside the image (and p < L)
        var maskArr = Conv.Scratch.Weights((long)s.Kw * nvt * 16);
        fixed (float* pm = maskArr)
        {
            var masks = (Vector512<float>*)pm;
            for (int v = 0; v < nvt; v++) g.ColumnMasks(s, 16 * v, l, masks + v, nvt);   // R = Ow here: q is the output index
            Conv.InSlots(chunks, (long)s.Cs * s.K, s.Cs, dw, dbias, (c0, c1, sdw, sdb) =>
            {
                new Span<float>(sdw, s.Cs * s.K).Clear();
                float* buf = Conv.Workspace.Get(0, 0, group * (gf + (long)s.Cs * 16)).Pad, stage = buf + group * gf;
                int* offs = stackalloc int[WgPairs];
                for (int chunk = c0; chunk < c1; chunk++)
                {
                    int i0 = chunk * group, cnt = Math.Min(group, n - i0);
                    for (int j = 0; j < cnt; j++) g.Fill(big + (long)(i0 + j) * s.BigSize, s, buf + j * gf);
                    if (l % 16 != 0)
                        for (int j = 0; j < cnt; j++)
                            for (int co = 0; co < s.Cs; co++)
                            {
                                float* dst = stage + ((nint)j * s.Cs + co) * 16;
                                new Span<float>(dst, 16).Clear();
                                new ReadOnlySpan<float>(small + (long)(i0 + j) * s.SmallSize + (nint)co * l + l / 16 * 16, l % 16).CopyTo(new Span<float>(dst, l % 16));
                            }
                    if (sdb != null)
                        for (int j = 0; j < cnt; j++)
                            for (int co = 0; co < s.Cs; co++)
                                sdb[co] += System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(small + (long)(i0 + j) * s.SmallSize + (nint)co * l, l));
                    for (int kj = 0; kj < s.Kw; kj++)
                        for (int pb = 0; pb < pairBlocks; pb++)
                        {
                            int np = Math.Min(WgPairs, pairs - pb * WgPairs);
                            for (int j = 0; j < WgPairs; j++)
                            {
                                int pr = pb * WgPairs + Math.Min(j, np - 1), ci = pr / s.Kh, ki = pr % s.Kh; // missing pairs repeat the last
                                offs[j] = (int)(ci * g.CiStride) + g.Lead + ki * s.Dh * g.R + kj * s.Dw - s.Pw;
                            }
                            for (int co0 = 0; co0 < s.Cs; co0 += WgCo)
                                WgTile(s, cnt, gf, buf, small + (long)i0 * s.SmallSize + (nint)co0 * l, offs, masks + (nint)kj * nvt, stage + co0 * 16,
                                    sdw + (nint)co0 * s.K + (nint)pb * WgPairs * s.Kw + kj, np);
                        }
                }
            });
        }
    }

    /// <summary>
    /// One tile of <see cref="WeightGradWrapped"/>: for output channels co0 .. co0 + 3 (rows of dy, L apart) and the np
    /// (ci, ki) pairs whose inputs start at buf + offs[j] (per image, gf floats apart), adds Σ over the cnt images and all
    /// positions of dy·mask·x to dst[i·K + j·Kw] (dst points at [co0, first pair, kj] of the gradient). When L is not a
    /// multiple of 16, the last vector of each row comes from stage ([image][Cs][16], zero past L; stage points at co0).
    /// </summary>
    static void WgTile(in ConvShape s, int cnt, long gf, float* buf, float* dy, int* offs, Vector512<float>* masks, float* stage, float* dst, int np)
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a04 = default, a05 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a24 = default, a25 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default, a34 = default, a35 = default;
        int l = s.L, nv = l / 16, nvt = (l + 15) / 16;
        nint o0 = offs[0], o1 = offs[1], o2 = offs[2], o3 = offs[3], o4 = offs[4], o5 = offs[5];
        for (int img = 0; img < cnt; img++)
        {
            float* xb = buf + img * gf, d = dy + (long)img * s.SmallSize;
            float* st = stage + (nint)img * s.Cs * 16;
            for (int v = 0; v < nvt; v++)
            {
                // the last, partial vector reads the staged copy (rows of 16, zero past L)
                bool full = v < nv;
                float* dv = full ? d + v * 16 : st;
                nint ld = full ? l : 16;
                var m = masks[v];
                var d0 = Vector512.Load(dv) & m;
                var d1 = Vector512.Load(dv + ld) & m;
                var d2 = Vector512.Load(dv + 2 * ld) & m;
                var d3 = Vector512.Load(dv + 3 * ld) & m;
                float* x = xb + v * 16;
                var xv = Vector512.Load(x + o0);
                a00 = Vector512.FusedMultiplyAdd(d0, xv, a00); a10 = Vector512.FusedMultiplyAdd(d1, xv, a10); a20 = Vector512.FusedMultiplyAdd(d2, xv, a20); a30 = Vector512.FusedMultiplyAdd(d3, xv, a30);
                xv = Vector512.Load(x + o1);
                a01 = Vector512.FusedMultiplyAdd(d0, xv, a01); a11 = Vector512.FusedMultiplyAdd(d1, xv, a11); a21 = Vector512.FusedMultiplyAdd(d2, xv, a21); a31 = Vector512.FusedMultiplyAdd(d3, xv, a31);
                xv = Vector512.Load(x + o2);
                a02 = Vector512.FusedMultiplyAdd(d0, xv, a02); a12 = Vector512.FusedMultiplyAdd(d1, xv, a12); a22 = Vector512.FusedMultiplyAdd(d2, xv, a22); a32 = Vector512.FusedMultiplyAdd(d3, xv, a32);
                xv = Vector512.Load(x + o3);
                a03 = Vector512.FusedMultiplyAdd(d0, xv, a03); a13 = Vector512.FusedMultiplyAdd(d1, xv, a13); a23 = Vector512.FusedMultiplyAdd(d2, xv, a23); a33 = Vector512.FusedMultiplyAdd(d3, xv, a33);
                xv = Vector512.Load(x + o4);
                a04 = Vector512.FusedMultiplyAdd(d0, xv, a04); a14 = Vector512.FusedMultiplyAdd(d1, xv, a14); a24 = Vector512.FusedMultiplyAdd(d2, xv, a24); a34 = Vector512.FusedMultiplyAdd(d3, xv, a34);
                xv = Vector512.Load(x + o5);
                a05 = Vector512.FusedMultiplyAdd(d0, xv, a05); a15 = Vector512.FusedMultiplyAdd(d1, xv, a15); a25 = Vector512.FusedMultiplyAdd(d2, xv, a25); a35 = Vector512.FusedMultiplyAdd(d3, xv, a35);
            }
        }
        nint k = s.K, kw = s.Kw;
        AddSums(Sum4(a00, a10, a20, a30), dst, k);
        if (np > 1) AddSums(Sum4(a01, a11, a21, a31), dst + kw, k);
        if (np > 2) AddSums(Sum4(a02, a12, a22, a32), dst + 2 * kw, k);
        if (np > 3) AddSums(Sum4(a03, a13, a23, a33), dst + 3 * kw, k);
        if (np > 4) AddSums(Sum4(a04, a14, a24, a34), dst + 4 * kw, k);
        if (np > 5) AddSums(Sum4(a05, a15, a25, a35), dst + 5 * kw, k);
    }

    /// <summary>The lane sums of a, b, c and d, in that order (halves folded, then two rounds of horizontal adds).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        var ab = Avx.HorizontalAdd(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper());
        var cd = Avx.HorizontalAdd(c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());
        var abcd = Avx.HorizontalAdd(ab, cd);
        return abcd.GetLower() + abcd.GetUpper();
    }

    /// <summary>dst[i·stride] += sums[i] for i &lt; 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AddSums(Vector128<float> sums, float* dst, nint stride)
    {
        dst[0] += sums.GetElement(0); dst[stride] += sums.GetElement(1);
        dst[2 * stride] += sums.GetElement(2); dst[3 * stride] += sums.GetElement(3);
    }

    /// <summary>Whether <see cref="WeightGrad"/> applies: as <see cref="Applies"/> but from rows of 12 (14x14 outputs: 144.9
    /// GFLOPS against 128.4 for the channels-last path on model4's layer 2a), with whole vectors of 16 output channels
    /// (Vector512); with AVX2, stride 1 or 2 the same both ways, more than one tap, whole blocks of 4 output channels, and
    /// at least <see cref="MinPositions"/> flat positions per image. Measured on model4's layers (2 threads, GFLOPS, this
    /// kernel against the channels-last / im2col path): 28x28 and 14x14 outputs 57–87 against 44–71; 7x7 and 4x4
    /// outputs with 64–256 channels 36–64 against 50–70, even with 8 images' sums kept together.</summary>
    internal static bool WeightGradApplies(in ConvShape s) => Wide
        ? Fits(s, MinWidthWideWeightGrad) && s.Cs % 16 == 0
        : Eligible(s) && s.Cs % 4 == 0 && s.Oh * new Flat(s).Ws >= MinPositions;

    /// <summary>Fewest flat positions (Oh·Ws) per image for AVX2's direct weight gradient.</summary>
    internal static int MinPositions = 192;

    /// <summary>Images whose sums AVX2's weight gradient keeps in registers together (each group's sums end in horizontal
    /// adds): up to 8, about 1,024 positions (model4's 14x14 layer: 4 images, 56 → 87 GFLOPS at 2 threads).</summary>
    static int GroupImages(int positions) => Wide ? 1 : Math.Clamp(1024 / Math.Max(1, positions), 1, 8);

    /// <summary>Kernel taps per block of accumulators in <see cref="ImageWeightGrad"/> (3x3 is one block, 5x5 three).</summary>
    const int TapBlock = 9;

    /// <summary>
    /// Weight and bias gradients of a stride-1 convolution without im2col: dw [Cs, Cb, Kh, Kw] = Σ_images Σ_positions
    /// small·big at each tap, dbias [Cs] = Σ small (when not null); both overwritten. With Vector512, lanes run over 16
    /// output channels (the output gradient is transposed to [positions, Cs] per image): for each input channel and block of
    /// up to 9 taps, 9 accumulators take one gradient vector and one broadcast input pixel per tap and position, so nothing
    /// needs a horizontal sum. With AVX2, lanes run over positions instead (see <see cref="ImageWeightGradFlat"/>). Images are split into up to four fixed ranges whose partial sums are added in order (the result
    /// does not depend on the thread count).
    /// </summary>
    internal static void WeightGrad(ConvShape s, int n, float* small, float* big, float* dw, float* dbias)
    {
        var fg = new Flat(s);
        int kk = s.Kh * s.Kw, ws = fg.Ws;
        long padFloats = fg.Floats(s.Cb);
        long wSize = (long)s.Cs * s.K;
        int slots = Math.Min(n, 4), qLen = (s.Oh * ws + 7) & ~7, group = GroupImages(s.Oh * ws);
        if (slots == 0)
        {
            new Span<float>(dw, (int)wSize).Clear();
            if (dbias != null) new Span<float>(dbias, s.Cs).Clear();
            return;
        }
        // Partial sums per slot in [Cb, kk, Cs] order (output channels contiguous), then the bias sums.
        var partial = Conv.Scratch.Partials(slots * (wSize + s.Cs));
        fixed (float* pp = partial)
        {
            float* parts = pp;
            Threading.For(slots, slot =>
            {
                float* sdw = parts + slot * (wSize + s.Cs), sdb = sdw + wSize;
                new Span<float>(sdw, (int)(wSize + s.Cs)).Clear();
                float* pad = Conv.Workspace.Get(0, 0, group * (padFloats + (long)Math.Max(s.L, qLen) * s.Cs)).Pad;
                float* dyt = pad + group * padFloats;
                int i0 = (int)((long)n * slot / slots), i1 = (int)((long)n * (slot + 1) / slots);
                for (int i = i0; i < i1; i += group)
                {
                    int count = Math.Min(group, i1 - i);
                    for (int j = 0; j < count; j++)
                    {
                        fg.Fill(big + (long)(i + j) * s.BigSize, s, pad + j * padFloats);
                        StageGradient(s, small + (long)(i + j) * s.SmallSize, dyt + (long)j * s.Cs * qLen, ws, qLen, sdb);
                    }
                    if (Wide) ImageWeightGrad(s, fg.Wp, fg.Hp * fg.Wp, pad, dyt, sdw);
                    else ImageWeightGradFlat(s, fg, count, pad, padFloats, dyt, qLen, sdw);
                }
            });
            for (int slot = 1; slot < slots; slot++)
            {
                var acc = new Span<float>(parts, (int)(wSize + s.Cs));
                System.Numerics.Tensors.TensorPrimitives.Add(acc, new ReadOnlySpan<float>(parts + slot * (wSize + s.Cs), (int)(wSize + s.Cs)), acc);
            }
            for (int ci = 0; ci < s.Cb; ci++)
                for (int t = 0; t < kk; t++)
                    for (int co = 0; co < s.Cs; co++) dw[((nint)co * s.Cb + ci) * kk + t] = parts[((nint)ci * kk + t) * s.Cs + co];
            if (dbias != null) new ReadOnlySpan<float>(parts + wSize, s.Cs).CopyTo(new Span<float>(dbias, s.Cs));
        }
    }

    /// <summary>acc[ci, tap, co] += Σ_{oy, ox} dyt[oy·Ow + ox, co] · pad[ci, oy + ki·Dh, ox + kj·Dw] for one image.</summary>
    static void ImageWeightGrad(in ConvShape s, int wp, int plane, float* pad, float* dyt, float* acc)
    {
        int kk = s.Kh * s.Kw, cs = s.Cs;
        int* offs = stackalloc int[TapBlock];
        Vector512<float>* sums = stackalloc Vector512<float>[TapBlock];
        for (int co0 = 0; co0 < cs; co0 += 16)
            for (int ci = 0; ci < s.Cb; ci++)
                for (int t0 = 0; t0 < kk; t0 += TapBlock)
                {
                    int nt = TapOffsets(s, wp, t0, offs);
                    int o0 = offs[0], o1 = offs[1], o2 = offs[2], o3 = offs[3], o4 = offs[4], o5 = offs[5], o6 = offs[6], o7 = offs[7], o8 = offs[8];
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default, a8 = default;
                    float* xc = pad + (nint)ci * plane;
                    for (int oy = 0; oy < s.Oh; oy++)
                    {
                        float* xr = xc + (nint)oy * wp;
                        float* dr = dyt + (nint)oy * s.Ow * cs + co0;
                        for (int ox = 0; ox < s.Ow; ox++)
                        {
                            var d = Vector512.Load(dr + (nint)ox * cs);
                            float* x = xr + ox;
                            a0 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o0]), a0);
                            a1 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o1]), a1);
                            a2 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o2]), a2);
                            a3 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o3]), a3);
                            a4 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o4]), a4);
                            a5 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o5]), a5);
                            a6 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o6]), a6);
                            a7 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o7]), a7);
                            a8 = Vector512.FusedMultiplyAdd(d, Vector512.Create(x[o8]), a8);
                        }
                    }
                    float* dst = acc + ((nint)ci * kk + t0) * cs + co0;
                    sums[0] = a0; sums[1] = a1; sums[2] = a2; sums[3] = a3; sums[4] = a4; sums[5] = a5; sums[6] = a6; sums[7] = a7; sums[8] = a8;
                    for (int j = 0; j < nt; j++) (Vector512.Load(dst + (nint)j * cs) + sums[j]).Store(dst + (nint)j * cs);
                }
    }

    /// <summary>
    /// Offsets in the padded plane of the taps t0 .. t0 + 8 (a block of <see cref="ImageWeightGrad"/>); taps past the last
    /// read tap t0's pixels and their sums are not written back. Returns how many taps the block really has.
    /// </summary>
    static int TapOffsets(in ConvShape s, int wp, int t0, int* offs)
    {
        int nt = Math.Min(TapBlock, s.Kh * s.Kw - t0);
        for (int j = 0; j < TapBlock; j++)
        {
            int t = t0 + (j < nt ? j : 0);
            offs[j] = t / s.Kw * s.Dh * wp + t % s.Kw * s.Dw;
        }
        return nt;
    }

    /// <summary>
    /// One image's output gradient g [Cs, Oh, Ow] laid out for the weight-gradient kernel, its channel sums added to sdb:
    /// with Vector512 transposed to [positions, Cs]; with AVX2 as [Cs, qLen], rows of ws with zeros under the columns past
    /// Ow and after the last row.
    /// </summary>
    static void StageGradient(in ConvShape s, float* g, float* dst, int ws, int qLen, float* sdb)
    {
        for (int c = 0; c < s.Cs; c++)
        {
            float* row = g + (nint)c * s.L;
            if (Wide)
                for (int p = 0; p < s.L; p++) dst[(nint)p * s.Cs + c] = row[p];
            else
            {
                float* d = dst + (nint)c * qLen;
                for (int oy = 0; oy < s.Oh; oy++)
                {
                    new ReadOnlySpan<float>(row + (nint)oy * s.Ow, s.Ow).CopyTo(new Span<float>(d + (nint)oy * ws, s.Ow));
                    new Span<float>(d + (nint)oy * ws + s.Ow, ws - s.Ow).Clear();
                }
                new Span<float>(d + (nint)s.Oh * ws, qLen - s.Oh * ws).Clear();
            }
            sdb[c] += System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(row, s.L));
        }
    }

    /// <summary>
    /// The AVX2 weight gradient of a group of images: acc[ci, tap, co] += Σ_images Σ_q dyp[co, q] · pad[ci, q + off(tap)] over the positions
    /// q = oy·Ws + ox of the <see cref="Flat"/> layout, where dyp [Cs, qLen] is the output gradient in rows of Ws with zeros
    /// under the columns past Ow (so the products there vanish). Lanes run over 8 consecutive positions of both operands (no broadcasts);
    /// 12 accumulators hold 4 output channels x 3 taps over the whole group, reduced once per group. (A non-finite input pixel read at a zeroed
    /// position turns an inf contribution into NaN: either way that gradient entry is not finite.)
    /// </summary>
    static void ImageWeightGradFlat(in ConvShape s, in Flat g, int images, float* pad, long padStride, float* dyp, int qLen, float* acc)
    {
        long dyStride = (long)s.Cs * qLen;
        int kk = s.Kh * s.Kw, cs = s.Cs;
        int* toff = stackalloc int[kk];
        for (int t = 0; t < kk; t++) toff[t] = g.Offset(s, t);
        for (int co0 = 0; co0 < cs; co0 += 4)
        {
            for (int ci = 0; ci < s.Cb; ci++)
            {
                for (int t0 = 0; t0 < kk; t0 += 3)
                {
                    int nt = Math.Min(3, kk - t0);
                    // a missing tap of the last block reads tap t0's pixels; its sums are not written back
                    int o0 = toff[t0], o1 = toff[nt > 1 ? t0 + 1 : t0], o2 = toff[nt > 2 ? t0 + 2 : t0];
                    Vector256<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
                    Vector256<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
                    for (int img = 0; img < images; img++)
                    {
                        float* xc = pad + img * padStride + (nint)ci * g.CiStride;
                        float* d0 = dyp + img * dyStride + (nint)co0 * qLen, d1 = d0 + qLen, d2 = d1 + qLen, d3 = d2 + qLen;
                        for (int q = 0; q < qLen; q += 8)
                        {
                            float* x = xc + q;
                            var x0 = Vector256.Load(x + o0); var x1 = Vector256.Load(x + o1); var x2 = Vector256.Load(x + o2);
                            var y = Vector256.Load(d0 + q);
                            a00 = Vector256.FusedMultiplyAdd(y, x0, a00); a01 = Vector256.FusedMultiplyAdd(y, x1, a01); a02 = Vector256.FusedMultiplyAdd(y, x2, a02);
                            y = Vector256.Load(d1 + q);
                            a10 = Vector256.FusedMultiplyAdd(y, x0, a10); a11 = Vector256.FusedMultiplyAdd(y, x1, a11); a12 = Vector256.FusedMultiplyAdd(y, x2, a12);
                            y = Vector256.Load(d2 + q);
                            a20 = Vector256.FusedMultiplyAdd(y, x0, a20); a21 = Vector256.FusedMultiplyAdd(y, x1, a21); a22 = Vector256.FusedMultiplyAdd(y, x2, a22);
                            y = Vector256.Load(d3 + q);
                            a30 = Vector256.FusedMultiplyAdd(y, x0, a30); a31 = Vector256.FusedMultiplyAdd(y, x1, a31); a32 = Vector256.FusedMultiplyAdd(y, x2, a32);
                        }
                    }
                    float* dst = acc + ((nint)ci * kk + t0) * cs + co0;
                    dst[0] += Vector256.Sum(a00); dst[1] += Vector256.Sum(a10); dst[2] += Vector256.Sum(a20); dst[3] += Vector256.Sum(a30);
                    if (nt > 1) { dst += cs; dst[0] += Vector256.Sum(a01); dst[1] += Vector256.Sum(a11); dst[2] += Vector256.Sum(a21); dst[3] += Vector256.Sum(a31); }
                    if (nt > 2) { dst += cs; dst[0] += Vector256.Sum(a02); dst[1] += Vector256.Sum(a12); dst[2] += Vector256.Sum(a22); dst[3] += Vector256.Sum(a32); }
                }
            }
        }
    }
}
