using System.Globalization;

namespace Kiln.Nn;

/// <summary>
/// 2-d convolution layer on NCHW input [N, inChannels, H, W] -> [N, outChannels, H', W']; weight [out, in/groups, kh, kw] and
/// bias [out] start as PyTorch's: Kaiming uniform with a = √5 (U(±1/√fan_in)) and U(±1/√fan_in), fan_in = in/groups·kh·kw.
/// </summary>
public sealed class Conv2d : Module
{
    Tensor _weight = null!;
    Tensor? _bias;

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>Kernel size (height, width).</summary>
    public Size2 KernelSize { get; }

    /// <summary>Stride (height, width).</summary>
    public Size2 Stride { get; }

    /// <summary>Zero padding added on both sides (height, width).</summary>
    public Size2 Padding { get; }

    /// <summary>Spacing between kernel taps (height, width).</summary>
    public Size2 Dilation { get; }

    /// <summary>Number of channel groups (each output group sees only its input group).</summary>
    public int Groups { get; }

    /// <summary>The weight [out, in/groups, kh, kw]; setting it registers the new tensor as the "weight" parameter.</summary>
    public Tensor Weight
    {
        get => _weight;
        set => _weight = RegisterParameter("weight", value ?? throw new ArgumentNullException(nameof(value)))!;
    }

    /// <summary>The bias [out], or null without bias; setting it registers the new tensor as the "bias" parameter.</summary>
    public Tensor? Bias
    {
        get => _bias;
        set => _bias = RegisterParameter("bias", value);
    }

    /// <summary>A convolution from inChannels to outChannels with PyTorch's default initialisation drawn from generator (default generator when null).</summary>
    public Conv2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Size2? padding = null, Size2? dilation = null,
        int groups = 1, bool bias = true, Generator? generator = null)
    {
        ConvInit.Check("Conv2d", inChannels, outChannels, groups, kernelSize, stride ?? 1, padding ?? 0, dilation ?? 1);
        (InChannels, OutChannels, KernelSize, Stride, Padding, Dilation, Groups) =
            (inChannels, outChannels, kernelSize, stride ?? 1, padding ?? 0, dilation ?? 1, groups);
        Weight = ConvInit.Weight([outChannels, inChannels / groups, kernelSize.H, kernelSize.W], generator);
        Bias = bias ? ConvInit.Bias(outChannels, inChannels / groups * kernelSize.H * kernelSize.W, generator) : null;
    }

    /// <summary>F.Conv2d with this layer's weight, bias and hyperparameters.</summary>
    public override Tensor Forward(Tensor x) => F.Conv2d(x, _weight, _bias, Stride, Padding, Dilation, Groups);

    /// <inheritdoc/>
    protected override string ExtraRepr() => ConvInit.Repr(InChannels, OutChannels, KernelSize, Stride, Padding, Dilation, Groups, _bias != null, null);
}

/// <summary>
/// 1-d convolution layer on [N, inChannels, L] -> [N, outChannels, L']; weight [out, in/groups, k] and bias [out] start as
/// PyTorch's (U(±1/√fan_in), fan_in = in/groups·k).
/// </summary>
public sealed class Conv1d : Module
{
    Tensor _weight = null!;
    Tensor? _bias;

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>Kernel length.</summary>
    public int KernelSize { get; }

    /// <summary>Stride.</summary>
    public int Stride { get; }

    /// <summary>Zero padding added on both sides.</summary>
    public int Padding { get; }

    /// <summary>Spacing between kernel taps.</summary>
    public int Dilation { get; }

    /// <summary>Number of channel groups.</summary>
    public int Groups { get; }

    /// <summary>The weight [out, in/groups, k]; setting it registers the new tensor as the "weight" parameter.</summary>
    public Tensor Weight
    {
        get => _weight;
        set => _weight = RegisterParameter("weight", value ?? throw new ArgumentNullException(nameof(value)))!;
    }

    /// <summary>The bias [out], or null without bias; setting it registers the new tensor as the "bias" parameter.</summary>
    public Tensor? Bias
    {
        get => _bias;
        set => _bias = RegisterParameter("bias", value);
    }

    /// <summary>A 1-d convolution from inChannels to outChannels with PyTorch's default initialisation drawn from generator (default generator when null).</summary>
    public Conv1d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1,
        bool bias = true, Generator? generator = null)
    {
        ConvInit.Check("Conv1d", inChannels, outChannels, groups, (1, kernelSize), (1, stride), (0, padding), (1, dilation));
        (InChannels, OutChannels, KernelSize, Stride, Padding, Dilation, Groups) = (inChannels, outChannels, kernelSize, stride, padding, dilation, groups);
        Weight = ConvInit.Weight([outChannels, inChannels / groups, kernelSize], generator);
        Bias = bias ? ConvInit.Bias(outChannels, inChannels / groups * kernelSize, generator) : null;
    }

    /// <summary>F.Conv1d with this layer's weight, bias and hyperparameters.</summary>
    public override Tensor Forward(Tensor x) => F.Conv1d(x, _weight, _bias, Stride, Padding, Dilation, Groups);

    /// <inheritdoc/>
    protected override string ExtraRepr() => ConvInit.Repr(InChannels, OutChannels, KernelSize, Stride, Padding, Dilation, Groups, _bias != null, null);
}

