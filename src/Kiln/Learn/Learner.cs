using Kiln.Data;
using Kiln.Nn;
using Kiln.Optim;

namespace Kiln.Learn;

/// <summary>Thrown by a callback to stop the whole fit: "after fit" is skipped, "cleanup fit" still runs.</summary>
public sealed class CancelFitException : Exception
{
    /// <summary>A cancellation of the current fit.</summary>
    public CancelFitException() : base("Fit cancelled by a callback.") { }
}

/// <summary>Thrown by a callback to stop the current epoch (one training or validation pass): "after epoch" is skipped, "cleanup epoch" still runs.</summary>
public sealed class CancelEpochException : Exception
{
    /// <summary>A cancellation of the current epoch.</summary>
    public CancelEpochException() : base("Epoch cancelled by a callback.") { }
}

/// <summary>Thrown by a callback to skip the rest of the current batch: "after batch" is skipped, "cleanup batch" still runs.</summary>
public sealed class CancelBatchException : Exception
{
    /// <summary>A cancellation of the current batch.</summary>
    public CancelBatchException() : base("Batch cancelled by a callback.") { }
}

/// <summary>A plain <see cref="IDataLoaders"/> over two loaders.</summary>
public sealed record LoaderPair(IBatchLoader Train, IBatchLoader Valid) : IDataLoaders;

/// <summary>
/// A step of the training loop that plugs into a <see cref="Learner"/> (miniai's Callback). Every event is a no-op by
/// default; callbacks run sorted by <see cref="Order"/> (equal orders in the order they were added) and receive the learner.
/// </summary>
public abstract class Callback
{
    /// <summary>Position in the run order; lower runs first (metrics 0 before progress 1, as in miniai).</summary>
    public virtual int Order => 0;

    /// <summary>Before the first epoch (the optimizer exists now).</summary>
    public virtual void BeforeFit(Learner learn) { }
    /// <summary>After the last epoch, unless the fit was cancelled.</summary>
    public virtual void AfterFit(Learner learn) { }
    /// <summary>At the end of a fit, always (also after a cancellation or an exception).</summary>
    public virtual void CleanupFit(Learner learn) { }
    /// <summary>Before a training or validation pass (<see cref="Learner.Training"/> says which).</summary>
    public virtual void BeforeEpoch(Learner learn) { }
    /// <summary>After a pass, unless it was cancelled.</summary>
    public virtual void AfterEpoch(Learner learn) { }
    /// <summary>At the end of a pass, always.</summary>
    public virtual void CleanupEpoch(Learner learn) { }
    /// <summary>Before a batch is predicted (a transform may replace <see cref="Learner.Batch"/>).</summary>
    public virtual void BeforeBatch(Learner learn) { }
    /// <summary>After a batch, unless it was cancelled.</summary>
    public virtual void AfterBatch(Learner learn) { }
    /// <summary>At the end of a batch, always.</summary>
    public virtual void CleanupBatch(Learner learn) { }
    /// <summary>After <see cref="Learner.Predict()"/> set the predictions.</summary>
    public virtual void AfterPredict(Learner learn) { }
    /// <summary>After <see cref="Learner.GetLoss"/> set the loss.</summary>
    public virtual void AfterLoss(Learner learn) { }
    /// <summary>After the backward pass (gradients are available).</summary>
    public virtual void AfterBackward(Learner learn) { }
    /// <summary>After the optimizer step.</summary>
    public virtual void AfterStep(Learner learn) { }

    /// <summary>Training step: sets <see cref="Learner.Preds"/> (a learner without its own Predict calls this on each callback).</summary>
    public virtual void Predict(Learner learn) { }
    /// <summary>Training step: sets <see cref="Learner.Loss"/>.</summary>
    public virtual void GetLoss(Learner learn) { }
    /// <summary>Training step: back-propagates the loss.</summary>
    public virtual void Backward(Learner learn) { }
    /// <summary>Training step: updates the parameters.</summary>
    public virtual void Step(Learner learn) { }
    /// <summary>Training step: clears (or decays) the gradients.</summary>
    public virtual void ZeroGrad(Learner learn) { }
}

