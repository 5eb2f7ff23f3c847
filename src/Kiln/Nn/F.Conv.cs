using Kiln.Kernels;

namespace Kiln.Nn;

/// <summary>A (height, width) pair for kernel sizes, strides, paddings and dilations; a plain int means the same for both (PyTorch's _pair).</summary>
/// <param name="H">The size along the height (rows).</param>
/// <param name="W">The size along the width (columns).</param>
public readonly record struct Size2(int H, int W)
{
    /// <summary>The same size for height and width.</summary>
    public static implicit operator Size2(int size) => new(size, size);

    /// <summary>A (height, width) tuple.</summary>
    public static implicit operator Size2((int H, int W) size) => new(size.H, size.W);

    /// <summary>"3" when both sizes agree, "(3, 5)" otherwise.</summary>
    public override string ToString() => H == W ? H.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"({H}, {W})";
}

public static partial class F
{
    /// <summary>
    /// 2-d convolution (cross-correlation, as PyTorch): input [N, Cin, H, W] (or [Cin, H, W]), weight [Cout, Cin/groups, kh, kw],
    /// bias [Cout] or null; result [N, Cout, (H + 2p - d(k-1) - 1)/s + 1, ...]. Differentiable in input, weight and bias.
    /// </summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias = null, Size2? stride = null, Size2? padding = null, Size2? dilation = null, int groups = 1)
        => Conv2dCore("Conv2d", input, weight, bias, stride ?? 1, padding ?? 0, dilation ?? 1, groups);

    /// <summary>
    /// 1-d convolution: input [N, Cin, L] (or [Cin, L]), weight [Cout, Cin/groups, k], bias [Cout] or null;
    /// result [N, Cout, (L + 2p - d(k-1) - 1)/s + 1]. Differentiable in input, weight and bias.
    /// </summary>
    public static Tensor Conv1d(Tensor input, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0, int dilation = 1, int groups = 1)
    {
        if (input.Dim is not (2 or 3))
            throw new ArgumentException($"Conv1d: expected a 3-d input [N, C, L] (or 2-d [C, L]), got {Shapes.Str(input._shape)}");
        if (weight.Dim != 3)
            throw new ArgumentException($"Conv1d: weight must be 3-d [out, in/groups, k], got {Shapes.Str(weight._shape)}");
        bool unbatched = input.Dim == 2;
        var x = unbatched ? input.Unsqueeze(0) : input;
        CheckChannels("Conv1d", x, weight, groups);
        int k = weight._shape[2], len = x._shape[2];
        if (dilation * (k - 1) + 1 > len + 2 * padding)
            throw new ArgumentException($"Conv1d: kernel size {k} (dilation {dilation}) is larger than the padded input length {len + 2 * padding} (input {Shapes.Str(input._shape)}, padding {padding})");
        var y = Conv2dCore("Conv1d", x.Unsqueeze(2), weight.Unsqueeze(2), bias, (1, stride), (0, padding), (1, dilation), groups).Squeeze(2);
        return unbatched ? y.Squeeze(0) : y;
    }

