using System.Text;

namespace Kiln.Nn;

/// <summary>Called after a module's forward pass with the module, its input (the first one for multi-input modules) and its output.</summary>
public delegate void ForwardHook(Module module, Tensor input, Tensor output);

/// <summary>What <see cref="Module.LoadStateDict"/> found: model keys absent from the dictionary, and dictionary keys the model lacks.</summary>
/// <param name="MissingKeys">Parameter/buffer names of the model that the dictionary did not provide (non-strict loads only).</param>
/// <param name="UnexpectedKeys">Dictionary keys that name no parameter or buffer of the model (non-strict loads only).</param>
public sealed record LoadStateDictResult(IReadOnlyList<string> MissingKeys, IReadOnlyList<string> UnexpectedKeys);

/// <summary>Removes a registered hook; disposing it does the same, so <c>using var h = m.RegisterForwardHook(...)</c> scopes a hook.</summary>
public sealed class HookHandle : IDisposable
{
    Action? _remove;

    internal HookHandle(Action remove) => _remove = remove;

    /// <summary>Unregisters the hook (idempotent).</summary>
    public void Remove()
    {
        _remove?.Invoke();
        _remove = null;
    }

    /// <summary>Same as <see cref="Remove"/>.</summary>
    public void Dispose() => Remove();
}

/// <summary>
/// Base class of every layer and model (PyTorch's nn.Module). A module registers its parameters (leaf float32 tensors that
/// require grad), buffers (state that is saved but not trained, such as running statistics) and child modules by name;
/// names compose with dots ("0.weight", "fc.bias"). Run it with <see cref="Call(Tensor)"/>, which runs forward hooks.
/// </summary>
public abstract class Module
{
    // Parameters may be registered as null (Linear without bias) so the slot keeps its place and name, as in PyTorch.
    readonly OrderedDictionary<string, Tensor?> _parameters = new();
    readonly OrderedDictionary<string, Tensor> _buffers = new();
    readonly OrderedDictionary<string, Module> _modules = new();
    // Copy-on-write so a hook may remove itself (or others) while hooks run.
    ForwardHook[] _forwardHooks = [];

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>; Dropout and BatchNorm read it.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Computes the output for one input. Call modules through <see cref="Call(Tensor)"/> so hooks run.</summary>
    public abstract Tensor Forward(Tensor x);

    /// <summary>Forward for several inputs; the default accepts exactly one and forwards it to <see cref="Forward(Tensor)"/>.</summary>
    public virtual Tensor Forward(Tensor[] inputs) => inputs.Length == 1
        ? Forward(inputs[0])
        : throw new ArgumentException($"{GetType().Name}: expects 1 input, got {inputs.Length}");

    /// <summary>Runs <see cref="Forward(Tensor)"/> and then the forward hooks: the entry point for using a module.</summary>
    public Tensor Call(Tensor x)
    {
        var y = Forward(x);
        var hooks = _forwardHooks;
        for (int i = 0; i < hooks.Length; i++) hooks[i](this, x, y);
        return y;
    }

    /// <summary>Runs <see cref="Forward(Tensor[])"/> on several inputs (e.g. a loss on input and target), then the forward hooks.</summary>
    public Tensor Call(params Tensor[] inputs)
    {
        if (inputs.Length == 0) throw new ArgumentException($"{GetType().Name}: Call needs at least one input");
        var y = Forward(inputs);
        var hooks = _forwardHooks;
        for (int i = 0; i < hooks.Length; i++) hooks[i](this, inputs[0], y);
        return y;
    }

    /// <summary>Registers hook to run after every forward pass of this module; the handle removes it.</summary>
    public HookHandle RegisterForwardHook(ForwardHook hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        _forwardHooks = [.. _forwardHooks, hook];
        return new HookHandle(() =>
        {
            int i = Array.IndexOf(_forwardHooks, hook);
            if (i >= 0) _forwardHooks = [.. _forwardHooks[..i], .. _forwardHooks[(i + 1)..]];
        });
    }

    // ---- registration ----

