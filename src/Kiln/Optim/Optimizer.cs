namespace Kiln.Optim;

/// <summary>
/// A set of parameters sharing hyperparameters (PyTorch's param_group). Hyperparameters live in <see cref="Hyper"/> by
/// PyTorch name ("lr", "momentum", "beta1", "beta2", "eps", "weight_decay", ...); the typed properties read and write it,
/// so schedulers can change them between steps. Keys left unset take the optimizer's defaults when it is constructed.
/// </summary>
public sealed class ParamGroup
{
    readonly Tensor[] _params;

    /// <summary>The hyperparameters of this group by name (schedulers write "lr" and "momentum" or "beta1").</summary>
    public Dictionary<string, double> Hyper { get; } = [];

    /// <summary>The parameters of this group.</summary>
    public IReadOnlyList<Tensor> Params => _params;

    /// <summary>A group over parameters (e.g. one layer's), with hyperparameters set by the initializer or taken from the optimizer's defaults.</summary>
    public ParamGroup(IEnumerable<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _params = [.. parameters];
    }

    /// <summary>Learning rate.</summary>
    public double Lr { get => Get("lr"); set => Hyper["lr"] = value; }
    /// <summary>Momentum (SGD, lesson 18's Momentum); OneCycle cycles it when the group has no beta1.</summary>
    public double Momentum { get => Get("momentum"); set => Hyper["momentum"] = value; }
    /// <summary>First-moment decay of Adam-style optimizers (PyTorch's betas[0]); OneCycle cycles it.</summary>
    public double Beta1 { get => Get("beta1"); set => Hyper["beta1"] = value; }
    /// <summary>Second-moment decay of Adam-style optimizers (PyTorch's betas[1]), RMSProp's alpha / sqr_mom.</summary>
    public double Beta2 { get => Get("beta2"); set => Hyper["beta2"] = value; }
    /// <summary>Weight decay (L2 or decoupled, as the optimizer says).</summary>
    public double WeightDecay { get => Get("weight_decay"); set => Hyper["weight_decay"] = value; }
    /// <summary>Term added for numerical stability in the denominator.</summary>
    public double Eps { get => Get("eps"); set => Hyper["eps"] = value; }

    /// <summary>True when this group has the hyperparameter name.</summary>
    public bool Has(string name) => Hyper.ContainsKey(name);

    /// <summary>The hyperparameter name (throws naming the missing key and the ones present).</summary>
    public double Get(string name) => Hyper.TryGetValue(name, out var v) ? v
        : throw new KeyNotFoundException($"ParamGroup: no hyperparameter '{name}' (this group has: {string.Join(", ", Hyper.Keys)})");
}

/// <summary>Per-parameter optimizer state: the number of updates taken and named buffers shaped like the parameter.</summary>
public sealed class ParamState
{
    /// <summary>Number of updates applied to this parameter (PyTorch's state["step"]).</summary>
    public long Step { get; set; }

    /// <summary>Named buffers (e.g. "momentum_buffer", "exp_avg", "exp_avg_sq"), each a flat contiguous float32 tensor with the parameter's element count.</summary>
    public Dictionary<string, Tensor> Buffers { get; } = [];
}

/// <summary>A snapshot of one group for a checkpoint: its hyperparameters and the indices of its parameters.</summary>
public sealed record ParamGroupState(IReadOnlyDictionary<string, double> Hyper, int[] Params);

/// <summary>
/// An optimizer checkpoint in PyTorch's layout: groups with hyperparameters and parameter indices (numbered across groups
/// in order), and state keyed by parameter index. Buffers are copies, independent of the live optimizer.
/// </summary>
public sealed record OptimizerStateDict(IReadOnlyList<ParamGroupState> ParamGroups, IReadOnlyDictionary<int, ParamState> State);

/// <summary>
/// Base of the optimizers: parameter groups, per-parameter state, Step/ZeroGrad and checkpoints. A subclass supplies
/// the update of one parameter as a single fused pass over contiguous float spans (no temporaries per step).
/// </summary>
public abstract class Optimizer
{
    readonly List<ParamGroup> _groups;
    readonly Dictionary<Tensor, ParamState> _state = new(ReferenceEqualityComparer.Instance);

    /// <summary>The parameter groups (schedulers change their hyperparameters between steps).</summary>
    public IReadOnlyList<ParamGroup> ParamGroups => _groups;

    /// <summary>
    /// When set, <see cref="ZeroGrad"/> multiplies gradients by this factor instead of clearing them: lesson 16's
    /// MomentumLearner, where the leftover gradient acts as momentum.
    /// </summary>
    public double? GradDecayOnZero { get; set; }

