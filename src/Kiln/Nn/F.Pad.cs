using Kiln.Kernels;

namespace Kiln.Nn;

public static partial class F
{
    /// <summary>Zero padding of the last two dims of [N, C, H, W] (or [C, H, W]) by (left, right, top, bottom); negative amounts crop, as PyTorch.</summary>
    public static Tensor ZeroPad2d(Tensor x, (int Left, int Right, int Top, int Bottom) padding) => Pad2d("ZeroPad2d", x, padding, replicate: false);

    /// <summary>Zero padding by the same amount on all four sides.</summary>
    public static Tensor ZeroPad2d(Tensor x, int padding) => ZeroPad2d(x, (padding, padding, padding, padding));

    /// <summary>Replication padding of [N, C, H, W] (or [C, H, W]) by (left, right, top, bottom): outside cells copy the nearest edge cell; negative amounts crop.</summary>
    public static Tensor ReplicationPad2d(Tensor x, (int Left, int Right, int Top, int Bottom) padding) => Pad2d("ReplicationPad2d", x, padding, replicate: true);

    /// <summary>Replication padding by the same amount on all four sides.</summary>
    public static Tensor ReplicationPad2d(Tensor x, int padding) => ReplicationPad2d(x, (padding, padding, padding, padding));

    static Tensor Pad2d(string op, Tensor x, (int Left, int Right, int Top, int Bottom) pad, bool replicate)
    {
        var (x4, unb) = As4d(x, op);
        int n = x4._shape[0], c = x4._shape[1], h = x4._shape[2], w = x4._shape[3], planes = n * c;
        int oh = h + pad.Top + pad.Bottom, ow = w + pad.Left + pad.Right;
        if (oh <= 0 || ow <= 0)
            throw new ArgumentException($"{op}: padding (left {pad.Left}, right {pad.Right}, top {pad.Top}, bottom {pad.Bottom}) of input {Shapes.Str(x4._shape)} gives an empty {oh}x{ow} output");
        if (replicate && (h == 0 || w == 0))
            throw new ArgumentException($"{op}: cannot replicate the edges of an empty input {Shapes.Str(x4._shape)}");
        var y = TensorMemory.NewFloats(planes * oh * ow, zeroed: false);
        if (y.Length > 0) Resample.PadForward(x4.Storage.Floats!, x4._offset, y, planes, h, w, pad.Left, pad.Top, oh, ow, replicate);
        var yt = Tensor.Wrap(y, n, c, oh, ow);
        Tensor.Record(yt, op, x4, g =>
        {
            var gc = g.Contiguous();
            var gx = TensorMemory.NewFloats(planes * h * w, zeroed: true);
            if (gx.Length > 0) Resample.PadBackward(gc.Storage.Floats!, gc._offset, gx, planes, h, w, pad.Left, pad.Top, oh, ow, replicate);
            return Tensor.Wrap(gx, x4._shape);
        });
        return Back3d(yt, unb);
    }
}
