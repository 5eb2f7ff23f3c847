namespace Kiln.Nn;

/// <summary>Pads the last two dims with zeros by (left, right, top, bottom); negative amounts crop (PyTorch's ZeroPad2d).</summary>
public sealed class ZeroPad2d((int Left, int Right, int Top, int Bottom) padding) : Module
{
    /// <summary>The same padding on all four sides.</summary>
    public ZeroPad2d(int padding) : this((padding, padding, padding, padding)) { }

    /// <summary>Amounts added on the left, right, top and bottom.</summary>
    public (int Left, int Right, int Top, int Bottom) Padding { get; } = padding;

    /// <summary>Pads x.</summary>
    public override Tensor Forward(Tensor x) => F.ZeroPad2d(x, Padding);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"({Padding.Left}, {Padding.Right}, {Padding.Top}, {Padding.Bottom})";
}

/// <summary>Pads the last two dims by (left, right, top, bottom) copying the edge cells (PyTorch's ReplicationPad2d).</summary>
public sealed class ReplicationPad2d((int Left, int Right, int Top, int Bottom) padding) : Module
{
    /// <summary>The same padding on all four sides.</summary>
    public ReplicationPad2d(int padding) : this((padding, padding, padding, padding)) { }

    /// <summary>Amounts added on the left, right, top and bottom.</summary>
    public (int Left, int Right, int Top, int Bottom) Padding { get; } = padding;

    /// <summary>Pads x.</summary>
    public override Tensor Forward(Tensor x) => F.ReplicationPad2d(x, Padding);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"({Padding.Left}, {Padding.Right}, {Padding.Top}, {Padding.Bottom})";
}