    /// <summary>Creates the optimizer over groups; keys a group does not set are filled from defaults.</summary>
    protected Optimizer(IEnumerable<ParamGroup> groups, IReadOnlyDictionary<string, double> defaults, string name)
    {
        ArgumentNullException.ThrowIfNull(groups);
        _groups = [.. groups];
        if (_groups.Count == 0) throw new ArgumentException($"{name}: got no parameter groups");
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        int index = 0;
        foreach (var g in _groups)
        {
            foreach (var (k, v) in defaults) g.Hyper.TryAdd(k, v);
            foreach (var p in g.Params)
            {
                if (p.DType != DType.Float32) throw new ArgumentException($"{name}: parameter {index} must be float32, got {p.DType.Name()}");
                if (!seen.Add(p)) throw new ArgumentException($"{name}: parameter {index} appears more than once");
                index++;
            }
            if (g.Has("lr") && !(g.Lr >= 0)) throw new ArgumentException($"{name}: learning rate must be non-negative, got {g.Lr}");
        }
        if (index == 0) throw new ArgumentException($"{name}: got an empty parameter list");
    }

    /// <summary>One group over parameters (e.g. <c>model.Parameters()</c>).</summary>
    protected static ParamGroup[] OneGroup(IEnumerable<Tensor> parameters) => [new ParamGroup(parameters)];

    /// <summary>Every parameter, group by group.</summary>
    public IEnumerable<Tensor> Parameters => _groups.SelectMany(g => g.Params);

    /// <summary>The learning rate of the first group; setting it sets every group's.</summary>
    public double Lr
    {
        get => _groups[0].Lr;
        set { foreach (var g in _groups) g.Lr = value; }
    }

    /// <summary>The state of parameter p (created empty on first use).</summary>
    public ParamState StateOf(Tensor p)
    {
        if (!_state.TryGetValue(p, out var s)) _state[p] = s = new ParamState();
        return s;
    }

    /// <summary>Updates every parameter that has a gradient, in place and unrecorded; parameters without one are skipped.</summary>
    public void Step()
    {
        using var _ = Autograd.NoGrad();
        foreach (var group in _groups)
            foreach (var p in group.Params)
            {
                if (p._grad is not Tensor grad) continue;
                if (!Shapes.Equal(grad._shape, p._shape))
                    throw new InvalidOperationException($"{GetType().Name}.Step: gradient shape {Shapes.Str(grad._shape)} does not match parameter {Shapes.Str(p._shape)}");
                var state = StateOf(p);
                state.Step++;
                var g = grad.Contiguous();
                if (p.IsContiguous)
                {
                    p.BumpVersion();
                    Update(group, p.FloatSpan, g.FloatSpan, state);
                }
                else
                {
                    var tmp = p.CopyContiguous();
                    Update(group, tmp.FloatSpan, g.FloatSpan, state);
                    p.CopyFrom(tmp);
                }
            }
    }

    /// <summary>
    /// Applies one update to a parameter's values p given its gradient g (both contiguous, same length) and its state,
    /// whose Step already counts this update.
    /// </summary>
    protected abstract void Update(ParamGroup group, Span<float> p, ReadOnlySpan<float> g, ParamState state);

    /// <summary>An update's elementwise pass over one range of a parameter: values p, gradient g and up to two state buffers
    /// (empty when the optimizer has fewer), all the same length.</summary>
    protected internal delegate void RangeUpdate(Span<float> p, ReadOnlySpan<float> g, Span<float> b1, Span<float> b2);

    /// <summary>Fewest elements a thread takes in <see cref="ForEachRange"/>: below twice this an update runs on the calling thread.</summary>
    internal const int MinRange = 8192;

    /// <summary>
    /// Runs an elementwise update over the whole parameter, split into cache-line-aligned ranges over Kiln's threads when it
    /// has at least 2·<see cref="MinRange"/> elements (the ranges fall as the weight's gradient and its next forward
    /// product split them, so a large weight stays in the caches of the cores that use it). Every element gets the same
    /// arithmetic however it is split. b1 and b2 may be empty.
    /// </summary>
    protected internal static unsafe void ForEachRange(Span<float> p, ReadOnlySpan<float> g, Span<float> b1, Span<float> b2, RangeUpdate update)
    {
        int n = p.Length;
        if (Kernels.Threading.Threads <= 1 || n < 2 * MinRange)
        {
            update(p, g, b1, b2);
            return;
        }
        bool has1 = !b1.IsEmpty, has2 = !b2.IsEmpty;
        fixed (float* pp = p, gp = g, b1p = b1, b2p = b2)
        {
            float* P = pp, G = gp, B1 = b1p, B2 = b2p;
            Kernels.Threading.ForRange(n, MinRange, (s, e) => update(
                new Span<float>(P + s, e - s), new ReadOnlySpan<float>(G + s, e - s),
                has1 ? new Span<float>(B1 + s, e - s) : default, has2 ? new Span<float>(B2 + s, e - s) : default), align: 16);
        }
    }

