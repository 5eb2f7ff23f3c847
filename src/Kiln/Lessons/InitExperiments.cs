namespace Kiln.Lessons;

/// <summary>
/// Lesson 8, section 5: why initialisation decides whether a deep network trains. Each helper pushes inputs through
/// randomly initialised linear layers (lesson layout, weight [in, out], zero bias) and reports activation statistics.
/// The arithmetic behind every number: with z_j = Σ_i x_i w_ij and independent zero-mean w of variance s²,
/// E[z²] = fan_in · s² · E[x²]. So unit weights multiply the second moment by fan_in, s² = 1/fan_in keeps it, and ReLU,
/// which zeroes half of a symmetric z, halves it: E[relu(z)²] = E[z²]/2. Kaiming's s² = 2/fan_in pays that half back.
/// </summary>
public static class InitExperiments
{
    /// <summary>How the standard-normal weights are scaled.</summary>
    public enum WeightScale
    {
        /// <summary>Plain randn: the second moment grows by fan_in per layer (std 28 after 784 standard-normal inputs).</summary>
        Unscaled,

        /// <summary>randn / √fan_in: keeps E[z²] = E[x²] through a linear layer; with ReLU it halves per layer.</summary>
        FanIn,

        /// <summary>Kaiming/He, randn · √(2/fan_in): E[z²] = 2·E[x²], which ReLU halves back, so E[relu(z)²] = E[x²].</summary>
        Kaiming,
    }

    /// <summary>What follows each linear layer.</summary>
    public enum Nonlinearity
    {
        /// <summary>Nothing: the linear layer's output is the activation.</summary>
        None,

        /// <summary>relu(z) = max(z, 0): mean becomes positive, the second moment halves.</summary>
        Relu,

        /// <summary>The lesson's relu(z) - 0.5: pulls the positive mean of a ReLU (≈0.56 under Kaiming) back towards 0.</summary>
        ShiftedRelu,
    }

    /// <summary>Statistics of all elements of an activation tensor.</summary>
    /// <param name="Mean">The mean.</param>
    /// <param name="Std">The (unbiased) standard deviation, as the lesson's t.std().</param>
    /// <param name="MeanSquare">E[a²], the second moment: the quantity the fan-in and Kaiming scales are built to preserve.</param>
    public sealed record ActivationStats(double Mean, double Std, double MeanSquare);

    /// <summary>The multiplier applied to standard-normal weights for a layer with fanIn inputs.</summary>
    public static float Scale(WeightScale scale, int fanIn) => scale switch
    {
        WeightScale.Unscaled => 1f,
        WeightScale.FanIn => 1f / MathF.Sqrt(fanIn),
        WeightScale.Kaiming => MathF.Sqrt(2f / fanIn),
        _ => throw new ArgumentOutOfRangeException(nameof(scale)),
    };

    /// <summary>
    /// A weight [fanIn, fanOut] of standard-normal samples times <see cref="Scale"/>. In this layout fan_in is dim 0;
    /// Kiln.Nn's Linear stores [out, in], where the same fan_in is dim 1: check the layout before choosing the fan mode.
    /// </summary>
    public static Tensor Weights(int fanIn, int fanOut, WeightScale scale, Generator? generator = null)
        => Tensor.Randn([fanIn, fanOut], generator) * Scale(scale, fanIn);

    /// <summary>Applies the nonlinearity to a layer's output.</summary>
    public static Tensor Activate(Tensor z, Nonlinearity nonlinearity) => nonlinearity switch
    {
        Nonlinearity.None => z,
        Nonlinearity.Relu => z.ClampMin(0f),
        Nonlinearity.ShiftedRelu => z.ClampMin(0f) - 0.5f,
        _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity)),
    };

    /// <summary>Mean, std and mean square over all elements of t.</summary>
    public static ActivationStats Stats(Tensor t)
        => new(t.Mean().Item(), t.Std().Item(), t.Square().Mean().Item());

    /// <summary>
    /// One layer, as the lesson's first experiment: x [N, fanIn] @ fresh weights [fanIn, fanOut] (zero bias), then the
    /// nonlinearity; returns the statistics of the result.
    /// </summary>
    public static ActivationStats Layer(Tensor x, int fanOut, WeightScale scale, Nonlinearity nonlinearity, Generator? generator = null)
    {
        using var _ = Autograd.NoGrad();
        return Stats(Activate(x.MatMul(Weights(x.Size(1), fanOut, scale, generator)), nonlinearity));
    }

    /// <summary>
    /// depth layers of width units stacked on x [N, in] (first weight [in, width], the rest [width, width]), each followed
    /// by the nonlinearity; returns the statistics after every layer, so growth or decay per layer can be read off.
    /// </summary>
    public static IReadOnlyList<ActivationStats> Stack(Tensor x, int depth, int width, WeightScale scale, Nonlinearity nonlinearity, Generator? generator = null)
    {
        using var _ = Autograd.NoGrad();
        var stats = new List<ActivationStats>(depth);
        var a = x;
        for (int l = 0; l < depth; l++)
        {
            a = Activate(a.MatMul(Weights(a.Size(1), width, scale, generator)), nonlinearity);
            stats.Add(Stats(a));
        }
        return stats;
    }
}
