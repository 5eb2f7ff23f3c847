using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kiln.Kernels;

/// <summary>
/// The geometry of one 2-d convolution in NCHW: the "big" side is the image the kernel slides over (Cb channels, H x W),
/// the "small" side the grid of window positions (Cs channels, Oh x Ow). A convolution maps big to small; its input
/// gradient and the transposed convolution map small to big. The weight is [Cs, Cb/Groups, Kh, Kw] in both cases, which is
/// PyTorch's layout for Conv2d ([out, in/g, kh, kw]) and for ConvTranspose2d ([in, out/g, kh, kw]).
/// </summary>
internal readonly record struct ConvShape(int Cb, int H, int W, int Cs, int Kh, int Kw, int Sh, int Sw, int Ph, int Pw, int Dh, int Dw, int Oh, int Ow, int Groups)
{
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

    /// <summary>First and one-past-last output column ox whose input column ox*stride + off lies in [0, size), clamped to [0, outSize].</summary>
    static void ValidRange(int off, int stride, int size, int outSize, out int lo, out int hi)
    {
        lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
        hi = size - off <= 0 ? 0 : (size - off + stride - 1) / stride;
        hi = Math.Min(hi, outSize);
        lo = Math.Min(lo, hi);
    }

    /// <summary>
    /// Unfolds one big-side image x [Cb, H, W] into cols [Cb*Kh*Kw, Oh*Ow] (row stride ld): row (c*Kh + i)*Kw + j, column
    /// oy*Ow + ox holds x[c, oy*Sh - Ph + i*Dh, ox*Sw - Pw + j*Dw], zero outside the image.
    /// </summary>
    internal static void Im2Col(float* x, in ConvShape s, float* cols, nint ld)
    {
        int kk = s.Kh * s.Kw, ow = s.Ow;
        for (int c = 0; c < s.Cb; c++)
        {
            float* xc = x + (nint)c * s.H * s.W;
            for (int ki = 0; ki < s.Kh; ki++)
                for (int kj = 0; kj < s.Kw; kj++)
                {
                    float* dst = cols + (nint)(c * kk + ki * s.Kw + kj) * ld;
                    int offX = kj * s.Dw - s.Pw;
                    ValidRange(offX, s.Sw, s.W, ow, out int lo, out int hi);
                    for (int oy = 0; oy < s.Oh; oy++, dst += ow)
                    {
                        int iy = oy * s.Sh - s.Ph + ki * s.Dh;
                        if ((uint)iy >= (uint)s.H)
                        {
                            new Span<float>(dst, ow).Clear();
                            continue;
                        }
                        float* src = xc + (nint)iy * s.W + offX;
                        if (lo > 0) new Span<float>(dst, lo).Clear();
                        if (s.Sw == 1) new ReadOnlySpan<float>(src + lo, hi - lo).CopyTo(new Span<float>(dst + lo, hi - lo));
                        else if (s.Sw == 2) for (int ox = lo; ox < hi; ox++) dst[ox] = src[2 * ox];
                        else for (int ox = lo; ox < hi; ox++) dst[ox] = src[(nint)ox * s.Sw];
                        if (hi < ow) new Span<float>(dst + hi, ow - hi).Clear();
                    }
                }
        }
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: adds every column entry of cols (row stride ld) back into its image pixel of x [Cb, H, W].</summary>
    internal static void Col2Im(float* cols, nint ld, in ConvShape s, float* x)
    {
        int kk = s.Kh * s.Kw, ow = s.Ow;
        for (int c = 0; c < s.Cb; c++)
        {
            float* xc = x + (nint)c * s.H * s.W;
            for (int ki = 0; ki < s.Kh; ki++)
                for (int kj = 0; kj < s.Kw; kj++)
                {
                    float* src = cols + (nint)(c * kk + ki * s.Kw + kj) * ld;
                    int offX = kj * s.Dw - s.Pw;
                    ValidRange(offX, s.Sw, s.W, ow, out int lo, out int hi);
                    for (int oy = 0; oy < s.Oh; oy++, src += ow)
                    {
                        int iy = oy * s.Sh - s.Ph + ki * s.Dh;
                        if ((uint)iy >= (uint)s.H) continue;
                        float* dst = xc + (nint)iy * s.W + offX;
                        if (s.Sw == 1) AddTo(src + lo, dst + lo, hi - lo);
                        else for (int ox = lo; ox < hi; ox++) dst[(nint)ox * s.Sw] += src[ox];
                    }
                }
        }
    }

    /// <summary>y[i] += x[i] for i &lt; n.</summary>
    static void AddTo(float* x, float* y, int n)
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
        Threading.For(n, i => Im2Col(big + i * bigSize, s, cols + i * colSize, s.L), ParallelImages(s, n));
    }

    /// <summary>F.fold: for each of n images, sums cols [K, L] into big [Cb,H,W] (which the caller zeroed).</summary>
    internal static void Fold(ConvShape s, int n, float* cols, float* big)
    {
        long bigSize = s.BigSize, colSize = (long)s.K * s.L;
        Threading.For(n, i => Col2Im(cols + i * colSize, s.L, s, big + i * bigSize), ParallelImages(s, n));
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
        int nb = ImagesPerChunk(s, n, TargetColumns), chunks = (n + nb - 1) / nb;
        Threading.For(chunks, chunk =>
        {
            int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, ld = cnt * l, csg = s.CsG, kg = s.Kg;
            var ws = Workspace.Get((long)s.K * ld, cnt > 1 ? (long)s.Cs * ld : 0);
            for (int i = 0; i < cnt; i++) Im2Col(big + (long)(n0 + i) * s.BigSize, s, ws.Cols + (nint)i * l, ld);
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
        int nb = ImagesPerChunk(s, n, TargetColumns), chunks = (n + nb - 1) / nb;
        Threading.For(chunks, chunk =>
        {
            int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, ld = cnt * l, csg = s.CsG, kg = s.Kg;
            var ws = Workspace.Get((long)s.K * ld, cnt > 1 ? (long)s.Cs * ld : 0);
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
                Col2Im(ws.Cols + (nint)i * l, ld, s, dst);
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
    const int MaxSlots = 4;

    /// <summary>
    /// Weight (and bias) gradient: dw [Cs, Kg] = Σ_i small[i] · im2col(big[i])ᵀ (per group), dbias [Cs] = Σ_i Σ_positions small[i]
    /// (when dbias is not null). Both are overwritten. Images are split into up to four fixed ranges whose partial sums are
    /// added in order.
    /// </summary>
    internal static void WeightGrad(ConvShape s, int n, float* small, float* big, float* dw, float* dbias)
    {
        int nb = ImagesPerChunk(s, n, TargetColumns * 4), chunks = (n + nb - 1) / nb, slots = Math.Min(chunks, MaxSlots);
        long wSize = (long)s.Cs * s.Kg;
        if (chunks == 0)
        {
            new Span<float>(dw, (int)wSize).Clear();
            if (dbias != null) new Span<float>(dbias, s.Cs).Clear();
            return;
        }
        var partial = slots > 1 ? new float[(slots - 1) * (wSize + s.Cs)] : null;
        fixed (float* pp = partial)
        {
            float* parts = pp;
            Threading.For(slots, slot =>
            {
                float* sdw = slot == 0 ? dw : parts + (slot - 1) * (wSize + s.Cs);
                float* sdb = slot == 0 ? dbias : sdw + wSize;
                if (sdb != null) new Span<float>(sdb, s.Cs).Clear();
                int c0 = (int)((long)chunks * slot / slots), c1 = (int)((long)chunks * (slot + 1) / slots);
                for (int chunk = c0; chunk < c1; chunk++)
                {
                    int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, ld = cnt * l, csg = s.CsG, kg = s.Kg;
                    var ws = Workspace.Get((long)s.K * ld, cnt > 1 ? (long)s.Cs * ld : 0);
                    float* src = GatherSmall(s, small, n0, cnt, ws.Tmp);
                    for (int i = 0; i < cnt; i++) Im2Col(big + (long)(n0 + i) * s.BigSize, s, ws.Cols + (nint)i * l, ld);
                    for (int g = 0; g < s.Groups; g++)
                        Gemm.Sgemm(false, true, csg, kg, ld, src + (nint)g * csg * ld, ld, ws.Cols + (nint)g * kg * ld, ld,
                            sdw + (nint)g * csg * kg, kg, accumulate: chunk > c0);
                    if (sdb != null)
                        for (int c = 0; c < s.Cs; c++) sdb[c] += System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(src + (nint)c * ld, ld));
                }
            });
            for (int slot = 1; slot < slots; slot++)
            {
                float* sdw = parts + (slot - 1) * (wSize + s.Cs);
                System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(dw, (int)wSize), new ReadOnlySpan<float>(sdw, (int)wSize), new Span<float>(dw, (int)wSize));
                if (dbias != null)
                    System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(dbias, s.Cs), new ReadOnlySpan<float>(sdw + wSize, s.Cs), new Span<float>(dbias, s.Cs));
            }
        }
    }

    /// <summary>Per-thread 64-byte-aligned buffers (the column matrix and a small-side staging matrix), grown on demand and reused.</summary>
    sealed class Workspace
    {
        [ThreadStatic] static Workspace? t_current;

        public float* Cols, Tmp;
        long _capCols, _capTmp;

        public static Workspace Get(long cols, long tmp)
        {
            var ws = t_current ??= new Workspace();
            Ensure(ref ws.Cols, ref ws._capCols, cols);
            Ensure(ref ws.Tmp, ref ws._capTmp, tmp);
            return ws;
        }

        static void Ensure(ref float* p, ref long cap, long need)
        {
            if (need <= cap) return;
            NativeMemory.AlignedFree(p);
            p = null;
            cap = 0;
            p = (float*)NativeMemory.AlignedAlloc((nuint)(Math.Max(need, 16) * sizeof(float)), 64);
            cap = need;
        }

        ~Workspace()
        {
            NativeMemory.AlignedFree(Cols);
            NativeMemory.AlignedFree(Tmp);
        }
    }
}