    /// <summary>The buffer name of state, created on first use as zeros (or a copy of init) with length elements.</summary>
    protected internal static Span<float> Buffer(ParamState state, string name, int length, ReadOnlySpan<float> init = default)
    {
        if (!state.Buffers.TryGetValue(name, out var b))
        {
            state.Buffers[name] = b = Tensor.Empty([length]);
            if (!init.IsEmpty) init.CopyTo(b.FloatSpan);
        }
        return b.FloatSpan;
    }

    /// <summary>True when state already holds the buffer name.</summary>
    protected static bool HasBuffer(ParamState state, string name) => state.Buffers.ContainsKey(name);

    /// <summary>Clears the gradients (null, or zeroed in place when setToNull is false); multiplies them by GradDecayOnZero when that is set.</summary>
    public void ZeroGrad(bool setToNull = true)
    {
        if (GradDecayOnZero is double mom)
        {
            using var _ = Autograd.NoGrad();
            foreach (var p in Parameters) p._grad?.MulInPlace((float)mom);
            return;
        }
        foreach (var p in Parameters) p.ZeroGrad(setToNull);
    }

    /// <summary>A checkpoint of hyperparameters and state (buffers copied), parameters numbered across groups in order.</summary>
    public OptimizerStateDict StateDict()
    {
        var groups = new List<ParamGroupState>();
        var state = new Dictionary<int, ParamState>();
        int index = 0;
        foreach (var g in _groups)
        {
            var ids = new int[g.Params.Count];
            for (int i = 0; i < ids.Length; i++, index++)
            {
                ids[i] = index;
                if (_state.TryGetValue(g.Params[i], out var s)) state[index] = Copy(s);
            }
            groups.Add(new ParamGroupState(new Dictionary<string, double>(g.Hyper), ids));
        }
        return new OptimizerStateDict(groups, state);
    }

    /// <summary>Restores a checkpoint from <see cref="StateDict"/> of an optimizer over parameters of the same shapes, group by group (copies it).</summary>
    public void LoadStateDict(OptimizerStateDict dict)
    {
        ArgumentNullException.ThrowIfNull(dict);
        string name = GetType().Name + ".LoadStateDict";
        if (dict.ParamGroups.Count != _groups.Count)
            throw new ArgumentException($"{name}: checkpoint has {dict.ParamGroups.Count} parameter groups, this optimizer has {_groups.Count}");
        var byIndex = new Dictionary<int, Tensor>();
        for (int gi = 0; gi < _groups.Count; gi++)
        {
            var (saved, live) = (dict.ParamGroups[gi], _groups[gi]);
            if (saved.Params.Length != live.Params.Count)
                throw new ArgumentException($"{name}: group {gi} has {saved.Params.Length} parameters in the checkpoint, {live.Params.Count} here");
            for (int i = 0; i < saved.Params.Length; i++) byIndex[saved.Params[i]] = live.Params[i];
        }
        foreach (var (index, s) in dict.State)
        {
            if (!byIndex.TryGetValue(index, out var p)) throw new ArgumentException($"{name}: state for parameter {index}, which no group lists");
            foreach (var (bufName, buf) in s.Buffers)
                if (buf.Numel != p.Numel)
                    throw new ArgumentException($"{name}: buffer '{bufName}' of parameter {index} has {buf.Numel} values, the parameter {Shapes.Str(p._shape)}");
        }
        for (int gi = 0; gi < _groups.Count; gi++)
        {
            _groups[gi].Hyper.Clear();
            foreach (var (k, v) in dict.ParamGroups[gi].Hyper) _groups[gi].Hyper[k] = v;
        }
        _state.Clear();
        foreach (var (index, s) in dict.State) _state[byIndex[index]] = Copy(s);
    }

    static ParamState Copy(ParamState s)
    {
        var c = new ParamState { Step = s.Step };
        foreach (var (k, v) in s.Buffers) c.Buffers[k] = v.CopyContiguous().Reshape(v.Numel);
        return c;
    }
}
