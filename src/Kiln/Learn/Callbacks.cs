using Kiln.Data;
using Kiln.Nn;
using Kiln.Optim;

namespace Kiln.Learn;

/// <summary>
/// Records, for every training batch, the lr and momentum the optimizer step used (group 0; momentum is "momentum" or
/// Adam's "beta1") and the loss; after each epoch a row of <see cref="Values"/>: train loss, valid loss and the metrics
/// of <see cref="MetricsCallback"/> if there is one (lesson 4's recorder.values). Each training fit starts a fresh record;
/// fits that do not train (GetPreds, TTA, validation only) leave it as it is.
/// </summary>
public sealed class Recorder : Callback
{
    double _trainLoss = double.NaN;
    double _lossSum, _lossN;
    bool _pending;

    /// <summary>Runs after <see cref="MetricsCallback"/> so its epoch values are available.</summary>
    public override int Order => 1;

    /// <summary>Learning rate of each training batch.</summary>
    public List<double> Lrs { get; } = [];
    /// <summary>Momentum (or beta1) of each training batch (NaN when the optimizer has neither).</summary>
    public List<double> Moms { get; } = [];
    /// <summary>Loss of each training batch.</summary>
    public List<double> Losses { get; } = [];
    /// <summary>Per epoch: train loss, valid loss (NaN if not validated), then the metrics' validation values.</summary>
    public List<double[]> Values { get; } = [];
    /// <summary>Names of the columns of <see cref="Values"/>.</summary>
    public List<string> ValueNames { get; } = [];

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        if (!learn.FitTrains) return;
        // Each training fit starts a new record (an LR-finder run does not mix into the next fit's curves).
        Lrs.Clear();
        Moms.Clear();
        Losses.Clear();
        Values.Clear();
        _pending = false;
        _trainLoss = double.NaN;
        ValueNames.Clear();
        ValueNames.AddRange(["train_loss", "valid_loss"]);
        if (learn.Get<MetricsCallback>() is { } mc) ValueNames.AddRange(mc.Metrics.Select(m => m.Name));
    }

    /// <inheritdoc/>
    public override void BeforeEpoch(Learner learn)
    {
        if (!learn.FitTrains) return;
        if (learn.Training && _pending) AddRow(learn, double.NaN); // the previous epoch had no validation pass
        _lossSum = 0;
        _lossN = 0;
    }

    /// <inheritdoc/>
    public override void CleanupFit(Learner learn)
    {
        if (learn.FitTrains && _pending) AddRow(learn, double.NaN);
    }

    /// <inheritdoc/>
    public override void AfterStep(Learner learn)
    {
        var g = learn.Opt!.ParamGroups[0];
        Lrs.Add(g.Lr);
        Moms.Add(g.Has("momentum") ? g.Momentum : g.Has("beta1") ? g.Beta1 : double.NaN);
    }

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        if (!learn.FitTrains) return;
        double loss = learn.Loss!.Item();
        int n = learn.Batch!.Size;
        _lossSum += loss * n;
        _lossN += n;
        if (learn.Training) Losses.Add(loss);
    }

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        if (!learn.FitTrains) return;
        double mean = _lossN == 0 ? double.NaN : _lossSum / _lossN;
        if (learn.Training)
        {
            _trainLoss = mean;
            _pending = true;
        }
        else AddRow(learn, mean);
    }

    void AddRow(Learner learn, double validLoss)
    {
        var row = new List<double> { _trainLoss, validLoss };
        if (learn.Get<MetricsCallback>() is { } mc) row.AddRange(mc.Metrics.Select(m => m.Value));
        Values.Add([.. row]);
        _trainLoss = double.NaN;
        _pending = false;
    }
}

/// <summary>
/// Base of the schedule callbacks (lesson 18's BaseSchedCB): creates the scheduler from the fit's optimizer in BeforeFit
/// (fast-forwarding past the batches of epochs skipped by a resumed fit) and steps it only while training.
/// </summary>
public abstract class SchedCallback(Func<Optimizer, LRScheduler> factory) : Callback
{
    /// <summary>The scheduler of the current fit.</summary>
    public LRScheduler? Sched { get; private set; }

    /// <summary>Number of Step calls made in the current fit (fast-forward steps included).</summary>
    public int Steps { get; private set; }

    /// <summary>How many steps an epoch takes (the number of training batches, or 1).</summary>
    protected abstract int StepsPerEpoch(Learner learn);

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        Sched = factory(learn.Opt!);
        Steps = 0;
        for (int i = learn.StartEpoch * StepsPerEpoch(learn); i > 0; i--) DoStep();
    }

    /// <summary>Steps the scheduler when the learner is training.</summary>
    protected void StepIfTraining(Learner learn)
    {
        if (learn.Training) DoStep();
    }

    void DoStep()
    {
        Sched!.Step();
        Steps++;
    }
}

/// <summary>Steps a scheduler after every training batch (lesson 18's BatchSchedCB).</summary>
public sealed class BatchSchedCallback(Func<Optimizer, LRScheduler> factory) : SchedCallback(factory)
{
    /// <inheritdoc/>
    protected override int StepsPerEpoch(Learner learn) => learn.Dls.Train.Count;

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn) => StepIfTraining(learn);
}

