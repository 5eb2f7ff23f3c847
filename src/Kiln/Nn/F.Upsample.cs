using Kiln.Kernels;

namespace Kiln.Nn;

/// <summary>Interpolation used by <see cref="F.Interpolate"/> and <see cref="Kiln.Nn.Upsample"/>.</summary>
public enum UpsampleMode
{
    /// <summary>Each output cell copies the input cell at floor(o * in / out) (PyTorch's "nearest").</summary>
    Nearest,
    /// <summary>Bilinear interpolation between the four nearest input cells.</summary>
    Bilinear,
}

public static partial class F
{
    /// <summary>
    /// Resizes the last two dims of [N, C, H, W] (or [C, H, W]) to size, or by scaleFactor (output floor(in * factor)),
    /// exactly one of them given. Nearest picks source cell min(floor(o * s), in - 1); bilinear uses PyTorch's source
    /// index: o * (in-1)/(out-1) with alignCorners, else max((o + 0.5) * s - 0.5, 0); s = 1/scaleFactor when given, else in/out.
    /// </summary>
    public static Tensor Interpolate(Tensor x, (int H, int W)? size = null, (double H, double W)? scaleFactor = null, UpsampleMode mode = UpsampleMode.Nearest, bool alignCorners = false)
    {
        const string op = "Interpolate";
        var (x4, unb) = As4d(x, op);
        if ((size == null) == (scaleFactor == null)) throw new ArgumentException($"{op}: give exactly one of size and scaleFactor");
        if (alignCorners && mode == UpsampleMode.Nearest) throw new ArgumentException($"{op}: alignCorners only applies to bilinear mode");
        int n = x4._shape[0], c = x4._shape[1], h = x4._shape[2], w = x4._shape[3], planes = n * c;
        int oh, ow;
        if (size is (int sh, int sw)) { oh = sh; ow = sw; }
        else
        {
            var (fh, fw) = scaleFactor!.Value;
            if (!(fh > 0) || !(fw > 0)) throw new ArgumentException($"{op}: scale factors must be positive, got ({fh}, {fw})");
            oh = (int)Math.Floor(h * fh);
            ow = (int)Math.Floor(w * fw);
        }
        if (oh <= 0 || ow <= 0 || h == 0 || w == 0)
            throw new ArgumentException($"{op}: cannot resize input {Shapes.Str(x4._shape)} to {oh}x{ow}");
        double? sfh = scaleFactor?.H, sfw = scaleFactor?.W;
        var y = TensorMemory.NewFloats(planes * oh * ow, zeroed: false);
        var xs = x4.Storage.Floats!;
        Tensor yt;
        if (mode == UpsampleMode.Nearest)
        {
            var hi = NearestIndex(h, oh, sfh);
            var wi = NearestIndex(w, ow, sfw);
            Resample.NearestForward(xs, x4._offset, y, planes, h, w, hi, wi);
            yt = Tensor.Wrap(y, n, c, oh, ow);
            Tensor.Record(yt, "UpsampleNearest2d", x4, g =>
            {
                var gc = g.Contiguous();
                var gx = TensorMemory.NewFloats(planes * h * w, zeroed: true);
                Resample.NearestBackward(gc.Storage.Floats!, gc._offset, gx, planes, h, w, hi, wi);
                return Tensor.Wrap(gx, x4._shape);
            });
        }
        else
        {
            var ah = Resample.LinearAxis(h, oh, alignCorners, sfh);
            var aw = Resample.LinearAxis(w, ow, alignCorners, sfw);
            Resample.BilinearForward(xs, x4._offset, y, planes, h, w, ah, aw);
            yt = Tensor.Wrap(y, n, c, oh, ow);
            Tensor.Record(yt, "UpsampleBilinear2d", x4, g =>
            {
                var gc = g.Contiguous();
                var gx = TensorMemory.NewFloats(planes * h * w, zeroed: true);
                Resample.BilinearBackward(gc.Storage.Floats!, gc._offset, gx, planes, h, w, ah, aw);
                return Tensor.Wrap(gx, x4._shape);
            });
        }
        return Back3d(yt, unb);
    }

