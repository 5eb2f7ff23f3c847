using Kiln.Optim;

namespace Kiln.Tests;

/// <summary>
/// Issue 6's optimizers: the first steps of each against values worked out by hand from its formulas (in double),
/// AdamW against PyTorch's published update rule, parameter groups, skipped parameters and checkpoints.
/// </summary>
public class OptimizerTests
{
    static Tensor Param(params float[] v) => Tensor.Of(v).RequiresGradInPlace();

    static void StepWith(Optimizer opt, Tensor p, params float[] grad)
    {
        p.Grad = Tensor.Of(grad);
        opt.Step();
    }

    static void Near(double[] expected, Tensor actual, double tol = 2e-6)
    {
        var a = actual.ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(expected[i] - a[i]) <= tol * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {a[i]}");
    }

    // ---- SGD ----

    [Fact]
    public void SGD_momentum_starts_the_buffer_at_the_gradient_then_dampens_and_adds_L2_decay()
    {
        var p = Param(1f, -2f);
        var opt = new SGD([p], lr: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.01);
        StepWith(opt, p, 0.5f, 1f);
        // d = g + wd*p = (0.51, 0.98); buf = d; p -= 0.1*buf
        double d0 = 0.5 + 0.01 * 1, d1 = 1 + 0.01 * -2;
        double p0 = 1 - 0.1 * d0, p1 = -2 - 0.1 * d1;
        Near([p0, p1], p);
        StepWith(opt, p, -0.25f, 2f);
        double e0 = -0.25 + 0.01 * p0, e1 = 2 + 0.01 * p1;
        double b0 = 0.9 * d0 + 0.5 * e0, b1 = 0.9 * d1 + 0.5 * e1;
        Near([p0 - 0.1 * b0, p1 - 0.1 * b1], p);
        Near([b0, b1], opt.StateOf(p).Buffers["momentum_buffer"]);
    }

    [Fact]
    public void SGD_nesterov_steps_along_the_gradient_plus_momentum_times_the_buffer()
    {
        var p = Param(1f);
        var opt = new SGD([p], lr: 0.1, momentum: 0.9, nesterov: true);
        StepWith(opt, p, 0.5f);
        double p1 = 1 - 0.1 * (0.5 + 0.9 * 0.5);
        Near([p1], p);
        StepWith(opt, p, 1f);
        double buf = 0.9 * 0.5 + 1;
        Near([p1 - 0.1 * (1 + 0.9 * buf)], p);
    }

    [Fact]
    public void SGD_decoupled_weight_decay_shrinks_weights_before_the_step_instead_of_adding_to_the_gradient()
    {
        var p = Param(2f);
        var decoupled = new SGD([p], lr: 0.1, weightDecay: 0.5, decoupledWeightDecay: true);
        StepWith(decoupled, p, 1f);
        Near([2 * (1 - 0.1 * 0.5) - 0.1 * 1], p); // 1.8
        var q = Param(2f);
        StepWith(new SGD([q], lr: 0.1, weightDecay: 0.5), q, 1f);
        Near([2 - 0.1 * (1 + 0.5 * 2)], q); // 1.8 too for SGD (same first step), but state differs once p changes
        var r = Param(2f);
        var rOpt = new SGD([r], lr: 0.1, momentum: 0.9, weightDecay: 0.5, decoupledWeightDecay: true);
        StepWith(rOpt, r, 1f);
        Near([1], rOpt.StateOf(r).Buffers["momentum_buffer"]); // the decay is not in the buffer
    }

    [Fact]
    public void SGD_rejects_nesterov_without_momentum_and_non_float_parameters()
    {
        Assert.Throws<ArgumentException>(() => new SGD([Param(1f)], lr: 0.1, nesterov: true));
        Assert.Throws<ArgumentException>(() => new SGD([Tensor.FromArray([1], 1)], lr: 0.1));
        Assert.Throws<ArgumentException>(() => new SGD(Array.Empty<Tensor>(), lr: 0.1));
        var p = Param(1f);
        Assert.Throws<ArgumentException>(() => new SGD([p, p], lr: 0.1));
    }

