using System.Globalization;

namespace Kiln.Nn;

/// <summary>
/// Shared implementation of BatchNorm1d/2d (PyTorch's _BatchNorm): parameters "weight" (ones) and "bias" (zeros) when
/// affine; buffers "running_mean" (zeros), "running_var" (ones) and "num_batches_tracked" (int32 scalar) when tracking
/// running statistics. Training normalises with batch statistics and updates the running ones; evaluation uses them.
/// </summary>
public abstract class BatchNormBase : Module
{
    /// <summary>Number of channels C.</summary>
    public int NumFeatures { get; }

    /// <summary>Added to the variance inside the square root.</summary>
    public float Eps { get; }

    /// <summary>Weight of the new batch statistic in the running average; null uses the cumulative average 1/num_batches_tracked.</summary>
    public float? Momentum { get; }

    /// <summary>Whether the layer has a learnable per-channel weight and bias.</summary>
    public bool Affine { get; }

    /// <summary>Whether running statistics are kept (otherwise batch statistics are used in evaluation too).</summary>
    public bool TrackRunningStats { get; }

    /// <summary>Per-channel scale [C] (null when not affine).</summary>
    public Tensor? Weight { get; }

    /// <summary>Per-channel shift [C] (null when not affine).</summary>
    public Tensor? Bias { get; }

    /// <summary>Running mean [C] (null when not tracking).</summary>
    public Tensor? RunningMean { get; }

    /// <summary>Running (unbiased) variance [C] (null when not tracking).</summary>
    public Tensor? RunningVar { get; }

    /// <summary>Number of training batches seen, an int32 scalar (null when not tracking).</summary>
    public Tensor? NumBatchesTracked { get; }

    /// <summary>Creates the layer for numFeatures channels.</summary>
    protected BatchNormBase(int numFeatures, float eps, float? momentum, bool affine, bool trackRunningStats)
    {
        if (numFeatures <= 0) throw new ArgumentException($"{GetType().Name}: numFeatures must be positive, got {numFeatures}");
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        Affine = affine;
        TrackRunningStats = trackRunningStats;
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(numFeatures));
            Bias = RegisterParameter("bias", Tensor.Zeros(numFeatures));
        }
        if (trackRunningStats)
        {
            RunningMean = RegisterBuffer("running_mean", Tensor.Zeros(numFeatures));
            RunningVar = RegisterBuffer("running_var", Tensor.Ones(numFeatures));
            NumBatchesTracked = RegisterBuffer("num_batches_tracked", Tensor.Zeros([], DType.Int32));
        }
    }

    /// <summary>Resets running mean to 0, running variance to 1 and the batch count to 0.</summary>
    public void ResetRunningStats()
    {
        if (!TrackRunningStats) return;
        using (Autograd.NoGrad())
        {
            RunningMean!.CopyFrom(Tensor.Zeros(NumFeatures));
            RunningVar!.CopyFrom(Tensor.Ones(NumFeatures));
            NumBatchesTracked!.CopyFrom(Tensor.Zeros([], DType.Int32));
        }
    }

    /// <summary>Checks the input's rank for this layer (e.g. 4-d for BatchNorm2d).</summary>
    protected abstract void CheckInput(Tensor x);

    /// <summary>Normalises x [N, C, ...] over all dims but the channel dim.</summary>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckInput(x);
        if (x.Dim >= 2 && x._shape[1] != NumFeatures)
            throw new ArgumentException($"{GetType().Name}: input {Shapes.Str(x._shape)} has {x._shape[1]} channels, the layer expects {NumFeatures}");
        float factor = Momentum ?? 0f;
        if (Training && TrackRunningStats)
        {
            using (Autograd.NoGrad())
                NumBatchesTracked!.CopyFrom(Tensor.Full([], NumBatchesTracked.Item() + 1, DType.Int32));
            if (Momentum == null) factor = 1f / NumBatchesTracked.Item<int>();
        }
        bool batchStats = Training || !TrackRunningStats;
        return F.BatchNorm(x, RunningMean, RunningVar, Weight, Bias, batchStats, factor, Eps);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture,
        $"{NumFeatures}, eps: {Eps}, momentum: {(Momentum is float m ? m.ToString(CultureInfo.InvariantCulture) : "null")}, affine: {Affine}, trackRunningStats: {TrackRunningStats}");
}

