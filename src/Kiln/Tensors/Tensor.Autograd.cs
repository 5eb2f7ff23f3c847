namespace Kiln;

public sealed partial class Tensor
{
    bool _requiresGrad;

    /// <summary>The tensor this one views (null when it owns its layout); in-place writes through views check it.</summary>
    internal Tensor? _base;

    /// <summary>The recorded op that produced this tensor (null for leaves), like PyTorch's grad_fn.</summary>
    public Node? GradFn { get; private set; }

    /// <summary>Accumulated gradient: set by Backward on leaves that require grad (and on tensors that called RetainGrad).</summary>
    public Tensor? Grad
    {
        get
        {
            _gradShared = _grad != null;
            return _grad;
        }
        set
        {
            _grad = value;
            _gradShared = value != null;
        }
    }

    /// <summary>The gradient as the backward engine and the optimizers read and write it, without marking it shared.</summary>
    internal Tensor? _grad;

    /// <summary>
    /// Whether <see cref="Grad"/> has handed the current gradient tensor to code outside the engine and the optimizers (or
    /// received it from there): such a tensor may be held elsewhere, so its buffer is never reused.
    /// </summary>
    bool _gradShared;

    /// <summary>
    /// A gradient buffer that <see cref="ZeroGrad"/> (set to null) took back because nothing outside the engine and the
    /// optimizers ever saw it; the next backward pass writes this parameter's gradient into it instead of a fresh buffer
    /// (<see cref="TakeSpareGrad"/>). Grad is null as PyTorch's zero_grad() leaves it; only the memory is kept, and a fresh
    /// buffer is cold in cache (a 784x50 weight gradient cost 15-20 µs more per MLP step).
    /// </summary>
    Tensor? _spareGrad;

    /// <summary>Sets the gradient to a buffer only the engine holds.</summary>
    internal void SetOwnedGrad(Tensor g)
    {
        _grad = g;
        _gradShared = false;
    }

    /// <summary>The spare gradient buffer (this tensor's shape, as every gradient of it) if there is no gradient yet; it is
    /// handed out once. Null otherwise.</summary>
    internal Tensor? TakeSpareGrad()
    {
        var s = _spareGrad;
        if (s == null || _grad != null) return null;
        _spareGrad = null;
        return s;
    }

    /// <summary>True for tensors created by the user (not by a recorded op); only leaves get Grad by default.</summary>
    public bool IsLeaf => GradFn == null;

