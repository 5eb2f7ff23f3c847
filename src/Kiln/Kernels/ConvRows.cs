using System.Numerics.Tensors;

namespace Kiln.Kernels;

/// <summary>
/// Channels-last convolution for strided layers with many input channels (lesson 15's stride-2 layers): each image is
/// transposed once into a zero-padded [Hp, Wp, C] copy, so a window's values for one kernel tap are C contiguous floats and
/// im2col becomes one row per window position ("im2row": [positions, Kh·Kw·C], copied a vector at a time instead of
/// gathered element by element), and col2im adds whole rows back. The products run on <see cref="Gemm"/> with the weight
/// reordered to [out, Kh·Kw·C]. Images are grouped into chunks of about <see cref="Conv.TargetColumns"/> positions split over
/// threads (a function of the shape alone, so results do not depend on the thread count).
/// </summary>
internal static unsafe class ConvRows
{
    /// <summary>Whether this path applies to the input gradient and weight gradient: one group and at least 8 big-side channels
    /// (a tap's run of channels fills vectors), not pointwise (1x1 layers gain nothing from the transposition).</summary>
    internal static bool Applies(in ConvShape s) => s.Groups == 1 && s.Cb >= MinChannels && !s.Pointwise;

    /// <summary>Whether it applies to the forward: from 32 big-side channels (measured at 16 channels, layer (b), the im2col
    /// forward was as fast or faster; at 64 and 128, layers (c) and (e), the channels-last one was ~20-30 % faster).</summary>
    internal static bool AppliesForward(in ConvShape s) => s.Groups == 1 && s.Cb >= MinForwardChannels && !s.Pointwise;

    /// <summary>Fewest big-side channels for the channels-last input and weight gradients.</summary>
    internal static int MinChannels = 8;

    /// <summary>Fewest big-side channels for the channels-last forward.</summary>
    internal static int MinForwardChannels = 32;

    /// <summary>w [Cs, Cb, Kh, Kw] -> [Cs, Kh, Kw, Cb] (the row order of im2row).</summary>
    internal static float[] ReorderWeights(in ConvShape s, float* w)
    {
        int kk = s.Kh * s.Kw;
        var r = Conv.Scratch.Weights((long)s.Cs * s.K);
        for (int co = 0; co < s.Cs; co++)
            for (int c = 0; c < s.Cb; c++)
                for (int t = 0; t < kk; t++) r[((nint)co * kk + t) * s.Cb + c] = w[((nint)co * s.Cb + c) * kk + t];
        return r;
    }

    static int Hp(in ConvShape s) => Math.Max(s.H + 2 * s.Ph, (s.Oh - 1) * s.Sh + (s.Kh - 1) * s.Dh + 1);
    static int Wp(in ConvShape s) => Math.Max(s.W + 2 * s.Pw, (s.Ow - 1) * s.Sw + (s.Kw - 1) * s.Dw + 1);

    /// <summary>x [Cb, H, W] -> pad [Hp, Wp, Cb] with zeros around.</summary>
    static void ToPaddedRows(float* x, in ConvShape s, int hp, int wp, float* pad)
    {
        new Span<float>(pad, hp * wp * s.Cb).Clear();
        int hw = s.H * s.W, cb = s.Cb;
        for (int y = 0; y < s.H; y++)
            for (int xx = 0; xx < s.W; xx++)
            {
                float* dst = pad + ((nint)(y + s.Ph) * wp + xx + s.Pw) * cb;
                float* src = x + (nint)y * s.W + xx;
                for (int c = 0; c < cb; c++) dst[c] = src[(nint)c * hw];
            }
    }

    /// <summary>im2row of one padded image: rows [L, Kh·Kw·Cb] at a (row stride K).</summary>
    static void Im2Row(float* pad, in ConvShape s, int wp, float* a)
    {
        int cb = s.Cb, k = s.K;
        for (int oy = 0, r = 0; oy < s.Oh; oy++)
            for (int ox = 0; ox < s.Ow; ox++, r++)
            {
                float* dst = a + (nint)r * k;
                for (int ki = 0; ki < s.Kh; ki++)
                {
                    float* src = pad + ((nint)(oy * s.Sh + ki * s.Dh) * wp + ox * s.Sw) * cb;
                    for (int kj = 0; kj < s.Kw; kj++, dst += cb)
                        Conv.CopyRow(src + (nint)kj * s.Dw * cb, dst, cb);
                }
            }
    }