/// <summary>Steps a scheduler after every training epoch (lesson 18's EpochSchedCB).</summary>
public sealed class EpochSchedCallback(Func<Optimizer, LRScheduler> factory) : SchedCallback(factory)
{
    /// <inheritdoc/>
    protected override int StepsPerEpoch(Learner learn) => 1;

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn) => StepIfTraining(learn);
}

/// <summary>Stops the fit after the first batch (to preview a batch or check a training step).</summary>
public sealed class SingleBatchCallback : Callback
{
    /// <inheritdoc/>
    public override int Order => 1;

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn) => throw new CancelFitException();
}

/// <summary>Applies a batch transform before each batch: on training batches if onTrain, on validation batches if onValid (lesson 18's BatchTransformCB).</summary>
public sealed class BatchTransformCallback(Func<Batch, Batch> transform, bool onTrain = true, bool onValid = true) : Callback
{
    /// <inheritdoc/>
    public override void BeforeBatch(Learner learn)
    {
        if ((onTrain && learn.Training) || (onValid && !learn.Training)) learn.Batch = transform(learn.Batch!);
    }

    /// <summary>A batch transform that maps the input only.</summary>
    public static Func<Batch, Batch> OnInput(Func<Tensor, Tensor> tfmX) =>
        b => new Batch([tfmX(b.X), .. b.Targets.ToArray()]);
}

/// <summary>Collects the predictions and targets of every batch of a fit and concatenates them after it (lesson 18's CapturePreds).</summary>
public sealed class CapturePreds : Callback
{
    readonly List<Tensor> _preds = [], _targets = [];

    /// <summary>All predictions of the last fit, concatenated along dimension 0.</summary>
    public Tensor? Preds { get; private set; }
    /// <summary>All targets of the last fit, concatenated along dimension 0.</summary>
    public Tensor? Targets { get; private set; }

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn) { _preds.Clear(); _targets.Clear(); Preds = Targets = null; }

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        _preds.Add(learn.Preds!.Detach());
        if (learn.Batch!.Count > 1) _targets.Add(learn.Batch.Y.Detach());
    }

    /// <inheritdoc/>
    public override void AfterFit(Learner learn)
    {
        if (_preds.Count > 0) Preds = Tensor.Cat(_preds);
        if (_targets.Count > 0) Targets = Tensor.Cat(_targets);
    }
}

/// <summary>Test-time augmentation and ensembles (lesson 18).</summary>
public static class Tta
{
    /// <summary>Flips an image batch [N, C, H, W] or [N, H, W] along its last dimension (width): a horizontal flip.</summary>
    public static Tensor FlipHorizontal(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Dim < 3)
            throw new ArgumentException($"Tta.FlipHorizontal: expected an image batch [N, C, H, W] or [N, H, W], got {Shapes.Str(x.Shape)} (flattened images cannot be flipped)");
        int w = x.Size(-1);
        var idx = Tensor.FromArray(Enumerable.Range(0, w).Reverse().ToArray());
        return x.IndexSelect(x.Dim - 1, idx);
    }

    /// <summary>
    /// Shifts images [N, C, H, W], [C, H, W] or [H, W] by dy rows and dx columns: out[y, x] = x[y - dy, x - dx], zero where
    /// that falls outside the image (the zero padding of <see cref="RandomCrop"/>, so a shift by at most its padding is one of
    /// its crops).
    /// </summary>
    public static Tensor Shift(Tensor x, int dy, int dx)
    {
        ArgumentNullException.ThrowIfNull(x);
        var (n, c, h, w) = Img.Geometry(x, "Tta.Shift");
        if (Math.Abs(dy) >= h || Math.Abs(dx) >= w)
            throw new ArgumentException($"Tta.Shift: shift ({dy}, {dx}) leaves nothing of a {h}x{w} image");
        var src = Img.Data(x);
        var r = Tensor.Zeros(x.Shape);
        var dst = r.FloatSpan;
        int item = c * h * w;
        for (int i = 0; i < n; i++)
            RandomCrop.CropItem(src.Slice(i * item, item), dst.Slice(i * item, item), c, h, w, h, w, -dy, -dx);
        return r;
    }

    /// <summary>
    /// Test-time augmentation: the average of the model's outputs on the plain and the horizontally flipped validation (or dl)
    /// batches (lesson 18), with the targets. With <paramref name="shift"/> &gt; 0 each of the two is also shifted to every
    /// offset in {-shift, 0, shift}² (<see cref="Shift"/>: the positions a crop with that much zero padding can take), so 18
    /// outputs per image are averaged. Outputs are averaged as the model returns them (logits), as lesson 18 does.
    /// </summary>
    public static (Tensor Preds, Tensor Targets) Predict(Learner learn, IBatchLoader? dl = null, int shift = 0)
    {
        ArgumentNullException.ThrowIfNull(learn);
        ArgumentOutOfRangeException.ThrowIfNegative(shift);
        var (sum, targets) = learn.GetPreds(dl);
        int count = 1;
        foreach (bool flip in new[] { false, true })
            for (int dy = -shift; dy <= shift; dy += Math.Max(shift, 1))
                for (int dx = -shift; dx <= shift; dx += Math.Max(shift, 1))
                {
                    if (!flip && dy == 0 && dx == 0) continue;   // the plain pass, already in sum
                    int sy = dy, sx = dx;
                    bool f = flip;
                    var cb = new BatchTransformCallback(BatchTransformCallback.OnInput(x =>
                    {
                        var moved = sy == 0 && sx == 0 ? x : Shift(x, sy, sx);
                        return f ? FlipHorizontal(moved) : moved;
                    }), onTrain: false, onValid: true);
                    sum += learn.GetPreds(dl, [cb]).Preds;
                    count++;
                }
        return (sum / count, targets);
    }

    /// <summary>The average of several models' predictions on the same loader (each learner's validation loader if dl is null), with the targets of the first.</summary>
    public static (Tensor Preds, Tensor Targets) Ensemble(IReadOnlyList<Learner> learners, IBatchLoader? dl = null)
    {
        if (learners.Count == 0) throw new ArgumentException("Tta.Ensemble: needs at least one learner");
        Tensor? sum = null, targets = null;
        foreach (var l in learners)
        {
            var (p, t) = l.GetPreds(dl);
            sum = sum is null ? p : sum + p;
            targets ??= t;
        }
        return (sum! / learners.Count, targets!);
    }
}

