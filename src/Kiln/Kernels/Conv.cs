using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Kernels;

/// <summary>
/// The geometry of one 2-d convolution in NCHW: the "big" side is the image the kernel slides over (Cb channels, H x W),
/// the "small" side the grid of window positions (Cs channels, Oh x Ow). A convolution maps big to small; its input
/// gradient and the transposed convolution map small to big. The weight is [Cs, Cb/Groups, Kh, Kw] in both cases, which is
/// PyTorch's layout for Conv2d ([out, in/g, kh, kw]) and for ConvTranspose2d ([in, out/g, kh, kw]).
/// </summary>
internal readonly record struct ConvShape(int Cb, int H, int W, int Cs, int Kh, int Kw, int Sh, int Sw, int Ph, int Pw, int Dh, int Dw, int Oh, int Ow, int Groups)
{
    /// <summary>A 1x1, stride-1, unpadded convolution: a matrix product per image, whose im2col is the image itself.</summary>
    public bool Pointwise => Kh == 1 && Kw == 1 && Sh == 1 && Sw == 1 && Ph == 0 && Pw == 0;
    /// <summary>Window positions per image (columns of the im2col matrix).</summary>
    public int L => Oh * Ow;
    /// <summary>Rows of the im2col matrix: Cb * Kh * Kw.</summary>
    public int K => Cb * Kh * Kw;
    /// <summary>Rows of the im2col matrix that one group's weights see.</summary>
    public int Kg => Cb / Groups * Kh * Kw;
    /// <summary>Small-side channels per group.</summary>
    public int CsG => Cs / Groups;
    /// <summary>Floats in one big-side image.</summary>
    public int BigSize => Cb * H * W;
    /// <summary>Floats in one small-side image.</summary>
    public int SmallSize => Cs * Oh * Ow;

    /// <summary>PyTorch's output size: (n + 2p - d(k-1) - 1) / s + 1.</summary>
    public static int OutSize(int n, int k, int s, int p, int d) => (n + 2 * p - d * (k - 1) - 1) / s + 1;
}

/// <summary>
/// Convolution kernels on contiguous NCHW float buffers: im2col/col2im and the three products a convolution needs
/// (forward, transposed/input-gradient, weight gradient), each as im2col + <see cref="Gemm"/>. Work is split over groups
/// of images (a function of the shape alone, so results do not depend on the thread count); each thread owns its column
/// workspace, so steady-state calls allocate nothing large.
/// </summary>
internal static unsafe class Conv
{
    /// <summary>Target GEMM width (images x positions) per chunk: enough columns for the packed/direct kernels to run at speed.</summary>
    internal static int TargetColumns = 512;

    /// <summary>Largest per-thread column workspace a chunk may take (floats; 4 MiB), beyond which a chunk holds one image.</summary>
    internal static long MaxChunkFloats = 1L << 20;

    /// <summary>Images per chunk for n images: about <see cref="TargetColumns"/> columns, at least 4 chunks when n allows, within the workspace cap.</summary>
    internal static int ImagesPerChunk(in ConvShape s, int n, int target)
    {
        int l = Math.Max(1, s.L);
        long nb = (target + l - 1) / l;
        nb = Math.Min(nb, Math.Max(1, MaxChunkFloats / Math.Max(1L, (long)s.K * l)));
        nb = Math.Min(nb, Math.Max(1, n / 4));
        return (int)Math.Clamp(nb, 1, Math.Max(1, n));
    }

    // ---- im2col / col2im ---------------------------------------------------------------------------------------------

    /// <summary>
    /// What im2col/col2im precompute once per call from the geometry: the zero-padded plane size Hp x Wp (the image is
    /// copied into a padded per-thread buffer when there is padding, so the inner loops have no bounds checks), and the
    /// offset of every window position (oy*Sh*Wp + ox*Sw) in that plane, shared by all channels and kernel taps.
    /// </summary>
    internal sealed class Plan
    {
        public readonly int Hp, Wp;
        public readonly bool Padded;
        readonly int[] _offsets;

