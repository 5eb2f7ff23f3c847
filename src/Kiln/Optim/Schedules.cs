namespace Kiln.Optim;

/// <summary>
/// Base of the schedulers (PyTorch's LRScheduler): built with the optimizer, it records each group's base lr (kept in the
/// group as "initial_lr"), takes step 0 at construction, and each <see cref="Step"/> advances one step and writes the
/// group hyperparameters for it. Step after the optimizer's step, once per batch or per epoch.
/// </summary>
public abstract class LRScheduler
{
    readonly double[] _baseLrs;

    /// <summary>The optimizer whose groups this scheduler writes.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>Index of the current step (0 after construction; PyTorch's last_epoch).</summary>
    public int LastEpoch { get; private set; } = -1;

    /// <summary>Each group's lr when the first scheduler was attached (PyTorch's base_lrs).</summary>
    public IReadOnlyList<double> BaseLrs => _baseLrs;

    /// <summary>Reads base lrs; derived constructors call <see cref="Initialize"/> once their fields are set.</summary>
    protected LRScheduler(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        Optimizer = optimizer;
        foreach (var g in optimizer.ParamGroups) g.Hyper.TryAdd("initial_lr", g.Lr);
        _baseLrs = [.. optimizer.ParamGroups.Select(g => g.Get("initial_lr"))];
    }

    /// <summary>Takes step 0 (sets the starting values), as PyTorch's constructor does.</summary>
    protected void Initialize() => Step();

    /// <summary>Advances one step and writes the groups' hyperparameters for it.</summary>
    public void Step()
    {
        Apply(LastEpoch + 1);
        LastEpoch++;
    }

    /// <summary>Writes the hyperparameters for step into every group (throws, leaving them unchanged, when step is out of range).</summary>
    protected abstract void Apply(int step);

    /// <summary>The lr of each group as last set (PyTorch's get_last_lr()).</summary>
    public double[] GetLastLr() => [.. Optimizer.ParamGroups.Select(g => g.Lr)];

    /// <summary>The scheduler's position for a checkpoint (PyTorch's scheduler state_dict: last_epoch and base_lrs).</summary>
    public SchedulerStateDict StateDict() => new(LastEpoch, [.. _baseLrs]);

    /// <summary>
    /// Restores the position saved by <see cref="StateDict"/> on a scheduler of the same kind over the same groups. The group
    /// hyperparameters themselves travel in the optimizer's state dict, so nothing is rewritten here: restore both, and the
    /// next <see cref="Step"/> continues exactly where the saved run would have.
    /// </summary>
    public void LoadStateDict(SchedulerStateDict state)
    {
        ArgumentNullException.ThrowIfNull(state);
        string name = GetType().Name + ".LoadStateDict";
        if (state.BaseLrs.Length != _baseLrs.Length)
            throw new ArgumentException($"{name}: the state has {state.BaseLrs.Length} base lrs but the optimizer has {_baseLrs.Length} parameter groups.", nameof(state));
        if (state.LastEpoch < 0)
            throw new ArgumentException($"{name}: last epoch {state.LastEpoch} is negative (a constructed scheduler is at step 0).", nameof(state));
        CheckLoadable(state.LastEpoch, name);
        state.BaseLrs.CopyTo(_baseLrs, 0);
        LastEpoch = state.LastEpoch;
    }

    /// <summary>Throws when <paramref name="lastEpoch"/> is not a step this scheduler can be at (e.g. past a fixed total).</summary>
    protected virtual void CheckLoadable(int lastEpoch, string name) { }
}

/// <summary>A scheduler's saved position: the index of its current step and each group's base lr.</summary>
/// <param name="LastEpoch">Index of the current step (PyTorch's last_epoch).</param>
/// <param name="BaseLrs">Each group's base lr (PyTorch's base_lrs).</param>
public sealed record SchedulerStateDict(int LastEpoch, double[] BaseLrs);

/// <summary>Decays each group's lr by gamma every step: lr_t = base * gamma^t (the LR finder's schedule).</summary>
public sealed class ExponentialLR : LRScheduler
{
    /// <summary>Multiplicative factor per step.</summary>
    public double Gamma { get; }

    /// <summary>An exponential schedule over optimizer's groups.</summary>
    public ExponentialLR(Optimizer optimizer, double gamma) : base(optimizer)
    {
        if (!(gamma > 0)) throw new ArgumentException($"ExponentialLR: gamma must be positive, got {gamma}");
        Gamma = gamma;
        Initialize();
    }