    /// <summary>
    /// Registers (or replaces) a parameter under name and returns it. The tensor must be a float32 leaf; RequiresGrad is
    /// switched on. null reserves the name without a tensor (e.g. a disabled bias).
    /// </summary>
    public Tensor? RegisterParameter(string name, Tensor? parameter)
    {
        CheckName(name, "RegisterParameter", _parameters.ContainsKey(name));
        if (parameter != null)
        {
            if (!parameter.IsLeaf)
                throw new ArgumentException($"RegisterParameter: \"{name}\" must be a leaf tensor, but it was produced by {parameter.GradFn!.Name}; pass t.Detach() (or create it under Autograd.NoGrad())");
            if (parameter.DType != DType.Float32)
                throw new ArgumentException($"RegisterParameter: \"{name}\" must be float32, got {parameter.DType.Name()}");
            parameter.RequiresGrad = true;
        }
        _parameters[name] = parameter;
        return parameter;
    }

    /// <summary>Registers (or replaces) a buffer: state saved in <see cref="StateDict"/> but not returned by <see cref="Parameters"/>.</summary>
    public Tensor RegisterBuffer(string name, Tensor buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        CheckName(name, "RegisterBuffer", _buffers.ContainsKey(name));
        _buffers[name] = buffer;
        return buffer;
    }