/// <summary>Supplies the standard training step to a plain <see cref="Learner"/>: preds = model(x); loss = lossFunc(preds, y); backward; step; zero grad.</summary>
public sealed class TrainCallback : Callback
{
    /// <inheritdoc/>
    public override void Predict(Learner learn) => learn.Preds = learn.Model.Call(learn.Batch!.X);
    /// <inheritdoc/>
    public override void GetLoss(Learner learn) => learn.Loss = learn.LossFunc(learn.Preds!, learn.Batch!.Y);
    /// <inheritdoc/>
    public override void Backward(Learner learn) => learn.Loss!.Backward();
    /// <inheritdoc/>
    public override void Step(Learner learn) => learn.Opt!.Step();
    /// <inheritdoc/>
    public override void ZeroGrad(Learner learn) => learn.Opt!.ZeroGrad();
}

/// <summary>
/// miniai's Learner: fit -> epochs -> batches with before/after/cleanup events, three cancel exceptions and callbacks for
/// everything else. The training step (Predict, GetLoss, Backward, Step, ZeroGrad) is delegated to callbacks (add a
/// <see cref="TrainCallback"/>) unless a subclass such as <see cref="TrainLearner"/> overrides it.
/// </summary>
public class Learner
{
    readonly List<Callback> _callbacks = [];
    Callback[]? _sorted; // the callbacks in run order; rebuilt after each change

    /// <summary>The model trained.</summary>
    public Module Model { get; set; }

    /// <summary>The training and validation loaders.</summary>
    public IDataLoaders Dls { get; set; }

    /// <summary>The loss of (predictions, targets).</summary>
    public Func<Tensor, Tensor, Tensor> LossFunc { get; set; }

    /// <summary>Default learning rate of a fit.</summary>
    public double Lr { get; set; }

    /// <summary>Creates the optimizer of each fit from the parameters and the lr (default: plain SGD).</summary>
    public Func<IEnumerable<Tensor>, double, Optimizer> OptFunc { get; set; }

    /// <summary>The callbacks in the order they were added (they run sorted by Order).</summary>
    public IReadOnlyList<Callback> Callbacks => _callbacks;

    // ---- state visible to callbacks ----

    /// <summary>The optimizer of the current (or last) fit.</summary>
    public Optimizer? Opt { get; set; }
    /// <summary>Number of epochs of the current fit.</summary>
    public int NEpochs { get; private set; }
    /// <summary>The first epoch of the current fit (0 unless resuming).</summary>
    public int StartEpoch { get; private set; }
    /// <summary>The current epoch.</summary>
    public int Epoch { get; private set; }
    /// <summary>Index of the current batch within the pass.</summary>
    public int Iter { get; private set; }
    /// <summary>The current batch (a BeforeBatch callback may replace it).</summary>
    public Batch? Batch { get; set; }
    /// <summary>The predictions for the current batch.</summary>
    public Tensor? Preds { get; set; }
    /// <summary>The loss of the current batch.</summary>
    public Tensor? Loss { get; set; }
    /// <summary>True during a training pass, false during validation.</summary>
    public bool Training { get; private set; }

    /// <summary>Whether the current fit trains (false for prediction passes such as GetPreds, TTA and validation-only fits).</summary>
    public bool FitTrains { get; private set; }
    /// <summary>The loader of the current pass.</summary>
    public IBatchLoader? Dl { get; private set; }

    /// <summary>Optimizer state to restore into the next training fit's fresh optimizer (set by <see cref="Checkpoint.Load(Learner, string)"/>).</summary>
    public OptimizerStateDict? PendingOptimizerState { get; set; }

    /// <summary>A learner over a model, a training and a validation loader, a loss, a default lr, callbacks and an optimizer factory (default SGD).</summary>
    public Learner(Module model, IBatchLoader train, IBatchLoader valid, Func<Tensor, Tensor, Tensor> lossFunc, double lr = 0.1,
        IEnumerable<Callback>? callbacks = null, Func<IEnumerable<Tensor>, double, Optimizer>? optFunc = null)
        : this(model, new LoaderPair(train, valid), lossFunc, lr, callbacks, optFunc) { }