    /// <inheritdoc/>
    protected override void Apply(int step)
    {
        for (int i = 0; i < BaseLrs.Count; i++) Optimizer.ParamGroups[i].Lr = BaseLrs[i] * Math.Pow(Gamma, step);
    }
}

/// <summary>
/// Cosine annealing, PyTorch's closed form: lr_t = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2.
/// It reaches eta_min at T_max and, like PyTorch's, rises again after it (the cosine is periodic, no restart logic).
/// </summary>
public sealed class CosineAnnealingLR : LRScheduler
{
    /// <summary>Steps from the base lr down to eta_min.</summary>
    public int TMax { get; }

    /// <summary>The lowest lr.</summary>
    public double EtaMin { get; }

    /// <summary>A cosine schedule over optimizer's groups reaching etaMin after tMax steps.</summary>
    public CosineAnnealingLR(Optimizer optimizer, int tMax, double etaMin = 0) : base(optimizer)
    {
        if (tMax <= 0) throw new ArgumentException($"CosineAnnealingLR: T_max must be positive, got {tMax}");
        TMax = tMax;
        EtaMin = etaMin;
        Initialize();
    }

    /// <inheritdoc/>
    protected override void Apply(int step)
    {
        for (int i = 0; i < BaseLrs.Count; i++)
            Optimizer.ParamGroups[i].Lr = EtaMin + (BaseLrs[i] - EtaMin) * (1 + Math.Cos(Math.PI * step / TMax)) / 2;
    }
}

/// <summary>Each group's lr is its base lr times factor(step) (PyTorch's LambdaLR).</summary>
public sealed class LambdaLR : LRScheduler
{
    readonly Func<int, double> _factor;

    /// <summary>A schedule lr_t = base * factor(t) over optimizer's groups.</summary>
    public LambdaLR(Optimizer optimizer, Func<int, double> factor) : base(optimizer)
    {
        _factor = factor ?? throw new ArgumentNullException(nameof(factor));
        Initialize();
    }

    /// <inheritdoc/>
    protected override void Apply(int step)
    {
        double f = _factor(step);
        for (int i = 0; i < BaseLrs.Count; i++) Optimizer.ParamGroups[i].Lr = BaseLrs[i] * f;
    }
}

/// <summary>
/// fastai's ParamScheduler: sets a hyperparameter (e.g. "lr", "momentum", "beta1") of every group to schedule(pos), where
/// pos = step / totalSteps runs from 0 towards 1 over training; pair it with <see cref="Schedules.Combine"/>.
/// </summary>
public sealed class ParamScheduler : LRScheduler
{
    readonly Func<double, double> _schedule;

    /// <summary>The hyperparameter written.</summary>
    public string Name { get; }

    /// <summary>Number of steps over which pos goes from 0 to 1.</summary>
    public int TotalSteps { get; }

    /// <summary>A schedule of hyperparameter name by training position over totalSteps steps.</summary>
    public ParamScheduler(Optimizer optimizer, Func<double, double> schedule, int totalSteps, string name = "lr") : base(optimizer)
    {
        _schedule = schedule ?? throw new ArgumentNullException(nameof(schedule));
        if (totalSteps <= 0) throw new ArgumentException($"ParamScheduler: total steps must be positive, got {totalSteps}");
        foreach (var g in optimizer.ParamGroups) g.Get(name); // fails now, naming the key, if a group lacks it
        Name = name;
        TotalSteps = totalSteps;
        Initialize();
    }

    /// <inheritdoc/>
    protected override void Apply(int step)
    {
        double v = _schedule((double)step / TotalSteps);
        foreach (var g in Optimizer.ParamGroups) g.Hyper[Name] = v;
    }
}

/// <summary>How <see cref="OneCycleLR"/> interpolates within a phase.</summary>
public enum AnnealStrategy
{
    /// <summary>end + (start - end)/2 * (cos(pi*pct) + 1).</summary>
    Cos,
    /// <summary>start + (end - start)*pct.</summary>
    Linear,
}

/// <summary>
/// The 1cycle policy with PyTorch's exact semantics: lr warms from max_lr/div_factor to max_lr over the first pct_start of
/// total steps (phase 1 ends at step pct_start*total - 1), then anneals to initial/final_div_factor at step total - 1;
/// momentum (or beta1 for Adam-style groups) goes max_momentum -> base_momentum -> max_momentum. Stepping past total steps
/// throws. Defaults: pct_start 0.3, cosine, div 25, final div 1e4, momentum 0.85..0.95.
/// </summary>
public sealed class OneCycleLR : LRScheduler
{
    readonly (double End, string StartLr, string EndLr, string StartMom, string EndMom)[] _phases;
    readonly string? _momentumKey;

