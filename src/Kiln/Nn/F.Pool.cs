using Kiln.Kernels;

namespace Kiln.Nn;

public static partial class F
{
    /// <summary>Checks x is [N, C, H, W] (or unbatched [C, H, W]) float32 and returns it contiguous as 4-d, with whether it was 3-d.</summary>
    internal static (Tensor X4, bool Unbatched) As4d(Tensor x, string op)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.DType != DType.Float32) throw new ArgumentException($"{op}: expects a float32 input, got {x.DType.Name()}");
        if (x.Dim == 3) return (x.Unsqueeze(0).Contiguous(), true);
        if (x.Dim != 4) throw new ArgumentException($"{op}: expects a 4-d [N, C, H, W] (or 3-d [C, H, W]) input, got shape {Shapes.Str(x._shape)}");
        return (x.Contiguous(), false);
    }

    static Tensor Back3d(Tensor y, bool unbatched) => unbatched ? y.Squeeze(0) : y;

    static PoolGeom PoolGeometry(string op, Tensor x4, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, bool ceil)
    {
        if (kh <= 0 || kw <= 0) throw new ArgumentException($"{op}: kernel size must be positive, got ({kh}, {kw})");
        if (sh <= 0 || sw <= 0) throw new ArgumentException($"{op}: stride must be positive, got ({sh}, {sw})");
        if (dh <= 0 || dw <= 0) throw new ArgumentException($"{op}: dilation must be positive, got ({dh}, {dw})");
        if (ph < 0 || pw < 0 || ph > kh / 2 || pw > kw / 2)
            throw new ArgumentException($"{op}: padding ({ph}, {pw}) must be non-negative and at most half the kernel size ({kh}, {kw})");
        int n = x4._shape[0], c = x4._shape[1], h = x4._shape[2], w = x4._shape[3];
        int oh = Pool.OutSize(h, kh, sh, ph, dh, ceil), ow = Pool.OutSize(w, kw, sw, pw, dw, ceil);
        if (oh < 1 || ow < 1)
            throw new ArgumentException($"{op}: input {Shapes.Str(x4._shape)} is too small for kernel ({kh}, {kw}), stride ({sh}, {sw}), padding ({ph}, {pw}), dilation ({dh}, {dw}): output would be {oh}x{ow}");
        return new PoolGeom(n * c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw);
    }

    /// <summary>
    /// 2-d max pooling over [N, C, H, W] (or [C, H, W]): kernel (kh, kw), stride (default = kernel), zero-cost padding
    /// (padded cells never win), dilation, ceil mode; output [N, C, OH, OW] with PyTorch's sizes. The gradient goes to the
    /// chosen element of each window (the first maximum; NaN wins).
    /// </summary>
    public static Tensor MaxPool2d(Tensor x, int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false) =>
        MaxPool2d(x, (kernelSize, kernelSize), stride is int s ? (s, s) : null, (padding, padding), (dilation, dilation), ceilMode);

    /// <summary>2-d max pooling with separate height/width kernel, stride (default = kernel), padding and dilation.</summary>
    public static Tensor MaxPool2d(Tensor x, (int H, int W) kernelSize, (int H, int W)? stride, (int H, int W) padding, (int H, int W) dilation, bool ceilMode = false)
        => MaxPool2dWithIndices(x, kernelSize, stride, padding, dilation, ceilMode).Output;

    /// <summary>Max pooling that also returns the indices (flat position inside each H x W plane, int32) of the chosen elements, as PyTorch's return_indices.</summary>
    public static (Tensor Output, Tensor Indices) MaxPool2dWithIndices(Tensor x, (int H, int W) kernelSize, (int H, int W)? stride, (int H, int W) padding, (int H, int W) dilation, bool ceilMode = false)
    {
        var (x4, unb) = As4d(x, "MaxPool2d");
        var st = stride ?? kernelSize;
        var g = PoolGeometry("MaxPool2d", x4, kernelSize.H, kernelSize.W, st.H, st.W, padding.H, padding.W, dilation.H, dilation.W, ceilMode);
        int[] outShape = [x4._shape[0], x4._shape[1], g.OH, g.OW];
        int nOut = g.Planes * g.OH * g.OW;
        var y = TensorMemory.NewFloats(nOut, zeroed: false);
        var idx = GC.AllocateUninitializedArray<int>(nOut);
        if (nOut > 0) Pool.MaxForward(x4.Storage.Floats!, x4._offset, y, idx, g);
        var yt = Tensor.Wrap(y, outShape);
        var it = Tensor.Wrap(idx, outShape);
        int inPlane = g.H * g.W, outPlane = g.OH * g.OW;
        Tensor.Record(yt, "MaxPool2d", x4, gy =>
        {
            if (!(g.Is2x2 && g.OH * 2 == g.H && g.OW * 2 == g.W)) return MaxScatter(gy, idx, x4._shape, g.Planes, inPlane, outPlane);
            var gc = gy.Contiguous();
            var gx = TensorMemory.NewFloats(g.Planes * inPlane, zeroed: false);
            if (gx.Length > 0) Pool.MaxBackward2x2(gc.Storage.Floats!, gc._offset, idx, gx, g);
            return Tensor.Wrap(gx, x4._shape);
        });
        return (Back3d(yt, unb), Back3d(it, unb));
    }

    static Tensor MaxScatter(Tensor gy, int[] idx, int[] inShape, int planes, int inPlane, int outPlane)
    {
        var gc = gy.Contiguous();
        var gx = TensorMemory.NewFloats(planes * inPlane, zeroed: true);
        if (gx.Length > 0 && outPlane > 0) Pool.MaxBackward(gc.Storage.Floats!, gc._offset, idx, gx, planes, inPlane, outPlane);
        return Tensor.Wrap(gx, inShape);
    }

    /// <summary>
    /// 2-d average pooling over [N, C, H, W] (or [C, H, W]) as PyTorch's avg_pool2d: windows may hang over the zero
    /// padding (counted when countIncludePad) but never past it, so in ceil mode the last window averages only the cells
    /// it covers (AvgPool2d(2, ceilMode: true) on 7x7 gives 4x4); divisorOverride, when positive, replaces the count.
    /// </summary>
    public static Tensor AvgPool2d(Tensor x, int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null) =>
        AvgPool2d(x, (kernelSize, kernelSize), stride is int s ? (s, s) : null, (padding, padding), ceilMode, countIncludePad, divisorOverride);

    /// <summary>2-d average pooling with separate height/width kernel, stride (default = kernel) and padding.</summary>
    public static Tensor AvgPool2d(Tensor x, (int H, int W) kernelSize, (int H, int W)? stride, (int H, int W) padding, bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null)
    {
        var (x4, unb) = As4d(x, "AvgPool2d");
        if (divisorOverride is int dv && dv <= 0) throw new ArgumentException($"AvgPool2d: divisorOverride must be positive, got {dv}");
        int div = divisorOverride ?? 0;
        var st = stride ?? kernelSize;
        var g = PoolGeometry("AvgPool2d", x4, kernelSize.H, kernelSize.W, st.H, st.W, padding.H, padding.W, 1, 1, ceilMode);
        int[] outShape = [x4._shape[0], x4._shape[1], g.OH, g.OW];
        var y = TensorMemory.NewFloats(g.Planes * g.OH * g.OW, zeroed: false);
        if (y.Length > 0) Pool.AvgForward(x4.Storage.Floats!, x4._offset, y, g, countIncludePad, div);
        var yt = Tensor.Wrap(y, outShape);
        Tensor.Record(yt, "AvgPool2d", x4, gy =>
        {
            var gc = gy.Contiguous();
            bool tiles = div == 0 && (g.Is2x2 && g.OH * 2 == g.H && g.OW * 2 == g.W || g.Is2x2Ceil);
            var gx = TensorMemory.NewFloats(g.Planes * g.H * g.W, zeroed: !tiles);
            if (gx.Length > 0) Pool.AvgBackward(gc.Storage.Floats!, gc._offset, gx, g, countIncludePad, div);
            return Tensor.Wrap(gx, x4._shape);
        });
        return Back3d(yt, unb);
    }

    static (int OH, int OW) AdaptiveSize(string op, Tensor x4, int oh, int ow)
    {
        if (oh <= 0 || ow <= 0) throw new ArgumentException($"{op}: output size must be positive, got ({oh}, {ow})");
        if (x4._shape[2] == 0 || x4._shape[3] == 0) throw new ArgumentException($"{op}: input {Shapes.Str(x4._shape)} has an empty spatial dimension");
        return (oh, ow);
    }

    /// <summary>Adaptive average pooling to outputSize x outputSize: output cell i averages input [floor(i*in/out), ceil((i+1)*in/out)) as PyTorch.</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor x, int outputSize) => AdaptiveAvgPool2d(x, (outputSize, outputSize));

    /// <summary>Adaptive average pooling of [N, C, H, W] (or [C, H, W]) to [N, C, OH, OW].</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor x, (int H, int W) outputSize)
    {
        var (x4, unb) = As4d(x, "AdaptiveAvgPool2d");
        var (oh, ow) = AdaptiveSize("AdaptiveAvgPool2d", x4, outputSize.H, outputSize.W);
        int n = x4._shape[0], c = x4._shape[1], h = x4._shape[2], w = x4._shape[3], planes = n * c;
        var y = TensorMemory.NewFloats(planes * oh * ow, zeroed: false);
        if (y.Length > 0) Pool.AdaptiveAvgForward(x4.Storage.Floats!, x4._offset, y, planes, h, w, oh, ow);
        var yt = Tensor.Wrap(y, n, c, oh, ow);
        Tensor.Record(yt, "AdaptiveAvgPool2d", x4, gy =>
        {
            var gc = gy.Contiguous();
            var gx = TensorMemory.NewFloats(planes * h * w, zeroed: oh * ow != 1);
            if (gx.Length > 0) Pool.AdaptiveAvgBackward(gc.Storage.Floats!, gc._offset, gx, planes, h, w, oh, ow);
            return Tensor.Wrap(gx, x4._shape);
        });
        return Back3d(yt, unb);
    }

    /// <summary>Adaptive max pooling to outputSize x outputSize (PyTorch's bins); the gradient goes to each bin's first maximum.</summary>
    public static Tensor AdaptiveMaxPool2d(Tensor x, int outputSize) => AdaptiveMaxPool2d(x, (outputSize, outputSize));

    /// <summary>Adaptive max pooling of [N, C, H, W] (or [C, H, W]) to [N, C, OH, OW].</summary>
    public static Tensor AdaptiveMaxPool2d(Tensor x, (int H, int W) outputSize)
    {
        var (x4, unb) = As4d(x, "AdaptiveMaxPool2d");
        var (oh, ow) = AdaptiveSize("AdaptiveMaxPool2d", x4, outputSize.H, outputSize.W);
        int n = x4._shape[0], c = x4._shape[1], h = x4._shape[2], w = x4._shape[3], planes = n * c;
        var y = TensorMemory.NewFloats(planes * oh * ow, zeroed: false);
        var idx = GC.AllocateUninitializedArray<int>(planes * oh * ow);
        if (y.Length > 0) Pool.AdaptiveMaxForward(x4.Storage.Floats!, x4._offset, y, idx, planes, h, w, oh, ow);
        var yt = Tensor.Wrap(y, n, c, oh, ow);
        Tensor.Record(yt, "AdaptiveMaxPool2d", x4, gy => MaxScatter(gy, idx, x4._shape, planes, h * w, oh * ow));
        return Back3d(yt, unb);
    }

    /// <summary>Global average pooling: [N, C, H, W] -> [N, C, 1, 1] (AdaptiveAvgPool2d(1)).</summary>
    public static Tensor GlobalAvgPool2d(Tensor x) => AdaptiveAvgPool2d(x, 1);

    /// <summary>Global max pooling: [N, C, H, W] -> [N, C, 1, 1] (AdaptiveMaxPool2d(1)).</summary>
    public static Tensor GlobalMaxPool2d(Tensor x) => AdaptiveMaxPool2d(x, 1);
}