    /// <summary>A learner over a model, a pair of loaders, a loss, a default lr, callbacks and an optimizer factory (default SGD).</summary>
    public Learner(Module model, IDataLoaders dls, Func<Tensor, Tensor, Tensor> lossFunc, double lr = 0.1,
        IEnumerable<Callback>? callbacks = null, Func<IEnumerable<Tensor>, double, Optimizer>? optFunc = null)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Dls = dls ?? throw new ArgumentNullException(nameof(dls));
        LossFunc = lossFunc ?? throw new ArgumentNullException(nameof(lossFunc));
        Lr = lr;
        OptFunc = optFunc ?? ((ps, l) => new SGD(ps, l));
        if (callbacks != null) foreach (var cb in callbacks) Add(cb);
    }

    /// <summary>Adds callbacks for every later fit; returns this.</summary>
    public Learner Add(params Callback[] callbacks)
    {
        foreach (var cb in callbacks) _callbacks.Add(cb ?? throw new ArgumentNullException(nameof(callbacks)));
        _sorted = null;
        return this;
    }

    /// <summary>Removes a callback; true when it was present.</summary>
    public bool Remove(Callback callback)
    {
        _sorted = null;
        return _callbacks.Remove(callback);
    }

    /// <summary>The first callback of type T, or null.</summary>
    public T? Get<T>() where T : Callback => _callbacks.OfType<T>().FirstOrDefault();

    /// <summary>
    /// Trains for nEpochs (from startEpoch when resuming), each epoch a training pass (if train) and a validation pass
    /// without gradient tracking (if valid). callbacks apply to this fit only; lr overrides <see cref="Lr"/>; the
    /// optimizer is created afresh (then loaded from <see cref="PendingOptimizerState"/> if one is set).
    /// </summary>
    public void Fit(int nEpochs = 1, bool train = true, bool valid = true, IEnumerable<Callback>? callbacks = null, double? lr = null, int startEpoch = 0)
    {
        if (nEpochs < 0) throw new ArgumentOutOfRangeException(nameof(nEpochs), $"Fit: number of epochs must be >= 0, got {nEpochs}");
        if (startEpoch < 0 || startEpoch > nEpochs) throw new ArgumentOutOfRangeException(nameof(startEpoch), $"Fit: start epoch {startEpoch} is outside 0..{nEpochs}");
        var added = callbacks?.ToList() ?? [];
        foreach (var cb in added) ArgumentNullException.ThrowIfNull(cb, nameof(callbacks));
        _callbacks.AddRange(added);
        _sorted = null;
        try
        {
            NEpochs = nEpochs;
            StartEpoch = startEpoch;
            FitTrains = train;
            Opt = OptFunc(Model.Parameters(), lr ?? Lr);
            // Only a training fit takes the pending state, so GetPreds after Checkpoint.Load does not use it up.
            if (train && PendingOptimizerState is { } state)
            {
                Opt.LoadStateDict(state);
                PendingOptimizerState = null;
            }
            WithEvents(Event.Fit, () => FitEpochs(train, valid));
        }
        finally
        {
            foreach (var cb in added) _callbacks.Remove(cb);
            _sorted = null;
        }
    }

    void FitEpochs(bool train, bool valid)
    {
        for (Epoch = StartEpoch; Epoch < NEpochs; Epoch++)
        {
            if (train) OneEpoch(true);
            if (valid)
                using (Autograd.NoGrad()) OneEpoch(false);
        }
    }

    void OneEpoch(bool training)
    {
        Model.Train(training);
        Training = training;
        Dl = training ? Dls.Train : Dls.Valid;
        WithEvents(Event.Epoch, () =>
        {
            int i = 0;
            foreach (var b in Dl)
            {
                Iter = i++;
                Batch = b;
                WithEvents(Event.Batch, OneBatch);
            }
        });
    }

    void OneBatch()
    {
        Preds = null;
        Loss = null;
        Predict();
        if (Preds is null)
            throw new InvalidOperationException("Learner: nothing set Preds; add a TrainCallback (or use TrainLearner) or set Preds in a callback's Predict.");
        Run(Event.AfterPredict);
        GetLoss();
        if (Loss is null)
            throw new InvalidOperationException("Learner: nothing set Loss; add a TrainCallback (or use TrainLearner) or set Loss in a callback's GetLoss.");
        Run(Event.AfterLoss);
        if (!Training) return;
        Backward();
        Run(Event.AfterBackward);
        Step();
        Run(Event.AfterStep);
        ZeroGrad();
    }

    /// <summary>Sets <see cref="Preds"/> for <see cref="Batch"/>; by default asks the callbacks.</summary>
    public virtual void Predict() => Run(Event.Predict);
    /// <summary>Sets <see cref="Loss"/> from <see cref="Preds"/> and the batch; by default asks the callbacks.</summary>
    public virtual void GetLoss() => Run(Event.GetLoss);
    /// <summary>Back-propagates <see cref="Loss"/>; by default asks the callbacks.</summary>
    public virtual void Backward() => Run(Event.Backward);
    /// <summary>Updates the parameters; by default asks the callbacks.</summary>
    public virtual void Step() => Run(Event.Step);
    /// <summary>Clears the gradients; by default asks the callbacks.</summary>
    public virtual void ZeroGrad() => Run(Event.ZeroGrad);

    /// <summary>One-cycle training (PyTorch's OneCycleLR stepped every training batch) for epochs with peak lr maxLr; startEpoch resumes mid-cycle.</summary>
    public void FitOneCycle(int epochs, double maxLr, IEnumerable<Callback>? callbacks = null, double pctStart = 0.3, int startEpoch = 0)
    {
        int total = epochs * Dls.Train.Count;
        var sched = new BatchSchedCallback(opt => new OneCycleLR(opt, maxLr, total, pctStart));
        Fit(epochs, callbacks: [sched, .. callbacks ?? []], lr: maxLr, startEpoch: startEpoch);
    }

    /// <summary>Predictions and targets for every batch of dl (default: the validation loader), in evaluation mode without gradients; the model's mode is restored.</summary>
    public (Tensor Preds, Tensor Targets) GetPreds(IBatchLoader? dl = null, IEnumerable<Callback>? callbacks = null)
    {
        var saved = Dls;
        bool wasTraining = Model.Training;
        var cp = new CapturePreds();
        try
        {
            if (dl != null) Dls = new LoaderPair(saved.Train, dl);
            Fit(1, train: false, valid: true, callbacks: [cp, .. callbacks ?? []]);
        }
        finally
        {
            Dls = saved;
            Model.Train(wasTraining);
        }
        return (cp.Preds!, cp.Targets!);
    }

    /// <summary>The model's output for an input batch x (evaluation mode, no gradients); the model's mode is restored.</summary>
    public Tensor Predict(Tensor x)
    {
        bool was = Model.Training;
        try
        {
            Model.Eval();
            using (Autograd.NoGrad()) return Model.Call(x);
        }
        finally { Model.Train(was); }
    }

    /// <summary>The model's output for one item (an input without the batch dimension): the batch of one, squeezed.</summary>
    public Tensor PredictItem(Tensor item) => Predict(item.Unsqueeze(0)).Squeeze(0);

    // ---- events ----

    /// <summary>The events callbacks handle.</summary>
    internal enum Event
    {
        BeforeFit, AfterFit, CleanupFit, BeforeEpoch, AfterEpoch, CleanupEpoch, BeforeBatch, AfterBatch, CleanupBatch,
        AfterPredict, AfterLoss, AfterBackward, AfterStep, Predict, GetLoss, Backward, Step, ZeroGrad,
        Fit, Epoch, Batch,
    }

    void WithEvents(Event scope, Action body)
    {
        var (before, after, cleanup) = scope switch
        {
            Event.Fit => (Event.BeforeFit, Event.AfterFit, Event.CleanupFit),
            Event.Epoch => (Event.BeforeEpoch, Event.AfterEpoch, Event.CleanupEpoch),
            _ => (Event.BeforeBatch, Event.AfterBatch, Event.CleanupBatch),
        };
        try
        {
            Run(before);
            body();
            Run(after);
        }
        catch (CancelFitException) when (scope == Event.Fit) { }
        catch (CancelEpochException) when (scope == Event.Epoch) { }
        catch (CancelBatchException) when (scope == Event.Batch) { }
        finally { Run(cleanup); }
    }

    void Run(Event e)
    {
        // OrderBy is stable: equal orders keep the order in which the callbacks were added.
        var sorted = _sorted ??= [.. _callbacks.OrderBy(c => c.Order)];
        foreach (var cb in sorted)
        {
            switch (e)
            {
                case Event.BeforeFit: cb.BeforeFit(this); break;
                case Event.AfterFit: cb.AfterFit(this); break;
                case Event.CleanupFit: cb.CleanupFit(this); break;
                case Event.BeforeEpoch: cb.BeforeEpoch(this); break;
                case Event.AfterEpoch: cb.AfterEpoch(this); break;
                case Event.CleanupEpoch: cb.CleanupEpoch(this); break;
                case Event.BeforeBatch: cb.BeforeBatch(this); break;
                case Event.AfterBatch: cb.AfterBatch(this); break;
                case Event.CleanupBatch: cb.CleanupBatch(this); break;
                case Event.AfterPredict: cb.AfterPredict(this); break;
                case Event.AfterLoss: cb.AfterLoss(this); break;
                case Event.AfterBackward: cb.AfterBackward(this); break;
                case Event.AfterStep: cb.AfterStep(this); break;
                case Event.Predict: cb.Predict(this); break;
                case Event.GetLoss: cb.GetLoss(this); break;
                case Event.Backward: cb.Backward(this); break;
                case Event.Step: cb.Step(this); break;
                case Event.ZeroGrad: cb.ZeroGrad(this); break;
                default: throw new InvalidOperationException($"Learner: {e} is not a callback event");
            }
        }
    }
}

