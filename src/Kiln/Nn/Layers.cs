using System.Globalization;

namespace Kiln.Nn;

/// <summary>max(x, 0) elementwise.</summary>
public sealed class ReLU : Module
{
    /// <summary>Applies ReLU.</summary>
    public override Tensor Forward(Tensor x) => x.Relu();
}

/// <summary>x where x &gt;= 0, negativeSlope * x elsewhere.</summary>
public sealed class LeakyReLU(float negativeSlope = 0.01f) : Module
{
    /// <summary>Slope for negative inputs.</summary>
    public float NegativeSlope { get; } = negativeSlope;

    /// <summary>Applies leaky ReLU.</summary>
    public override Tensor Forward(Tensor x) => x.LeakyRelu(NegativeSlope);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture, $"negativeSlope: {NegativeSlope}");
}

/// <summary>
/// Lesson 18's GeneralRelu: leaky ReLU with slope leak (plain ReLU when null), minus sub (when given), clamped above at
/// maxv (when given). GeneralRelu(0.1f, 0.4f) keeps the mean of activations near zero.
/// </summary>
public sealed class GeneralRelu(float? leak = null, float? sub = null, float? maxv = null) : Module
{
    /// <summary>Negative slope, or null for plain ReLU.</summary>
    public float? Leak { get; } = leak;

    /// <summary>Amount subtracted after the activation, or null.</summary>
    public float? Sub { get; } = sub;

    /// <summary>Upper clamp, or null.</summary>
    public float? Maxv { get; } = maxv;

    /// <summary>Applies the activation.</summary>
    public override Tensor Forward(Tensor x) => F.GeneralRelu(x, Leak, Sub, Maxv);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture,
        $"leak: {Leak?.ToString(CultureInfo.InvariantCulture) ?? "null"}, sub: {Sub?.ToString(CultureInfo.InvariantCulture) ?? "null"}, maxv: {Maxv?.ToString(CultureInfo.InvariantCulture) ?? "null"}");
}

/// <summary>Logistic sigmoid elementwise.</summary>
public sealed class Sigmoid : Module
{
    /// <summary>Applies the sigmoid.</summary>
    public override Tensor Forward(Tensor x) => x.Sigmoid();
}

/// <summary>Hyperbolic tangent elementwise.</summary>
public sealed class Tanh : Module
{
    /// <summary>Applies tanh.</summary>
    public override Tensor Forward(Tensor x) => x.Tanh();
}

/// <summary>Flattens dims startDim..endDim into one (by default everything after the batch dim: [N, C, H, W] -> [N, C*H*W]).</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    /// <summary>First dim flattened.</summary>
    public int StartDim { get; } = startDim;

    /// <summary>Last dim flattened.</summary>
    public int EndDim { get; } = endDim;

    /// <summary>Flattens the input.</summary>
    public override Tensor Forward(Tensor x) => x.Flatten(StartDim, EndDim);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"startDim: {StartDim}, endDim: {EndDim}";
}

/// <summary>Returns its input unchanged (a placeholder, e.g. a ResBlock's shortcut when shapes already match).</summary>
public sealed class Identity : Module
{
    /// <summary>Returns x.</summary>
    public override Tensor Forward(Tensor x) => x;
}

/// <summary>
/// Inverted dropout: in training, zeroes each element with probability p and scales the rest by 1/(1-p), so the
/// expected output equals the input; in evaluation mode it returns the input unchanged.
/// </summary>
public sealed class Dropout : Module
{
    /// <summary>Probability of zeroing an element.</summary>
    public float P { get; }

    /// <summary>Generator for the masks (null: the default generator).</summary>
    public Generator? Generator { get; set; }

    /// <summary>Dropout with probability p in [0, 1], drawing masks from generator (default generator when null).</summary>
    public Dropout(float p = 0.5f, Generator? generator = null)
    {
        F.CheckDropoutP(p, "Dropout");
        P = p;
        Generator = generator;
    }

    /// <summary>Applies dropout in training mode; identity in evaluation mode.</summary>
    public override Tensor Forward(Tensor x) => F.Dropout(x, P, Training, Generator);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture, $"p: {P}");
}

/// <summary>Wraps a function as a module (miniai's Lambda), e.g. <c>new Lambda(x =&gt; x.View(-1, 1, 28, 28))</c>.</summary>
public sealed class Lambda(Func<Tensor, Tensor> fn, string? name = null) : Module
{
    readonly Func<Tensor, Tensor> _fn = fn ?? throw new ArgumentNullException(nameof(fn));

    /// <summary>Name shown by ToString.</summary>
    public string? Name { get; } = name;

    /// <summary>Applies the function.</summary>
    public override Tensor Forward(Tensor x) => _fn(x);

    /// <inheritdoc/>
    protected override string ExtraRepr() => Name ?? "";
}
