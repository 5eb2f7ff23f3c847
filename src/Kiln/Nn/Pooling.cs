namespace Kiln.Nn;

/// <summary>2-d max pooling over [N, C, H, W] (see <see cref="F.MaxPool2d(Tensor, int, int?, int, int, bool)"/>); stride defaults to the kernel size.</summary>
public sealed class MaxPool2d(int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false) : Module
{
    /// <summary>Window size.</summary>
    public int KernelSize { get; } = kernelSize;

    /// <summary>Step between windows.</summary>
    public int Stride { get; } = stride ?? kernelSize;

    /// <summary>Implicit padding on each side (never selected).</summary>
    public int Padding { get; } = padding;

    /// <summary>Spacing between window elements.</summary>
    public int Dilation { get; } = dilation;

    /// <summary>Whether output sizes round up.</summary>
    public bool CeilMode { get; } = ceilMode;

    /// <summary>Pools x.</summary>
    public override Tensor Forward(Tensor x) => F.MaxPool2d(x, KernelSize, Stride, Padding, Dilation, CeilMode);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernelSize: {KernelSize}, stride: {Stride}, padding: {Padding}, dilation: {Dilation}, ceilMode: {CeilMode}";
}

/// <summary>2-d average pooling over [N, C, H, W] with PyTorch's ceil-mode and countIncludePad semantics (see <see cref="F.AvgPool2d(Tensor, int, int?, int, bool, bool, int?)"/>).</summary>
public sealed class AvgPool2d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true, int? divisorOverride = null) : Module
{
    /// <summary>Window size.</summary>
    public int KernelSize { get; } = kernelSize;

    /// <summary>Step between windows.</summary>
    public int Stride { get; } = stride ?? kernelSize;

    /// <summary>Implicit zero padding on each side.</summary>
    public int Padding { get; } = padding;

    /// <summary>Whether output sizes round up.</summary>
    public bool CeilMode { get; } = ceilMode;

    /// <summary>Whether padded zeros count in the divisor.</summary>
    public bool CountIncludePad { get; } = countIncludePad;

    /// <summary>Fixed divisor replacing the cell count, or null.</summary>
    public int? DivisorOverride { get; } = divisorOverride;

    /// <summary>Pools x.</summary>
    public override Tensor Forward(Tensor x) => F.AvgPool2d(x, KernelSize, Stride, Padding, CeilMode, CountIncludePad, DivisorOverride);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernelSize: {KernelSize}, stride: {Stride}, padding: {Padding}, ceilMode: {CeilMode}, countIncludePad: {CountIncludePad}";
}

/// <summary>Adaptive average pooling to a fixed output size (PyTorch's bins); AdaptiveAvgPool2d(1) is global average pooling.</summary>
public sealed class AdaptiveAvgPool2d((int H, int W) outputSize) : Module
{
    /// <summary>Square output size.</summary>
    public AdaptiveAvgPool2d(int outputSize) : this((outputSize, outputSize)) { }

    /// <summary>Output height and width.</summary>
    public (int H, int W) OutputSize { get; } = outputSize;

    /// <summary>Pools x to [N, C, OutputSize.H, OutputSize.W].</summary>
    public override Tensor Forward(Tensor x) => F.AdaptiveAvgPool2d(x, OutputSize);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"outputSize: ({OutputSize.H}, {OutputSize.W})";
}

/// <summary>Adaptive max pooling to a fixed output size (PyTorch's bins); AdaptiveMaxPool2d(1) is global max pooling.</summary>
public sealed class AdaptiveMaxPool2d((int H, int W) outputSize) : Module
{
    /// <summary>Square output size.</summary>
    public AdaptiveMaxPool2d(int outputSize) : this((outputSize, outputSize)) { }

    /// <summary>Output height and width.</summary>
    public (int H, int W) OutputSize { get; } = outputSize;

    /// <summary>Pools x to [N, C, OutputSize.H, OutputSize.W].</summary>
    public override Tensor Forward(Tensor x) => F.AdaptiveMaxPool2d(x, OutputSize);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"outputSize: ({OutputSize.H}, {OutputSize.W})";
}

/// <summary>Global average pooling [N, C, H, W] -> [N, C, 1, 1], or [N, C] when flatten is true (fastai's head).</summary>
public sealed class GlobalAvgPool2d(bool flatten = false) : Module
{
    /// <summary>Whether the output is flattened to [N, C].</summary>
    public bool FlattenOutput { get; } = flatten;

    /// <summary>Averages each channel.</summary>
    public override Tensor Forward(Tensor x)
    {
        var y = F.GlobalAvgPool2d(x);
        return FlattenOutput ? y.Flatten(y.Dim - 3) : y;
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"flatten: {FlattenOutput}";
}

/// <summary>Global max pooling [N, C, H, W] -> [N, C, 1, 1], or [N, C] when flatten is true.</summary>
public sealed class GlobalMaxPool2d(bool flatten = false) : Module
{
    /// <summary>Whether the output is flattened to [N, C].</summary>
    public bool FlattenOutput { get; } = flatten;

    /// <summary>Takes each channel's maximum.</summary>
    public override Tensor Forward(Tensor x)
    {
        var y = F.GlobalMaxPool2d(x);
        return FlattenOutput ? y.Flatten(y.Dim - 3) : y;
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"flatten: {FlattenOutput}";
}
