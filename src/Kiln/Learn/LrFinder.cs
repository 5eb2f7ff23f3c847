using Kiln.Optim;

namespace Kiln.Learn;

/// <summary>The curve of an LR-finder run and the lr it suggests.</summary>
/// <param name="Lrs">Learning rate of each training batch.</param>
/// <param name="Losses">Loss of each training batch.</param>
/// <param name="SuggestedLr">One tenth of the lr with the lowest loss (a safe choice below the steepest fall's end).</param>
/// <param name="MinLoss">The lowest loss seen.</param>
public sealed record LrFindResult(IReadOnlyList<double> Lrs, IReadOnlyList<double> Losses, double SuggestedLr, double MinLoss);

/// <summary>
/// Lesson 18's LRFinderCB: multiplies the lr by gamma after every training batch (ExponentialLR), records lr and loss,
/// cancels validation passes, and stops the fit once the loss exceeds maxMult times its minimum or is NaN.
/// </summary>
public sealed class LrFinderCallback(double gamma = 1.3, double maxMult = 3) : Callback
{
    ExponentialLR? _sched;

    /// <summary>Learning rate of each training batch.</summary>
    public List<double> Lrs { get; } = [];

    /// <summary>Loss of each training batch.</summary>
    public List<double> Losses { get; } = [];

    /// <summary>The lowest loss so far.</summary>
    public double Min { get; private set; } = double.PositiveInfinity;

    /// <summary>True when the run stopped because the loss diverged.</summary>
    public bool Diverged { get; private set; }

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        _sched = new ExponentialLR(learn.Opt!, gamma);
        Lrs.Clear();
        Losses.Clear();
        Min = double.PositiveInfinity;
        Diverged = false;
    }

    /// <inheritdoc/>
    public override void BeforeEpoch(Learner learn)
    {
        if (!learn.Training) throw new CancelEpochException();
    }

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        double loss = learn.Loss!.Item();
        Lrs.Add(learn.Opt!.ParamGroups[0].Lr);
        Losses.Add(loss);
        if (loss < Min) Min = loss;
        if (double.IsNaN(loss) || loss > Min * maxMult)
        {
            Diverged = true;
            throw new CancelFitException();
        }
        _sched!.Step();
    }
}

/// <summary>The LR finder as a learner extension.</summary>
public static class LrFinderExtensions
{
    /// <summary>
    /// Trains from startLr with the lr multiplied by gamma every batch (at most maxEpochs epochs, no validation) until the
    /// loss exceeds maxMult times its minimum or is NaN; the model's weights and buffers (and any pending optimizer state) are restored afterwards.
    /// </summary>
    public static LrFindResult LrFind(this Learner learn, double gamma = 1.3, double maxMult = 3, double startLr = 1e-5, int maxEpochs = 10)
    {
        ArgumentNullException.ThrowIfNull(learn);
        if (!(gamma > 1)) throw new ArgumentException($"LrFind: gamma must be > 1, got {gamma}");
        var saved = learn.Model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        bool wasTraining = learn.Model.Training;
        var cb = new LrFinderCallback(gamma, maxMult);
        var pending = learn.PendingOptimizerState; // a resumed fit's optimizer state is not for the LR finder
        learn.PendingOptimizerState = null;
        try { learn.Fit(maxEpochs, callbacks: [cb], lr: startLr); }
        finally
        {
            learn.Model.LoadStateDict(saved);
            learn.Model.Train(wasTraining);
            learn.PendingOptimizerState = pending;
        }
        int best = cb.Losses.Count == 0 ? -1 : cb.Losses.IndexOf(cb.Losses.Where(l => !double.IsNaN(l)).DefaultIfEmpty(double.NaN).Min());
        double suggested = best < 0 ? double.NaN : cb.Lrs[best] / 10;
        return new LrFindResult(cb.Lrs, cb.Losses, suggested, cb.Min);
    }
}
