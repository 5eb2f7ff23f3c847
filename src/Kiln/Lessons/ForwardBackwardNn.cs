using Kiln.Nn;

namespace Kiln.Lessons;

/// <summary>
/// Lesson 8's last step: the hand-built model replaced by the library's modules, Sequential(Linear(784,50), ReLU(),
/// Linear(50,1)) with F.MseLoss, and gradients from autograd. Loaded with the same numbers as the by-hand version it must
/// give the same loss and gradients; the one trap is layout: Kiln.Nn's Linear stores its weight [out, in] (PyTorch's
/// convention, y = x Wᵀ + b) while the lesson's functions use w [in, out] (y = x w + b), so weights cross over transposed.
/// </summary>
public static class ForwardBackwardNn
{
    /// <summary>
    /// The lesson's two-layer MLP as Kiln.Nn modules, holding copies of the lesson-layout parameters w1 [in, hidden],
    /// b1 [hidden], w2 [hidden, 1], b2 [1]; each weight is stored transposed, as Linear expects.
    /// </summary>
    public static Sequential Model(Tensor w1, Tensor b1, Tensor w2, Tensor b2)
    {
        // The constructors' own random init is thrown away at once; a private generator keeps the default stream untouched.
        var init = new Generator(0);
        var l1 = new Linear(w1.Size(0), w1.Size(1), generator: init) { Weight = Copy(w1.T), Bias = Copy(b1) };
        var l2 = new Linear(w2.Size(0), w2.Size(1), generator: init) { Weight = Copy(w2.T), Bias = Copy(b2) };
        return new Sequential(l1, new ReLU(), l2);
    }

    /// <summary>
    /// The loss through the library: F.MseLoss of the model's [N, 1] output squeezed to [N] against y [N]. MseLoss refuses
    /// mismatched shapes instead of broadcasting [N,1] against [N] to [N,N], so the Squeeze(-1) of the lesson's mse is
    /// written here explicitly.
    /// </summary>
    public static Tensor Loss(Sequential model, Tensor x, Tensor y) => F.MseLoss(model.Call(x).Squeeze(-1), y);

    /// <summary>
    /// Loss and gradients from the modules and autograd, returned in the lesson's layout (weight gradients transposed back
    /// to [in, out]) so they compare element for element with <see cref="ForwardBackward.ForwardAndBackward"/>.
    /// The caller's tensors are not modified.
    /// </summary>
    public static ForwardBackward.Gradients WithModules(Tensor x, Tensor y, Tensor w1, Tensor b1, Tensor w2, Tensor b2)
    {
        using var _ = Autograd.EnableGrad();
        var model = Model(w1, b1, w2, b2);
        var xl = Copy(x).RequiresGradInPlace();
        var loss = Loss(model, xl, y);
        loss.Backward();
        var (l1, l2) = ((Linear)model[0], (Linear)model[2]);
        return new ForwardBackward.Gradients(loss.Item(), xl.Grad!,
            l1.Weight.Grad!.T, l1.Bias!.Grad!, l2.Weight.Grad!.T, l2.Bias!.Grad!);
    }

    /// <summary>A fresh contiguous leaf holding t's values, cut from any graph (parameters must be leaves).</summary>
    static Tensor Copy(Tensor t) => t.Detach().Clone();
}
