using Kiln.Nn;

namespace Kiln.Tests;

public sealed class LossTests
{
    static readonly Reduction[] AllReductions = [Reduction.None, Reduction.Mean, Reduction.Sum];

    static void Close(double[] expected, float[] actual, double tol = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    static Tensor Leaf(Tensor t) => t.RequiresGradInPlace();

    static Tensor Labels(params int[] v) => Tensor.FromArray(v, v.Length);

    /// <summary>The book's acts = torch.randn((6,2))*2 (printed to 4 decimals) and its targets.</summary>
    static readonly float[] BookActs = [0.6734f, 0.2576f, 0.4689f, 0.4607f, -2.2457f, -0.3727f, 4.4164f, -1.2760f, 0.9233f, 0.5347f, 1.0698f, 1.6187f];
    static readonly int[] BookTargets = [0, 1, 0, 1, 1, 0];

    // ---- lesson 4's numbers ----

    static Tensor MnistLoss(Tensor predictions, Tensor targets) => Tensor.Where(targets.Eq(1f), 1f - predictions, predictions).Mean();

    [Fact]
    public void Mnist_loss_reproduces_lesson_4_numbers()
    {
        var targets = Labels(1, 0, 1);
        Assert.Equal(0.4333f, MnistLoss(Tensor.Of(0.9f, 0.4f, 0.2f), targets).Item(), 4);
        Assert.Equal(0.2333f, MnistLoss(Tensor.Of(0.9f, 0.4f, 0.8f), targets).Item(), 4);
        // The sigmoid version squashes raw scores first.
        var p = Leaf(Tensor.Of(0.9f, 0.4f, 0.2f));
        var loss = MnistLoss(p.Sigmoid(), targets);
        double S(double v) => 1 / (1 + Math.Exp(-v));
        Assert.Equal((1 - S(0.9) + S(0.4) + 1 - S(0.2)) / 3, loss.Item(), 5);
        loss.Backward();
        Close([-S(0.9) * (1 - S(0.9)) / 3, S(0.4) * (1 - S(0.4)) / 3, -S(0.2) * (1 - S(0.2)) / 3], p.Grad!.ToArray());
    }

    [Fact]
    public void Accuracy_has_no_gradient_and_ignores_small_weight_changes()
    {
        var g = new Generator(3);
        var x = Tensor.Randn([200, 5], g);
        var w = Leaf(Tensor.Randn([5, 1], g));
        var y = (Tensor.Randn([200, 1], g) > 0f).Float();
        Tensor Accuracy(Tensor weights) => ((x.MatMul(weights).Sigmoid() > 0.5f).Float().Eq(y)).Float().Mean();
        var acc = Accuracy(w);
        Assert.False(acc.RequiresGrad);
        Tensor w2;
        using (Autograd.NoGrad()) w2 = w * 1.0001f;
        Assert.Equal(acc.Item(), Accuracy(w2).Item());
    }

    [Fact]
    public void Softmax_of_the_bear_activations_is_022_002_076()
    {
        var sm = F.Softmax(Tensor.Of(0.02f, -2.49f, 1.25f), 0).ToArray();
        Assert.Equal([0.22f, 0.02f, 0.76f], sm.Select(v => MathF.Round(v, 2)));
    }

    [Fact]
    public void Two_column_softmax_equals_sigmoid_of_the_difference()
    {
        var acts = Tensor.FromArray(BookActs, 6, 2);
        var sm = F.Softmax(acts, 1);
        var sig = (acts.Select(1, 0) - acts.Select(1, 1)).Sigmoid();
        Close(sig.ToArray().Select(v => (double)v).ToArray(), sm.Select(1, 0).ToArray(), 1e-6);
        Assert.Equal(0.6025f, sm.ToArray()[0], 4);
        Assert.Equal(0.3975f, sm.ToArray()[1], 4);
    }

    [Fact]
    public void Nll_loss_picks_minus_the_target_column_without_taking_a_log()
    {
        var sm = F.Softmax(Tensor.FromArray(BookActs, 6, 2), 1);
        var none = F.NllLoss(sm, Tensor.FromArray(BookTargets, 6), Reduction.None).ToArray();
        Close([-0.6025, -0.4979, -0.1332, -0.0034, -0.4041, -0.3661], none, 2e-3);
        Assert.Equal(none.Average(), F.NllLoss(sm, Tensor.FromArray(BookTargets, 6)).Item(), 6);
        Assert.Equal(none.Sum(), F.NllLoss(sm, Tensor.FromArray(BookTargets, 6), Reduction.Sum).Item(), 5);
    }

    [Fact]
    public void Cross_entropy_equals_nll_of_log_softmax_in_value_and_gradient_for_every_reduction()
    {
        var g = new Generator(5);
        var logits = Tensor.Randn([8, 5], g) * 3f;
        var targets = Tensor.RandInt(0, 5, [8], g);
        foreach (var r in AllReductions)
        {
            var a = Leaf(logits.Detach().Clone());
            var b = Leaf(logits.Detach().Clone());
            var ce = F.CrossEntropy(a, targets, r);
            var nll = F.NllLoss(F.LogSoftmax(b, 1), targets, r);
            Close(nll.ToArray().Select(v => (double)v).ToArray(), ce.ToArray());
            Assert.Equal(nll.Shape, ce.Shape);
            var w = Tensor.Rand(ce.Shape, g);
            (ce * w).Sum().Backward();
            (nll * w).Sum().Backward();
            Close(b.Grad!.ToArray().Select(v => (double)v).ToArray(), a.Grad!.ToArray());
        }
        Assert.Equal("CrossEntropy", GradFnName(F.CrossEntropy(Leaf(Tensor.Randn(2, 3)), Labels(0, 1))));
    }

    static string GradFnName(Tensor t) => t.GradFn!.Name;

    [Fact]
    public void Nll_loss_gradients_match_finite_differences_for_every_reduction_and_layout()
    {
        var g = new Generator(16);
        var x = Leaf(Tensor.Randn([5, 4], g));
        var t = Tensor.RandInt(0, 4, [5], g);
        var x3 = Leaf(Tensor.Randn([2, 4, 3], g));
        var t3 = Tensor.RandInt(0, 4, [2, 3], g);
        foreach (var r in AllReductions)
        {
            GradCheck.Assert(a => F.NllLoss(a[0], t, r), x);
            GradCheck.Assert(a => F.NllLoss(a[0], t3, r), x3);
        }
        // [N, C, d] picks along dim 1.
        var none = F.NllLoss(x3, t3, Reduction.None);
        Assert.Equal([2, 3], none.Shape);
        var xv = x3.ToArray();
        var tv = t3.ToIntArray();
        for (int n = 0; n < 2; n++)
            for (int d = 0; d < 3; d++)
                Assert.Equal(-xv[n * 12 + tv[n * 3 + d] * 3 + d], none.ToArray()[n * 3 + d]);
    }

    [Fact]
    public void Cross_entropy_gradient_is_softmax_minus_onehot_over_n()
    {
        var g = new Generator(6);
        var x = Leaf(Tensor.Randn([4, 3], g));
        var t = Labels(2, 0, 1, 2);
        F.CrossEntropy(x, t).Backward();
        var sm = F.Softmax(x.Detach(), 1).ToArray();
        var expected = new double[12];
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 3; c++)
                expected[i * 3 + c] = (sm[i * 3 + c] - (t.ToIntArray()[i] == c ? 1 : 0)) / 4.0;
        Close(expected, x.Grad!.ToArray(), 1e-6);
    }

