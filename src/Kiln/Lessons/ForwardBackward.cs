using System.Runtime.CompilerServices;

namespace Kiln.Lessons;

/// <summary>
/// Lesson 8, sections 5-6: a two-layer MLP (lin -> relu -> lin -> MSE, one output) written as plain functions, its
/// gradients derived by hand with the chain rule, and the same gradients from autograd to check them against.
/// Layout follows the lesson, not Kiln.Nn: a weight is [in, out] so a layer is x@w + b. The layer-class and Module
/// versions of the same model live in the namespaces Kiln.Lessons.Layers and Kiln.Lessons.Modules.
/// </summary>
public static class ForwardBackward
{
    /// <summary>
    /// The hand-written gradients, attached to the tensors they belong to. The lesson sets a Python attribute (inp.g = ...)
    /// on each tensor; a weak table keyed by reference is the same thing in C#: the gradient lives exactly as long as the
    /// tensor, and autograd's own <see cref="Tensor.Grad"/> stays untouched so the two can be compared on the same tensors.
    /// </summary>
    static readonly ConditionalWeakTable<Tensor, Tensor> HandGrads = new();

    /// <summary>The lesson's <c>.g</c> on a tensor.</summary>
    extension(Tensor t)
    {
        /// <summary>
        /// The lesson's <c>.g</c>: the gradient of the loss with respect to this tensor, as stored by the hand-written
        /// backward functions (null until one has run). Separate from autograd's Grad.
        /// </summary>
        public Tensor? G
        {
            get => HandGrads.TryGetValue(t, out var g) ? g : null;
            set
            {
                if (value is null) HandGrads.Remove(t);
                else HandGrads.AddOrUpdate(t, value);
            }
        }
    }

    /// <summary>The loss and the gradients of the loss for the model's input and four parameters (lesson layout: w [in,out]).</summary>
    /// <param name="Loss">The MSE loss.</param>
    /// <param name="X">d loss / d x, [N, in].</param>
    /// <param name="W1">d loss / d w1, [in, hidden].</param>
    /// <param name="B1">d loss / d b1, [hidden].</param>
    /// <param name="W2">d loss / d w2, [hidden, 1].</param>
    /// <param name="B2">d loss / d b2, [1].</param>
    public sealed record Gradients(float Loss, Tensor X, Tensor W1, Tensor B1, Tensor W2, Tensor B2);

    // ---- forward: three functions --------------------------------------------------------------------------------

    /// <summary>A linear layer, x@w + b: x [N, in], w [in, out], b [out] broadcast over the rows; returns [N, out].</summary>
    public static Tensor Lin(Tensor x, Tensor w, Tensor b) => x.MatMul(w) + b;

    /// <summary>ReLU as the lesson writes it, x.clamp_min(0): negatives become 0, the rest pass unchanged.</summary>
    public static Tensor Relu(Tensor x) => x.ClampMin(0f);

    /// <summary>
    /// Mean squared error of output [N, 1] against target [N]. Squeeze(-1) first: [N,1] - [N] would broadcast to [N,N] and
    /// average every output against every target. Only the last dim is squeezed, so a batch of one stays a batch.
    /// </summary>
    public static Tensor Mse(Tensor output, Tensor target) => (output.Squeeze(-1) - target).Pow(2f).Mean();

    /// <summary>The whole forward pass, lin -> relu -> lin -> mse; returns the scalar loss (differentiable by autograd).</summary>
    public static Tensor Forward(Tensor x, Tensor y, Tensor w1, Tensor b1, Tensor w2, Tensor b2)
        => Mse(Lin(Relu(Lin(x, w1, b1)), w2, b2), y);

    // ---- backward: one gradient function per forward function -----------------------------------------------------
    // Each takes the forward's input(s) and output and turns out.G (d loss / d out) into inp.G (d loss / d inp) by the chain
    // rule: d loss/d inp = d loss/d out · d out/d inp. They run under NoGrad: they are plain arithmetic we wrote ourselves,
    // so there is nothing for autograd to record even when the tensors also require grad.

    /// <summary>
    /// Gradient of <see cref="Mse"/> for its input: loss = Σ(inp - targ)²/N, so d loss/d inp = 2(inp - targ)/N, reshaped
    /// back to inp's [N, 1]. The 1/N comes from the mean and is easy to forget. This is where backward starts: nothing
    /// after the loss, so no out.G is needed.
    /// </summary>
    public static void MseGrad(Tensor inp, Tensor targ)
    {
        using var _ = Autograd.NoGrad();
        inp.G = 2f * (inp.Squeeze(-1) - targ).Unsqueeze(-1) / targ.Size(0);
    }