    // ---- lesson 18's Momentum, RMSProp ----

    [Fact]
    public void Momentum_is_an_exponential_average_of_gradients_starting_at_zero()
    {
        var p = Param(1f);
        var opt = new Momentum([p], lr: 0.5, mom: 0.9);
        StepWith(opt, p, 2f);
        double avg = 0.1 * 2, p1 = 1 - 0.5 * avg;
        Near([p1], p);
        StepWith(opt, p, -1f);
        avg = 0.9 * avg + 0.1 * -1;
        Near([p1 - 0.5 * avg], p);
    }

    [Fact]
    public void RMSProp_pytorch_form_divides_by_the_root_of_a_square_average_starting_at_zero()
    {
        var p = Param(1f, -1f);
        var opt = new RMSProp([p], lr: 0.01);
        StepWith(opt, p, 2f, -0.5f);
        double v0 = 0.01 * 4, v1 = 0.01 * 0.25;
        double p0 = 1 - 0.01 * 2 / (Math.Sqrt(v0) + 1e-8), p1 = -1 - 0.01 * -0.5 / (Math.Sqrt(v1) + 1e-8);
        Near([p0, p1], p);
        StepWith(opt, p, 1f, 1f);
        v0 = 0.99 * v0 + 0.01 * 1; v1 = 0.99 * v1 + 0.01 * 1;
        Near([p0 - 0.01 / (Math.Sqrt(v0) + 1e-8), p1 - 0.01 / (Math.Sqrt(v1) + 1e-8)], p);
    }

    [Fact]
    public void RMSProp_lesson18_starts_the_square_average_at_the_first_gradient_squared()
    {
        var p = Param(1f);
        var opt = RMSProp.Lesson18([p], lr: 0.01);
        StepWith(opt, p, 2f);
        // sqr_avg = 4*0.99 + 4*0.01 = 4: the first step moves by lr*g/(|g|+eps), about lr
        double p1 = 1 - 0.01 * 2 / (2 + 1e-5);
        Near([p1], p);
        StepWith(opt, p, 1f);
        double v = 0.99 * 4 + 0.01 * 1;
        Near([p1 - 0.01 * 1 / (Math.Sqrt(v) + 1e-5)], p);
    }

    [Fact]
    public void RMSProp_with_momentum_accumulates_the_normalised_step()
    {
        var p = Param(0f);
        var opt = new RMSProp([p], lr: 0.1, alpha: 0.5, eps: 0, momentum: 0.9);
        StepWith(opt, p, 1f);
        double s1 = 1 / Math.Sqrt(0.5);
        Near([-0.1 * s1], p);
        StepWith(opt, p, 1f);
        double s2 = 0.9 * s1 + 1 / Math.Sqrt(0.75);
        Near([-0.1 * s1 - 0.1 * s2], p);
    }

    // ---- Adam family ----

    [Fact]
    public void Adam_first_step_moves_each_weight_by_about_lr_thanks_to_bias_correction()
    {
        var p = Param(1f, -1f);
        var opt = new Adam([p], lr: 0.1);
        StepWith(opt, p, 3f, -0.002f);
        // m̂ = g, v̂ = g²: p -= lr * g / (|g| + 1e-8)
        double p0 = 1 - 0.1 * 3 / (3 + 1e-8), p1 = -1 + 0.1 * 0.002 / (0.002 + 1e-8);
        Near([p0, p1], p);
        StepWith(opt, p, 1f, 1f);
        double m0 = 0.9 * 0.1 * 3 + 0.1 * 1, v0 = 0.999 * 0.001 * 9 + 0.001 * 1;
        double m1 = 0.9 * 0.1 * -0.002 + 0.1 * 1, v1 = 0.999 * 0.001 * 0.002 * 0.002 + 0.001 * 1;
        double bc1 = 1 - 0.9 * 0.9, bc2 = 1 - 0.999 * 0.999;
        Near([p0 - 0.1 / bc1 * m0 / (Math.Sqrt(v0) / Math.Sqrt(bc2) + 1e-8),
              p1 - 0.1 / bc1 * m1 / (Math.Sqrt(v1) / Math.Sqrt(bc2) + 1e-8)], p);
        Assert.Equal(2, opt.StateOf(p).Step);
    }