    [Fact]
    public void Cross_entropy_gradients_match_finite_differences_for_every_reduction_and_layout()
    {
        var g = new Generator(7);
        var x = Leaf(Tensor.Randn([6, 4], g));
        var t = Tensor.RandInt(0, 4, [6], g);
        foreach (var r in AllReductions)
        {
            GradCheck.Assert(a => F.CrossEntropy(a[0], t, r), x);
            GradCheck.Assert(a => F.CrossEntropy(a[0], t, r, labelSmoothing: 0.2f), x);
        }
        // [N, C, H, W] scores with [N, H, W] targets: the same as moving classes last.
        var x4 = Leaf(Tensor.Randn([2, 3, 2, 2], g));
        var t4 = Tensor.RandInt(0, 3, [2, 2, 2], g);
        var direct = F.CrossEntropy(x4, t4, Reduction.None);
        Assert.Equal([2, 2, 2], direct.Shape);
        var moved = F.CrossEntropy(x4.Permute(0, 2, 3, 1).Reshape(-1, 3), t4.Reshape(-1), Reduction.None);
        Close(moved.ToArray().Select(v => (double)v).ToArray(), direct.ToArray());
        GradCheck.Assert(a => F.CrossEntropy(a[0], t4, Reduction.None), x4);
        // Unbatched [C] with a 0-d target.
        var x1 = Leaf(Tensor.Randn([5], g));
        var t1 = Tensor.FromArray(new[] { 3 }).Reshape();
        Assert.Empty(F.CrossEntropy(x1, t1).Shape);
        GradCheck.Assert(a => F.CrossEntropy(a[0], t1), x1);
    }