/// <summary>Which way a monitored value improves.</summary>
public enum MonitorMode
{
    /// <summary>Lower is better (losses).</summary>
    Min,
    /// <summary>Higher is better (accuracy).</summary>
    Max,
}

/// <summary>Reads a monitored value after each validation pass: "valid_loss", "train_loss" or a metric's name.</summary>
public abstract class MonitorCallback(string monitor, MonitorMode mode, double minDelta) : Callback
{
    /// <summary>After metrics (0) and the recorder (1).</summary>
    public override int Order => 2;

    /// <summary>The best value seen in this fit.</summary>
    public double Best { get; private set; }

    /// <summary>The epoch of the best value.</summary>
    public int BestEpoch { get; private set; } = -1;

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        Best = mode == MonitorMode.Min ? double.PositiveInfinity : double.NegativeInfinity;
        BestEpoch = -1;
    }

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        if (learn.Training != (monitor == "train_loss")) return;
        var mc = learn.Get<MetricsCallback>()
            ?? throw new InvalidOperationException($"{GetType().Name}: needs a MetricsCallback on the learner to read '{monitor}'");
        var stats = mc.History[^1];
        double v = monitor switch
        {
            "valid_loss" or "train_loss" => stats.Loss,
            _ => stats.Metrics.TryGetValue(monitor, out var m) ? m
                : throw new InvalidOperationException($"{GetType().Name}: no metric '{monitor}' (have: valid_loss, {string.Join(", ", stats.Metrics.Keys)})"),
        };
        bool better = mode == MonitorMode.Min ? v < Best - minDelta : v > Best + minDelta;
        if (better) { Best = v; BestEpoch = learn.Epoch; }
        OnValue(learn, v, better);
    }

    /// <summary>Called after each validation pass with the value and whether it improved on the best.</summary>
    protected abstract void OnValue(Learner learn, double value, bool improved);
}

/// <summary>Stops the fit when the monitored value has not improved by minDelta for patience validation passes.</summary>
public sealed class EarlyStopping(string monitor = "valid_loss", MonitorMode mode = MonitorMode.Min, double minDelta = 0, int patience = 1)
    : MonitorCallback(monitor, mode, minDelta)
{
    int _wait;

    /// <summary>The epoch after which the fit was stopped, or -1.</summary>
    public int StoppedEpoch { get; private set; } = -1;

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn) { base.BeforeFit(learn); _wait = 0; StoppedEpoch = -1; }

    /// <inheritdoc/>
    protected override void OnValue(Learner learn, double value, bool improved)
    {
        if (improved) { _wait = 0; return; }
        if (++_wait >= patience)
        {
            StoppedEpoch = learn.Epoch;
            throw new CancelFitException();
        }
    }
}

/// <summary>Saves a checkpoint (model, optimizer, epoch) to path each time the monitored value improves; optionally reloads the best weights after the fit.</summary>
public sealed class SaveBest(string path, string monitor = "valid_loss", MonitorMode mode = MonitorMode.Min, double minDelta = 0, bool loadAtEnd = false)
    : MonitorCallback(monitor, mode, minDelta)
{
    /// <summary>The checkpoint file.</summary>
    public string Path => path;

    /// <inheritdoc/>
    protected override void OnValue(Learner learn, double value, bool improved)
    {
        if (improved) Checkpoint.Save(learn, path, learn.Epoch + 1);
    }

    /// <inheritdoc/>
    public override void AfterFit(Learner learn)
    {
        if (loadAtEnd && BestEpoch >= 0) Checkpoint.LoadModel(learn.Model, path);
    }
}
