namespace Kiln.Lessons.Layers;

// Lesson 8, section 6, first refactor: each forward function becomes a small class that remembers what its forward saw
// (input and output), so its backward needs no arguments. The formulas are those of ForwardBackward's gradient functions;
// each now sits next to the forward it differentiates.

/// <summary>A layer of the lesson-8 model in its layer-class form: called forward, then Backward() with no arguments.</summary>
public interface ILayer
{
    /// <summary>Runs the forward pass on inp, caching inp and the output for Backward.</summary>
    Tensor Call(Tensor inp);

    /// <summary>Turns the cached output's .G into .G on the cached input (and on the layer's parameters).</summary>
    void Backward();
}

/// <summary>ReLU as a layer that caches its input and output.</summary>
public sealed class Relu : ILayer
{
    /// <summary>The input of the last call.</summary>
    public Tensor? Inp { get; private set; }

    /// <summary>The output of the last call.</summary>
    public Tensor? Out { get; private set; }

    /// <inheritdoc/>
    public Tensor Call(Tensor inp)
    {
        Inp = inp;
        Out = inp.ClampMin(0f);
        return Out;
    }

    /// <summary>inp.G = (inp &gt; 0).float() * out.G: the gradient passes only where the unit was active.</summary>
    public void Backward()
    {
        using var _ = Autograd.NoGrad();
        var (inp, output) = Cached.Of(Inp, Out, nameof(Relu));
        inp.G = (inp > 0f).Float() * ForwardBackward.NeedG(output, "Relu.Backward");
    }
}

/// <summary>A linear layer x@w + b (lesson layout, w [in, out]) that caches its input and output.</summary>
/// <param name="w">The weight, [in, out]; its gradient goes to w.G.</param>
/// <param name="b">The bias, [out]; its gradient goes to b.G.</param>
public sealed class Lin(Tensor w, Tensor b) : ILayer
{
    /// <summary>The weight, [in, out].</summary>
    public Tensor W { get; } = w;

    /// <summary>The bias, [out].</summary>
    public Tensor B { get; } = b;

    /// <summary>The input of the last call.</summary>
    public Tensor? Inp { get; private set; }

    /// <summary>The output of the last call.</summary>
    public Tensor? Out { get; private set; }

    /// <inheritdoc/>
    public Tensor Call(Tensor inp)
    {
        Inp = inp;
        Out = inp.MatMul(W) + B;
        return Out;
    }

    /// <summary>
    /// inp.G = out.G @ wᵀ; b.G = out.G summed over the batch; w.G as the lesson writes it at this stage, the per-row
    /// outer products inp[n] ⊗ out.G[n] summed over the batch (the slow form: it builds an [N, in, out] tensor).
    /// </summary>
    public void Backward()
    {
        using var _ = Autograd.NoGrad();
        var (inp, output) = Cached.Of(Inp, Out, nameof(Lin));
        var g = ForwardBackward.NeedG(output, "Lin.Backward");
        inp.G = g.MatMul(W.T);
        W.G = (inp.Unsqueeze(-1) * g.Unsqueeze(1)).Sum(0);
        B.G = g.Sum(0);
    }
}

/// <summary>The MSE loss as a layer: caches its input [N, 1] and target [N]; its Backward starts the chain.</summary>
public sealed class Mse
{
    /// <summary>The input (the model's output) of the last call.</summary>
    public Tensor? Inp { get; private set; }

    /// <summary>The target of the last call.</summary>
    public Tensor? Targ { get; private set; }

    /// <summary>The loss of the last call.</summary>
    public Tensor? Out { get; private set; }

    /// <summary>Computes mean((inp.squeeze(-1) - targ)²), caching inputs and output.</summary>
    public Tensor Call(Tensor inp, Tensor targ)
    {
        Inp = inp;
        Targ = targ;
        Out = (inp.Squeeze(-1) - targ).Pow(2f).Mean();
        return Out;
    }

    /// <summary>inp.G = 2(inp - targ)/N: the first gradient of backward, which needs no gradient from after it.</summary>
    public void Backward()
    {
        using var _ = Autograd.NoGrad();
        var (inp, targ) = Cached.Of(Inp, Targ, nameof(Mse));
        inp.G = 2f * (inp.Squeeze(-1) - targ).Unsqueeze(-1) / targ.Size(0);
    }
}

/// <summary>
/// The lesson's Model: layers [Lin(w1,b1), Relu, Lin(w2,b2)] and an Mse loss. Calling it runs the layers in order and
/// the loss; Backward() runs the loss's backward and then each layer's in reverse, because each layer's gradient needs
/// the gradient of the layer after it.
/// </summary>
public sealed class Model
{
    /// <summary>Builds the two-layer model on the given parameters (lesson layout, w [in, out]).</summary>
    public Model(Tensor w1, Tensor b1, Tensor w2, Tensor b2)
    {
        Layers = [new Lin(w1, b1), new Relu(), new Lin(w2, b2)];
    }

    /// <summary>The layers, in forward order.</summary>
    public IReadOnlyList<ILayer> Layers { get; }

    /// <summary>The loss layer.</summary>
    public Mse Loss { get; } = new();

    /// <summary>Runs x through every layer and returns the loss against targ.</summary>
    public Tensor Call(Tensor x, Tensor targ)
    {
        foreach (var l in Layers) x = l.Call(x);
        return Loss.Call(x, targ);
    }

    /// <summary>Backward through the loss, then through the layers from last to first; gradients land in .G.</summary>
    public void Backward()
    {
        Loss.Backward();
        for (int i = Layers.Count - 1; i >= 0; i--) Layers[i].Backward();
    }
}

/// <summary>Reads a layer's cached tensors, failing clearly when Backward comes before any call.</summary>
static class Cached
{
    /// <summary>Both cached tensors, or an error naming the layer.</summary>
    public static (Tensor, Tensor) Of(Tensor? a, Tensor? b, string layer) => a is not null && b is not null
        ? (a, b)
        : throw new InvalidOperationException($"{layer}.Backward: the layer has not been called yet, so there is nothing cached to differentiate");
}