    [Fact]
    public void Label_smoothing_matches_the_smoothed_target_formula()
    {
        const float eps = 0.1f;
        var g = new Generator(8);
        var x = Tensor.Randn([5, 4], g) * 2f;
        var t = Tensor.RandInt(0, 4, [5], g);
        var xv = x.ToArray();
        var tv = t.ToIntArray();
        var expected = new double[5];
        for (int i = 0; i < 5; i++)
        {
            double m = Enumerable.Range(0, 4).Max(c => xv[i * 4 + c]);
            double lse = m + Math.Log(Enumerable.Range(0, 4).Sum(c => Math.Exp(xv[i * 4 + c] - m)));
            for (int c = 0; c < 4; c++)
            {
                double q = (c == tv[i] ? 1 - eps : 0) + eps / 4;
                expected[i] -= q * (xv[i * 4 + c] - lse);
            }
        }
        Close(expected, F.CrossEntropy(x, t, Reduction.None, labelSmoothing: eps).ToArray());
        Assert.Equal(expected.Average(), F.CrossEntropy(x, t, labelSmoothing: eps).Item(), 5);
        Assert.Equal(expected.Average(), new CrossEntropyLoss(labelSmoothing: eps).Call(x, t).Item(), 5);
    }

    [Fact]
    public void Cross_entropy_accepts_probability_targets_with_gradients_for_both()
    {
        var g = new Generator(9);
        var x = Leaf(Tensor.Randn([4, 3], g));
        var p = Leaf(F.Softmax(Tensor.Randn([4, 3], g), 1).Detach());
        var hand = -(p * F.LogSoftmax(x, 1)).Sum(1);
        Close(hand.ToArray().Select(v => (double)v).ToArray(), F.CrossEntropy(x, p, Reduction.None).ToArray());
        // One-hot probabilities give the same loss as class indices.
        var onehot = Tensor.FromArray(new float[] { 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0 }, 4, 3);
        Assert.Equal(F.CrossEntropy(x, Labels(1, 0, 2, 1)).Item(), F.CrossEntropy(x, onehot).Item(), 5);
        foreach (var r in AllReductions)
        {
            GradCheck.Assert(a => F.CrossEntropy(a[0], a[1], r), x, p);
            GradCheck.Assert(a => F.CrossEntropy(a[0], a[1], r, labelSmoothing: 0.3f), x, p);
        }
    }

    [Fact]
    public void Ignored_targets_contribute_nothing_and_leave_the_mean()
    {
        var g = new Generator(10);
        var x = Leaf(Tensor.Randn([4, 3], g));
        var t = Labels(2, -100, 0, 1);
        var none = F.CrossEntropy(x, t, Reduction.None).ToArray();
        Assert.Equal(0f, none[1]);
        Assert.Equal((none[0] + none[2] + none[3]) / 3, F.CrossEntropy(x, t).Item(), 5);
        F.CrossEntropy(x, t).Backward();
        Assert.All(x.Grad!.ToArray()[3..6], v => Assert.Equal(0f, v));
        var nll = F.NllLoss(F.LogSoftmax(x, 1), t);
        Assert.Equal(F.CrossEntropy(x, t).Item(), nll.Item(), 5);
        GradCheck.Assert(a => F.NllLoss(a[0], t), x);
        GradCheck.Assert(a => F.CrossEntropy(a[0], Labels(2, 7, 0, 7), ignoreIndex: 7), x);
    }

