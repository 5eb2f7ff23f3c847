namespace Kiln.Lessons.Modules;

// Lesson 8, section 6, second refactor: the caching that every layer class repeated moves into one base class. Call saves
// the arguments, runs Forward and saves the output; Backward hands both to Bwd. A layer now only states its math: a
// Forward and, beside it, a Bwd that turns out.G into .G on its arguments.

/// <summary>
/// The lesson's Module base: <see cref="Call"/> saves the arguments, runs <see cref="Forward"/> and saves the output;
/// <see cref="Backward"/> calls <see cref="Bwd"/> with them, so subclasses never cache anything themselves.
/// </summary>
public abstract class Module
{
    /// <summary>The arguments of the last call.</summary>
    public Tensor[] Args { get; private set; } = [];

    /// <summary>The output of the last call.</summary>
    public Tensor? Out { get; private set; }

    /// <summary>Saves args, runs Forward on them, saves and returns the output (Python's __call__).</summary>
    public Tensor Call(params Tensor[] args)
    {
        Args = args;
        Out = Forward(args);
        return Out;
    }

    /// <summary>
    /// Runs Bwd on the saved output and arguments, under NoGrad because the backward here is ours, not autograd's.
    /// </summary>
    public void Backward()
    {
        if (Out is null) throw new InvalidOperationException($"{GetType().Name}.Backward: the module has not been called yet");
        using var _ = Autograd.NoGrad();
        Bwd(Out, Args);
    }

    /// <summary>The forward computation on the call's arguments.</summary>
    protected abstract Tensor Forward(Tensor[] args);

    /// <summary>Sets .G on each argument (and parameter) from output.G, the gradient of the loss for the output.</summary>
    protected abstract void Bwd(Tensor output, Tensor[] args);

    /// <summary>The gradient of the output, or an error when the module after this one has not run its backward yet.</summary>
    protected static Tensor GradOf(Tensor output) => ForwardBackward.NeedG(output, "Bwd");

    /// <summary>An error for a call with the wrong number of arguments.</summary>
    protected Exception Arity(Tensor[] args, int expected) =>
        new ArgumentException($"{GetType().Name}: expected {expected} tensor argument(s), got {args.Length}");
}

/// <summary>ReLU on the Module base.</summary>
public sealed class Relu : Module
{
    /// <summary>inp.clamp_min(0).</summary>
    protected override Tensor Forward(Tensor[] args) => args is [var inp] ? inp.ClampMin(0f) : throw Arity(args, 1);

    /// <summary>inp.G = (inp &gt; 0).float() * out.G.</summary>
    protected override void Bwd(Tensor output, Tensor[] args)
    {
        var inp = args[0];
        inp.G = (inp > 0f).Float() * GradOf(output);
    }
}

/// <summary>A linear layer x@w + b (lesson layout, w [in, out]) on the Module base.</summary>
/// <param name="w">The weight, [in, out].</param>
/// <param name="b">The bias, [out].</param>
public sealed class Lin(Tensor w, Tensor b) : Module
{
    /// <summary>The weight, [in, out].</summary>
    public Tensor W { get; } = w;

    /// <summary>The bias, [out].</summary>
    public Tensor B { get; } = b;

    /// <summary>inp@w + b.</summary>
    protected override Tensor Forward(Tensor[] args) => args is [var inp] ? inp.MatMul(W) + B : throw Arity(args, 1);

    /// <summary>
    /// inp.G = out.G @ wᵀ; w.G by Einstein summation "bi,bj->ij" (the batch index b is summed away, as the lesson writes it
    /// at this stage); b.G = out.G summed over the batch.
    /// </summary>
    protected override void Bwd(Tensor output, Tensor[] args)
    {
        var inp = args[0];
        var g = GradOf(output);
        inp.G = g.MatMul(W.T);
        W.G = Tensor.Einsum("bi,bj->ij", inp, g);
        B.G = g.Sum(0);
    }
}

/// <summary>The MSE loss on the Module base: called with (inp [N, 1], targ [N]).</summary>
public sealed class Mse : Module
{
    /// <summary>mean((inp.squeeze(-1) - targ)²).</summary>
    protected override Tensor Forward(Tensor[] args) =>
        args is [var inp, var targ] ? (inp.Squeeze(-1) - targ).Pow(2f).Mean() : throw Arity(args, 2);

    /// <summary>inp.G = 2(inp - targ)/N; the loss is where backward starts, so output.G is not needed.</summary>
    protected override void Bwd(Tensor output, Tensor[] args)
    {
        var (inp, targ) = (args[0], args[1]);
        inp.G = 2f * (inp.Squeeze(-1) - targ).Unsqueeze(-1) / targ.Size(0);
    }
}

/// <summary>The lesson's Model again, now built from Modules: layers in order, then the loss; Backward in reverse.</summary>
public sealed class Model
{
    /// <summary>Builds [Lin(w1,b1), Relu, Lin(w2,b2)] with an Mse loss (lesson layout, w [in, out]).</summary>
    public Model(Tensor w1, Tensor b1, Tensor w2, Tensor b2)
    {
        Layers = [new Lin(w1, b1), new Relu(), new Lin(w2, b2)];
    }

    /// <summary>The layers, in forward order.</summary>
    public IReadOnlyList<Module> Layers { get; }

    /// <summary>The loss module.</summary>
    public Mse Loss { get; } = new();

    /// <summary>Runs x through every layer and returns the loss against targ.</summary>
    public Tensor Call(Tensor x, Tensor targ)
    {
        foreach (var l in Layers) x = l.Call(x);
        return Loss.Call(x, targ);
    }

    /// <summary>The loss's backward, then each layer's from last to first; gradients land in .G.</summary>
    public void Backward()
    {
        Loss.Backward();
        for (int i = Layers.Count - 1; i >= 0; i--) Layers[i].Backward();
    }
}