        public Plan(in ConvShape s)
        {
            Padded = s.Ph > 0 || s.Pw > 0;
            Hp = Math.Max(s.H + 2 * s.Ph, (s.Oh - 1) * s.Sh + (s.Kh - 1) * s.Dh + 1);
            Wp = Math.Max(s.W + 2 * s.Pw, (s.Ow - 1) * s.Sw + (s.Kw - 1) * s.Dw + 1);
            if (!Padded && (Hp != s.H || Wp != s.W)) Padded = true;
            // The stride-2 fill reads 32-float runs past a row's last window: it works on the padded copy, which has slack.
            if (s.Sw == 2 && Avx512F.IsSupported) Padded = true;
            _offsets = GC.AllocateArray<int>(Math.Max(1, s.L), pinned: true);
            for (int oy = 0, t = 0; oy < s.Oh; oy++)
                for (int ox = 0; ox < s.Ow; ox++, t++) _offsets[t] = oy * s.Sh * Wp + ox * s.Sw;
        }

        /// <summary>Floats of one padded image (0 when the image is used in place).</summary>
        public long PadFloats(in ConvShape s) => Padded ? (long)s.Cb * Hp * Wp + PadSlack : 0;

        /// <summary>Zeroed floats after the padded image, so vector reads that run past its last row stay in the buffer.</summary>
        public const int PadSlack = 64;

