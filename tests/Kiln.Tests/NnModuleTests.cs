using Kiln.Nn;
using Kiln.Optim;

namespace Kiln.Tests;

public sealed class NnModuleTests
{
    /// <summary>A hand-written model: named children, a free parameter and a buffer, as a user would write one.</summary>
    sealed class Net : Module
    {
        public readonly Linear Fc1, Fc2;
        public readonly Tensor Scale;
        public readonly Tensor RunningMean;

        public Net(Generator g)
        {
            Fc1 = RegisterModule("fc1", new Linear(3, 4, generator: g));
            Fc2 = RegisterModule("fc2", new Linear(4, 2, generator: g));
            Scale = RegisterParameter("scale", Tensor.Ones(2))!;
            RunningMean = RegisterBuffer("running_mean", Tensor.Zeros(2));
        }

        public override Tensor Forward(Tensor x) => Fc2.Call(Fc1.Call(x).Relu()) * Scale + RunningMean;
    }

    static Sequential Mlp(int seed) => new(new Linear(3, 5, generator: new Generator(seed)), new ReLU(),
        new Sequential(new Linear(5, 4, generator: new Generator(seed + 1)), new Tanh()), new Linear(4, 2, bias: false, generator: new Generator(seed + 2)));

    static void Close(float[] expected, float[] actual, float tol = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    // ---- registration and names ----

    [Fact]
    public void Linear_registers_weight_out_by_in_and_bias_as_trainable_parameters()
    {
        var lin = new Linear(3, 2);
        var named = lin.NamedParameters().ToList();
        Assert.Equal(["weight", "bias"], named.Select(p => p.Name));
        Assert.Equal([2, 3], lin.Weight.Shape);
        Assert.Equal([2], lin.Bias!.Shape);
        Assert.All(named, p => Assert.True(p.Parameter.RequiresGrad && p.Parameter.IsLeaf));
        Assert.Same(lin.Weight, named[0].Parameter);
        Assert.Equal(8, lin.NumParameters());
    }

    [Fact]
    public void Linear_without_bias_has_only_a_weight_everywhere()
    {
        var lin = new Linear(3, 2, bias: false);
        Assert.Null(lin.Bias);
        Assert.Equal(["weight"], lin.NamedParameters().Select(p => p.Name));
        Assert.Equal(["weight"], lin.StateDict().Keys);
        Assert.Equal("Linear(inFeatures: 3, outFeatures: 2, bias: false)", lin.ToString());
    }

    [Fact]
    public void Nested_sequential_parameters_and_modules_have_dotted_names_in_order()
    {
        var m = Mlp(1);
        Assert.Equal(["0.weight", "0.bias", "2.0.weight", "2.0.bias", "3.weight"], m.NamedParameters().Select(p => p.Name));
        Assert.Equal(["", "0", "1", "2", "2.0", "2.1", "3"], m.NamedModules().Select(p => p.Name));
        Assert.Equal(4, m.Children().Count());
        Assert.Equal(3 * 5 + 5 + 5 * 4 + 4 + 4 * 2, m.NumParameters());
    }

    [Fact]
    public void Custom_module_registers_children_parameters_and_buffers_by_name()
    {
        var net = new Net(new Generator(3));
        Assert.Equal(["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], net.NamedParameters().Select(p => p.Name));
        Assert.Equal(["running_mean"], net.NamedBuffers().Select(b => b.Name));
        Assert.DoesNotContain(net.RunningMean, net.Parameters());
        Assert.False(net.RunningMean.RequiresGrad);
        // State dict: own parameters, own buffers, then children, like PyTorch.
        Assert.Equal(["scale", "running_mean", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], net.StateDict().Keys);
    }

    [Fact]
    public void A_shared_module_is_counted_once_in_parameters()
    {
        var shared = new Linear(4, 4);
        var m = new Sequential(shared, new ReLU(), shared);
        Assert.Equal(2, m.Parameters().Count());
        Assert.Equal(20, m.NumParameters());
        Assert.Equal(["0.weight", "0.bias"], m.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void Registration_rejects_bad_names_clashes_and_non_leaf_parameters()
    {
        var m = new Net(new Generator(0));
        var clash = Assert.Throws<ArgumentException>(() => m.RegisterBuffer("fc1", Tensor.Zeros(1)));
        Assert.Contains("\"fc1\" is already registered as a child module", clash.Message);
        Assert.Contains("'.'", Assert.Throws<ArgumentException>(() => m.RegisterParameter("a.b", Tensor.Zeros(1))).Message);
        Assert.Throws<ArgumentException>(() => m.RegisterParameter("", Tensor.Zeros(1)));
        var leaf = Tensor.Ones(2).RequiresGradInPlace();
        var nonLeaf = leaf * 2f;
        Assert.Contains("leaf", Assert.Throws<ArgumentException>(() => m.RegisterParameter("w", nonLeaf)).Message);
        Assert.Contains("float32", Assert.Throws<ArgumentException>(() => m.RegisterParameter("w", Tensor.Zeros([2], DType.Int32))).Message);
        // Re-registering the same kind replaces, like assigning a new nn.Parameter in PyTorch.
        var lin = new Linear(2, 2);
        var w = Tensor.Zeros(2, 2);
        lin.Weight = w;
        Assert.Same(w, lin.Parameters().First());
        Assert.True(w.RequiresGrad);
    }

    // ---- modes, apply, zero grad ----

    [Fact]
    public void Train_and_eval_reach_every_descendant()
    {
        var m = Mlp(0);
        Assert.All(m.Modules(), x => Assert.True(x.Training));
        Assert.Same(m, m.Eval());
        Assert.All(m.Modules(), x => Assert.False(x.Training));
        m.Train();
        Assert.All(m.Modules(), x => Assert.True(x.Training));
        m[2].Eval();
        Assert.False(((Sequential)m[2])[0].Training);
        Assert.True(m[0].Training);
    }

    [Fact]
    public void Apply_visits_children_before_parents_and_can_reinitialise_weights()
    {
        var m = Mlp(0);
        var order = new List<string>();
        m.Apply(x => order.Add(x.GetType().Name));
        Assert.Equal(["Linear", "ReLU", "Linear", "Tanh", "Sequential", "Linear", "Sequential"], order);
        m.Apply(x => { if (x is Linear l) Init.Zeros(l.Weight); });
        Assert.All(m.Modules().OfType<Linear>(), l => Assert.All(l.Weight.ToArray(), v => Assert.Equal(0f, v)));
    }

    [Fact]
    public void ZeroGrad_clears_every_parameter_gradient()
    {
        var m = Mlp(0);
        F.MseLoss(m.Call(Tensor.Randn(4, 3)), Tensor.Zeros(4, 2)).Backward();
        Assert.All(m.Parameters(), p => Assert.NotNull(p.Grad));
        m.ZeroGrad(setToNull: false);
        Assert.All(m.Parameters(), p => Assert.All(p.Grad!.ToArray(), v => Assert.Equal(0f, v)));
        m.ZeroGrad();
        Assert.All(m.Parameters(), p => Assert.Null(p.Grad));
    }

    // ---- hooks ----

    [Fact]
    public void Forward_hooks_see_input_and_output_and_stop_after_Remove()
    {
        var m = Mlp(0);
        var seen = new List<(Module, int[], int[])>();
        var h = m[0].RegisterForwardHook((mod, input, output) => seen.Add((mod, input.Shape, output.Shape)));
        int outer = 0;
        using (m.RegisterForwardHook((_, _, _) => outer++))
        {
            m.Call(Tensor.Randn(7, 3));
            m.Call(Tensor.Randn(2, 3));
        }
        Assert.Equal(2, seen.Count);
        Assert.Same(m[0], seen[0].Item1);
        Assert.Equal([7, 3], seen[0].Item2);
        Assert.Equal([7, 5], seen[0].Item3);
        Assert.Equal(2, outer);
        h.Remove();
        h.Remove();
        m.Call(Tensor.Randn(1, 3));
        Assert.Equal(2, seen.Count);
        Assert.Equal(2, outer);
    }

    [Fact]
    public void A_hook_may_remove_itself_while_hooks_run()
    {
        var lin = new Linear(2, 2);
        int a = 0, b = 0;
        HookHandle? ha = null;
        ha = lin.RegisterForwardHook((_, _, _) => { a++; ha!.Remove(); });
        lin.RegisterForwardHook((_, _, _) => b++);
        lin.Call(Tensor.Randn(1, 2));
        lin.Call(Tensor.Randn(1, 2));
        Assert.Equal(1, a);
        Assert.Equal(2, b);
    }

    // ---- state dict ----

    [Fact]
    public void StateDict_round_trip_reproduces_outputs_and_copies_values()
    {
        var a = Mlp(10);
        var b = Mlp(20);
        var x = Tensor.Randn(5, 3);
        Assert.NotEqual(a.Call(x).ToArray(), b.Call(x).ToArray());
        var result = b.LoadStateDict(a.StateDict());
        Assert.Empty(result.MissingKeys);
        Assert.Empty(result.UnexpectedKeys);
        Assert.Equal(a.Call(x).ToArray(), b.Call(x).ToArray());
        // Loaded by value: changing a afterwards leaves b alone.
        using (Autograd.NoGrad()) ((Linear)a[0]).Weight.AddInPlace(Tensor.Ones(5, 3));
        Assert.NotEqual(a.Call(x).ToArray(), b.Call(x).ToArray());
        // StateDict entries share storage with the model and do not take part in autograd.
        var sd = a.StateDict();
        Assert.False(sd["0.weight"].RequiresGrad);
        Assert.Equal(((Linear)a[0]).Weight.ToArray(), sd["0.weight"].ToArray());
    }

    [Fact]
    public void StateDict_round_trip_includes_buffers()
    {
        var a = new Net(new Generator(1));
        using (Autograd.NoGrad()) a.RunningMean.FillInPlace(3f);
        var b = new Net(new Generator(2));
        b.LoadStateDict(a.StateDict());
        Assert.Equal([3f, 3f], b.RunningMean.ToArray());
        var x = Tensor.Randn(2, 3);
        Assert.Equal(a.Call(x).ToArray(), b.Call(x).ToArray());
    }

    [Fact]
    public void LoadStateDict_shape_mismatch_names_the_key_and_both_shapes_and_loads_nothing()
    {
        var m = Mlp(0);
        var before = ((Linear)m[0]).Weight.ToArray();
        var sd = Mlp(5).StateDict();
        sd["2.0.weight"] = Tensor.Zeros(3, 5);
        var e = Assert.Throws<ArgumentException>(() => m.LoadStateDict(sd));
        Assert.Contains("\"2.0.weight\"", e.Message);
        Assert.Contains("[3,5]", e.Message);
        Assert.Contains("[4,5]", e.Message);
        Assert.Equal(before, ((Linear)m[0]).Weight.ToArray());
        // Shape mismatches are errors even when not strict.
        Assert.Throws<ArgumentException>(() => m.LoadStateDict(sd, strict: false));
    }

    [Fact]
    public void LoadStateDict_strict_reports_missing_and_unexpected_keys_non_strict_returns_them()
    {
        var m = Mlp(0);
        var sd = Mlp(1).StateDict();
        sd.Remove("0.bias");
        sd["head.weight"] = Tensor.Zeros(1);
        var e = Assert.Throws<ArgumentException>(() => m.LoadStateDict(sd));
        Assert.Contains("missing key \"0.bias\"", e.Message);
        Assert.Contains("unexpected key \"head.weight\"", e.Message);
        var r = m.LoadStateDict(sd, strict: false);
        Assert.Equal(["0.bias"], r.MissingKeys);
        Assert.Equal(["head.weight"], r.UnexpectedKeys);
        Assert.Equal(sd["0.weight"].ToArray(), ((Linear)m[0]).Weight.ToArray());
    }

    // ---- printing ----

    [Fact]
    public void ToString_prints_a_tree_like_pytorch()
    {
        var m = new Sequential(new Linear(784, 50), new ReLU(), new Sequential(new Dropout(0.25f), new GeneralRelu(0.1f, 0.4f)), new Flatten());
        Assert.Equal("""
            Sequential(
              (0): Linear(inFeatures: 784, outFeatures: 50, bias: true)
              (1): ReLU()
              (2): Sequential(
                (0): Dropout(p: 0.25)
                (1): GeneralRelu(leak: 0.1, sub: 0.4, maxv: null)
              )
              (3): Flatten(startDim: 1, endDim: -1)
            )
            """.ReplaceLineEndings("\n"), m.ToString());
    }

    // ---- Sequential ----

    [Fact]
    public void Sequential_is_indexable_enumerable_sliceable_and_growable()
    {
        var relu = new ReLU();
        var seq = new Sequential { new Linear(2, 3), relu };
        Assert.Equal(2, seq.Count);
        Assert.Same(relu, seq[1]);
        Assert.Same(relu, seq[-1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => seq[2]);
        seq.Add(new Linear(3, 1));
        Assert.Equal(["Linear", "ReLU", "Linear"], seq.Select(m => m.GetType().Name));
        var head = seq[..2];
        Assert.Same(seq[0], head[0]);
        var x = Tensor.Randn(4, 2);
        Assert.Equal(seq[1].Call(seq[0].Call(x)).ToArray(), head.Call(x).ToArray());
        Assert.Equal([4, 1], seq.Call(x).Shape);
    }

    // ---- layers: forward values and gradients ----

    [Fact]
    public void Linear_computes_x_times_weight_transposed_plus_bias_on_any_leading_dims()
    {
        var lin = new Linear(3, 2);
        using (Autograd.NoGrad())
        {
            lin.Weight.CopyFrom(Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3));
            lin.Bias!.CopyFrom(Tensor.Of(10, 20));
        }
        var y = lin.Call(Tensor.FromArray(new float[] { 1, 0, -1, 2, 1, 0 }, 2, 3));
        Assert.Equal([10 + 1 - 3, 20 + 4 - 6, 10 + 2 + 2, 20 + 8 + 5], y.ToArray());
        Assert.Equal([2, 5, 2], lin.Call(Tensor.Randn(2, 5, 3)).Shape);
        var e = Assert.Throws<ArgumentException>(() => lin.Call(Tensor.Randn(4, 5)));
        Assert.Contains("[4,5]", e.Message);
        Assert.Contains("[2,3]", e.Message);
    }

    [Fact]
    public void Linear_gradients_match_finite_differences_with_and_without_bias()
    {
        var g = new Generator(4);
        var x = Tensor.Randn([5, 3], g).RequiresGradInPlace();
        var w = Tensor.Randn([4, 3], g).RequiresGradInPlace();
        var b = Tensor.Randn([4], g).RequiresGradInPlace();
        GradCheck.Assert(t => F.Linear(t[0], t[1], t[2]), x, w, b);
        GradCheck.Assert(t => F.Linear(t[0], t[1]), x, w);
        var x3 = Tensor.Randn([2, 3, 3], g).RequiresGradInPlace();
        GradCheck.Assert(t => F.Linear(t[0], t[1], t[2]), x3, w, b);
        // Through the module: the registered parameters receive the gradient.
        var lin = new Linear(3, 4, bias: false);
        GradCheck.Assert(t => lin.Call(t[0]), x, lin.Weight);
    }

    /// <summary>Inputs at least 0.05 away from every kink in kinks (finite differences with eps 1e-2 stay on one side).</summary>
    static Tensor AwayFrom(int n, int seed, params float[] kinks)
    {
        var g = new Generator(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            float x;
            do x = (float)(g.NextNormal() * 1.5); while (kinks.Any(k => Math.Abs(x - k) < 0.05f));
            v[i] = x;
        }
        return Tensor.FromArray(v, 4, n / 4).RequiresGradInPlace();
    }

    [Fact]
    public void GeneralRelu_is_leaky_relu_minus_sub_clamped_at_maxv_with_correct_gradient()
    {
        var act = new GeneralRelu(leak: 0.1f, sub: 0.4f, maxv: 0.8f);
        var y = act.Call(Tensor.Of(-2f, 0.5f, 1f, 3f)).ToArray();
        Close([-0.2f - 0.4f, 0.5f - 0.4f, 0.6f, 0.8f], y);
        Close([0f, 0.6f], new GeneralRelu().Call(Tensor.Of(-1f, 0.6f)).ToArray());
        Close([-0.4f, 0.2f], new GeneralRelu(sub: 0.4f).Call(Tensor.Of(-1f, 0.6f)).ToArray());
        var x = AwayFrom(40, 1, 0f, 1.2f);
        GradCheck.Assert(t => act.Call(t[0]), x);
        GradCheck.Assert(t => new GeneralRelu(sub: 0.4f).Call(t[0]), x);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(65)]
    [InlineData(257 * 300)] // above the threaded kernel's chunk size
    public void Lesson18s_GeneralRelu_fused_pass_equals_leaky_relu_minus_sub_with_the_same_gradient(int n)
    {
        Tensor.ManualSeed(n);
        var baseX = Tensor.Randn(2, n);
        var x = baseX.T;                       // non-contiguous
        var fused = F.GeneralRelu(x, 0.1f, 0.4f);
        var composed = x.LeakyRelu(0.1f) - 0.4f;
        Assert.Equal(composed.ToArray(), fused.ToArray());

        var a = baseX.Clone().RequiresGradInPlace();
        var b = baseX.Clone().RequiresGradInPlace();
        var g = Tensor.Randn(n, 2);
        (F.GeneralRelu(a.T, 0.1f, 0.4f) * g).Sum().Backward();
        ((b.T.LeakyRelu(0.1f) - 0.4f) * g).Sum().Backward();
        Assert.Equal(b.Grad!.ToArray(), a.Grad!.ToArray());
        if (n <= 65) GradCheck.Assert(t => F.GeneralRelu(t[0], 0.1f, 0.4f), AwayFrom(40, n, 0f));
    }

    [Fact]
    public void LeakyReLU_scales_negatives_and_its_gradient_matches_finite_differences()
    {
        var act = new LeakyReLU(0.2f);
        Close([-0.4f, 3f], act.Call(Tensor.Of(-2f, 3f)).ToArray());
        GradCheck.Assert(t => act.Call(t[0]), AwayFrom(40, 2, 0f));
        GradCheck.Assert(t => new ReLU().Call(t[0]), AwayFrom(40, 3, 0f));
        GradCheck.Assert(t => new Sigmoid().Call(t[0]) + new Tanh().Call(t[0]), AwayFrom(40, 4));
    }

    [Fact]
    public void Flatten_Identity_and_Lambda_reshape_pass_through_and_apply()
    {
        var x = Tensor.Randn(2, 3, 4, 5);
        Assert.Equal([2, 60], new Flatten().Call(x).Shape);
        Assert.Equal([2, 3, 20], new Flatten(2).Call(x).Shape);
        Assert.Same(x, new Identity().Call(x));
        var lam = new Lambda(t => t.View(-1, 1, 4, 5), "view");
        Assert.Equal([6, 1, 4, 5], lam.Call(x).Shape);
        Assert.Equal("Lambda(view)", lam.ToString());
    }

    // ---- dropout ----

    [Fact]
    public void Dropout_in_eval_is_the_identity_and_passes_the_gradient_unchanged()
    {
        var d = new Dropout(0.5f);
        d.Eval();
        var x = Tensor.Randn([4, 5], new Generator(1)).RequiresGradInPlace();
        Assert.Same(x, d.Call(x));
        GradCheck.Assert(t => d.Call(t[0]) * 1f, x);
    }

    [Fact]
    public void Dropout_in_training_gradient_matches_finite_differences_with_a_fixed_generator()
    {
        var d = new Dropout(0.4f);
        var x = Tensor.Randn([6, 7], new Generator(2)).RequiresGradInPlace();
        GradCheck.Assert(t =>
        {
            d.Generator = new Generator(99); // same mask on every evaluation
            return d.Call(t[0]);
        }, x);
        d.Generator = new Generator(99);
        x.Grad = null;
        var y = d.Call(x);
        y.Sum().Backward();
        var mask = y.ToArray().Zip(x.ToArray(), (a, b) => a / b).ToArray();
        Assert.Equal(mask.Select(v => MathF.Round(v, 4)), x.Grad!.ToArray().Select(v => MathF.Round(v, 4)));
    }

    [Fact]
    public void Dropout_zeroes_a_fraction_p_and_scales_survivors_to_keep_the_mean()
    {
        const int n = 200_000;
        var y = F.Dropout(Tensor.Ones(n), 0.3f, training: true, new Generator(5)).ToArray();
        double zeros = y.Count(v => v == 0f) / (double)n;
        Assert.InRange(zeros, 0.295, 0.305);
        Assert.All(y, v => Assert.True(v == 0f || Math.Abs(v - 1f / 0.7f) < 1e-6f));
        Assert.InRange(y.Average(), 0.99, 1.01);
        // Seeded generators make masks reproducible; different seeds differ.
        Assert.Equal(y, F.Dropout(Tensor.Ones(n), 0.3f, true, new Generator(5)).ToArray());
        Assert.NotEqual(y, F.Dropout(Tensor.Ones(n), 0.3f, true, new Generator(6)).ToArray());
        Assert.All(F.Dropout(Tensor.Ones(10), 1f).ToArray(), v => Assert.Equal(0f, v));
        Assert.Throws<ArgumentException>(() => new Dropout(1.5f));
    }

    // ---- Linear's default init ----

    [Fact]
    public void Linear_default_init_is_uniform_within_one_over_sqrt_fan_in()
    {
        var lin = new Linear(400, 300, generator: new Generator(8));
        float bound = 1f / MathF.Sqrt(400);
        var w = lin.Weight.ToArray();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.InRange(w.Max(), 0.99f * bound, bound);
        Assert.InRange(w.Min(), -bound, -0.99f * bound);
        Assert.InRange(lin.Weight.Std().Item(), 0.98f * bound / MathF.Sqrt(3), 1.02f * bound / MathF.Sqrt(3));
        Assert.InRange(lin.Weight.Mean().Item(), -0.002f * bound * 10, 0.002f * bound * 10);
        Assert.All(lin.Bias!.ToArray(), v => Assert.InRange(v, -bound, bound));
        Assert.InRange(lin.Bias!.Std().Item(), 0.85f * bound / MathF.Sqrt(3), 1.15f * bound / MathF.Sqrt(3));
        Assert.Equal(w, new Linear(400, 300, generator: new Generator(8)).Weight.ToArray());
    }

    // ---- optimizer and end to end ----

    [Fact]
    public void SGD_step_subtracts_lr_times_grad_and_skips_parameters_without_grad()
    {
        var p = Tensor.Of(1f, 2f).RequiresGradInPlace();
        var q = Tensor.Of(5f).RequiresGradInPlace();
        var opt = new SGD([p, q], lr: 0.5f);
        (p * p).Sum().Backward();
        opt.Step();
        Assert.Equal([0f, 0f], p.ToArray());
        Assert.Equal([5f], q.ToArray());
        opt.ZeroGrad();
        Assert.Null(p.Grad);
    }

    [Fact]
    public void An_mlp_trained_with_sgd_and_cross_entropy_learns_xor_quadrants()
    {
        // XOR-like quadrant data: not linearly separable, so the hidden layer and ReLU must do their job.
        var g = new Generator(11);
        const int n = 256;
        var x = Tensor.Rand([n, 2], g) * 2f - 1f;
        var xv = x.ToArray();
        var labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = (xv[2 * i] > 0) ^ (xv[2 * i + 1] > 0) ? 1 : 0;
        var y = Tensor.FromArray(labels, n);

        Tensor.ManualSeed(0);
        var model = new Sequential(new Linear(2, 32, generator: g), new ReLU(), new Linear(32, 32, generator: g), new ReLU(), new Linear(32, 2, generator: g));
        var lossFn = new CrossEntropyLoss();
        var opt = new SGD(model.Parameters(), lr: 0.5f);
        float first = 0, last = 0;
        for (int step = 0; step < 600; step++)
        {
            var loss = lossFn.Call(model.Call(x), y);
            if (step == 0) first = loss.Item();
            last = loss.Item();
            loss.Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        float accuracy;
        using (Autograd.NoGrad()) accuracy = model.Eval().Call(x).ArgMax(1).Eq(y).Float().Mean().Item();
        Assert.True(last < first / 5, $"loss went from {first} to {last}");
        Assert.True(accuracy >= 0.97f, $"accuracy {accuracy}");
    }
}
