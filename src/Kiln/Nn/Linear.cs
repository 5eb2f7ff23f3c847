using System.Globalization;

namespace Kiln.Nn;

/// <summary>
/// Fully connected layer y = x Wᵀ + b: input [..., inFeatures], output [..., outFeatures]; weight [outFeatures, inFeatures]
/// and bias [outFeatures] start as PyTorch's: U(-1/√inFeatures, 1/√inFeatures) (Kaiming uniform with a = √5 for the weight).
/// </summary>
public sealed class Linear : Module
{
    Tensor _weight = null!;
    Tensor? _bias;

    /// <summary>Number of input features.</summary>
    public int InFeatures { get; }

    /// <summary>Number of output features.</summary>
    public int OutFeatures { get; }

    /// <summary>The weight [outFeatures, inFeatures]; setting it registers the new tensor as the "weight" parameter.</summary>
    public Tensor Weight
    {
        get => _weight;
        set => _weight = RegisterParameter("weight", value ?? throw new ArgumentNullException(nameof(value)))!;
    }

    /// <summary>The bias [outFeatures], or null without bias; setting it registers the new tensor as the "bias" parameter.</summary>
    public Tensor? Bias
    {
        get => _bias;
        set => _bias = RegisterParameter("bias", value);
    }

    /// <summary>A linear layer from inFeatures to outFeatures, with PyTorch's default initialisation drawn from generator (default generator when null).</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Generator? generator = null)
    {
        if (inFeatures < 0 || outFeatures < 0)
            throw new ArgumentException($"Linear: feature counts must be non-negative, got inFeatures {inFeatures} and outFeatures {outFeatures}");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var w = Tensor.Zeros(outFeatures, inFeatures);
        if (w.Numel > 0) Init.KaimingUniform(w, a: MathF.Sqrt(5f), generator: generator);
        Weight = w;
        if (bias)
        {
            var b = Tensor.Zeros(outFeatures);
            float bound = inFeatures > 0 ? 1f / MathF.Sqrt(inFeatures) : 0f;
            Init.Uniform(b, -bound, bound, generator);
            Bias = b;
        }
        else Bias = null;
    }

    /// <summary>x Wᵀ + b for x of shape [..., inFeatures].</summary>
    public override Tensor Forward(Tensor x) => F.Linear(x, _weight, _bias);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture,
        $"inFeatures: {InFeatures}, outFeatures: {OutFeatures}, bias: {(_bias != null ? "true" : "false")}");
}
