using System.Numerics;

namespace Kiln.Optim;

/// <summary>
/// Stochastic gradient descent with PyTorch's semantics: g = grad + wd*p (L2, or p *= 1 - lr*wd when decoupled);
/// with momentum, buf = g on the first step, then buf = momentum*buf + (1 - dampening)*g; g = nesterov ? g + momentum*buf : buf;
/// p -= lr*g. Without momentum and weight decay it is lesson 4's plain p -= lr*grad.
/// </summary>
public sealed class SGD : Optimizer
{
    /// <summary>Nesterov momentum (needs momentum &gt; 0 and dampening 0, as PyTorch).</summary>
    public bool Nesterov { get; }

    /// <summary>Weight decay applied to the weights (p *= 1 - lr*wd, miniai's reg_step) instead of added to the gradient (L2).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>SGD over one group of parameters (e.g. <c>model.Parameters()</c>).</summary>
    public SGD(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0,
               bool nesterov = false, bool decoupledWeightDecay = false)
        : this(OneGroup(parameters), lr, momentum, dampening, weightDecay, nesterov, decoupledWeightDecay) { }

    /// <summary>SGD over parameter groups (e.g. a smaller lr for a pretrained body); unset group keys take these defaults.</summary>
    public SGD(IEnumerable<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0,
               bool nesterov = false, bool decoupledWeightDecay = false)
        : base(groups, new Dictionary<string, double>
        {
            ["lr"] = lr, ["momentum"] = momentum, ["dampening"] = dampening, ["weight_decay"] = weightDecay,
        }, "SGD")
    {
        if (!(momentum >= 0)) throw new ArgumentException($"SGD: momentum must be non-negative, got {momentum}");
        if (!(weightDecay >= 0)) throw new ArgumentException($"SGD: weight decay must be non-negative, got {weightDecay}");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException($"SGD: Nesterov momentum requires a momentum and zero dampening, got momentum {momentum}, dampening {dampening}");
        Nesterov = nesterov;
        DecoupledWeightDecay = decoupledWeightDecay;
    }

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Span<float> p, ReadOnlySpan<float> g, ParamState state)
    {
        float lr = (float)group.Lr, mom = (float)group.Momentum, damp = 1f - (float)group.Get("dampening"), wd = (float)group.WeightDecay;
        float l2 = DecoupledWeightDecay ? 0f : wd, decay = DecoupledWeightDecay && wd != 0 ? 1f - lr * wd : 1f;
        bool nesterov = Nesterov, first = mom != 0 && !HasBuffer(state, "momentum_buffer");
        var buf = mom != 0 ? Buffer(state, "momentum_buffer", p.Length) : default;
        ForEachRange(p, g, buf, default, (p, g, buf, _) =>
        {
            if (decay != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(p, decay, p);
            if (mom == 0)
            {
                if (l2 == 0) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(g, -lr, p, p);
                else for (int j = 0; j < p.Length; j++) p[j] -= lr * (g[j] + l2 * p[j]);
                return;
            }
            // Vector<float> lanes then the scalar tail, the same arithmetic in both.
            var vl2 = new Vector<float>(l2); var vmom = new Vector<float>(mom); var vdamp = new Vector<float>(damp); var vlr = new Vector<float>(lr);
            int i = 0, w = Vector<float>.Count;
            for (; i <= p.Length - w; i += w)
            {
                var pv = new Vector<float>(p[i..]);
                var d = new Vector<float>(g[i..]) + vl2 * pv;
                var b = first ? d : vmom * new Vector<float>(buf[i..]) + vdamp * d;
                b.CopyTo(buf[i..]);
                (pv - vlr * (nesterov ? d + vmom * b : b)).CopyTo(p[i..]);
            }
            for (; i < p.Length; i++)
            {
                float d = g[i] + l2 * p[i];
                float b = first ? d : mom * buf[i] + damp * d;
                buf[i] = b;
                p[i] -= lr * (nesterov ? d + mom * b : b);
            }
        });
    }
}

/// <summary>
/// Lesson 18's Momentum: an exponentially weighted average of the gradients, starting at zero,
/// grad_avg = mom*grad_avg + (1 - mom)*grad; p -= lr*grad_avg. Weight decay is decoupled (p *= 1 - lr*wd), as miniai's.
/// </summary>
public sealed class Momentum : Optimizer
{
    /// <summary>Momentum over one group of parameters.</summary>
    public Momentum(IEnumerable<Tensor> parameters, double lr, double mom = 0.9, double weightDecay = 0)
        : this(OneGroup(parameters), lr, mom, weightDecay) { }

    /// <summary>Momentum over parameter groups.</summary>
    public Momentum(IEnumerable<ParamGroup> groups, double lr, double mom = 0.9, double weightDecay = 0)
        : base(groups, new Dictionary<string, double> { ["lr"] = lr, ["momentum"] = mom, ["weight_decay"] = weightDecay }, "Momentum") { }

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Span<float> p, ReadOnlySpan<float> g, ParamState state)
    {
        float lr = (float)group.Lr, mom = (float)group.Momentum, wd = (float)group.WeightDecay;
        ForEachRange(p, g, Buffer(state, "grad_avg", p.Length), default, (p, g, avg, _) =>
        {
            if (wd != 0) System.Numerics.Tensors.TensorPrimitives.Multiply(p, 1f - lr * wd, p);
            for (int i = 0; i < p.Length; i++)
            {
                avg[i] = avg[i] * mom + g[i] * (1f - mom);
                p[i] -= lr * avg[i];
            }
        });
    }
}
