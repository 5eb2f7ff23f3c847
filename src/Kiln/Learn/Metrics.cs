using System.Diagnostics;

namespace Kiln.Learn;

/// <summary>
/// A running metric (lesson 15): <see cref="Add(Tensor, Tensor?, int)"/> computes one value per batch with
/// <see cref="Calc"/> and remembers it with its weight n; <see cref="Value"/> is the weighted mean of those values.
/// </summary>
public abstract class Metric
{
    readonly List<(double Value, double N)> _values = [];

    /// <summary>Name shown in logs and tables.</summary>
    public virtual string Name => GetType().Name.ToLowerInvariant();

    /// <summary>The value of the last batch added.</summary>
    public double Last { get; private set; } = double.NaN;

    /// <summary>Forgets every value (called at the start of each epoch).</summary>
    public void Reset()
    {
        _values.Clear();
        Last = double.NaN;
    }

    /// <summary>Adds the metric of one batch (inputs and optional targets) with weight n (usually the batch size).</summary>
    public void Add(Tensor input, Tensor? target = null, int n = 1)
    {
        ArgumentNullException.ThrowIfNull(input);
        Last = Calc(input, target);
        _values.Add((Last, n));
    }

    /// <summary>Adds an already computed value with weight n.</summary>
    public void Add(double value, int n = 1)
    {
        Last = value;
        _values.Add((value, n));
    }

    /// <summary>The weighted mean sum(value * n) / sum(n) of the values added since the last reset (NaN when none).</summary>
    public double Value
    {
        get
        {
            double s = 0, n = 0;
            foreach (var (v, w) in _values) { s += v * w; n += w; }
            return n == 0 ? double.NaN : s / n;
        }
    }

    /// <summary>The metric of one batch.</summary>
    protected abstract double Calc(Tensor input, Tensor? target);
}

/// <summary>The weighted mean of the values added (lesson 15's base Metric, used for the loss): Calc is the mean of the input.</summary>
public sealed class Mean(string name = "mean") : Metric
{
    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    protected override double Calc(Tensor input, Tensor? target) => input.Float().Mean().Item();
}

/// <summary>
/// Fraction of predictions equal to the targets: input is either class indices shaped like target, or scores with one
/// more dimension (classes in dimension 1), whose argmax is taken.
/// </summary>
public class Accuracy : Metric
{
    /// <inheritdoc/>
    public override string Name => "accuracy";

    /// <summary>The accuracy of one batch.</summary>
    public static double Compute(Tensor input, Tensor target)
    {
        var pred = input.Dim == target.Dim + 1 ? input.ArgMax(1) : input;
        if (!Shapes.Equal(pred.Shape, target.Shape))
            throw new ArgumentException($"Accuracy: predictions {Shapes.Str(input.Shape)} do not match targets {Shapes.Str(target.Shape)} (pass class indices of the targets' shape or scores [N, C, ...])");
        if (target.Numel == 0) return double.NaN;
        // Counted in integers so the value is exact (a float32 mean of 0/1 is not).
        var (a, b) = (pred.Int().ToIntArray(), target.Int().ToIntArray());
        int hits = 0;
        for (int i = 0; i < a.Length; i++) if (a[i] == b[i]) hits++;
        return (double)hits / a.Length;
    }

    /// <inheritdoc/>
    protected override double Calc(Tensor input, Tensor? target) =>
        Compute(input, target ?? throw new ArgumentNullException(nameof(target), "Accuracy: needs targets"));
}

/// <summary>1 - accuracy.</summary>
public sealed class ErrorRate : Accuracy
{
    /// <inheritdoc/>
    public override string Name => "error_rate";

    /// <inheritdoc/>
    protected override double Calc(Tensor input, Tensor? target) => 1 - base.Calc(input, target);
}

/// <summary>What <see cref="MetricsCallback"/> logs after each pass.</summary>
/// <param name="Epoch">The epoch.</param>
/// <param name="Training">True for the training pass, false for validation.</param>
/// <param name="Loss">Mean loss over the pass, weighted by batch size.</param>
/// <param name="Metrics">Each metric's value by name.</param>
/// <param name="Time">Wall time of the pass.</param>
public sealed record EpochStats(int Epoch, bool Training, double Loss, IReadOnlyDictionary<string, double> Metrics, TimeSpan Time)
{
    /// <summary>One line like "epoch 0 train loss 0.512 accuracy 0.823 (1.2 s)".</summary>
    public override string ToString() =>
        $"epoch {Epoch} {(Training ? "train" : "eval")} loss {Loss:0.000}"
        + string.Concat(Metrics.Select(kv => $" {kv.Key} {kv.Value:0.000}")) + $" ({Time.TotalSeconds:0.0} s)";
}

/// <summary>
/// Accumulates the loss and metrics over each pass (lesson 15's MetricsCB): resets them before the pass, adds every batch
/// (weighted by its size), and after the pass appends an <see cref="EpochStats"/> to <see cref="History"/> and logs it.
/// </summary>
public sealed class MetricsCallback : Callback
{
    readonly Stopwatch _watch = new();

    /// <summary>The metrics tracked.</summary>
    public IReadOnlyList<Metric> Metrics { get; }

    /// <summary>The running mean loss.</summary>
    public Mean Loss { get; } = new("loss");

    /// <summary>Every pass logged so far (across fits).</summary>
    public List<EpochStats> History { get; } = [];

    /// <summary>Where each pass's stats go (default: one line on the console); a progress display replaces it.</summary>
    public Action<EpochStats>? Log { get; set; } = s => Console.WriteLine(s);

    /// <summary>A metrics callback over the given metrics.</summary>
    public MetricsCallback(params Metric[] metrics)
    {
        var dup = metrics.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"MetricsCallback: two metrics are named '{dup.Key}'");
        Metrics = metrics;
    }

    /// <inheritdoc/>
    public override void BeforeEpoch(Learner learn)
    {
        foreach (var m in Metrics) m.Reset();
        Loss.Reset();
        _watch.Restart();
    }

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        var b = learn.Batch!;
        using (Autograd.NoGrad())
        {
            foreach (var m in Metrics) m.Add(learn.Preds!, b.Count > 1 ? b.Y : null, b.Size);
            Loss.Add(learn.Loss!.Item(), b.Size);
        }
    }

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        var stats = new EpochStats(learn.Epoch, learn.Training, Loss.Value, Metrics.ToDictionary(m => m.Name, m => m.Value), _watch.Elapsed);
        History.Add(stats);
        Log?.Invoke(stats);
    }
}