    /// <summary>PyTorch's nearest source index, computed in float like its kernel.</summary>
    static int[] NearestIndex(int inSize, int outSize, double? scaleFactor)
    {
        float scale = scaleFactor is double sf && sf > 0 ? (float)(1.0 / sf) : (float)inSize / outSize;
        var idx = new int[outSize];
        for (int o = 0; o < outSize; o++)
            idx[o] = outSize == inSize ? o : outSize == 2 * inSize ? o >> 1 : Math.Min((int)MathF.Floor(o * scale), inSize - 1);
        return idx;
    }

    /// <summary>Nearest-neighbour upsampling by an integer or fractional scale factor (PyTorch's upsample_nearest2d).</summary>
    public static Tensor UpsampleNearest2d(Tensor x, double scaleFactor) => Interpolate(x, scaleFactor: (scaleFactor, scaleFactor));

    /// <summary>Bilinear upsampling by scaleFactor (alignCorners false by default, as F.interpolate).</summary>
    public static Tensor UpsampleBilinear2d(Tensor x, double scaleFactor, bool alignCorners = false) =>
        Interpolate(x, scaleFactor: (scaleFactor, scaleFactor), mode: UpsampleMode.Bilinear, alignCorners: alignCorners);

    /// <summary>Rearranges [N, C*r*r, H, W] into [N, C, H*r, W*r] (sub-pixel convolution's shuffle); also [C*r*r, H, W].</summary>
    public static Tensor PixelShuffle(Tensor x, int upscaleFactor)
    {
        ArgumentNullException.ThrowIfNull(x);
        int r = upscaleFactor;
        if (r <= 0) throw new ArgumentException($"PixelShuffle: upscaleFactor must be positive, got {r}");
        if (x.Dim != 3 && x.Dim != 4) throw new ArgumentException($"PixelShuffle: expects a 4-d [N, C*r*r, H, W] or 3-d input, got shape {Shapes.Str(x._shape)}");
        bool unb = x.Dim == 3;
        var x4 = unb ? x.Unsqueeze(0) : x;
        int n = x4._shape[0], crr = x4._shape[1], h = x4._shape[2], w = x4._shape[3];
        if (crr % (r * r) != 0) throw new ArgumentException($"PixelShuffle: {crr} channels of input {Shapes.Str(x._shape)} are not divisible by upscaleFactor² = {r * r}");
        int c = crr / (r * r);
        var y = x4.Reshape(n, c, r, r, h, w).Permute(0, 1, 4, 2, 5, 3).Reshape(n, c, h * r, w * r);
        return unb ? y.Squeeze(0) : y;
    }

    /// <summary>Inverse of PixelShuffle: [N, C, H*r, W*r] into [N, C*r*r, H, W]; also [C, H*r, W*r].</summary>
    public static Tensor PixelUnshuffle(Tensor x, int downscaleFactor)
    {
        ArgumentNullException.ThrowIfNull(x);
        int r = downscaleFactor;
        if (r <= 0) throw new ArgumentException($"PixelUnshuffle: downscaleFactor must be positive, got {r}");
        if (x.Dim != 3 && x.Dim != 4) throw new ArgumentException($"PixelUnshuffle: expects a 4-d [N, C, H*r, W*r] or 3-d input, got shape {Shapes.Str(x._shape)}");
        bool unb = x.Dim == 3;
        var x4 = unb ? x.Unsqueeze(0) : x;
        int n = x4._shape[0], c = x4._shape[1], hr = x4._shape[2], wr = x4._shape[3];
        if (hr % r != 0 || wr % r != 0) throw new ArgumentException($"PixelUnshuffle: spatial size {hr}x{wr} of input {Shapes.Str(x._shape)} is not divisible by downscaleFactor {r}");
        int h = hr / r, w = wr / r;
        var y = x4.Reshape(n, c, h, r, w, r).Permute(0, 1, 3, 5, 2, 4).Reshape(n, c * r * r, h, w);
        return unb ? y.Squeeze(0) : y;
    }
}