    /// <summary>The adjoint of <see cref="Im2Row"/>: adds rows [L, K] into the padded image pad [Hp, Wp, Cb].</summary>
    static void Row2Im(float* a, in ConvShape s, int wp, float* pad)
    {
        int cb = s.Cb, k = s.K;
        for (int oy = 0, r = 0; oy < s.Oh; oy++)
            for (int ox = 0; ox < s.Ow; ox++, r++)
            {
                float* src = a + (nint)r * k;
                for (int ki = 0; ki < s.Kh; ki++)
                {
                    float* dst = pad + ((nint)(oy * s.Sh + ki * s.Dh) * wp + ox * s.Sw) * cb;
                    for (int kj = 0; kj < s.Kw; kj++, src += cb) Conv.AddTo(src, dst + (nint)kj * s.Dw * cb, cb);
                }
            }
    }

    /// <summary>small [Cs, L] of one image -> rows [L, Cs] (row stride cs) at t.</summary>
    static void SmallToRows(float* small, in ConvShape s, float* t)
    {
        int l = s.L, cs = s.Cs;
        for (int c = 0; c < cs; c++)
        {
            float* src = small + (nint)c * l;
            for (int p = 0; p < l; p++) t[(nint)p * cs + c] = src[p];
        }
    }

    /// <summary>Chunking: about TargetColumns window positions per chunk, at least 4 chunks when n allows, within the workspace cap.</summary>
    static int ImagesPerChunk(in ConvShape s, int n) => Conv.ImagesPerChunk(s, n, Conv.TargetColumns);

    /// <summary>Convolution: small[i] = W · im2col(big[i]) (+ bias), as <see cref="Conv.Forward"/>, on the channels-last path.</summary>
    internal static void Forward(ConvShape s, int n, float* big, float* w, float* bias, float* small)
    {
        int nb = ImagesPerChunk(s, n), chunks = (n + nb - 1) / nb, hp = Hp(s), wp = Wp(s);
        var wr = ReorderWeights(s, w);
        fixed (float* pwr = wr)
        {
            float* W = pwr;
            Threading.For(chunks, chunk =>
            {
                int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, rows = cnt * l;
                var ws = Conv.Workspace.Get((long)rows * s.K, (long)rows * s.Cs, (long)hp * wp * s.Cb);
                for (int i = 0; i < cnt; i++)
                {
                    ToPaddedRows(big + (long)(n0 + i) * s.BigSize, s, hp, wp, ws.Pad);
                    Im2Row(ws.Pad, s, wp, ws.Cols + (nint)i * l * s.K);
                }
                // Yᵀ [rows, Cs] = A [rows, K] · W'ᵀ
                Gemm.Sgemm(false, true, rows, s.Cs, s.K, ws.Cols, s.K, W, s.K, ws.Tmp, s.Cs);
                for (int i = 0; i < cnt; i++)
                {
                    float* yt = ws.Tmp + (nint)i * l * s.Cs, dst = small + (long)(n0 + i) * s.SmallSize;
                    for (int c = 0; c < s.Cs; c++)
                    {
                        float add = bias == null ? 0f : bias[c];
                        float* d = dst + (nint)c * l;
                        for (int p = 0; p < l; p++) d[p] = yt[(nint)p * s.Cs + c] + add;
                    }
                }
            });
        }
    }

    /// <summary>Transposed convolution / input gradient, as <see cref="Conv.Transposed"/>, on the channels-last path.</summary>
    internal static void Transposed(ConvShape s, int n, float* small, float* w, float* bias, float* big)
    {
        int nb = ImagesPerChunk(s, n), chunks = (n + nb - 1) / nb, hp = Hp(s), wp = Wp(s);
        var wr = ReorderWeights(s, w);
        fixed (float* pwr = wr)
        {
            float* W = pwr;
            Threading.For(chunks, chunk =>
            {
                int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, rows = cnt * l, hw = s.H * s.W;
                var ws = Conv.Workspace.Get((long)rows * s.K, (long)rows * s.Cs, (long)hp * wp * s.Cb);
                for (int i = 0; i < cnt; i++) SmallToRows(small + (long)(n0 + i) * s.SmallSize, s, ws.Tmp + (nint)i * l * s.Cs);
                // dA [rows, K] = dYᵀ [rows, Cs] · W' [Cs, K]
                Gemm.Sgemm(false, false, rows, s.K, s.Cs, ws.Tmp, s.Cs, W, s.K, ws.Cols, s.K);
                for (int i = 0; i < cnt; i++)
                {
                    new Span<float>(ws.Pad, hp * wp * s.Cb).Clear();
                    Row2Im(ws.Cols + (nint)i * l * s.K, s, wp, ws.Pad);
                    float* dst = big + (long)(n0 + i) * s.BigSize;
                    for (int c = 0; c < s.Cb; c++)
                    {
                        float add = bias == null ? 0f : bias[c];
                        float* d = dst + (nint)c * hw;
                        for (int y = 0; y < s.H; y++)
                        {
                            float* src = ws.Pad + ((nint)(y + s.Ph) * wp + s.Pw) * s.Cb + c;
                            for (int xx = 0; xx < s.W; xx++) d[y * s.W + xx] = src[(nint)xx * s.Cb] + add;
                        }
                    }
                }
            });
        }
    }