    /// <summary>Number of steps in the cycle.</summary>
    public int TotalSteps { get; }

    /// <summary>The interpolation within a phase.</summary>
    public AnnealStrategy Anneal { get; }

    /// <summary>A 1cycle schedule with the same max_lr for every group.</summary>
    public OneCycleLR(Optimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3, AnnealStrategy anneal = AnnealStrategy.Cos,
                      bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95, double divFactor = 25,
                      double finalDivFactor = 1e4, bool threePhase = false)
        : this(optimizer, [.. Enumerable.Repeat(maxLr, optimizer?.ParamGroups.Count ?? 0)], totalSteps, pctStart, anneal, cycleMomentum,
               baseMomentum, maxMomentum, divFactor, finalDivFactor, threePhase) { }

    /// <summary>A 1cycle schedule with one max_lr per group (discriminative learning rates).</summary>
    public OneCycleLR(Optimizer optimizer, double[] maxLrs, int totalSteps, double pctStart = 0.3, AnnealStrategy anneal = AnnealStrategy.Cos,
                      bool cycleMomentum = true, double baseMomentum = 0.85, double maxMomentum = 0.95, double divFactor = 25,
                      double finalDivFactor = 1e4, bool threePhase = false)
        : base(Prepare(optimizer, maxLrs, totalSteps, pctStart, divFactor, finalDivFactor))
    {
        TotalSteps = totalSteps;
        Anneal = anneal;
        _phases = threePhase
            ? [(pctStart * totalSteps - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
               (2 * pctStart * totalSteps - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
               (totalSteps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
            : [(pctStart * totalSteps - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
               (totalSteps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")];
        if (cycleMomentum)
        {
            var g0 = optimizer.ParamGroups[0];
            _momentumKey = g0.Has("beta1") ? "beta1" : g0.Has("momentum") ? "momentum"
                : throw new ArgumentException("OneCycleLR: the optimizer must have momentum or beta1 to cycle momentum (pass cycleMomentum: false)");
            foreach (var g in optimizer.ParamGroups)
            {
                g.Hyper["max_momentum"] = maxMomentum;
                g.Hyper["base_momentum"] = baseMomentum;
                g.Hyper[_momentumKey] = maxMomentum;
            }
        }
        Initialize();
    }

    // Runs before the base constructor reads base lrs: the cycle starts at max_lr / div_factor, as PyTorch sets initial_lr.
    static Optimizer Prepare(Optimizer optimizer, double[] maxLrs, int totalSteps, double pctStart, double divFactor, double finalDivFactor)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(maxLrs);
        if (totalSteps <= 0) throw new ArgumentException($"OneCycleLR: total steps must be positive, got {totalSteps}");
        if (!(pctStart >= 0 && pctStart <= 1)) throw new ArgumentException($"OneCycleLR: pct_start must be in [0, 1], got {pctStart}");
        if (maxLrs.Length != optimizer.ParamGroups.Count)
            throw new ArgumentException($"OneCycleLR: got {maxLrs.Length} max lrs for {optimizer.ParamGroups.Count} parameter groups");
        for (int i = 0; i < maxLrs.Length; i++)
        {
            var g = optimizer.ParamGroups[i];
            double initial = maxLrs[i] / divFactor;
            g.Hyper["initial_lr"] = initial;
            g.Hyper["max_lr"] = maxLrs[i];
            g.Hyper["min_lr"] = initial / finalDivFactor;
        }
        return optimizer;
    }

    /// <inheritdoc/>
    protected override void CheckLoadable(int lastEpoch, string name)
    {
        if (lastEpoch > TotalSteps)
            throw new ArgumentException($"{name}: last epoch {lastEpoch} is past this cycle's {TotalSteps} total steps.", "state");
    }

    double Interp(double start, double end, double pct) => Anneal == AnnealStrategy.Cos
        ? end + (start - end) / 2.0 * (Math.Cos(Math.PI * pct) + 1)
        : (end - start) * pct + start;

    /// <inheritdoc/>
    protected override void Apply(int step)
    {
        if (step > TotalSteps)
            throw new InvalidOperationException($"OneCycleLR: tried to step {step} times; the specified number of total steps is {TotalSteps}");
        foreach (var g in Optimizer.ParamGroups)
        {
            double start = 0;
            for (int i = 0; i < _phases.Length; i++)
            {
                var ph = _phases[i];
                if (step <= ph.End || i == _phases.Length - 1)
                {
                    double pct = (step - start) / (ph.End - start);
                    g.Lr = Interp(g.Get(ph.StartLr), g.Get(ph.EndLr), pct);
                    if (_momentumKey != null) g.Hyper[_momentumKey] = Interp(g.Get(ph.StartMom), g.Get(ph.EndMom), pct);
                    break;
                }
                start = ph.End;
            }
        }
    }
}

/// <summary>
/// Schedules as functions of the training position pos in [0, 1] (fastai's sched_lin, sched_cos, ..., combine_scheds),
/// and helpers that step a scheduler and return the values it sets.
/// </summary>
public static class Schedules
{
    /// <summary>Linear from start to end: start + pos*(end - start).</summary>
    public static Func<double, double> Lin(double start, double end) => pos => start + pos * (end - start);

    /// <summary>Cosine from start to end (half a period): start + (1 + cos(pi*(1 - pos)))*(end - start)/2.</summary>
    public static Func<double, double> Cos(double start, double end) => pos => start + (1 + Math.Cos(Math.PI * (1 - pos))) * (end - start) / 2;

    /// <summary>Constant start.</summary>
    public static Func<double, double> No(double start, double end = double.NaN) => _ => start;

    /// <summary>Exponential from start to end: start*(end/start)^pos.</summary>
    public static Func<double, double> Exp(double start, double end) => pos => start * Math.Pow(end / start, pos);

    /// <summary>
    /// fastai's combine_scheds: schedule i runs over the fraction pcts[i] of training (the fractions sum to 1), each seeing
    /// its own position from 0 to 1. E.g. <c>Combine([0.3, 0.7], [Cos(1e-4, 1e-2), Cos(1e-2, 1e-6)])</c> is a 1cycle.
    /// </summary>
    public static Func<double, double> Combine(double[] pcts, Func<double, double>[] schedules)
    {
        ArgumentNullException.ThrowIfNull(pcts);
        ArgumentNullException.ThrowIfNull(schedules);
        if (pcts.Length != schedules.Length || pcts.Length == 0)
            throw new ArgumentException($"Combine: got {pcts.Length} fractions for {schedules.Length} schedules");
        if (pcts.Any(p => !(p >= 0))) throw new ArgumentException($"Combine: fractions must be non-negative, got [{string.Join(", ", pcts)}]");
        if (Math.Abs(pcts.Sum() - 1) > 1e-9) throw new ArgumentException($"Combine: fractions must sum to 1, got {pcts.Sum()}");
        var edges = new double[pcts.Length + 1];
        for (int i = 0; i < pcts.Length; i++) edges[i + 1] = edges[i] + pcts[i];
        return pos =>
        {
            // The last edge not above pos, capped at the last schedule (fastai's pct_lim).
            int idx = 0;
            for (int i = 0; i < edges.Length; i++) if (pos >= edges[i]) idx = i;
            idx = Math.Min(idx, pcts.Length - 1);
            return schedules[idx]((pos - edges[idx]) / (edges[idx + 1] - edges[idx]));
        };
    }

    /// <summary>fastai's combined_cos: cosine from start to middle over pct of training, then cosine from middle to end.</summary>
    public static Func<double, double> CombinedCos(double pct, double start, double middle, double end) =>
        Combine([pct, 1 - pct], [Cos(start, middle), Cos(middle, end)]);

    /// <summary>
    /// Steps the scheduler steps times and returns group 0's lr before the first step and after each one (steps + 1 values,
    /// as lesson 18's sched_lrs plots).
    /// </summary>
    public static double[] Lrs(LRScheduler scheduler, int steps) => Record(scheduler, steps, "lr");

    /// <summary>As <see cref="Lrs"/> for any hyperparameter of group 0 (e.g. "momentum" or "beta1").</summary>
    public static double[] Record(LRScheduler scheduler, int steps, string name)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        var g = scheduler.Optimizer.ParamGroups[0];
        var values = new double[steps + 1];
        values[0] = g.Get(name);
        for (int i = 1; i <= steps; i++)
        {
            scheduler.Step();
            values[i] = g.Get(name);
        }
        return values;
    }

    /// <summary>The schedule sampled at n evenly spaced positions i/n, i = 0..n-1.</summary>
    public static double[] Sample(Func<double, double> schedule, int n) => [.. Enumerable.Range(0, n).Select(i => schedule((double)i / n))];
}