    [Fact]
    public void Adam_with_L2_weight_decay_adds_it_to_the_gradient_before_the_moments()
    {
        var p = Param(2f);
        var opt = new Adam([p], lr: 0.1, weightDecay: 0.5);
        StepWith(opt, p, 1f);
        Near([0.1 * 2], opt.StateOf(p).Buffers["exp_avg"]); // (1-b1)*(g + wd*p) = 0.1*2
        Near([2 - 0.1], p);
    }

    [Fact]
    public void Adam_lesson18_puts_eps_inside_the_square_root_and_uses_beta2_0_99()
    {
        var p = Param(1f);
        var opt = Adam.Lesson18([p], lr: 0.1);
        StepWith(opt, p, 0.001f);
        // unbias_avg = g, unbias_sqr = g²: p -= lr*g/sqrt(g² + 1e-5), far less than lr for a tiny gradient
        double p1 = 1 - 0.1 * 0.001 / Math.Sqrt(1e-6 + 1e-5);
        Near([p1], p);
        StepWith(opt, p, 0.002f);
        double m = 0.9 * 0.1 * 0.001 + 0.1 * 0.002, v = 0.99 * 0.01 * 1e-6 + 0.01 * 4e-6;
        Near([p1 - 0.1 * (m / (1 - 0.81)) / Math.Sqrt(v / (1 - 0.99 * 0.99) + 1e-5)], p);
    }

    [Fact]
    public void Adam_without_bias_correction_uses_the_raw_moments()
    {
        var p = Param(1f);
        var opt = new Adam([p], lr: 0.1, beta1: 0.9, beta2: 0.9, eps: 0, biasCorrection: false);
        StepWith(opt, p, 2f);
        // m = 0.1*2, v = 0.1*4: p -= lr*m/sqrt(v) = 0.1*0.2/sqrt(0.4)
        Near([1 - 0.1 * 0.2 / Math.Sqrt(0.4)], p);
    }

    [Fact]
    public void AdamW_defaults_are_pytorchs()
    {
        var g = new AdamW([Param(1f)]).ParamGroups[0];
        Assert.Equal((1e-3, 0.9, 0.999, 1e-8, 0.01), (g.Lr, g.Beta1, g.Beta2, g.Eps, g.WeightDecay));
    }