/// <summary>
/// 2-d transposed convolution layer on [N, inChannels, H, W] -> [N, outChannels, (H-1)s - 2p + d(k-1) + outputPadding + 1, ...];
/// weight [in, out/groups, kh, kw] and bias [out] start as PyTorch's (U(±1/√fan_in), fan_in = out/groups·kh·kw as PyTorch computes it).
/// </summary>
public sealed class ConvTranspose2d : Module
{
    Tensor _weight = null!;
    Tensor? _bias;

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>Kernel size (height, width).</summary>
    public Size2 KernelSize { get; }

    /// <summary>Stride (height, width).</summary>
    public Size2 Stride { get; }

    /// <summary>Padding removed from both sides of the output (height, width).</summary>
    public Size2 Padding { get; }

    /// <summary>Extra rows/columns added on one side of the output (height, width).</summary>
    public Size2 OutputPadding { get; }

    /// <summary>Spacing between kernel taps (height, width).</summary>
    public Size2 Dilation { get; }

    /// <summary>Number of channel groups.</summary>
    public int Groups { get; }

    /// <summary>The weight [in, out/groups, kh, kw]; setting it registers the new tensor as the "weight" parameter.</summary>
    public Tensor Weight
    {
        get => _weight;
        set => _weight = RegisterParameter("weight", value ?? throw new ArgumentNullException(nameof(value)))!;
    }

    /// <summary>The bias [out], or null without bias; setting it registers the new tensor as the "bias" parameter.</summary>
    public Tensor? Bias
    {
        get => _bias;
        set => _bias = RegisterParameter("bias", value);
    }

    /// <summary>A transposed convolution from inChannels to outChannels with PyTorch's default initialisation drawn from generator (default generator when null).</summary>
    public ConvTranspose2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Size2? padding = null, Size2? outputPadding = null,
        int groups = 1, bool bias = true, Size2? dilation = null, Generator? generator = null)
    {
        ConvInit.Check("ConvTranspose2d", inChannels, outChannels, groups, kernelSize, stride ?? 1, padding ?? 0, dilation ?? 1);
        (InChannels, OutChannels, KernelSize, Stride, Padding, OutputPadding, Dilation, Groups) =
            (inChannels, outChannels, kernelSize, stride ?? 1, padding ?? 0, outputPadding ?? 0, dilation ?? 1, groups);
        Weight = ConvInit.Weight([inChannels, outChannels / groups, kernelSize.H, kernelSize.W], generator);
        Bias = bias ? ConvInit.Bias(outChannels, outChannels / groups * kernelSize.H * kernelSize.W, generator) : null;
    }

    /// <summary>F.ConvTranspose2d with this layer's weight, bias and hyperparameters.</summary>
    public override Tensor Forward(Tensor x) => F.ConvTranspose2d(x, _weight, _bias, Stride, Padding, OutputPadding, Groups, Dilation);

    /// <inheritdoc/>
    protected override string ExtraRepr() => ConvInit.Repr(InChannels, OutChannels, KernelSize, Stride, Padding, Dilation, Groups, _bias != null, OutputPadding);
}

/// <summary>Shared construction checks, PyTorch's default initialisation and the printed form of the convolution layers.</summary>
internal static class ConvInit
{
    public static void Check(string op, int inChannels, int outChannels, int groups, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation)
    {
        if (inChannels < 1 || outChannels < 1)
            throw new ArgumentException($"{op}: channel counts must be positive, got inChannels {inChannels} and outChannels {outChannels}");
        if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"{op}: inChannels {inChannels} and outChannels {outChannels} must both be divisible by groups {groups}");
        if (kernel.H < 1 || kernel.W < 1) throw new ArgumentException($"{op}: kernel size must be positive, got {kernel}");
        if (stride.H < 1 || stride.W < 1) throw new ArgumentException($"{op}: stride must be positive, got {stride}");
        if (padding.H < 0 || padding.W < 0) throw new ArgumentException($"{op}: padding must be non-negative, got {padding}");
        if (dilation.H < 1 || dilation.W < 1) throw new ArgumentException($"{op}: dilation must be positive, got {dilation}");
    }

    /// <summary>Kaiming uniform with a = √5 on the weight's own fan-in (PyTorch's reset_parameters).</summary>
    public static Tensor Weight(int[] shape, Generator? generator)
    {
        var w = Tensor.Zeros(shape);
        Init.KaimingUniform(w, a: MathF.Sqrt(5f), generator: generator);
        return w;
    }

    /// <summary>U(-1/√fanIn, 1/√fanIn).</summary>
    public static Tensor Bias(int size, int fanIn, Generator? generator)
    {
        var b = Tensor.Zeros(size);
        float bound = 1f / MathF.Sqrt(fanIn);
        Init.Uniform(b, -bound, bound, generator);
        return b;
    }

    public static string Repr(int inC, int outC, object kernel, object stride, object padding, object dilation, int groups, bool bias, Size2? outputPadding)
    {
        var s = string.Create(CultureInfo.InvariantCulture, $"{inC}, {outC}, kernelSize: {kernel}, stride: {stride}");
        if (!Equals(padding, (Size2)0) && !Equals(padding, 0)) s += $", padding: {padding}";
        if (outputPadding is Size2 op && op != 0) s += $", outputPadding: {op}";
        if (!Equals(dilation, (Size2)1) && !Equals(dilation, 1)) s += $", dilation: {dilation}";
        if (groups != 1) s += $", groups: {groups}";
        if (!bias) s += ", bias: false";
        return s;
    }
}
