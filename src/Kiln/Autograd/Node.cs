namespace Kiln;

/// <summary>
/// One recorded operation in the autograd graph (PyTorch's grad_fn): the op's inputs and the closure, written beside the
/// op's forward, that maps the output's gradient to one gradient per input.
/// </summary>
public sealed class Node
{
    internal Tensor?[] Inputs;
    /// <summary>
    /// Each input's producer when this node was recorded. An in-place write later gives the input tensor a new GradFn,
    /// but this node read the old value, so its gradient must go to the old producer.
    /// </summary>
    internal Node?[] InputFns;
    internal Func<Tensor, Tensor?[]>? BackwardFn;
    (Storage storage, int version)[] _saved;
    internal Tensor? RetainedOutput;

    /// <summary>Name of the op that produced the output, e.g. "MatMul".</summary>
    public string Name { get; }

    internal Node(string name, Tensor?[] inputs, Func<Tensor, Tensor?[]> backward, Tensor[]? saved)
    {
        Name = name;
        // Inputs that did not require grad when recorded get none, even if an in-place write makes them require it later.
        Inputs = Array.ConvertAll(inputs, t => t != null && t.RequiresGrad ? t : null);
        InputFns = Array.ConvertAll(inputs, t => t?.GradFn);
        BackwardFn = backward;
        if (saved == null || saved.Length == 0) _saved = [];
        else
        {
            _saved = new (Storage, int)[saved.Length];
            for (int i = 0; i < saved.Length; i++) _saved[i] = (saved[i].Storage, saved[i].Storage.Version);
        }
    }

    /// <summary>The nodes that produced this node's inputs (null for leaves and inputs without gradient).</summary>
    public IReadOnlyList<Node?> NextFunctions => (Node?[])InputFns.Clone();

    /// <summary>Runs the backward closure after checking that no saved tensor was modified in place since the forward.</summary>
    internal Tensor?[] Apply(Tensor gradOutput)
    {
        var fn = BackwardFn ?? throw new InvalidOperationException(
            $"Backward: the graph through {Name} was already freed by an earlier Backward; pass retainGraph: true to the first Backward to run it twice");
        foreach (var (storage, version) in _saved)
            if (storage.Version != version)
                throw new InvalidOperationException(
                    $"Backward: a tensor that {Name} saved for its gradient was modified in place after the forward pass (version {version} became {storage.Version}); use an out-of-place op or Clone() before modifying it");
        return fn(gradOutput);
    }

    /// <summary>
    /// Drops the closure, the saved tensors and the references to the inputs, so that each activation's memory can be
    /// reclaimed as soon as the backward pass has run every node that read it (PyTorch frees saved tensors the same way),
    /// not when the whole graph goes. The graph's shape (<see cref="NextFunctions"/>) stays.
    /// </summary>
    internal void Release()
    {
        BackwardFn = null;
        _saved = [];
        Array.Clear(Inputs);
    }

    /// <summary>The op name.</summary>
    public override string ToString() => Name + "Backward";
}