    [Fact]
    public void Cross_entropy_is_stable_for_huge_logits()
    {
        var x = Leaf(Tensor.FromArray(new float[] { 1000f, -1000f, 0f, 500f, 500f, 500f }, 2, 3));
        var none = F.CrossEntropy(x, Labels(1, 2), Reduction.None).ToArray();
        Assert.Equal(2000f, none[0], 2);
        Assert.Equal(MathF.Log(3), none[1], 5);
        F.CrossEntropy(x, Labels(1, 2)).Backward();
        Assert.All(x.Grad!.ToArray(), v => Assert.True(float.IsFinite(v)));
        Close([0.5, -0.5, 0, 1 / 6.0, 1 / 6.0, -1 / 3.0], x.Grad!.ToArray(), 1e-6);
    }

    [Fact]
    public void Class_losses_reject_bad_shapes_and_labels_naming_them()
    {
        var e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.Randn(64, 10), Tensor.Zeros([32], DType.Int32)));
        Assert.Contains("CrossEntropy: logits [64,10] vs targets [32]", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.Randn(3, 10), Labels(1, 10, 2)));
        Assert.Contains("target 10", e.Message);
        Assert.Contains("10 classes", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.NllLoss(Tensor.Randn(3, 4), Labels(1, -1, 2)));
        Assert.Contains("NllLoss: target -1", e.Message);
        Assert.Contains("4 classes", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.NllLoss(Tensor.Randn(3, 4), Tensor.Zeros(3)));
        Assert.Contains("int32", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.CrossEntropy(Tensor.Randn(3, 4), Tensor.Zeros(3, 5)));
        Assert.Contains("[3,5]", e.Message);
    }

    // ---- regression losses ----

    [Fact]
    public void Mse_and_l1_compute_squared_and_absolute_errors_for_every_reduction()
    {
        var input = Tensor.Of(1f, 2f, 4f);
        var target = Tensor.Of(0f, 4f, 4f);
        Assert.Equal([1f, 4f, 0f], F.MseLoss(input, target, Reduction.None).ToArray());
        Assert.Equal(5f / 3f, F.MseLoss(input, target).Item(), 6);
        Assert.Equal(5f, F.MseLoss(input, target, Reduction.Sum).Item());
        Assert.Equal([1f, 2f, 0f], F.L1Loss(input, target, Reduction.None).ToArray());
        Assert.Equal(1f, F.L1Loss(input, target).Item(), 6);
        Assert.Equal(3f, new L1Loss(Reduction.Sum).Call(input, target).Item());
        Assert.Equal(5f / 3f, new MSELoss().Call(input, target).Item(), 6);
    }

    [Fact]
    public void Mse_and_l1_gradients_match_finite_differences()
    {
        var g = new Generator(11);
        var a = Leaf(Tensor.Randn([3, 4], g));
        var b = Leaf(a.Detach() + Tensor.Randn([3, 4], g).Sign() * (Tensor.Rand([3, 4], g) + 0.1f));
        foreach (var r in AllReductions)
        {
            GradCheck.Assert(t => F.MseLoss(t[0], t[1], r), a, b);
            GradCheck.Assert(t => F.L1Loss(t[0], t[1], r), a, b);
        }
    }

    [Fact]
    public void Regression_losses_refuse_to_broadcast_mismatched_shapes()
    {
        var e = Assert.Throws<ArgumentException>(() => F.MseLoss(Tensor.Randn(64, 1), Tensor.Randn(64)));
        Assert.Contains("MseLoss: input [64,1] and target [64]", e.Message);
        Assert.Throws<ArgumentException>(() => F.L1Loss(Tensor.Randn(2, 3), Tensor.Randn(3)));
        Assert.Throws<ArgumentException>(() => F.BinaryCrossEntropyWithLogits(Tensor.Randn(5, 1), Tensor.Randn(5)));
    }

    // ---- binary losses ----

    [Fact]
    public void Binary_cross_entropy_matches_the_formula_and_clamps_logs_at_minus_100()
    {
        var p = Tensor.Of(0.9f, 0.2f, 0.5f);
        var t = Tensor.Of(1f, 0f, 1f);
        double[] expected = [-Math.Log(0.9), -Math.Log(0.8), -Math.Log(0.5)];
        Close(expected, F.BinaryCrossEntropy(p, t, Reduction.None).ToArray());
        Assert.Equal(expected.Average(), F.BinaryCrossEntropy(p, t).Item(), 5);
        Assert.Equal(expected.Sum(), new BCELoss(Reduction.Sum).Call(p, t).Item(), 5);
        // Certain and wrong: log 0 is clamped, so the loss is 100, and the gradient stays finite.
        var edge = Leaf(Tensor.Of(0f, 1f, 0f));
        var loss = F.BinaryCrossEntropy(edge, Tensor.Of(1f, 0f, 0f), Reduction.None);
        Assert.Equal([100f, 100f, 0f], loss.ToArray());
        loss.Sum().Backward();
        Assert.All(edge.Grad!.ToArray(), v => Assert.True(float.IsFinite(v)));
        var e = Assert.Throws<ArgumentException>(() => F.BinaryCrossEntropy(Tensor.Of(0.5f, 1.5f), Tensor.Of(1f, 0f)));
        Assert.Contains("[0, 1]", e.Message);
    }

    [Fact]
    public void Binary_cross_entropy_gradients_match_finite_differences()
    {
        var g = new Generator(12);
        var p = Leaf(Tensor.Rand([3, 4], g) * 0.8f + 0.1f);
        var t = Leaf(Tensor.Rand([3, 4], g));
        foreach (var r in AllReductions) GradCheck.Assert(a => F.BinaryCrossEntropy(a[0], a[1], r), p, t);
    }

    [Fact]
    public void Bce_with_logits_equals_bce_of_sigmoid_and_stays_stable()
    {
        var g = new Generator(13);
        var x = Tensor.Randn([10], g) * 3f;
        var t = (Tensor.Rand([10], g) > 0.5f).Float();
        Close(F.BinaryCrossEntropy(x.Sigmoid(), t, Reduction.None).ToArray().Select(v => (double)v).ToArray(),
            F.BinaryCrossEntropyWithLogits(x, t, Reduction.None).ToArray(), 1e-4);
        var big = F.BinaryCrossEntropyWithLogits(Tensor.Of(100f, -100f, 100f), Tensor.Of(0f, 0f, 1f), Reduction.None).ToArray();
        Assert.Equal(100f, big[0], 4);
        Assert.Equal(0f, big[1], 6);
        Assert.Equal(0f, big[2], 6);
        // At x = 0 the gradient is sigmoid(0) - t exactly (|x| and max(x, 0) have kinks there).
        var z = Leaf(Tensor.Zeros(2));
        new BCEWithLogitsLoss(Reduction.Sum).Call(z, Tensor.Of(1f, 0f)).Backward();
        Assert.Equal([-0.5f, 0.5f], z.Grad!.ToArray());
    }

    [Fact]
    public void Bce_with_logits_gradients_match_finite_differences()
    {
        var g = new Generator(14);
        var x = Leaf(Tensor.Randn([3, 4], g) * 2f);
        var t = Leaf(Tensor.Rand([3, 4], g));
        foreach (var r in AllReductions) GradCheck.Assert(a => F.BinaryCrossEntropyWithLogits(a[0], a[1], r), x, t);
    }

    // ---- loss modules ----

    [Fact]
    public void Loss_modules_call_their_functional_form_and_need_two_inputs()
    {
        var g = new Generator(15);
        var x = Tensor.Randn([4, 3], g);
        var t = Labels(0, 2, 1, 1);
        Assert.Equal(F.CrossEntropy(x, t).Item(), new CrossEntropyLoss().Call(x, t).Item());
        Assert.Equal(F.NllLoss(x, t, Reduction.Sum).Item(), new NLLLoss(Reduction.Sum).Call(x, t).Item());
        Assert.Equal([4], new CrossEntropyLoss(Reduction.None).Call(x, t).Shape);
        Assert.Throws<ArgumentException>(() => new MSELoss().Call(x));
        Assert.Equal("CrossEntropyLoss(reduction: Mean, labelSmoothing: 0)", new CrossEntropyLoss().ToString());
        int calls = 0;
        var loss = new MSELoss();
        loss.RegisterForwardHook((_, _, _) => calls++);
        loss.Call(x, x);
        Assert.Equal(1, calls);
    }
}