/// <summary>A learner with the standard training step built in (miniai's TrainLearner): no TrainCallback needed.</summary>
public class TrainLearner : Learner
{
    /// <summary>A training learner over two loaders (see <see cref="Learner"/>).</summary>
    public TrainLearner(Module model, IBatchLoader train, IBatchLoader valid, Func<Tensor, Tensor, Tensor> lossFunc, double lr = 0.1,
        IEnumerable<Callback>? callbacks = null, Func<IEnumerable<Tensor>, double, Optimizer>? optFunc = null)
        : base(model, train, valid, lossFunc, lr, callbacks, optFunc) { }

    /// <summary>A training learner over a pair of loaders (see <see cref="Learner"/>).</summary>
    public TrainLearner(Module model, IDataLoaders dls, Func<Tensor, Tensor, Tensor> lossFunc, double lr = 0.1,
        IEnumerable<Callback>? callbacks = null, Func<IEnumerable<Tensor>, double, Optimizer>? optFunc = null)
        : base(model, dls, lossFunc, lr, callbacks, optFunc) { }

    /// <inheritdoc/>
    public override void Predict() => Preds = Model.Call(Batch!.X);
    /// <inheritdoc/>
    public override void GetLoss() => Loss = LossFunc(Preds!, Batch!.Y);
    /// <inheritdoc/>
    public override void Backward() => Loss!.Backward();
    /// <inheritdoc/>
    public override void Step() => Opt!.Step();
    /// <inheritdoc/>
    public override void ZeroGrad() => Opt!.ZeroGrad();
}

/// <summary>Lesson 16's MomentumLearner: ZeroGrad multiplies the gradients by Mom instead of clearing them (the optimizer's GradDecayOnZero).</summary>
public sealed class MomentumLearner : TrainLearner
{
    /// <summary>The factor the gradients keep at each ZeroGrad.</summary>
    public double Mom { get; }

    /// <summary>A momentum learner over two loaders with gradient decay mom (0.85 in the lesson).</summary>
    public MomentumLearner(Module model, IBatchLoader train, IBatchLoader valid, Func<Tensor, Tensor, Tensor> lossFunc, double lr = 0.1,
        IEnumerable<Callback>? callbacks = null, Func<IEnumerable<Tensor>, double, Optimizer>? optFunc = null, double mom = 0.85)
        : base(model, train, valid, lossFunc, lr, callbacks, optFunc) => Mom = mom;

    /// <inheritdoc/>
    public override void ZeroGrad()
    {
        Opt!.GradDecayOnZero = Mom;
        Opt.ZeroGrad();
    }
}