    /// <summary>
    /// 2-d transposed convolution (the gradient of Conv2d with respect to its input): input [N, Cin, H, W] (or [Cin, H, W]),
    /// weight [Cin, Cout/groups, kh, kw], bias [Cout] or null; result [N, Cout, (H-1)s - 2p + d(k-1) + outputPadding + 1, ...].
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor input, Tensor weight, Tensor? bias = null, Size2? stride = null, Size2? padding = null,
        Size2? outputPadding = null, int groups = 1, Size2? dilation = null)
    {
        const string op = "ConvTranspose2d";
        Size2 st = stride ?? 1, pad = padding ?? 0, opad = outputPadding ?? 0, dil = dilation ?? 1;
        bool unbatched = input.Dim == 3;
        var x = unbatched ? input.Unsqueeze(0) : input;
        if (x.Dim != 4)
            throw new ArgumentException($"{op}: expected a 4-d input [N, C, H, W] (or 3-d [C, H, W]), got {Shapes.Str(input._shape)}");
        if (weight.Dim != 4)
            throw new ArgumentException($"{op}: weight must be 4-d [in, out/groups, kh, kw], got {Shapes.Str(weight._shape)}");
        CheckHyper(op, st, pad, dil, groups);
        int n = x._shape[0], cin = x._shape[1], h = x._shape[2], w = x._shape[3];
        if (weight._shape[0] != cin)
            throw new ArgumentException($"{op}: input {Shapes.Str(input._shape)} has {cin} channels but weight {Shapes.Str(weight._shape)} expects {weight._shape[0]} (weight.shape[0])");
        if (cin % groups != 0)
            throw new ArgumentException($"{op}: input channels {cin} are not divisible by groups {groups}");
        int cout = weight._shape[1] * groups, kh = weight._shape[2], kw = weight._shape[3];
        if (opad.H < 0 || opad.W < 0 || (opad.H >= st.H && opad.H >= dil.H) || (opad.W >= st.W && opad.W >= dil.W))
            throw new ArgumentException($"{op}: outputPadding {opad} must be non-negative and smaller than either stride {st} or dilation {dil}");
        int ho = (h - 1) * st.H - 2 * pad.H + dil.H * (kh - 1) + opad.H + 1;
        int wo = (w - 1) * st.W - 2 * pad.W + dil.W * (kw - 1) + opad.W + 1;
        if (ho <= 0 || wo <= 0)
            throw new ArgumentException($"{op}: the output size {ho}x{wo} is too small (input {Shapes.Str(input._shape)}, weight {Shapes.Str(weight._shape)}, stride {st}, padding {pad}, dilation {dil})");
        if (bias != null && (bias.Dim != 1 || bias._shape[0] != cout))
            throw new ArgumentException($"{op}: bias {Shapes.Str(bias._shape)} must be [{cout}] to match weight {Shapes.Str(weight._shape)} and groups {groups}");

        var s = new ConvShape(cout, ho, wo, cin, kh, kw, st.H, st.W, pad.H, pad.W, dil.H, dil.W, h, w, groups);
        var xc = Contiguous(x);
        var wc = Contiguous(weight);
        var bc = bias == null ? null : Contiguous(bias);
        var y = Tensor.Unfilled([n, cout, ho, wo]);
        unsafe
        {
            fixed (float* px = xc.Storage.Floats, pw = wc.Storage.Floats, py = y.Storage.Floats)
            fixed (float* pb = bc?.Storage.Floats)
                Conv.Transposed(s, n, px + xc._offset, pw + wc._offset, bc == null ? null : pb + bc._offset, py);
        }
        Tensor[] inputs = bias == null ? [x, weight] : [x, weight, bias];
        Tensor.Record(y, op, inputs, g =>
        {
            var gc = Contiguous(g);
            Tensor? gx = null, gw = null, gb = null;
            unsafe
            {
                fixed (float* pg = gc.Storage.Floats, px = xc.Storage.Floats, pw = wc.Storage.Floats)
                {
                    float* g0 = pg + gc._offset;
                    if (x.RequiresGrad)
                    {
                        gx = Tensor.Unfilled(x._shape);
                        fixed (float* pgx = gx.Storage.Floats) Conv.Forward(s, n, g0, pw + wc._offset, null, pgx);
                    }
                    if (weight.RequiresGrad)
                    {
                        gw = Tensor.Unfilled(weight._shape);
                        fixed (float* pgw = gw.Storage.Floats) Conv.WeightGrad(s, n, px + xc._offset, g0, pgw, null);
                    }
                }
            }
            if (bias != null && bias.RequiresGrad) gb = gc.Sum([0, 2, 3]);
            return bias == null ? [gx, gw] : [gx, gw, gb];
        }, x, weight);
        return unbatched ? y.Squeeze(0) : y;
    }

    /// <summary>
    /// Extracts sliding blocks (im2col, PyTorch's F.unfold): input [N, C, H, W] (or [C, H, W]) -> [N, C*kh*kw, L], L the number of
    /// block positions; row (c*kh + i)*kw + j holds channel c at kernel offset (i, j), zero where the block reaches into the padding.
    /// </summary>
    public static Tensor Unfold(Tensor input, Size2 kernelSize, Size2? dilation = null, Size2? padding = null, Size2? stride = null)
    {
        const string op = "Unfold";
        Size2 st = stride ?? 1, pad = padding ?? 0, dil = dilation ?? 1;
        bool unbatched = input.Dim == 3;
        var x = unbatched ? input.Unsqueeze(0) : input;
        if (x.Dim != 4)
            throw new ArgumentException($"{op}: expected a 4-d input [N, C, H, W] (or 3-d [C, H, W]), got {Shapes.Str(input._shape)}");
        CheckHyper(op, st, pad, dil, 1);
        CheckKernel(op, kernelSize);
        int n = x._shape[0], c = x._shape[1], h = x._shape[2], w = x._shape[3];
        CheckFits(op, input, h, w, kernelSize.H, kernelSize.W, pad, dil);
        var s = new ConvShape(c, h, w, 0, kernelSize.H, kernelSize.W, st.H, st.W, pad.H, pad.W, dil.H, dil.W,
            ConvShape.OutSize(h, kernelSize.H, st.H, pad.H, dil.H), ConvShape.OutSize(w, kernelSize.W, st.W, pad.W, dil.W), 1);
        var y = UnfoldRaw(Contiguous(x), s, n);
        Tensor.Record(y, op, x, g => FoldRaw(Contiguous(g), s, n));
        return unbatched ? y.Squeeze(0) : y;
    }

    /// <summary>
    /// Sums sliding blocks back into an image (col2im, PyTorch's F.fold; overlapping entries add up): input [N, C*kh*kw, L]
    /// (or [C*kh*kw, L]) -> [N, C, outputSize.H, outputSize.W]; L must be the number of block positions in that output.
    /// </summary>
    public static Tensor Fold(Tensor input, Size2 outputSize, Size2 kernelSize, Size2? dilation = null, Size2? padding = null, Size2? stride = null)
    {
        const string op = "Fold";
        Size2 st = stride ?? 1, pad = padding ?? 0, dil = dilation ?? 1;
        bool unbatched = input.Dim == 2;
        var x = unbatched ? input.Unsqueeze(0) : input;
        if (x.Dim != 3)
            throw new ArgumentException($"{op}: expected a 3-d input [N, C*kh*kw, L] (or 2-d [C*kh*kw, L]), got {Shapes.Str(input._shape)}");
        CheckHyper(op, st, pad, dil, 1);
        CheckKernel(op, kernelSize);
        if (outputSize.H <= 0 || outputSize.W <= 0)
            throw new ArgumentException($"{op}: outputSize must be positive, got {outputSize}");
        int kk = kernelSize.H * kernelSize.W, n = x._shape[0];
        if (x._shape[1] % kk != 0)
            throw new ArgumentException($"{op}: input {Shapes.Str(input._shape)}: dimension 1 ({x._shape[1]}) must be divisible by the kernel size product {kernelSize.H}*{kernelSize.W} = {kk}");
        int h = outputSize.H, w = outputSize.W;
        CheckFits(op, input, h, w, kernelSize.H, kernelSize.W, pad, dil);
        int oh = ConvShape.OutSize(h, kernelSize.H, st.H, pad.H, dil.H), ow = ConvShape.OutSize(w, kernelSize.W, st.W, pad.W, dil.W);
        if (x._shape[2] != oh * ow)
            throw new ArgumentException($"{op}: input {Shapes.Str(input._shape)} has {x._shape[2]} blocks but an output of {h}x{w} with kernel {kernelSize}, stride {st}, padding {pad}, dilation {dil} has {oh}x{ow} = {oh * ow}");
        var s = new ConvShape(x._shape[1] / kk, h, w, 0, kernelSize.H, kernelSize.W, st.H, st.W, pad.H, pad.W, dil.H, dil.W, oh, ow, 1);
        var y = FoldRaw(Contiguous(x), s, n);
        Tensor.Record(y, op, x, g => UnfoldRaw(Contiguous(g), s, n));
        return unbatched ? y.Squeeze(0) : y;
    }

    /// <summary>Conv2d's checks, forward and recorded backward; op names the public op in error messages.</summary>
    static Tensor Conv2dCore(string op, Tensor input, Tensor weight, Tensor? bias, Size2 st, Size2 pad, Size2 dil, int groups)
    {
        bool unbatched = input.Dim == 3;
        var x = unbatched ? input.Unsqueeze(0) : input;
        if (x.Dim != 4)
            throw new ArgumentException($"{op}: expected a 4-d input [N, C, H, W] (or 3-d [C, H, W]), got {Shapes.Str(input._shape)}");
        if (weight.Dim != 4)
            throw new ArgumentException($"{op}: weight must be 4-d [out, in/groups, kh, kw], got {Shapes.Str(weight._shape)}");
        CheckHyper(op, st, pad, dil, groups);
        CheckChannels(op, x, weight, groups);
        int n = x._shape[0], cin = x._shape[1], h = x._shape[2], w = x._shape[3];
        int cout = weight._shape[0], kh = weight._shape[2], kw = weight._shape[3];
        CheckFits(op, input, h, w, kh, kw, pad, dil);
        if (bias != null && (bias.Dim != 1 || bias._shape[0] != cout))
            throw new ArgumentException($"{op}: bias {Shapes.Str(bias._shape)} must be [{cout}] to match weight {Shapes.Str(weight._shape)}");

        var s = new ConvShape(cin, h, w, cout, kh, kw, st.H, st.W, pad.H, pad.W, dil.H, dil.W,
            ConvShape.OutSize(h, kh, st.H, pad.H, dil.H), ConvShape.OutSize(w, kw, st.W, pad.W, dil.W), groups);
        var xc = Contiguous(x);
        var wc = Contiguous(weight);
        var bc = bias == null ? null : Contiguous(bias);
        var y = Tensor.Unfilled([n, cout, s.Oh, s.Ow]);
        unsafe
        {
            fixed (float* px = xc.Storage.Floats, pw = wc.Storage.Floats, py = y.Storage.Floats)
            fixed (float* pb = bc?.Storage.Floats)
                Conv.Forward(s, n, px + xc._offset, pw + wc._offset, bc == null ? null : pb + bc._offset, py);
        }
        Tensor[] inputs = bias == null ? [x, weight] : [x, weight, bias];
        Tensor.Record(y, op, inputs, g =>
        {
            var gc = Contiguous(g);
            Tensor? gx = null, gw = null, gb = null;
            bool needB = bias != null && bias.RequiresGrad;
            unsafe
            {
                fixed (float* pg = gc.Storage.Floats, px = xc.Storage.Floats, pw = wc.Storage.Floats)
                {
                    float* g0 = pg + gc._offset;
                    if (x.RequiresGrad)
                    {
                        gx = Tensor.Unfilled(x._shape);
                        fixed (float* pgx = gx.Storage.Floats) Conv.Transposed(s, n, g0, pw + wc._offset, null, pgx);
                    }
                    if (weight.RequiresGrad || needB)
                    {
                        gw = Tensor.Unfilled(weight._shape);
                        gb = needB ? Tensor.Unfilled([cout]) : null;
                        fixed (float* pgw = gw.Storage.Floats, pgb = gb?.Storage.Floats)
                            Conv.WeightGrad(s, n, g0, px + xc._offset, pgw, gb == null ? null : pgb);
                        if (!weight.RequiresGrad) gw = null;
                    }
                }
            }
            return bias == null ? [gx, gw] : [gx, gw, gb];
        }, x, weight);
        return unbatched ? y.Squeeze(0) : y;
    }

    static Tensor UnfoldRaw(Tensor xc, ConvShape s, int n)
    {
        var y = Tensor.Unfilled([n, s.K, s.L]);
        unsafe
        {
            fixed (float* px = xc.Storage.Floats, py = y.Storage.Floats)
                Conv.Unfold(s, n, px + xc._offset, py);
        }
        return y;
    }

    static Tensor FoldRaw(Tensor cc, ConvShape s, int n)
    {
        var y = Tensor.Empty([n, s.Cb, s.H, s.W]);
        unsafe
        {
            fixed (float* pc = cc.Storage.Floats, py = y.Storage.Floats)
                Conv.Fold(s, n, pc + cc._offset, py);
        }
        return y;
    }

    /// <summary>A contiguous float32 tensor with the same values (the tensor itself when it already is one).</summary>
    static Tensor Contiguous(Tensor t)
    {
        if (t.DType != DType.Float32)
            throw new ArgumentException($"convolution: expected float32 tensors, got {t.DType.Name()} of shape {Shapes.Str(t._shape)}");
        return t.Contiguous();
    }

    static void CheckHyper(string op, Size2 st, Size2 pad, Size2 dil, int groups)
    {
        if (st.H < 1 || st.W < 1) throw new ArgumentException($"{op}: stride must be positive, got {st}");
        if (pad.H < 0 || pad.W < 0) throw new ArgumentException($"{op}: padding must be non-negative, got {pad}");
        if (dil.H < 1 || dil.W < 1) throw new ArgumentException($"{op}: dilation must be positive, got {dil}");
        if (groups < 1) throw new ArgumentException($"{op}: groups must be positive, got {groups}");
    }

    static void CheckKernel(string op, Size2 k)
    {
        if (k.H < 1 || k.W < 1) throw new ArgumentException($"{op}: kernel size must be positive, got {k}");
    }

    static void CheckChannels(string op, Tensor x, Tensor weight, int groups)
    {
        int cin = x._shape[1], cout = weight._shape[0];
        if (cout % groups != 0)
            throw new ArgumentException($"{op}: out channels {cout} (weight {Shapes.Str(weight._shape)}) are not divisible by groups {groups}");
        if (cin % groups != 0)
            throw new ArgumentException($"{op}: input channels {cin} are not divisible by groups {groups}");
        if (weight._shape[1] * groups != cin)
            throw new ArgumentException($"{op}: input {Shapes.Str(x._shape)} has {cin} channels but weight {Shapes.Str(weight._shape)} expects {weight._shape[1] * groups} (weight.shape[1] {weight._shape[1]} x groups {groups})");
        for (int d = 2; d < weight.Dim; d++)
            if (weight._shape[d] < 1) throw new ArgumentException($"{op}: weight {Shapes.Str(weight._shape)} has an empty kernel");
    }

    static void CheckFits(string op, Tensor input, int h, int w, int kh, int kw, Size2 pad, Size2 dil)
    {
        int ekh = dil.H * (kh - 1) + 1, ekw = dil.W * (kw - 1) + 1;
        if (ekh > h + 2 * pad.H || ekw > w + 2 * pad.W)
            throw new ArgumentException($"{op}: kernel {kh}x{kw}{(dil.H == 1 && dil.W == 1 ? "" : $" (dilated to {ekh}x{ekw})")} is larger than the padded input {h + 2 * pad.H}x{w + 2 * pad.W} (input {Shapes.Str(input._shape)}, padding {pad})");
    }
}