    [Fact]
    public void AdamW_follows_pytorchs_published_update_over_several_steps()
    {
        // torch.optim.AdamW's documented algorithm (amsgrad off, maximize off), in double:
        // θ ← θ − γλθ; m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²; m̂ = m/(1−β1^t); v̂ = v/(1−β2^t); θ ← θ − γ m̂/(√v̂ + ε)
        double[] theta = [0.5, -1.5, 2.0], m = new double[3], v = new double[3];
        double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
        var p = Param(0.5f, -1.5f, 2.0f);
        var opt = new AdamW([p], lr: lr, weightDecay: wd);
        float[][] grads = [[0.3f, -0.1f, 0.02f], [0.25f, 0.4f, -0.5f], [-0.2f, 0.1f, 0.05f], [0.1f, -0.3f, 1.0f], [0.0f, 0.2f, -0.1f]];
        for (int t = 1; t <= grads.Length; t++)
        {
            for (int i = 0; i < 3; i++)
            {
                double gi = grads[t - 1][i];
                theta[i] -= lr * wd * theta[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double mh = m[i] / (1 - Math.Pow(b1, t)), vh = v[i] / (1 - Math.Pow(b2, t));
                theta[i] -= lr * mh / (Math.Sqrt(vh) + eps);
            }
            StepWith(opt, p, grads[t - 1]);
            Near(theta, p, 1e-5);
        }
    }

    [Theory]
    [InlineData("AdamW")]
    [InlineData("Adam.Lesson18")]
    [InlineData("SGD.momentum")]
    [InlineData("SGD.nesterov")]
    public void The_vector_loop_gives_the_same_values_as_the_scalar_tail(string which)
    {
        // One 37-element parameter (vector lanes plus a tail) against 37 one-element parameters (tail only).
        const int n = 37;
        var gen = new Generator(3);
        var big = Tensor.Randn([n], gen).RequiresGradInPlace();
        var smalls = big.ToArray().Select(v => Param(v)).ToArray();
        Optimizer Make(IEnumerable<Tensor> ps) => which switch
        {
            "AdamW" => new AdamW(ps, lr: 0.01, weightDecay: 0.1),
            "Adam.Lesson18" => Adam.Lesson18(ps, lr: 0.01),
            "SGD.momentum" => new SGD(ps, lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01),
            _ => new SGD(ps, lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01),
        };
        var optBig = Make([big]);
        var optSmall = Make(smalls);
        for (int step = 0; step < 3; step++)
        {
            var g = Tensor.Randn([n], gen).ToArray();
            big.Grad = Tensor.Of(g);
            for (int i = 0; i < n; i++) smalls[i].Grad = Tensor.Of(g[i]);
            optBig.Step();
            optSmall.Step();
        }
        Assert.Equal(smalls.Select(t => t.Item()).ToArray(), big.ToArray());
    }

    // ---- groups, skipping, gradient decay ----

    [Fact]
    public void Groups_with_different_learning_rates_step_by_their_own_lr()
    {
        var body = Param(1f);
        var head = Param(1f);
        var opt = new SGD([new ParamGroup([body]) { Lr = 0.01 }, new ParamGroup([head])], lr: 0.1, momentum: 0.5);
        Assert.Equal(0.5, opt.ParamGroups[0].Momentum); // unset keys come from the defaults
        body.Grad = Tensor.Of(1f);
        head.Grad = Tensor.Of(1f);
        opt.Step();
        Near([0.99], body);
        Near([0.9], head);
        opt.ParamGroups[1].Lr = 0.2; // as a scheduler would
        opt.Step();
        Near([0.99 - 0.01 * 1.5], body);
        Near([0.9 - 0.2 * 1.5], head);
    }

    [Fact]
    public void Parameters_without_a_gradient_are_skipped_and_get_no_state()
    {
        var p = Param(1f);
        var frozen = Param(5f);
        var opt = new Adam([p, frozen], lr: 0.1);
        StepWith(opt, p, 1f);
        Assert.Equal([5f], frozen.ToArray());
        Assert.Equal([0], opt.StateDict().State.Keys);
        Assert.Equal(1, opt.StateOf(p).Step);
    }

    [Fact]
    public void GradDecayOnZero_multiplies_gradients_instead_of_clearing_them()
    {
        var p = Param(1f);
        var opt = new SGD([p], lr: 0.1) { GradDecayOnZero = 0.85 };
        p.Grad = Tensor.Of(2f);
        opt.ZeroGrad();
        Near([1.7], p.Grad!);
    }

    [Fact]
    public void A_non_contiguous_parameter_is_updated_through_a_copy()
    {
        var p = Tensor.FromArray([1f, 2f, 3f, 4f], 2, 2).T.RequiresGradInPlace();
        var opt = new SGD([p], lr: 1);
        p.Grad = Tensor.FromArray([1f, 1f, 1f, 1f], 2, 2);
        opt.Step();
        Assert.Equal([0f, 2f, 1f, 3f], p.ToArray());
    }

    // ---- checkpoints ----

    [Fact]
    public void StateDict_round_trip_resumes_training_exactly()
    {
        var a = Param(1f, 2f);
        var optA = new AdamW([a], lr: 0.05);
        StepWith(optA, a, 0.5f, -0.5f);
        StepWith(optA, a, 0.1f, 0.2f);
        optA.ParamGroups[0].Lr = 0.02;
        var saved = optA.StateDict();

        var b = Param(a.ToArray());
        var optB = new AdamW([b], lr: 0.05);
        optB.LoadStateDict(saved);
        Assert.Equal(0.02, optB.Lr);
        Assert.Equal(2, optB.StateOf(b).Step);

        StepWith(optA, a, 0.3f, 0.3f); // changing A must not leak into the saved copy or into B
        StepWith(optB, b, 0.3f, 0.3f);
        Assert.Equal(a.ToArray(), b.ToArray());
        Assert.Equal(2, saved.State[0].Step);
        Assert.Equal(optA.StateOf(a).Buffers["exp_avg_sq"].ToArray(), optB.StateOf(b).Buffers["exp_avg_sq"].ToArray());
    }

    [Fact]
    public void LoadStateDict_rejects_a_checkpoint_of_a_different_layout()
    {
        var a = Param(1f, 2f);
        var opt = new SGD([a], lr: 0.1, momentum: 0.9);
        StepWith(opt, a, 1f, 1f);
        var saved = opt.StateDict();
        Assert.Throws<ArgumentException>(() => new SGD([Param(1f), Param(2f)], lr: 0.1).LoadStateDict(saved));
        Assert.Throws<ArgumentException>(() => new SGD([Param(1f, 2f, 3f)], lr: 0.1).LoadStateDict(saved));
    }
}

/// <summary>Large parameters are updated in ranges over Kiln's threads; the split must never change a bit.</summary>
[Collection("Threading")]
public sealed class OptimizerThreadingTests
{
    [Theory]
    [InlineData("SGD")]
    [InlineData("SGD.momentum")]
    [InlineData("SGD.nesterov.decoupled")]
    [InlineData("Momentum")]
    [InlineData("RMSProp.momentum.lesson18")]
    [InlineData("Adam")]
    [InlineData("AdamW")]
    [InlineData("Adam.Lesson18")]
    public void A_large_parameter_gets_the_same_bits_at_one_two_and_three_threads(string which)
    {
        // 3·8192 + 37 elements: split in two or three ranges (each at least Optimizer.MinRange), with a scalar tail.
        const int n = 3 * 8192 + 37;
        var gen = new Generator(11);
        var init = Tensor.Randn([n], gen).ToArray();
        var grads = Enumerable.Range(0, 3).Select(_ => Tensor.Randn([n], gen).ToArray()).ToArray();
        Optimizer Make(Tensor p) => which switch
        {
            "SGD" => new SGD([p], lr: 0.1),
            "SGD.momentum" => new SGD([p], lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01),
            "SGD.nesterov.decoupled" => new SGD([p], lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01, decoupledWeightDecay: true),
            "Momentum" => new Momentum([p], lr: 0.1, weightDecay: 0.01),
            "RMSProp.momentum.lesson18" => new RMSProp([p], lr: 0.01, momentum: 0.9, initWithGradSquared: true, decoupledWeightDecay: true, weightDecay: 0.01),
            "Adam" => new Adam([p], lr: 0.01, weightDecay: 0.01),
            "AdamW" => new AdamW([p], lr: 0.01),
            _ => Adam.Lesson18([p], lr: 0.01, weightDecay: 0.01),
        };
        float[] Run(int threads)
        {
            int old = Kiln.Kernels.Threading.Threads;
            Kiln.Kernels.Threading.Threads = threads;
            try
            {
                var p = Tensor.Of(init).RequiresGradInPlace();
                var opt = Make(p);
                foreach (var g in grads)
                {
                    p.Grad = Tensor.Of(g);
                    opt.Step();
                }
                return p.ToArray();
            }
            finally { Kiln.Kernels.Threading.Threads = old; }
        }
        var one = Run(1);
        Assert.NotEqual(init, one);
        Assert.Equal(one, Run(2));
        Assert.Equal(one, Run(3));
    }
}
