using System.Globalization;

namespace Kiln.Nn;

/// <summary>Resizes [N, C, H, W] to a fixed size or by a scale factor with nearest or bilinear interpolation (PyTorch's nn.Upsample).</summary>
public sealed class Upsample : Module
{
    /// <summary>Target output size, or null when scaling.</summary>
    public (int H, int W)? Size { get; }

    /// <summary>Scale factor, or null when a size is given.</summary>
    public (double H, double W)? ScaleFactor { get; }

    /// <summary>Interpolation mode.</summary>
    public UpsampleMode Mode { get; }

    /// <summary>Bilinear only: map corner cells onto corner cells.</summary>
    public bool AlignCorners { get; }

    /// <summary>Upsample by scaleFactor (the same for both dims).</summary>
    public Upsample(double scaleFactor, UpsampleMode mode = UpsampleMode.Nearest, bool alignCorners = false)
        : this(null, (scaleFactor, scaleFactor), mode, alignCorners) { }

    /// <summary>Upsample to size or by scaleFactor (exactly one given).</summary>
    public Upsample((int H, int W)? size, (double H, double W)? scaleFactor, UpsampleMode mode = UpsampleMode.Nearest, bool alignCorners = false)
    {
        if ((size == null) == (scaleFactor == null)) throw new ArgumentException("Upsample: give exactly one of size and scaleFactor");
        if (alignCorners && mode == UpsampleMode.Nearest) throw new ArgumentException("Upsample: alignCorners only applies to bilinear mode");
        Size = size;
        ScaleFactor = scaleFactor;
        Mode = mode;
        AlignCorners = alignCorners;
    }

    /// <summary>Resizes x.</summary>
    public override Tensor Forward(Tensor x) => F.Interpolate(x, Size, ScaleFactor, Mode, AlignCorners);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture,
        $"{(Size is var (h, w) ? $"size: ({h}, {w})" : $"scaleFactor: ({ScaleFactor!.Value.H}, {ScaleFactor!.Value.W})")}, mode: {Mode}, alignCorners: {AlignCorners}");
}

/// <summary>Nearest-neighbour upsampling by a scale factor (PyTorch's UpsamplingNearest2d).</summary>
public sealed class UpsamplingNearest2d(double scaleFactor) : Module
{
    /// <summary>Scale factor for both dims.</summary>
    public double ScaleFactor { get; } = scaleFactor;

    /// <summary>Upsamples x.</summary>
    public override Tensor Forward(Tensor x) => F.UpsampleNearest2d(x, ScaleFactor);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture, $"scaleFactor: {ScaleFactor}");
}

/// <summary>Bilinear upsampling by a scale factor with align_corners true (PyTorch's UpsamplingBilinear2d).</summary>
public sealed class UpsamplingBilinear2d(double scaleFactor) : Module
{
    /// <summary>Scale factor for both dims.</summary>
    public double ScaleFactor { get; } = scaleFactor;

    /// <summary>Upsamples x.</summary>
    public override Tensor Forward(Tensor x) => F.UpsampleBilinear2d(x, ScaleFactor, alignCorners: true);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture, $"scaleFactor: {ScaleFactor}");
}

/// <summary>[N, C*r*r, H, W] -> [N, C, H*r, W*r] (PyTorch's PixelShuffle).</summary>
public sealed class PixelShuffle(int upscaleFactor) : Module
{
    /// <summary>The factor r.</summary>
    public int UpscaleFactor { get; } = upscaleFactor;

    /// <summary>Shuffles x.</summary>
    public override Tensor Forward(Tensor x) => F.PixelShuffle(x, UpscaleFactor);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"upscaleFactor: {UpscaleFactor}";
}

/// <summary>[N, C, H*r, W*r] -> [N, C*r*r, H, W] (PyTorch's PixelUnshuffle).</summary>
public sealed class PixelUnshuffle(int downscaleFactor) : Module
{
    /// <summary>The factor r.</summary>
    public int DownscaleFactor { get; } = downscaleFactor;

    /// <summary>Unshuffles x.</summary>
    public override Tensor Forward(Tensor x) => F.PixelUnshuffle(x, DownscaleFactor);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"downscaleFactor: {DownscaleFactor}";
}