        /// <summary>The offsets (pinned, so the pointer stays valid while this plan is alive).</summary>
        public int* Offsets => (int*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_offsets));
    }

    /// <summary>Copies x [Cb, H, W] into pad [Cb, hp, wp] at row Ph, column Pw, zeroing everything around it.</summary>
    internal static void PadCopy(float* x, in ConvShape s, int hp, int wp, float* pad)
    {
        for (int c = 0; c < s.Cb; c++)
        {
            float* dst = pad + (nint)c * hp * wp, src = x + (nint)c * s.H * s.W;
            new Span<float>(dst, s.Ph * wp + s.Pw).Clear();
            for (int y = 0; y < s.H; y++)
            {
                float* row = dst + (nint)(y + s.Ph) * wp + s.Pw;
                new ReadOnlySpan<float>(src + (nint)y * s.W, s.W).CopyTo(new Span<float>(row, s.W));
                // right border of this row and left border of the next
                new Span<float>(row + s.W, y + 1 < s.H ? wp - s.W : (hp - s.Ph - s.H) * wp + wp - s.W - s.Pw).Clear();
            }
        }
    }

    /// <summary>
    /// Unfolds one big-side image x [Cb, H, W] into cols [Cb*Kh*Kw, Oh*Ow] (row stride ld): row (c*Kh + i)*Kw + j, column
    /// oy*Ow + ox holds x[c, oy*Sh - Ph + i*Dh, ox*Sw - Pw + j*Dw], zero outside the image. pad is a per-thread buffer of
    /// <see cref="Plan.PadFloats"/> floats.
    /// </summary>
    internal static void Im2Col(float* x, in ConvShape s, Plan p, float* cols, nint ld, float* pad)
    {
        float* src = x;
        int wp = s.W, plane = s.H * s.W;
        if (p.Padded)
        {
            PadCopy(x, s, p.Hp, p.Wp, pad);
            new Span<float>(pad + (nint)s.Cb * p.Hp * p.Wp, Plan.PadSlack).Clear();
            src = pad;
            wp = p.Wp;
            plane = p.Hp * p.Wp;
        }
        int kk = s.Kh * s.Kw, ow = s.Ow, oh = s.Oh, l = s.L;
        int* off = p.Offsets;
        for (int c = 0; c < s.Cb; c++)
            for (int ki = 0; ki < s.Kh; ki++)
                for (int kj = 0; kj < s.Kw; kj++)
                {
                    float* b = src + (nint)c * plane + (nint)ki * s.Dh * wp + kj * s.Dw;
                    float* dst = cols + (nint)(c * kk + ki * s.Kw + kj) * ld;
                    if (s.Sw == 1)
                    {
                        nint rowStep = (nint)s.Sh * wp;
                        for (int oy = 0; oy < oh; oy++) CopyRow(b + oy * rowStep, dst + (nint)oy * ow, ow);
                    }
                    else if (s.Sw == 2 && Avx512F.IsSupported)
                    {
                        // Even lanes of two vectors (32 consecutive inputs) are 16 consecutive windows: one permute, no gather.
                        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                        nint rowStep = (nint)s.Sh * wp;
                        for (int oy = 0; oy < oh; oy++)
                        {
                            float* rs = b + oy * rowStep, d = dst + (nint)oy * ow;
                            for (int ox = 0; ox < ow; ox += 16)
                            {
                                var v = Avx512F.PermuteVar16x32x2(Vector512.Load(rs + 2 * ox), even, Vector512.Load(rs + 2 * ox + 16));
                                if (ox + 16 <= ow) v.Store(d + ox);
                                else Avx512F.MaskStore(d + ox, Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(ow - ox)).AsSingle(), v);
                            }
                        }
                    }
                    else
                    {
                        int t = 0;
                        if (Avx2.IsSupported)
                            for (; t + 8 <= l; t += 8) Avx.Store(dst + t, Avx2.GatherVector256(b, Avx.LoadVector256(off + t), 4));
                        for (; t < l; t++) dst[t] = b[off[t]];
                    }
                }
    }

    /// <summary>
    /// The adjoint of <see cref="Im2Col"/>: adds every column entry of cols (row stride ld) into its image pixel of
    /// x [Cb, H, W] (entries that fall in the padding are dropped). pad is a per-thread buffer of <see cref="Plan.PadFloats"/> floats.
    /// </summary>
    internal static void Col2Im(float* cols, nint ld, in ConvShape s, Plan p, float* x, float* pad)
    {
        float* dstImg = x;
        int wp = s.W, plane = s.H * s.W;
        if (p.Padded)
        {
            new Span<float>(pad, (int)p.PadFloats(s)).Clear();
            dstImg = pad;
            wp = p.Wp;
            plane = p.Hp * p.Wp;
        }
        int kk = s.Kh * s.Kw, ow = s.Ow, oh = s.Oh, l = s.L;
        int* off = p.Offsets;
        for (int c = 0; c < s.Cb; c++)
            for (int ki = 0; ki < s.Kh; ki++)
                for (int kj = 0; kj < s.Kw; kj++)
                {
                    float* b = dstImg + (nint)c * plane + (nint)ki * s.Dh * wp + kj * s.Dw;
                    float* src = cols + (nint)(c * kk + ki * s.Kw + kj) * ld;
                    if (s.Sw == 1)
                    {
                        nint rowStep = (nint)s.Sh * wp;
                        for (int oy = 0; oy < oh; oy++) AddTo(src + (nint)oy * ow, b + oy * rowStep, ow);
                    }
                    else
                        for (int t = 0; t < l; t++) b[off[t]] += src[t];
                }
        if (p.Padded)
            for (int c = 0; c < s.Cb; c++)
                for (int y = 0; y < s.H; y++)
                    AddTo(pad + ((nint)c * p.Hp + y + s.Ph) * p.Wp + s.Pw, x + ((nint)c * s.H + y) * s.W, s.W);
    }

    /// <summary>dst[i] = src[i] for i &lt; n, inline (short rows: a call per row would cost as much as the copy).</summary>
    internal static void CopyRow(float* src, float* dst, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) Vector512.Load(src + i).Store(dst + i);
        for (; i + 8 <= n; i += 8) Vector256.Load(src + i).Store(dst + i);
        for (; i < n; i++) dst[i] = src[i];
    }

    /// <summary>y[i] += x[i] for i &lt; n, inline.</summary>
    internal static void AddTo(float* x, float* y, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) (Vector512.Load(x + i) + Vector512.Load(y + i)).Store(y + i);
        for (; i + 8 <= n; i += 8) (Vector256.Load(x + i) + Vector256.Load(y + i)).Store(y + i);
        for (; i < n; i++) y[i] += x[i];
    }

    /// <summary>F.unfold: for each of n images, big [Cb,H,W] -> cols [K, L] at cols + image*K*L.</summary>
    internal static void Unfold(ConvShape s, int n, float* big, float* cols)
    {
        long bigSize = s.BigSize, colSize = (long)s.K * s.L;
        var p = new Plan(s);
        Threading.For(n, i => Im2Col(big + i * bigSize, s, p, cols + i * colSize, s.L, Workspace.Get(0, 0, p.PadFloats(s)).Pad), ParallelImages(s, n));
        GC.KeepAlive(p);
    }

    /// <summary>F.fold: for each of n images, sums cols [K, L] into big [Cb,H,W] (which the caller zeroed).</summary>
    internal static void Fold(ConvShape s, int n, float* cols, float* big)
    {
        long bigSize = s.BigSize, colSize = (long)s.K * s.L;
        var p = new Plan(s);
        Threading.For(n, i => Col2Im(cols + i * colSize, s.L, s, p, big + i * bigSize, Workspace.Get(0, 0, p.PadFloats(s)).Pad), ParallelImages(s, n));
        GC.KeepAlive(p);
    }

    /// <summary>Threads for a per-image loop: one unless the work is worth waking another thread.</summary>
    static int ParallelImages(in ConvShape s, int n) => (long)s.K * s.L * n >= 1L << 16 ? 0 : 1;

    // ---- the three products ------------------------------------------------------------------------------------------

    /// <summary>
    /// Convolution: small[i] = W · im2col(big[i]) (+ bias[c] on channel c) for i &lt; n; big [n, Cb, H, W], w [Cs, Kg],
    /// bias [Cs] or null, small [n, Cs, Oh, Ow] (written).
    /// </summary>
    internal static void Forward(ConvShape s, int n, float* big, float* w, float* bias, float* small)
    {
        if (ConvWinograd.Applies(s))
        {
            ConvWinograd.Forward(s, n, big, ConvWinograd.PackWeights(s, w, flip: false), bias, small);
            return;
        }
        if (ConvBatched.Applies(s))
        {
            ConvBatched.Forward(s, n, big, w, bias, small);
            return;
        }
        if (ConvDirect.Applies(s))
        {
            ConvDirect.Forward(s, n, big, ConvDirect.PackWeights(s, w, flip: false), bias, small);
            return;
        }
        if (ConvRows.AppliesForward(s))
        {
            ConvRows.Forward(s, n, big, w, bias, small);
            return;
        }
        int nb = ImagesPerChunk(s, n, TargetColumns), chunks = (n + nb - 1) / nb;
        var p = new Plan(s);
        Threading.For(chunks, chunk =>
        {
            int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, ld = cnt * l, csg = s.CsG, kg = s.Kg;
            var ws = Workspace.Get((long)s.K * ld, cnt > 1 ? (long)s.Cs * ld : 0, p.PadFloats(s));
            for (int i = 0; i < cnt; i++) Im2Col(big + (long)(n0 + i) * s.BigSize, s, p, ws.Cols + (nint)i * l, ld, ws.Pad);
            float* outp = cnt == 1 ? small + (long)n0 * s.SmallSize : ws.Tmp;
            if (cnt == 1 && bias != null)
                for (int c = 0; c < s.Cs; c++) new Span<float>(outp + (nint)c * l, l).Fill(bias[c]);
            for (int g = 0; g < s.Groups; g++)
                Gemm.Sgemm(false, false, csg, ld, kg, w + (nint)g * csg * kg, kg, ws.Cols + (nint)g * kg * ld, ld,
                    outp + (nint)g * csg * ld, ld, accumulate: cnt == 1 && bias != null);
            if (cnt > 1)
                for (int i = 0; i < cnt; i++)
                {
                    float* dst = small + (long)(n0 + i) * s.SmallSize;
                    for (int c = 0; c < s.Cs; c++)
                    {
                        var from = new ReadOnlySpan<float>(outp + (nint)c * ld + (nint)i * l, l);
                        var to = new Span<float>(dst + (nint)c * l, l);
                        if (bias == null) from.CopyTo(to);
                        else System.Numerics.Tensors.TensorPrimitives.Add(from, bias[c], to);
                    }
                }
        });
    }

    /// <summary>
    /// Transposed convolution (the convolution's input gradient): big[i] = col2im(Wᵀ · small[i]) (+ bias[c] on big channel c);
    /// small [n, Cs, Oh, Ow], w [Cs, Kg], bias [Cb] or null, big [n, Cb, H, W] (written).
    /// </summary>
    internal static void Transposed(ConvShape s, int n, float* small, float* w, float* bias, float* big)
    {
        if (s.Sh == 1 && s.Sw == 1 && s.Groups == 1)
        {
            // Stride 1: the input gradient is a stride-1 convolution of the output gradient padded by d(k-1) - p, with the
            // weight transposed and rotated 180°.
            int ph = s.Dh * (s.Kh - 1) - s.Ph, pw = s.Dw * (s.Kw - 1) - s.Pw;
            var t = new ConvShape(s.Cs, s.Oh, s.Ow, s.Cb, s.Kh, s.Kw, 1, 1, ph, pw, s.Dh, s.Dw, s.H, s.W, 1);
            bool fits = ph >= 0 && pw >= 0 && s.Oh + 2 * ph - s.Dh * (s.Kh - 1) == s.H && s.Ow + 2 * pw - s.Dw * (s.Kw - 1) == s.W;
            if (fits && ConvWinograd.Applies(t))
            {
                ConvWinograd.Forward(t, n, small, ConvWinograd.PackWeights(t, w, flip: true), bias, big);
                return;
            }
            if (fits && !ConvBatched.Applies(s) && ConvDirect.Applies(t))
            {
                ConvDirect.Forward(t, n, small, ConvDirect.PackWeights(t, w, flip: true), bias, big);
                return;
            }
        }
        if (ConvBatched.Applies(s))
        {
            ConvBatched.Transposed(s, n, small, w, bias, big);
            return;
        }
        if (ConvRows.Applies(s))
        {
            ConvRows.Transposed(s, n, small, w, bias, big);
            return;
        }
        int nb = ImagesPerChunk(s, n, TargetColumns), chunks = (n + nb - 1) / nb;
        var p = new Plan(s);
        Threading.For(chunks, chunk =>
        {
            int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, ld = cnt * l, csg = s.CsG, kg = s.Kg;
            var ws = Workspace.Get((long)s.K * ld, cnt > 1 ? (long)s.Cs * ld : 0, p.PadFloats(s));
            float* src = GatherSmall(s, small, n0, cnt, ws.Tmp);
            for (int g = 0; g < s.Groups; g++)
                Gemm.Sgemm(true, false, kg, ld, csg, w + (nint)g * csg * kg, kg, src + (nint)g * csg * ld, ld,
                    ws.Cols + (nint)g * kg * ld, ld);
            int hw = s.H * s.W;
            for (int i = 0; i < cnt; i++)
            {
                float* dst = big + (long)(n0 + i) * s.BigSize;
                if (bias == null) new Span<float>(dst, s.BigSize).Clear();
                else for (int c = 0; c < s.Cb; c++) new Span<float>(dst + (nint)c * hw, hw).Fill(bias[c]);
                Col2Im(ws.Cols + (nint)i * l, ld, s, p, dst, ws.Pad);
            }
        });
    }

    /// <summary>Small-side images n0..n0+cnt as one [Cs, cnt*L] matrix: in place for one image, else gathered into tmp.</summary>
    static float* GatherSmall(in ConvShape s, float* small, int n0, int cnt, float* tmp)
    {
        int l = s.L, ld = cnt * l;
        if (cnt == 1) return small + (long)n0 * s.SmallSize;
        for (int i = 0; i < cnt; i++)
        {
            float* from = small + (long)(n0 + i) * s.SmallSize;
            for (int c = 0; c < s.Cs; c++)
                new ReadOnlySpan<float>(from + (nint)c * l, l).CopyTo(new Span<float>(tmp + (nint)c * ld + (nint)i * l, l));
        }
        return tmp;
    }

    /// <summary>Most partial sums the weight gradient keeps (fixed, so the summation order never depends on the thread count).</summary>
    internal const int MaxSlots = 4;

    /// <summary>One slot of a weight gradient: chunks c0..c1, summed into sdw (and sdb when not null, already zeroed).</summary>
    internal delegate void SlotBody(int c0, int c1, float* sdw, float* sdb);

    /// <summary>
    /// Sums the weight partials of <paramref name="slots"/> slots, slot 0's at first and slot s's at rest + (s - 1)·stride
    /// (rest is null for one slot), in slot order, wherever the caller wants the result.
    /// </summary>
    internal delegate void SlotsReduce(float* first, float* rest, long stride, int slots);

    /// <summary>
    /// Splits chunks into up to <see cref="MaxSlots"/> fixed ranges run over the threads, each summing its own partial weight
    /// gradient (wSize floats) and bias gradient (cs floats, when dbias is not null); slot 0 writes dw and dbias directly and
    /// the others are added to them in slot order, so the result never depends on the thread count. With no chunks both are
    /// zeroed. With <paramref name="reduce"/> the weight partials are summed by it instead (dw holds slot 0's, and the
    /// result is the caller's; the bias partials are still added here).
    /// </summary>
    internal static void InSlots(int chunks, long wSize, int cs, float* dw, float* dbias, SlotBody body, SlotsReduce? reduce = null)
    {
        int slots = Math.Min(chunks, MaxSlots);
        if (chunks == 0)
        {
            new Span<float>(dw, (int)wSize).Clear();
            if (dbias != null) new Span<float>(dbias, cs).Clear();
            reduce?.Invoke(dw, null, 0, 1);
            return;
        }
        var partial = slots > 1 ? Scratch.Partials((slots - 1) * (wSize + cs)) : null;
        fixed (float* pp = partial)
        {
            float* parts = pp;
            Threading.For(slots, slot =>
            {
                float* sdw = slot == 0 ? dw : parts + (slot - 1) * (wSize + cs);
                float* sdb = dbias == null ? null : slot == 0 ? dbias : sdw + wSize;
                if (sdb != null) new Span<float>(sdb, cs).Clear();
                body((int)((long)chunks * slot / slots), (int)((long)chunks * (slot + 1) / slots), sdw, sdb);
            });
            reduce?.Invoke(dw, parts, wSize + cs, slots);
            for (int slot = 1; slot < slots; slot++)
            {
                float* sdw = parts + (slot - 1) * (wSize + cs);
                if (reduce == null)
                    System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(dw, (int)wSize), new ReadOnlySpan<float>(sdw, (int)wSize), new Span<float>(dw, (int)wSize));
                if (dbias != null)
                    System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(dbias, cs), new ReadOnlySpan<float>(sdw + wSize, cs), new Span<float>(dbias, cs));
            }
        }
    }

    /// <summary>
    /// Weight (and bias) gradient: dw [Cs, Kg] = Σ_i small[i] · im2col(big[i])ᵀ (per group), dbias [Cs] = Σ_i Σ_positions small[i]
    /// (when dbias is not null). Both are overwritten. Images are split into up to four fixed ranges whose partial sums are
    /// added in order.
    /// </summary>
    internal static void WeightGrad(ConvShape s, int n, float* small, float* big, float* dw, float* dbias)
    {
        if (ConvWinograd.Applies(s))
        {
            ConvWinograd.WeightGrad(s, n, small, big, dw, dbias);
            return;
        }
        if (ConvBatched.WeightGradApplies(s))
        {
            ConvBatched.WeightGrad(s, n, small, big, dw, dbias);
            return;
        }
        if (ConvDirect.WeightGradWrappedApplies(s))
        {
            ConvDirect.WeightGradWrapped(s, n, small, big, dw, dbias);
            return;
        }
        if (ConvDirect.WeightGradApplies(s))
        {
            ConvDirect.WeightGrad(s, n, small, big, dw, dbias);
            return;
        }
        if (ConvRows.Applies(s))
        {
            ConvRows.WeightGrad(s, n, small, big, dw, dbias);
            return;
        }
        int nb = ImagesPerChunk(s, n, 4 * TargetColumns), chunks = (n + nb - 1) / nb;
        var p = chunks > 0 ? new Plan(s) : null;
        InSlots(chunks, (long)s.Cs * s.Kg, s.Cs, dw, dbias, (c0, c1, sdw, sdb) =>
        {
            for (int chunk = c0; chunk < c1; chunk++)
            {
                int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, ld = cnt * l, csg = s.CsG, kg = s.Kg;
                var ws = Workspace.Get((long)s.K * ld, cnt > 1 ? (long)s.Cs * ld : 0, p!.PadFloats(s));
                float* src = GatherSmall(s, small, n0, cnt, ws.Tmp);
                for (int i = 0; i < cnt; i++) Im2Col(big + (long)(n0 + i) * s.BigSize, s, p, ws.Cols + (nint)i * l, ld, ws.Pad);
                for (int g = 0; g < s.Groups; g++)
                    Gemm.Sgemm(false, true, csg, kg, ld, src + (nint)g * csg * ld, ld, ws.Cols + (nint)g * kg * ld, ld,
                        sdw + (nint)g * csg * kg, kg, accumulate: chunk > c0);
                if (sdb != null)
                    for (int c = 0; c < s.Cs; c++) sdb[c] += System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(src + (nint)c * ld, ld));
            }
        });
    }

    /// <summary>
    /// Weight-sized buffers reused across calls (on the calling thread; worker threads only use them during the call): the
    /// packed or reordered weight, and the weight gradient's partial sums. Pinned, so kernels can hold pointers into them.
    /// </summary>
    internal static class Scratch
    {
        [ThreadStatic] static float[]? t_weights, t_partials;

        /// <summary>A buffer of at least n floats for a repacked weight (contents undefined).</summary>
        public static float[] Weights(long n) => Get(ref t_weights, n);

        /// <summary>A buffer of at least n floats for partial sums (contents undefined).</summary>
        public static float[] Partials(long n) => Get(ref t_partials, n);

        static float[] Get(ref float[]? buf, long n)
        {
            if (buf == null || buf.Length < n) buf = GC.AllocateUninitializedArray<float>((int)Math.Max(n, 16), pinned: true);
            return buf;
        }
    }

    /// <summary>
    /// Per-thread 64-byte-aligned buffers shared by the convolution kernels, grown on demand and reused: the column (or
    /// im2row) matrix, a small-side staging matrix, and the padded image.
    /// </summary>
    internal sealed class Workspace : ThreadBuffers
    {
        [ThreadStatic] static Workspace? t_current;

        public float* Cols => P0;
        public float* Tmp => P1;
        public float* Pad => P2;

        public static Workspace Get(long cols, long tmp, long pad)
        {
            var ws = t_current ??= new Workspace();
            ws.Ensure(cols, tmp, pad);
            return ws;
        }
    }
}
