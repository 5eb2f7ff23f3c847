using Kiln.Lessons;
using static Kiln.Lessons.ForwardBackward;

namespace Kiln.Tests;

/// <summary>
/// Lesson 8's backward pass by hand: the function version, the layer classes and the Module refactor must all give
/// autograd's loss and gradients, and autograd must agree with finite differences.
/// </summary>
public sealed class ForwardBackwardTests
{
    /// <summary>
    /// The lesson's shapes on random data: a batch of 64 standard-normal "images" of 784 pixels, float targets, 50 hidden
    /// units, one output. Biases are random (not the lesson's zeros) so a wrong bias term in the forward shows up too.
    /// </summary>
    sealed record Data(Tensor X, Tensor Y, Tensor W1, Tensor B1, Tensor W2, Tensor B2)
    {
        public static Data Make(int n = 64, int m = 784, int nh = 50, int seed = 1)
        {
            var g = new Generator(seed);
            return new Data(
                Tensor.Randn([n, m], g),
                Tensor.Rand([n], g) * 10f,
                Tensor.Randn([m, nh], g) * MathF.Sqrt(2f / m),
                Tensor.Randn([nh], g) * 0.1f,
                Tensor.Randn([nh, 1], g) * MathF.Sqrt(1f / nh),
                Tensor.Randn([1], g) * 0.1f);
        }
    }

