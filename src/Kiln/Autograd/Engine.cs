namespace Kiln;

public sealed partial class Tensor
{
    /// <summary>
    /// Backpropagates from this tensor: accumulates d(this)/d(leaf) into Grad of every leaf that requires grad.
    /// gradient defaults to 1 for a one-element tensor. The graph is freed afterwards unless retainGraph is true.
    /// </summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false)
    {
        if (!_requiresGrad)
            throw new InvalidOperationException($"Backward: this tensor of shape {Shapes.Str(_shape)} does not require grad and has no GradFn (did you forget RequiresGrad, or compute it under NoGrad?)");
        if (gradient == null)
        {
            if (Numel != 1)
                throw new InvalidOperationException($"Backward: a gradient can be created implicitly only for one-element outputs; this tensor has shape {Shapes.Str(_shape)}, so pass gradient explicitly");
            gradient = OnesLike(this);
        }
        else if (!Shapes.Equal(gradient._shape, _shape))
            throw new ArgumentException($"Backward: gradient of shape {Shapes.Str(gradient._shape)} does not match the tensor's shape {Shapes.Str(_shape)}");
        else if (gradient.DType != DType.Float32)
            throw new ArgumentException($"Backward: gradient must be float32, got {gradient.DType.Name()}");
        BackwardEngine.Run(this, gradient, retainGraph);
    }
}

/// <summary>The reverse walk: topological order of the recorded nodes, then each node's backward in reverse.</summary>
internal static class BackwardEngine
{
    public static void Run(Tensor root, Tensor gradient, bool retainGraph)
    {
        using var _ = Autograd.NoGrad();
        // Gradient buffers that something else may still hold are claimed; only a buffer seen nowhere else may become a
        // leaf's Grad.
        Claim(gradient.Storage);
        if (root.GradFn == null)
        {
            AccumulateLeaf(root, gradient);
            return;
        }
        var order = TopologicalOrder(root.GradFn);
        var grads = new Dictionary<Node, Tensor>(ReferenceEqualityComparer.Instance) { [root.GradFn] = gradient };
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var node = order[i];
            if (!grads.Remove(node, out var g)) continue;
            if (node.RetainedOutput is Tensor kept) AccumulateLeaf(kept, g, steal: false);
            var inputGrads = node.Apply(g);
            var inputs = node.Inputs;
            if (inputGrads.Length != inputs.Length)
                throw new InvalidOperationException($"Backward: {node.Name} returned {inputGrads.Length} gradients for {inputs.Length} inputs");
            for (int k = 0; k < inputs.Length; k++)
            {
                var input = inputs[k];
                var gi = inputGrads[k];
                if (input == null || gi == null || !input.RequiresGrad) continue;
                if (!Shapes.Equal(gi._shape, input._shape))
                    throw new InvalidOperationException($"Backward: {node.Name} produced a gradient of shape {Shapes.Str(gi._shape)} for an input of shape {Shapes.Str(input._shape)}");
                if (node.InputFns[k] is Node prev)
                {
                    Claim(gi.Storage);
                    grads[prev] = grads.TryGetValue(prev, out var acc) ? acc + gi : gi;
                }
                else
                    AccumulateLeaf(input, gi);
            }
            if (!retainGraph) node.Release();
        }
        // The graph's activations and gradients are garbage now: recycle their buffers before the next forward asks.
        if (!retainGraph) TensorMemory.OnGraphReleased();
    }

    /// <summary>Marks a gradient buffer as seen; true if it had not been seen before (by this or any earlier pass).</summary>
    static bool Claim(Storage s) => Interlocked.Exchange(ref s.GradClaimed, 1) == 0;

    /// <summary>
    /// Leaf gradients accumulate across Backward calls, in a buffer the leaf owns. A fresh, contiguous gradient that
    /// nothing else has seen becomes that buffer directly (no copy); anything shared is copied.
    /// </summary>
    static void AccumulateLeaf(Tensor leaf, Tensor g, bool steal = true)
    {
        if (leaf._grad != null)
        {
            leaf._grad.AddInPlace(g);
            return;
        }
        bool owned = steal && g.DType == DType.Float32 && g._offset == 0 && g.IsContiguous && g.Storage.Length == g.Numel
            && !g.RequiresGrad && Claim(g.Storage);
        if (owned) leaf.SetOwnedGrad(g);
        else
        {
            leaf.SetOwnedGrad(g.CopyContiguous());
            Claim(g.Storage);
        }
    }

    /// <summary>Nodes reachable from root, each after every node that consumes its output (iterative DFS post-order).</summary>
    static List<Node> TopologicalOrder(Node root)
    {
        var order = new List<Node>();
        var visited = new HashSet<Node>(ReferenceEqualityComparer.Instance) { root };
        var stack = new Stack<(Node node, int next)>();
        stack.Push((root, 0));
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            var inputs = node.Inputs;
            bool descended = false;
            for (int k = next; k < inputs.Length; k++)
            {
                var child = node.InputFns[k];
                // a released node's inputs are gone: the walk stops there and Apply reports the freed graph
                if (child != null && inputs[k] is { RequiresGrad: true } && visited.Add(child))
                {
                    stack.Push((node, k + 1));
                    stack.Push((child, 0));
                    descended = true;
                    break;
                }
            }
            if (!descended) order.Add(node);
        }
        // order is post-order (inputs before consumers); the caller walks it from the end.
        return order;
    }
}