/// <summary>Batch normalisation of [N, C] or [N, C, L] inputs over N (and L), per channel.</summary>
public sealed class BatchNorm1d(int numFeatures, float eps = 1e-5f, float? momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
    : BatchNormBase(numFeatures, eps, momentum, affine, trackRunningStats)
{
    /// <inheritdoc/>
    protected override void CheckInput(Tensor x)
    {
        if (x.Dim != 2 && x.Dim != 3) throw new ArgumentException($"BatchNorm1d: expected a 2-d [N, C] or 3-d [N, C, L] input, got shape {Shapes.Str(x._shape)}");
    }
}

/// <summary>Batch normalisation of [N, C, H, W] inputs over N, H and W, per channel.</summary>
public sealed class BatchNorm2d(int numFeatures, float eps = 1e-5f, float? momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
    : BatchNormBase(numFeatures, eps, momentum, affine, trackRunningStats)
{
    /// <inheritdoc/>
    protected override void CheckInput(Tensor x)
    {
        if (x.Dim != 4) throw new ArgumentException($"BatchNorm2d: expected a 4-d [N, C, H, W] input, got shape {Shapes.Str(x._shape)}");
    }
}

/// <summary>Layer normalisation over the trailing normalizedShape dims, with an elementwise weight (ones) and bias (zeros) when elementwiseAffine.</summary>
public sealed class LayerNorm : Module
{
    /// <summary>The trailing dims normalised together.</summary>
    public int[] NormalizedShape { get; }

    /// <summary>Added to the variance inside the square root.</summary>
    public float Eps { get; }

    /// <summary>Elementwise scale (normalizedShape), or null.</summary>
    public Tensor? Weight { get; }

    /// <summary>Elementwise shift (normalizedShape), or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>Layer norm over the trailing dims normalizedShape (e.g. [C] or [C, H, W]).</summary>
    public LayerNorm(int[] normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true, bool bias = true)
    {
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (normalizedShape.Length == 0 || normalizedShape.Any(d => d <= 0))
            throw new ArgumentException($"LayerNorm: normalizedShape must be non-empty with positive sizes, got {Shapes.Str(normalizedShape)}");
        NormalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        if (elementwiseAffine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(NormalizedShape));
            if (bias) Bias = RegisterParameter("bias", Tensor.Zeros(NormalizedShape));
        }
    }

    /// <summary>Layer norm over the last dim of size normalizedShape.</summary>
    public LayerNorm(int normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true, bool bias = true)
        : this([normalizedShape], eps, elementwiseAffine, bias) { }

    /// <summary>Normalises x.</summary>
    public override Tensor Forward(Tensor x) => F.LayerNorm(x, NormalizedShape, Weight, Bias, Eps);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture,
        $"{Shapes.Str(NormalizedShape)}, eps: {Eps}, elementwiseAffine: {Weight != null}");
}

/// <summary>Group normalisation: numChannels split into numGroups groups, each normalised per sample; per-channel weight (ones) and bias (zeros) when affine.</summary>
public sealed class GroupNorm : Module
{
    /// <summary>Number of groups.</summary>
    public int NumGroups { get; }

    /// <summary>Number of channels C.</summary>
    public int NumChannels { get; }

    /// <summary>Added to the variance inside the square root.</summary>
    public float Eps { get; }

    /// <summary>Per-channel scale [C], or null.</summary>
    public Tensor? Weight { get; }

    /// <summary>Per-channel shift [C], or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>Group norm of numChannels channels in numGroups groups (numChannels must be divisible by numGroups).</summary>
    public GroupNorm(int numGroups, int numChannels, float eps = 1e-5f, bool affine = true)
    {
        if (numGroups <= 0 || numChannels <= 0 || numChannels % numGroups != 0)
            throw new ArgumentException($"GroupNorm: numChannels ({numChannels}) must be a positive multiple of numGroups ({numGroups})");
        NumGroups = numGroups;
        NumChannels = numChannels;
        Eps = eps;
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(numChannels));
            Bias = RegisterParameter("bias", Tensor.Zeros(numChannels));
        }
    }

    /// <summary>Normalises x [N, C, *].</summary>
    public override Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Dim < 2 || x._shape[1] != NumChannels)
            throw new ArgumentException($"GroupNorm: expected an input [N, {NumChannels}, *], got shape {Shapes.Str(x._shape)}");
        return F.GroupNorm(x, NumGroups, Weight, Bias, Eps);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture,
        $"{NumGroups}, {NumChannels}, eps: {Eps}, affine: {Weight != null}");
}

/// <summary>Channel dropout: in training zeroes whole channels of [N, C, H, W] with probability p and scales the rest by 1/(1-p); identity in evaluation.</summary>
public sealed class Dropout2d : Module
{
    /// <summary>Probability of zeroing a channel.</summary>
    public float P { get; }

    /// <summary>Generator for the masks (null: the default generator).</summary>
    public Generator? Generator { get; set; }

    /// <summary>Channel dropout with probability p in [0, 1].</summary>
    public Dropout2d(float p = 0.5f, Generator? generator = null)
    {
        F.CheckDropoutP(p, "Dropout2d");
        P = p;
        Generator = generator;
    }

    /// <summary>Applies channel dropout in training mode; identity in evaluation mode.</summary>
    public override Tensor Forward(Tensor x) => F.Dropout2d(x, P, Training, Generator);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(CultureInfo.InvariantCulture, $"p: {P}");
}