    /// <summary>Whether ops on this tensor are recorded for Backward. Settable on leaves only, and only for float32.</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (!IsLeaf)
                throw new InvalidOperationException($"RequiresGrad: can only be changed on leaf tensors; this tensor was produced by {GradFn!.Name} (use Detach() to get a leaf)");
            if (value && DType != DType.Float32)
                throw new InvalidOperationException($"RequiresGrad: only float32 tensors can require gradients, got {DType.Name()}");
            _requiresGrad = value;
        }
    }

    /// <summary>Sets RequiresGrad and returns this tensor (PyTorch's requires_grad_()).</summary>
    public Tensor RequiresGradInPlace(bool requiresGrad = true)
    {
        RequiresGrad = requiresGrad;
        return this;
    }

    /// <summary>Keeps the gradient of this non-leaf tensor in Grad during Backward.</summary>
    public Tensor RetainGrad()
    {
        if (!_requiresGrad) throw new InvalidOperationException("RetainGrad: the tensor does not require grad");
        if (GradFn != null) GradFn.RetainedOutput = this;
        return this;
    }

    /// <summary>A view sharing storage that is cut from the graph (a leaf with RequiresGrad false).</summary>
    public Tensor Detach() => new(Storage, _shape, _strides, _offset, DType);

    /// <summary>Clears Grad (sets it to null, or zeroes it in place when setToNull is false).</summary>
    public void ZeroGrad(bool setToNull = true)
    {
        if (!setToNull)
        {
            _grad?.ZeroInPlace();
            return;
        }
        if (_grad != null && !_gradShared)
        {
            _spareGrad = _grad;
            _grad.Storage.GradClaimed = 0;   // no one else holds it: it may become a gradient again without a copy
        }
        _grad = null;
        _gradShared = false;
    }

    /// <summary>True when an op on these inputs must be recorded.</summary>
    internal static bool NeedsGrad(Tensor a) => a._requiresGrad && Autograd.IsGradEnabled;

    /// <summary>True when an op on these inputs must be recorded.</summary>
    internal static bool NeedsGrad(Tensor a, Tensor b) => (a._requiresGrad || b._requiresGrad) && Autograd.IsGradEnabled;

    /// <summary>True when an op on these inputs must be recorded.</summary>
    internal static bool NeedsGrad(ReadOnlySpan<Tensor> inputs)
    {
        if (!Autograd.IsGradEnabled) return false;
        foreach (var t in inputs) if (t._requiresGrad) return true;
        return false;
    }

    /// <summary>
    /// Records result as the output of op on inputs: backward maps the output gradient to one gradient per input (null
    /// where none). saved lists tensors whose values backward reads; modifying them in place later makes Backward fail.
    /// </summary>
    internal static Tensor Record(Tensor result, string op, Tensor[] inputs, Func<Tensor, Tensor?[]> backward, params Tensor[] saved)
    {
        if (!NeedsGrad(inputs)) return result;
        result._requiresGrad = true;
        result.GradFn = new Node(op, inputs, backward, saved);
        return result;
    }

    /// <summary>Records a single-input op.</summary>
    internal static Tensor Record(Tensor result, string op, Tensor input, Func<Tensor, Tensor> backward, params Tensor[] saved)
    {
        if (!NeedsGrad(input)) return result;
        // A view shares its input's storage: an in-place write to the base later changes the view's values without
        // changing its graph, so the view's node checks the storage version like a saved tensor.
        if (result.Storage == input.Storage) saved = [.. saved, result];
        result._requiresGrad = true;
        result.GradFn = new Node(op, [input], g => [backward(g)], saved);
        return result;
    }

    /// <summary>Sums a broadcast gradient back down to shape (the backward of broadcasting).</summary>
    internal static Tensor SumTo(Tensor g, int[] shape)
    {
        if (Shapes.Equal(g._shape, shape)) return g;
        int lead = g.Dim - shape.Length;
        var dims = new List<int>();
        for (int d = 0; d < g.Dim; d++)
            if (d < lead || (shape[d - lead] == 1 && g._shape[d] != 1)) dims.Add(d);
        var s = dims.Count > 0 ? g.Sum(dims.ToArray(), keepDim: true) : g;
        return s.Reshape(shape);
    }

    /// <summary>
    /// Checks that an in-place write on this tensor keeps autograd correct, before the write. Writing into a leaf that
    /// requires grad, or into a view whose base takes part in the graph, is refused (PyTorch refuses the first too).
    /// </summary>
    internal void CheckInPlace(string op, Tensor? source)
    {
        if (!Autograd.IsGradEnabled) return;
        if (_requiresGrad && IsLeaf)
            throw new InvalidOperationException($"{op}: a leaf tensor that requires grad cannot be modified in place; do it inside Autograd.NoGrad() (as optimizers do), or Clone() it first");
        bool sourceGrad = source != null && source._requiresGrad;
        if (_base != null && (_base._requiresGrad || _requiresGrad || sourceGrad))
            throw new NotSupportedException($"{op}: in-place writes into a view of a tensor that takes part in autograd are not supported; use out-of-place ops, or index assignment on the base tensor");
    }

    /// <summary>
    /// After an in-place write of op on this tensor: if this or source requires grad, this tensor becomes the output of a
    /// new node whose inputs are the tensor as it was (its old graph position) and source.
    /// backward maps the gradient to (gradient for the old value, gradient for source).
    /// </summary>
    internal void RecordInPlace(string op, Tensor? source, Func<Tensor, Tensor?[]> backward, params Tensor[] saved)
    {
        if (!Autograd.IsGradEnabled || !(_requiresGrad || (source != null && source._requiresGrad))) return;
        var old = new Tensor(Storage, _shape, _strides, _offset, DType) { _requiresGrad = _requiresGrad, GradFn = GradFn };
        _requiresGrad = true;
        var previous = GradFn;
        GradFn = new Node(op, source == null ? [old] : [old, source], backward, saved);
        // A retained gradient follows the tensor's current value, as in PyTorch.
        if (previous?.RetainedOutput == this)
        {
            previous.RetainedOutput = null;
            GradFn.RetainedOutput = this;
        }
    }
}