    /// <summary>Weight and bias gradients, as <see cref="Conv.WeightGrad"/>, on the channels-last path (fixed partial sums, added in order).</summary>
    internal static void WeightGrad(ConvShape s, int n, float* small, float* big, float* dw, float* dbias)
    {
        int nb = ImagesPerChunk(s, n), chunks = (n + nb - 1) / nb, hp = Hp(s), wp = Wp(s), slots = Math.Min(chunks, 4);
        long wSize = (long)s.Cs * s.K;
        if (chunks == 0)
        {
            new Span<float>(dw, (int)wSize).Clear();
            if (dbias != null) new Span<float>(dbias, s.Cs).Clear();
            return;
        }
        // Partial sums in the reordered layout [Cs, Kh, Kw, Cb], slot by slot, then summed in order and reordered.
        var partial = Conv.Scratch.Partials(slots * (wSize + s.Cs));
        fixed (float* pp = partial)
        {
            float* parts = pp;
            Threading.For(slots, slot =>
            {
                float* sdw = parts + slot * (wSize + s.Cs), sdb = sdw + wSize;
                new Span<float>(sdb, s.Cs).Clear();
                int c0 = (int)((long)chunks * slot / slots), c1 = (int)((long)chunks * (slot + 1) / slots);
                for (int chunk = c0; chunk < c1; chunk++)
                {
                    int n0 = chunk * nb, cnt = Math.Min(nb, n - n0), l = s.L, rows = cnt * l;
                    var ws = Conv.Workspace.Get((long)rows * s.K, (long)rows * s.Cs, (long)hp * wp * s.Cb);
                    for (int i = 0; i < cnt; i++)
                    {
                        ToPaddedRows(big + (long)(n0 + i) * s.BigSize, s, hp, wp, ws.Pad);
                        Im2Row(ws.Pad, s, wp, ws.Cols + (nint)i * l * s.K);
                        SmallToRows(small + (long)(n0 + i) * s.SmallSize, s, ws.Tmp + (nint)i * l * s.Cs);
                    }
                    // dW' [Cs, K] += dYᵀᵀ · A = Σ_rows dYᵀ[row, :]ᵀ A[row, :]
                    Gemm.Sgemm(true, false, s.Cs, s.K, rows, ws.Tmp, s.Cs, ws.Cols, s.K, sdw, s.K, accumulate: chunk > c0);
                    if (dbias != null)
                        for (int r = 0; r < rows; r++)
                        {
                            var row = new Span<float>(sdb, s.Cs);
                            TensorPrimitives.Add(row, new ReadOnlySpan<float>(ws.Tmp + (nint)r * s.Cs, s.Cs), row);
                        }
                }
            });
            for (int slot = 1; slot < slots; slot++)
            {
                var acc = new Span<float>(parts, (int)(wSize + s.Cs));
                TensorPrimitives.Add(acc, new ReadOnlySpan<float>(parts + slot * (wSize + s.Cs), (int)(wSize + s.Cs)), acc);
            }
            int kk = s.Kh * s.Kw;
            for (int co = 0; co < s.Cs; co++)
                for (int c = 0; c < s.Cb; c++)
                    for (int t = 0; t < kk; t++) dw[((nint)co * s.Cb + c) * kk + t] = parts[((nint)co * kk + t) * s.Cb + c];
            if (dbias != null) new ReadOnlySpan<float>(parts + wSize, s.Cs).CopyTo(new Span<float>(dbias, s.Cs));
        }
    }
}
