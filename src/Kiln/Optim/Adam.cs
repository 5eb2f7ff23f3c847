using System.Numerics;

namespace Kiln.Optim;

/// <summary>
/// The Adam update shared by <see cref="Adam"/> and <see cref="AdamW"/>: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g²;
/// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), PyTorch's arrangement, or with eps inside the square root,
/// p -= lr * (m/(1-b1^t)) / sqrt(v/(1-b2^t) + eps), as lesson 18 writes it.
/// </summary>
static class AdamUpdate
{
    public static void Apply(ParamGroup group, Span<float> p, ReadOnlySpan<float> g, ParamState state, bool decoupled, bool epsInsideSqrt, bool biasCorrection = true)
    {
        double lr = group.Lr, b1 = group.Beta1, b2 = group.Beta2, wd = group.WeightDecay;
        float eps = (float)group.Eps, fb1 = (float)b1, fb2 = (float)b2;
        float l2 = decoupled ? 0f : (float)wd, decay = decoupled && wd != 0 ? (float)(1 - lr * wd) : 1f;
        double bc1 = biasCorrection ? 1 - Math.Pow(b1, state.Step) : 1, bc2 = biasCorrection ? 1 - Math.Pow(b2, state.Step) : 1;
        float stepSize = (float)(lr / bc1);
        float scale = epsInsideSqrt ? (float)(1 / bc2) : (float)(1 / Math.Sqrt(bc2));
        Optimizer.ForEachRange(p, g, Optimizer.Buffer(state, "exp_avg", p.Length), Optimizer.Buffer(state, "exp_avg_sq", p.Length), (p, g, m, v) =>
        {
            if (decay != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(p, decay, p);
            // One pass over p, g, m and v: Vector<float> lanes, then the scalar tail (same arithmetic, same rounding).
            var vb1 = new Vector<float>(fb1); var vb1c = new Vector<float>(1f - fb1);
            var vb2 = new Vector<float>(fb2); var vb2c = new Vector<float>(1f - fb2);
            var vl2 = new Vector<float>(l2); var vstep = new Vector<float>(stepSize);
            var vscale = new Vector<float>(scale); var veps = new Vector<float>(eps);
            int i = 0, w = Vector<float>.Count;
            for (; i <= p.Length - w; i += w)
            {
                var pv = new Vector<float>(p[i..]);
                var d = new Vector<float>(g[i..]) + vl2 * pv;
                var mv = vb1 * new Vector<float>(m[i..]) + vb1c * d;
                var vv = vb2 * new Vector<float>(v[i..]) + vb2c * d * d;
                mv.CopyTo(m[i..]);
                vv.CopyTo(v[i..]);
                var denom = epsInsideSqrt ? Vector.SquareRoot(vv * vscale + veps) : Vector.SquareRoot(vv) * vscale + veps;
                (pv - vstep * mv / denom).CopyTo(p[i..]);
            }
            for (; i < p.Length; i++)
            {
                float d = g[i] + l2 * p[i];
                m[i] = fb1 * m[i] + (1f - fb1) * d;
                v[i] = fb2 * v[i] + (1f - fb2) * d * d;
                float denom = epsInsideSqrt ? MathF.Sqrt(v[i] * scale + eps) : MathF.Sqrt(v[i]) * scale + eps;
                p[i] -= stepSize * m[i] / denom;
            }
        });
    }

    public static Dictionary<string, double> Defaults(double lr, double beta1, double beta2, double eps, double weightDecay, string name)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentException($"{name}: beta1 must be in [0, 1), got {beta1}");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentException($"{name}: beta2 must be in [0, 1), got {beta2}");
        if (!(eps >= 0)) throw new ArgumentException($"{name}: eps must be non-negative, got {eps}");
        if (!(weightDecay >= 0)) throw new ArgumentException($"{name}: weight decay must be non-negative, got {weightDecay}");
        return new() { ["lr"] = lr, ["beta1"] = beta1, ["beta2"] = beta2, ["eps"] = eps, ["weight_decay"] = weightDecay };
    }
}

/// <summary>
/// Adam with bias correction (PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, L2 weight decay 0).
/// <see cref="Lesson18"/> builds the lesson's variant: betas (0.9, 0.99), eps 1e-5 inside the square root, decoupled decay.
/// </summary>
public sealed class Adam : Optimizer
{
    /// <summary>Weight decay applied to the weights (p *= 1 - lr*wd) instead of added to the gradient (L2).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>eps added under the square root, sqrt(v̂ + eps), as lesson 18 writes it, instead of sqrt(v̂) + eps.</summary>
    public bool EpsInsideSqrt { get; }

    /// <summary>Divides the moments by 1 - beta^t (true by default; lesson 18's spreadsheet leaves it out).</summary>
    public bool BiasCorrection { get; }