    /// <summary>
    /// Float32 closeness: |a - e| &lt;= 1e-3·|e| + 1e-5·max|e|. The scale term absorbs rounding in long sums (a gradient
    /// element is a sum over 64 rows of products); the check still fails on any wrong factor or missing term.
    /// </summary>
    static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        float[] e = expected.ToArray(), a = actual.ToArray();
        double scale = e.Max(v => Math.Abs(v));
        Assert.True(scale > 0, $"{what}: the reference gradient is all zeros, so the comparison would prove nothing");
        for (int i = 0; i < e.Length; i++)
            if (!(Math.Abs(a[i] - e[i]) <= 1e-3 * Math.Abs(e[i]) + 1e-5 * scale))
                Assert.Fail($"{what}: element {i} is {a[i]:G7}, expected {e[i]:G7}");
    }

    static void AssertSameGradients(Gradients expected, Gradients actual)
    {
        Assert.Equal(expected.Loss, actual.Loss, 1e-4 * Math.Abs(expected.Loss));
        AssertClose(expected.X, actual.X, "x");
        AssertClose(expected.W1, actual.W1, "w1");
        AssertClose(expected.B1, actual.B1, "b1");
        AssertClose(expected.W2, actual.W2, "w2");
        AssertClose(expected.B2, actual.B2, "b2");
    }

    [Fact]
    public void HandGradientFunctions_EqualAutogradGradients()
    {
        var d = Data.Make();
        var hand = ForwardAndBackward(d.X, d.Y, d.W1, d.B1, d.W2, d.B2);
        AssertSameGradients(WithAutograd(d.X, d.Y, d.W1, d.B1, d.W2, d.B2), hand);
        // The gradients were stored on the tensors themselves, like the lesson's inp.g.
        Assert.Same(hand.W1, d.W1.G);
        Assert.Same(hand.X, d.X.G);
    }

    [Fact]
    public void LayerClassModel_EqualsAutogradGradients()
    {
        var d = Data.Make(seed: 2);
        var model = new Kiln.Lessons.Layers.Model(d.W1, d.B1, d.W2, d.B2);
        var loss = model.Call(d.X, d.Y);
        model.Backward();
        AssertSameGradients(WithAutograd(d.X, d.Y, d.W1, d.B1, d.W2, d.B2),
            new Gradients(loss.Item(), d.X.G!, d.W1.G!, d.B1.G!, d.W2.G!, d.B2.G!));
    }

    [Fact]
    public void ModuleRefactorModel_EqualsAutogradGradients()
    {
        var d = Data.Make(seed: 3);
        var model = new Kiln.Lessons.Modules.Model(d.W1, d.B1, d.W2, d.B2);
        var loss = model.Call(d.X, d.Y);
        model.Backward();
        AssertSameGradients(WithAutograd(d.X, d.Y, d.W1, d.B1, d.W2, d.B2),
            new Gradients(loss.Item(), d.X.G!, d.W1.G!, d.B1.G!, d.W2.G!, d.B2.G!));
    }

    [Fact]
    public void AutogradGradients_EqualFiniteDifferences_AndHandGradients_OnASmallModel()
    {
        // x [8,5], 4 hidden units: GradCheck evaluates the loss twice per element, so the model is kept tiny.
        var d = Data.Make(n: 8, m: 5, nh: 4, seed: 4);
        // Central differences are wrong across a ReLU kink: make sure no pre-activation lies within reach of the step.
        const double eps = 1e-3;
        float nearestKink = Lin(d.X, d.W1, d.B1).Abs().Min().Item();
        Assert.True(nearestKink > 20 * eps, $"seed puts a pre-activation at {nearestKink}, too close to the ReLU kink for eps {eps}");

        Tensor[] leaves = [.. new[] { d.X, d.W1, d.B1, d.W2, d.B2 }.Select(t => t.Clone().RequiresGradInPlace())];
        GradCheck.Assert(p => Forward(p[0], d.Y, p[1], p[2], p[3], p[4]), leaves, eps, 2e-3, 2e-2);

        AssertSameGradients(WithAutograd(d.X, d.Y, d.W1, d.B1, d.W2, d.B2), ForwardAndBackward(d.X, d.Y, d.W1, d.B1, d.W2, d.B2));
    }

    [Fact]
    public void NnModules_GiveTheByHandLossAndGradients_WithTransposedWeights()
    {
        var d = Data.Make(seed: 9);
        var model = ForwardBackwardNn.Model(d.W1, d.B1, d.W2, d.B2);
        // Kiln.Nn's Linear keeps [out, in]: the lesson's w1 [784, 50] goes in as its transpose.
        var first = Assert.IsType<Kiln.Nn.Linear>(model[0]);
        Assert.Equal([50, 784], first.Weight.Shape);
        AssertClose(d.W1.T, first.Weight, "Linear.Weight");

        var hand = ForwardAndBackward(d.X, d.Y, d.W1, d.B1, d.W2, d.B2);
        AssertSameGradients(hand, ForwardBackwardNn.WithModules(d.X, d.Y, d.W1, d.B1, d.W2, d.B2));
    }

    [Fact]
    public void WeightGradient_OuterProductEinsumAndMatMul_Agree()
    {
        var g = new Generator(5);
        var inp = Tensor.Randn([64, 784], g);
        var outG = Tensor.Randn([64, 50], g);
        var viaMatMul = WeightGradMatMul(inp, outG);
        Assert.Equal([784, 50], viaMatMul.Shape);
        AssertClose(viaMatMul, WeightGradOuterProduct(inp, outG), "outer product");
        AssertClose(viaMatMul, WeightGradEinsum(inp, outG), "einsum");
    }

    [Fact]
    public void MseGrad_ForABatchOfOne_KeepsTheInputShape()
    {
        // squeeze() without an axis would turn [1,1] into a 0-d tensor and the gradient would come back as [1].
        var output = Tensor.FromArray([3f], 1, 1);
        var target = Tensor.Of(1f);
        Assert.Equal(4f, Mse(output, target).Item());
        MseGrad(output, target);
        Assert.Equal([1, 1], output.G!.Shape);
        Assert.Equal(4f, output.G!.Item());
    }

    [Fact]
    public void HandGradients_LeaveAutogradsGradUntouched()
    {
        var d = Data.Make(n: 4, m: 6, nh: 3, seed: 6);
        d.W1.RequiresGradInPlace();
        var hand = ForwardAndBackward(d.X, d.Y, d.W1, d.B1, d.W2, d.B2);
        Assert.Null(d.W1.Grad);
        Assert.NotNull(hand.W1);
    }

    [Fact]
    public void BackwardOutOfOrder_ExplainsThatTheNextLayersGradientIsMissing()
    {
        var x = Tensor.Randn([3, 2], new Generator(7));
        var ex = Assert.Throws<InvalidOperationException>(() => ReluGrad(x, Relu(x)));
        Assert.Contains("no gradient (.G) yet", ex.Message);
        var lin = new Kiln.Lessons.Modules.Lin(Tensor.Ones(2, 1), Tensor.Zeros(1));
        Assert.Throws<InvalidOperationException>(lin.Backward);
    }
}