    /// <summary>
    /// Gradient of <see cref="Relu"/>: the slope is 1 where inp &gt; 0 and 0 elsewhere, so the output's gradient passes
    /// through only where the unit was active: inp.G = (inp &gt; 0).float() * out.G.
    /// </summary>
    public static void ReluGrad(Tensor inp, Tensor output)
    {
        using var _ = Autograd.NoGrad();
        inp.G = (inp > 0f).Float() * NeedG(output, nameof(ReluGrad));
    }

    /// <summary>
    /// Gradients of <see cref="Lin"/> (out = inp@w + b) for all three of its inputs:
    /// inp.G = out.G @ wᵀ (each input feeds every output through w);
    /// w.G = inpᵀ @ out.G (the sum over the batch of the outer products inp[n] ⊗ out.G[n], done as one matmul);
    /// b.G = out.G summed over the batch (b was broadcast to every row, so its gradient collects from every row).
    /// </summary>
    public static void LinGrad(Tensor inp, Tensor output, Tensor w, Tensor b)
    {
        using var _ = Autograd.NoGrad();
        var g = NeedG(output, nameof(LinGrad));
        inp.G = g.MatMul(w.T);
        w.G = inp.T.MatMul(g);
        b.G = g.Sum(0);
    }

    /// <summary>
    /// The lesson's forward_and_backward: runs the forward pass keeping every intermediate (backward needs them), then
    /// the gradient functions in reverse order, from the loss back to the input. Sets .G on x, w1, b1, w2, b2 and on each
    /// intermediate, and returns the loss with the five gradients.
    /// </summary>
    public static Gradients ForwardAndBackward(Tensor x, Tensor y, Tensor w1, Tensor b1, Tensor w2, Tensor b2)
    {
        using var _ = Autograd.NoGrad();
        var l1 = Lin(x, w1, b1);
        var l2 = Relu(l1);
        var output = Lin(l2, w2, b2);
        var loss = Mse(output, y);

        MseGrad(output, y);
        LinGrad(l2, output, w2, b2);
        ReluGrad(l1, l2);
        LinGrad(x, l1, w1, b1);
        return new Gradients(loss.Item(), x.G!, w1.G!, b1.G!, w2.G!, b2.G!);
    }

    /// <summary>
    /// The same gradients from autograd, the independent reference: fresh leaf copies of x and the parameters with
    /// RequiresGrad (the lesson's x_train.clone().requires_grad_(True)), the same <see cref="Forward"/>, then
    /// loss.Backward(), which walks the recorded graph in reverse exactly as <see cref="ForwardAndBackward"/> does by hand.
    /// The caller's tensors are not modified.
    /// </summary>
    public static Gradients WithAutograd(Tensor x, Tensor y, Tensor w1, Tensor b1, Tensor w2, Tensor b2)
    {
        using var _ = Autograd.EnableGrad();
        Tensor Leaf(Tensor t) => t.Detach().Clone().RequiresGradInPlace();
        Tensor xl = Leaf(x), w1l = Leaf(w1), b1l = Leaf(b1), w2l = Leaf(w2), b2l = Leaf(b2);
        var loss = Forward(xl, y, w1l, b1l, w2l, b2l);
        loss.Backward();
        return new Gradients(loss.Item(), xl.Grad!, w1l.Grad!, b1l.Grad!, w2l.Grad!, b2l.Grad!);
    }

    // ---- the weight gradient three ways ---------------------------------------------------------------------------

    /// <summary>
    /// w.G as the lesson first writes it: the outer product of each input row with its output gradient,
    /// inp[n,i]·out.G[n,j], built as one [N, in, out] tensor by broadcasting and summed over the batch. Correct but it
    /// materialises N·in·out floats: the lesson measures it about 25x slower than the matmul.
    /// </summary>
    public static Tensor WeightGradOuterProduct(Tensor inp, Tensor outG) => (inp.Unsqueeze(-1) * outG.Unsqueeze(1)).Sum(0);

    /// <summary>w.G as an Einstein sum "bi,bj->ij": b appears in both inputs and not in the output, so it is summed over.</summary>
    public static Tensor WeightGradEinsum(Tensor inp, Tensor outG) => Tensor.Einsum("bi,bj->ij", inp, outG);

    /// <summary>w.G as a matrix product inpᵀ @ out.G: the same sum over the batch, done by the GEMM without the big tensor.</summary>
    public static Tensor WeightGradMatMul(Tensor inp, Tensor outG) => inp.T.MatMul(outG);

    /// <summary>Reads out.G, explaining the usual mistake (running a gradient before the one that follows it) when missing.</summary>
    internal static Tensor NeedG(Tensor output, string op) => output.G ?? throw new InvalidOperationException(
        $"{op}: the layer's output has no gradient (.G) yet; backward runs from the loss to the input, so run the gradient of the step after this one first");
}
