using Kiln.Nn;

namespace Kiln.Tests;

public sealed class InitTests
{
    static (double Mean, double Std, float Min, float Max) Stats(Tensor t)
    {
        var v = t.ToArray();
        double mean = v.Average(x => (double)x);
        double var = v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1);
        return (mean, Math.Sqrt(var), v.Min(), v.Max());
    }

    static void StdNear(Tensor t, double expected, double rel = 0.02)
    {
        var s = Stats(t);
        Assert.True(Math.Abs(s.Std / expected - 1) <= rel, $"std {s.Std}, expected {expected} within {rel:P0}");
        Assert.True(Math.Abs(s.Mean) <= 5 * expected / Math.Sqrt(t.Numel), $"mean {s.Mean} not near 0");
    }

    [Fact]
    public void Fans_follow_pytorch_layouts_for_linear_and_conv_weights()
    {
        Assert.Equal((784, 50), Init.CalculateFanInAndFanOut(Tensor.Zeros(50, 784)));
        Assert.Equal((32 * 3 * 3, 64 * 3 * 3), Init.CalculateFanInAndFanOut(Tensor.Zeros(64, 32, 3, 3)));
        var e = Assert.Throws<ArgumentException>(() => Init.CalculateFanInAndFanOut(Tensor.Zeros(10)));
        Assert.Contains("[10]", e.Message);
    }

    [Fact]
    public void Gains_match_torch_calculate_gain()
    {
        Assert.Equal(1f, Init.CalculateGain("linear"));
        Assert.Equal(1f, Init.CalculateGain("conv2d"));
        Assert.Equal(1f, Init.CalculateGain("sigmoid"));
        Assert.Equal(5f / 3f, Init.CalculateGain("tanh"));
        Assert.Equal(MathF.Sqrt(2), Init.CalculateGain("relu"));
        Assert.Equal(MathF.Sqrt(2f / (1 + 0.01f * 0.01f)), Init.CalculateGain("leaky_relu"));
        Assert.Equal(MathF.Sqrt(2f / 1.01f), Init.CalculateGain("leaky_relu", 0.1f), 6);
        Assert.Equal(MathF.Sqrt(1f / 3f), Init.CalculateGain("leaky_relu", MathF.Sqrt(5)), 6);
        Assert.Contains("\"gelu\"", Assert.Throws<ArgumentException>(() => Init.CalculateGain("gelu")).Message);
    }

    [Fact]
    public void KaimingNormal_std_is_gain_over_sqrt_fan()
    {
        var g = new Generator(1);
        StdNear(Init.KaimingNormal(Tensor.Zeros(1000, 500), nonlinearity: "relu", generator: g), Math.Sqrt(2.0 / 500));
        StdNear(Init.KaimingNormal(Tensor.Zeros(1000, 500), mode: FanMode.FanOut, nonlinearity: "relu", generator: g), Math.Sqrt(2.0 / 1000));
        // Leaky ReLU with a = 0.1 on a conv weight: fan_in = 32*3*3.
        StdNear(Init.KaimingNormal(Tensor.Zeros(256, 32, 3, 3), a: 0.1f, generator: g), Math.Sqrt(2.0 / (1.01 * 288)));
    }

    [Fact]
    public void KaimingUniform_stays_within_its_bound_and_fills_it()
    {
        var t = Init.KaimingUniform(Tensor.Zeros(800, 300), nonlinearity: "relu", generator: new Generator(2));
        double bound = Math.Sqrt(2.0) * Math.Sqrt(3.0 / 300);
        var s = Stats(t);
        Assert.InRange(s.Min, -bound, -0.99 * bound);
        Assert.InRange(s.Max, 0.99 * bound, bound);
        StdNear(t, bound / Math.Sqrt(3));
    }

    [Fact]
    public void Xavier_normal_and_uniform_use_both_fans()
    {
        var g = new Generator(3);
        StdNear(Init.XavierNormal(Tensor.Zeros(600, 400), generator: g), Math.Sqrt(2.0 / 1000));
        StdNear(Init.XavierNormal(Tensor.Zeros(600, 400), gain: 5f / 3f, generator: g), 5.0 / 3.0 * Math.Sqrt(2.0 / 1000));
        var u = Init.XavierUniform(Tensor.Zeros(600, 400), generator: g);
        double bound = Math.Sqrt(6.0 / 1000);
        var s = Stats(u);
        Assert.InRange(s.Min, -bound, -0.99 * bound);
        Assert.InRange(s.Max, 0.99 * bound, bound);
    }

    [Fact]
    public void Normal_uniform_and_constants_fill_in_place()
    {
        var g = new Generator(4);
        var t = Tensor.Zeros(500, 400);
        Assert.Same(t, Init.Normal(t, mean: 3f, std: 0.5f, generator: g));
        var s = Stats(t);
        Assert.InRange(s.Mean, 2.995, 3.005);
        Assert.InRange(s.Std, 0.49, 0.51);
        Init.Uniform(t, -2f, 6f, g);
        s = Stats(t);
        Assert.InRange(s.Min, -2f, -1.99f);
        Assert.InRange(s.Max, 5.99f, 6f);
        Assert.InRange(s.Mean, 1.98, 2.02);
        Assert.All(Init.Ones(Tensor.Zeros(3)).ToArray(), v => Assert.Equal(1f, v));
        Assert.All(Init.Zeros(Tensor.Ones(3)).ToArray(), v => Assert.Equal(0f, v));
        Assert.All(Init.Constant(Tensor.Zeros(3), 0.25f).ToArray(), v => Assert.Equal(0.25f, v));
    }

    [Fact]
    public void Init_works_on_parameters_that_require_grad_without_recording_and_on_views()
    {
        var w = Tensor.Zeros(20, 10).RequiresGradInPlace();
        Init.KaimingNormal(w);
        Assert.True(w.IsLeaf);
        Assert.Null(w.GradFn);
        Assert.NotEqual(0f, w.Abs().Sum().Item());
        // A transposed view is filled through its strides; the base sees the same values.
        var b = Tensor.Zeros(3, 4);
        Init.Constant(b.T, 2f);
        Assert.All(b.ToArray(), v => Assert.Equal(2f, v));
    }

    [Fact]
    public void A_seeded_generator_makes_init_reproducible()
    {
        var a = Init.KaimingUniform(Tensor.Zeros(5, 5), generator: new Generator(7)).ToArray();
        var b = Init.KaimingUniform(Tensor.Zeros(5, 5), generator: new Generator(7)).ToArray();
        Assert.Equal(a, b);
    }

    [Fact]
    public void Kaiming_init_keeps_the_post_relu_second_moment_near_one()
    {
        // Lesson 8: with weights ~ N(0, 2/fan_in), a linear layer followed by ReLU keeps E[x²] = 1 of a unit-normal input.
        var g = new Generator(9);
        var x = Tensor.Randn([2000, 512], g);
        var w = Init.KaimingNormal(Tensor.Zeros(512, 512), nonlinearity: "relu", generator: g);
        var pre = F.Linear(x, w);
        Assert.InRange(pre.Std().Item(), 0.97f * MathF.Sqrt(2), 1.03f * MathF.Sqrt(2));
        Assert.InRange(pre.Relu().Square().Mean().Item(), 0.94f, 1.06f);
        // Unscaled N(0, 1) weights multiply the second moment by about fan_in / 2 instead.
        var big = F.Linear(x, Tensor.Randn([512, 512], g)).Relu().Square().Mean().Item();
        Assert.InRange(big, 0.9f * 256, 1.1f * 256);
    }
}