    /// <summary>Adam over one group of parameters.</summary>
    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
                double weightDecay = 0, bool decoupledWeightDecay = false, bool epsInsideSqrt = false, bool biasCorrection = true)
        : this(OneGroup(parameters), lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay, epsInsideSqrt, biasCorrection) { }

    /// <summary>Adam over parameter groups; unset group keys take these defaults.</summary>
    public Adam(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
                double weightDecay = 0, bool decoupledWeightDecay = false, bool epsInsideSqrt = false, bool biasCorrection = true)
        : base(groups, AdamUpdate.Defaults(lr, beta1, beta2, eps, weightDecay, "Adam"), "Adam")
    {
        DecoupledWeightDecay = decoupledWeightDecay;
        EpsInsideSqrt = epsInsideSqrt;
        BiasCorrection = biasCorrection;
    }

    /// <summary>Lesson 18's Adam: betas (0.9, 0.99), eps 1e-5 inside the square root, decoupled weight decay.</summary>
    public static Adam Lesson18(IEnumerable<Tensor> parameters, double lr, double weightDecay = 0) =>
        new(parameters, lr, 0.9, 0.99, 1e-5, weightDecay, decoupledWeightDecay: true, epsInsideSqrt: true);

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Span<float> p, ReadOnlySpan<float> g, ParamState state) =>
        AdamUpdate.Apply(group, p, g, state, DecoupledWeightDecay, EpsInsideSqrt, BiasCorrection);
}

/// <summary>
/// AdamW (Loshchilov and Hutter) with PyTorch's semantics and defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight
/// decay 0.01 applied as p *= 1 - lr*wd before the Adam step. The optimizer lesson 18 trains everything with.
/// </summary>
public sealed class AdamW : Optimizer
{
    /// <summary>AdamW over one group of parameters.</summary>
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
        : this(OneGroup(parameters), lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>AdamW over parameter groups; unset group keys take these defaults.</summary>
    public AdamW(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
        : base(groups, AdamUpdate.Defaults(lr, beta1, beta2, eps, weightDecay, "AdamW"), "AdamW") { }

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Span<float> p, ReadOnlySpan<float> g, ParamState state) =>
        AdamUpdate.Apply(group, p, g, state, decoupled: true, epsInsideSqrt: false);
}

/// <summary>
/// RMSProp with PyTorch's semantics (lr 1e-2, alpha 0.99, eps 1e-8, square average starting at 0, L2 weight decay):
/// v = alpha*v + (1-alpha)*g²; p -= lr*g/(sqrt(v) + eps), or with momentum, buf = momentum*buf + g/(sqrt(v)+eps); p -= lr*buf.
/// <see cref="Lesson18"/> builds the lesson's: alpha (sqr_mom) 0.99, eps 1e-5, v starting at g², decoupled decay.
/// </summary>
public sealed class RMSProp : Optimizer
{
    /// <summary>The square average starts at the first gradient squared (lesson 18) instead of zero (PyTorch).</summary>
    public bool InitWithGradSquared { get; }

    /// <summary>Weight decay applied to the weights (p *= 1 - lr*wd) instead of added to the gradient (L2).</summary>
    public bool DecoupledWeightDecay { get; }

    /// <summary>RMSProp over one group of parameters.</summary>
    public RMSProp(IEnumerable<Tensor> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0,
                   double momentum = 0, bool initWithGradSquared = false, bool decoupledWeightDecay = false)
        : this(OneGroup(parameters), lr, alpha, eps, weightDecay, momentum, initWithGradSquared, decoupledWeightDecay) { }

    /// <summary>RMSProp over parameter groups; unset group keys take these defaults.</summary>
    public RMSProp(IEnumerable<ParamGroup> groups, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0,
                   double momentum = 0, bool initWithGradSquared = false, bool decoupledWeightDecay = false)
        : base(groups, new Dictionary<string, double>
        {
            ["lr"] = lr, ["alpha"] = alpha, ["eps"] = eps, ["weight_decay"] = weightDecay, ["momentum"] = momentum,
        }, "RMSProp")
    {
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentException($"RMSProp: alpha must be in [0, 1], got {alpha}");
        if (!(eps >= 0)) throw new ArgumentException($"RMSProp: eps must be non-negative, got {eps}");
        InitWithGradSquared = initWithGradSquared;
        DecoupledWeightDecay = decoupledWeightDecay;
    }

    /// <summary>Lesson 18's RMSProp: sqr_mom 0.99, eps 1e-5, square average starting at grad², decoupled weight decay.</summary>
    public static RMSProp Lesson18(IEnumerable<Tensor> parameters, double lr, double weightDecay = 0) =>
        new(parameters, lr, 0.99, 1e-5, weightDecay, initWithGradSquared: true, decoupledWeightDecay: true);

    /// <inheritdoc/>
    protected override void Update(ParamGroup group, Span<float> p, ReadOnlySpan<float> g, ParamState state)
    {
        float lr = (float)group.Lr, alpha = (float)group.Get("alpha"), eps = (float)group.Eps, wd = (float)group.WeightDecay, mom = (float)group.Momentum;
        bool decoupled = DecoupledWeightDecay, startAtSquare = InitWithGradSquared && !HasBuffer(state, "square_avg");
        float l2 = decoupled ? 0f : wd;
        var v = Buffer(state, "square_avg", p.Length);
        var buf = mom != 0 ? Buffer(state, "momentum_buffer", p.Length) : default;
        ForEachRange(p, g, v, buf, (p, g, v, buf) =>
        {
            if (decoupled && wd != 0) System.Numerics.Tensors.TensorPrimitives.Multiply(p, 1f - lr * wd, p);
            for (int i = 0; i < p.Length; i++)
            {
                float d = g[i] + l2 * p[i];
                float prev = startAtSquare ? d * d : v[i];
                v[i] = alpha * prev + (1f - alpha) * d * d;
                float step = d / (MathF.Sqrt(v[i]) + eps);
                if (mom != 0) step = buf[i] = mom * buf[i] + step;
                p[i] -= lr * step;
            }
        });
    }
}