    /// <summary>Registers (or replaces) a child module under name and returns it.</summary>
    public T RegisterModule<T>(string name, T module) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckName(name, "RegisterModule", _modules.ContainsKey(name));
        if (ReferenceEquals(module, this)) throw new ArgumentException($"RegisterModule: a module cannot be its own child (\"{name}\")");
        _modules[name] = module;
        return module;
    }

    void CheckName(string name, string op, bool sameKind)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0) throw new ArgumentException($"{op}: the name must not be empty");
        if (name.Contains('.')) throw new ArgumentException($"{op}: \"{name}\" must not contain '.' (dots separate the names of nested modules)");
        if (sameKind) return;
        string? clash = _parameters.ContainsKey(name) ? "parameter" : _buffers.ContainsKey(name) ? "buffer" : _modules.ContainsKey(name) ? "child module" : null;
        if (clash != null) throw new ArgumentException($"{op}: \"{name}\" is already registered as a {clash} of {GetType().Name}");
    }

    // ---- traversal ----

    /// <summary>The direct child modules in registration order.</summary>
    public IEnumerable<Module> Children() => _modules.Values;

    /// <summary>The direct child modules with their names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren()
    {
        foreach (var (name, m) in _modules) yield return (name, m);
    }

    /// <summary>This module and all its descendants, depth first (each shared module once).</summary>
    public IEnumerable<Module> Modules()
    {
        foreach (var (_, m) in NamedModules()) yield return m;
    }

    /// <summary>This module (name "") and all descendants with dotted names ("0", "0.fc"), depth first, each shared module once.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules()
    {
        var seen = new HashSet<Module>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(string, Module)>();
        stack.Push(("", this));
        while (stack.Count > 0)
        {
            var (name, m) = stack.Pop();
            if (!seen.Add(m)) continue;
            yield return (name, m);
            var kids = m._modules.ToArray();
            for (int i = kids.Length - 1; i >= 0; i--)
                stack.Push((name.Length == 0 ? kids[i].Key : name + "." + kids[i].Key, kids[i].Value));
        }
    }

    /// <summary>The tensors an optimizer updates: every parameter of this module and its descendants, each shared tensor once.</summary>
    public IEnumerable<Tensor> Parameters()
    {
        foreach (var (_, p) in NamedParameters()) yield return p;
    }

    /// <summary>Every parameter with its dotted name ("0.weight", "fc.bias"), in registration order, each shared tensor once.</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters()
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (prefix, m) in NamedModules())
            foreach (var (name, p) in m._parameters)
                if (p != null && seen.Add(p)) yield return (Join(prefix, name), p);
    }

    /// <summary>Every buffer of this module and its descendants.</summary>
    public IEnumerable<Tensor> Buffers()
    {
        foreach (var (_, b) in NamedBuffers()) yield return b;
    }

    /// <summary>Every buffer with its dotted name ("bn.running_mean"), each shared tensor once.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers()
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (prefix, m) in NamedModules())
            foreach (var (name, b) in m._buffers)
                if (seen.Add(b)) yield return (Join(prefix, name), b);
    }

    static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>Total number of parameter elements (each shared tensor counted once); only those with RequiresGrad when trainableOnly.</summary>
    public long NumParameters(bool trainableOnly = false)
    {
        long n = 0;
        foreach (var p in Parameters())
            if (!trainableOnly || p.RequiresGrad) n += p.Numel;
        return n;
    }

    // ---- modes and bulk operations ----

    /// <summary>Sets training mode (or evaluation mode when on is false) on this module and all descendants; returns this.</summary>
    public Module Train(bool on = true)
    {
        foreach (var m in Modules()) m.Training = on;
        return this;
    }

    /// <summary>Switches this module and all descendants to evaluation mode; returns this.</summary>
    public Module Eval() => Train(false);

    /// <summary>Runs fn on every descendant (children first) and then on this module, like PyTorch's apply; returns this.</summary>
    public Module Apply(Action<Module> fn)
    {
        foreach (var m in _modules.Values) m.Apply(fn);
        fn(this);
        return this;
    }

    /// <summary>Clears the gradients of all parameters (sets them to null, or zeroes them in place when setToNull is false).</summary>
    public void ZeroGrad(bool setToNull = true)
    {
        foreach (var p in Parameters()) p.ZeroGrad(setToNull);
    }

    // ---- state ----

    /// <summary>
    /// Every parameter and buffer by dotted name, in registration order (own parameters, own buffers, then each child's),
    /// as detached views that share storage with the model.
    /// </summary>
    public OrderedDictionary<string, Tensor> StateDict()
    {
        var d = new OrderedDictionary<string, Tensor>();
        foreach (var (name, t) in StateEntries("")) d[name] = t.Detach();
        return d;
    }

    IEnumerable<(string Name, Tensor Tensor)> StateEntries(string prefix)
    {
        foreach (var (name, p) in _parameters)
            if (p != null) yield return (prefix + name, p);
        foreach (var (name, b) in _buffers) yield return (prefix + name, b);
        foreach (var (name, m) in _modules)
            foreach (var e in m.StateEntries(prefix + name + ".")) yield return e;
    }

    /// <summary>
    /// Copies values from stateDict into this model's parameters and buffers (in place, under no-grad). Shapes must match;
    /// when strict, every key must match too. On any error nothing is copied and the exception lists every problem.
    /// </summary>
    public LoadStateDictResult LoadStateDict(IReadOnlyDictionary<string, Tensor> stateDict, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(stateDict);
        var errors = new List<string>();
        var missing = new List<string>();
        var copies = new List<(Tensor Dst, Tensor Src)>();
        var own = new HashSet<string>();
        foreach (var (name, target) in StateEntries(""))
        {
            own.Add(name);
            if (!stateDict.TryGetValue(name, out var src)) { missing.Add(name); continue; }
            if (!Shapes.Equal(src._shape, target._shape))
                errors.Add($"size mismatch for \"{name}\": the state dict has shape {Shapes.Str(src._shape)}, the model has {Shapes.Str(target._shape)}");
            else copies.Add((target, src));
        }
        var unexpected = stateDict.Keys.Where(k => !own.Contains(k)).ToList();
        if (strict)
        {
            foreach (var k in missing) errors.Add($"missing key \"{k}\" (the model has it, the state dict does not)");
            foreach (var k in unexpected) errors.Add($"unexpected key \"{k}\" (no parameter or buffer of {GetType().Name} has that name)");
        }
        if (errors.Count > 0)
            throw new ArgumentException($"LoadStateDict: {errors.Count} error(s) loading into {GetType().Name}; nothing was loaded:\n  " + string.Join("\n  ", errors));
        using (Autograd.NoGrad())
            foreach (var (dst, src) in copies) dst.CopyFrom(src);
        return new LoadStateDictResult(missing, unexpected);
    }

    // ---- printing ----

    /// <summary>The module's settings shown inside its parentheses by ToString, e.g. "inFeatures: 784, outFeatures: 50, bias: true".</summary>
    protected virtual string ExtraRepr() => "";

    /// <summary>A readable tree of the module and its children, like PyTorch's repr.</summary>
    public override string ToString()
    {
        var extra = ExtraRepr();
        if (_modules.Count == 0) return $"{GetType().Name}({extra})";
        var sb = new StringBuilder(GetType().Name).Append('(');
        if (extra.Length > 0) sb.Append("\n  ").Append(extra.Replace("\n", "\n  "));
        foreach (var (name, m) in _modules)
            sb.Append("\n  (").Append(name).Append("): ").Append(m.ToString().Replace("\n", "\n  "));
        return sb.Append("\n)").ToString();
    }
}
