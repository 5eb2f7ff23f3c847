namespace Kiln.Tests;

/// <summary>
/// Finite-difference checks of every differentiable elementwise op, view and reduction, on broadcasting, non-contiguous
/// and awkwardly sized inputs; plus hand-computed gradients at the kinks and ties the finite differences must avoid.
/// </summary>
public sealed class GradCheckTests
{
    // ---- inputs ----

    /// <summary>Standard-normal leaf.</summary>
    static Tensor N(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed)).RequiresGradInPlace();

    /// <summary>Leaf with values in [0.5, 1.5) (for Log, Sqrt, divisors, Pow bases).</summary>
    static Tensor P(int seed, params int[] shape) => (Tensor.Rand(shape, new Generator(seed)) + 0.5f).RequiresGradInPlace();

    /// <summary>
    /// Leaf of distinct values on a 0.1 grid shifted by offset (a shuffled arange, centred): no ties and no value within
    /// 0.03 of 0 or of a grid point of another offset, so kinks (Relu, Abs, Max, Clamp bounds) stay out of the eps window.
    /// </summary>
    static Tensor S(int seed, int[] shape, float offset = 0.037f)
    {
        int n = 1;
        foreach (int d in shape) n *= d;
        var perm = Tensor.RandPerm(n, new Generator(seed)).Float();
        return ((perm - n / 2) * 0.1f + offset).Reshape(shape).Contiguous().Detach().RequiresGradInPlace();
    }

    /// <summary>A non-contiguous leaf: the transpose of a [cols, rows] normal tensor.</summary>
    static Tensor NT(int seed, int rows, int cols) => Tensor.Randn([cols, rows], new Generator(seed)).T.Detach().RequiresGradInPlace();

    static readonly Tensor Mask23 = Tensor.FromArray(new[] { true, false, true, false, false, true }, 2, 3);

    // ---- the table: name -> (function, inputs) ----

    static readonly Dictionary<string, (Func<Tensor[], Tensor> F, Func<Tensor[]> Inputs)> Cases = new()
    {
        // arithmetic, broadcasting both ways, 0-d and float scalars
        ["Add"] = (i => i[0] + i[1], () => [N(1, 2, 3), N(2, 2, 3)]),
        ["AddBroadcastRow"] = (i => i[0] + i[1], () => [N(1, 2, 3), N(2, 3)]),
        ["AddBroadcastBothWays"] = (i => i[0] + i[1], () => [N(1, 4, 1), N(2, 1, 3)]),
        ["AddZeroDim"] = (i => i[1] + i[0], () => [N(1, 2, 3), N(2)]),
        ["AddFloat"] = (i => (i[0] + 2f) * (3f + i[0]), () => [N(1, 7)]),
        ["AddAlpha"] = (i => i[0].Add(i[1], 0.5f), () => [N(1, 2, 3), N(2, 3)]),
        ["Sub"] = (i => i[0] - i[1], () => [N(1, 2, 3), N(2, 3)]),
        ["SubBroadcastBothWays"] = (i => i[1] - i[0], () => [N(1, 4, 1), N(2, 1, 3)]),
        ["SubFloat"] = (i => (1f - i[0]) * (i[0] - 2f), () => [N(1, 7)]),
        ["Mul"] = (i => i[0] * i[1], () => [N(1, 2, 3), N(2, 2, 3)]),
        ["MulBroadcastBothWays"] = (i => i[0] * i[1], () => [N(1, 4, 1), N(2, 1, 3)]),
        ["MulZeroDim"] = (i => i[0] * i[1], () => [N(1, 2, 3), N(2)]),
        ["MulFloat"] = (i => 3f * i[0] * -0.5f, () => [N(1, 7)]),
        ["MulNonContiguous"] = (i => i[0] * i[1], () => [N(1, 3, 4), NT(2, 3, 4)]),
        ["Div"] = (i => i[0] / i[1], () => [N(1, 2, 3), P(2, 2, 3)]),
        ["DivBroadcastBothWays"] = (i => i[0] / i[1], () => [N(1, 1, 3), P(2, 4, 1)]),
        ["DivZeroDim"] = (i => i[1] / i[0], () => [P(1), N(2, 2, 3)]),
        ["DivFloat"] = (i => 1f / i[0] + i[0] / 4f, () => [P(1, 7)]),
        ["Neg"] = (i => -i[0], () => [N(1, 2, 3)]),
        ["PowTensorBoth"] = (i => i[0].Pow(i[1]), () => [P(1, 2, 3), N(2, 3)]),
        ["PowTensorBroadcastBase"] = (i => i[0].Pow(i[1]), () => [P(1, 3), N(2, 2, 3)]),
        ["PowTensorConstantExponent"] = (i => i[0].Pow(Tensor.Of(2f, 0.5f, -1f)), () => [P(1, 2, 3)]),
        ["PowExponentOnly"] = (i => Tensor.Of(0.5f, 2f, 3f).Pow(i[0]), () => [N(1, 2, 3)]),
        ["PowFloat"] = (i => i[0].Pow(2.5f), () => [P(1, 7)]),
        ["PowFloatInteger"] = (i => i[0].Pow(3f) + i[0].Pow(2f), () => [N(1, 7)]),
        ["PowFloatNegative"] = (i => i[0].Pow(-1.5f), () => [P(1, 7)]),
        ["Maximum"] = (i => i[0].Maximum(i[1]), () => [S(1, [2, 3]), S(2, [3], 0.087f)]),
        ["MaximumBroadcastBothWays"] = (i => i[0].Maximum(i[1]), () => [S(1, [4, 1]), S(2, [1, 3], 0.087f)]),
        ["Minimum"] = (i => i[0].Minimum(i[1]), () => [S(1, [2, 3]), S(2, [3], 0.087f)]),
        ["MinimumBroadcastBothWays"] = (i => i[1].Minimum(i[0]), () => [S(1, [4, 1]), S(2, [1, 3], 0.087f)]),

        // unary
        ["Exp"] = (i => i[0].Exp(), () => [N(1, 1)]),
        ["ExpNonContiguous"] = (i => i[0].T.Exp(), () => [N(1, 3, 4)]),
        ["Log"] = (i => i[0].Log(), () => [P(1, 7)]),
        ["Sqrt"] = (i => i[0].Sqrt(), () => [P(1, 7)]),
        ["Abs"] = (i => i[0].Abs(), () => [S(1, [7])]),
        ["Sign"] = (i => i[0].Sign() * i[0], () => [S(1, [7])]),
        ["Sigmoid"] = (i => i[0].Sigmoid(), () => [N(1, 65)]),
        ["Tanh"] = (i => i[0].Tanh(), () => [N(1, 5, 13)]),
        ["Relu"] = (i => i[0].Relu(), () => [S(1, [65])]),
        ["ReluSliced"] = (i => i[0].Slice(1, 1, null, 2).Relu(), () => [S(1, [3, 7])]),
        ["Square"] = (i => i[0].Square(), () => [N(1, 7)]),
        ["Reciprocal"] = (i => i[0].Reciprocal(), () => [P(1, 7)]),
        ["LeakyRelu"] = (i => i[0].LeakyRelu(0.1f), () => [S(1, [2, 7])]),
        ["LeakyReluDefault"] = (i => i[0].LeakyRelu(), () => [S(1, [7])]),
        ["Clamp"] = (i => i[0].Clamp(-0.5f, 0.7f), () => [S(1, [65])]),
        ["ClampMin"] = (i => i[0].ClampMin(0.2f), () => [S(1, [3, 7])]),
        ["ClampMax"] = (i => i[0].T.ClampMax(-0.1f), () => [S(1, [3, 7])]),
        ["Where"] = (i => Tensor.Where(Mask23, i[0], i[1]), () => [N(1, 2, 3), N(2, 2, 3)]),
        ["WhereBroadcast"] = (i => Tensor.Where(Mask23, i[0], i[1]), () => [N(1, 2, 1), N(2, 3)]),
        ["WhereScalars"] = (i => Tensor.Where(Mask23, i[0], 0.5f) + Tensor.Where(Mask23, 2f, i[0]), () => [N(1, 2, 3)]),
        ["Composite"] = (i => (i[0] * i[1]).Sigmoid().Log() - i[0].Tanh() / (i[1].Square() + 1f), () => [N(1, 2, 3), N(2, 3)]),

        // views
        ["View"] = (i => i[0].View(2, 6) * i[0].View(-1, 3, 2).Reshape(2, 6), () => [N(1, 4, 3)]),
        ["ViewOfNarrowedRows"] = (i => i[0].Narrow(0, 1, 2).View(-1), () => [N(1, 4, 3)]),
        ["ReshapeView"] = (i => i[0].Reshape(3, -1), () => [N(1, 2, 3, 2)]),
        ["ReshapeCopy"] = (i => i[0].T.Reshape(-1), () => [N(1, 3, 4)]),
        ["Transpose"] = (i => i[0].Transpose(0, 2), () => [N(1, 2, 3, 4)]),
        ["T"] = (i => i[0].T, () => [N(1, 2, 3, 4)]),
        ["MT"] = (i => i[0].MT.Exp(), () => [N(1, 2, 3, 4)]),
        ["Permute"] = (i => i[0].Permute(2, 0, 1).Square(), () => [N(1, 2, 3, 4)]),
        ["Expand"] = (i => i[0].Expand(2, 3, 4), () => [N(1, 3, 1)]),
        ["ExpandKeep"] = (i => i[0].Expand(-1, 5), () => [N(1, 7, 1)]),
        ["ExpandAs"] = (i => i[0].ExpandAs(i[1]) * i[1], () => [N(1, 1, 4), N(2, 3, 4)]),
        ["BroadcastTo"] = (i => i[0].BroadcastTo(2, 3, 4), () => [N(1, 4)]),
        ["BroadcastToNonContiguous"] = (i => i[0].T.BroadcastTo(2, 4, 3), () => [N(1, 3, 4)]),
        ["SqueezeAll"] = (i => i[0].Squeeze(), () => [N(1, 1, 3, 1, 2)]),
        ["SqueezeDim"] = (i => i[0].Squeeze(2).Exp(), () => [N(1, 3, 2, 1)]),
        ["Unsqueeze"] = (i => i[0].T.Unsqueeze(1).Unsqueeze(-1), () => [N(1, 3, 4)]),
        ["Narrow"] = (i => i[0].Narrow(1, 1, 3), () => [N(1, 2, 5)]),
        ["NarrowNegativeStart"] = (i => i[0].T.Narrow(0, -2, 2), () => [N(1, 2, 5)]),
        ["SliceStep"] = (i => i[0].Slice(1, 1, null, 2), () => [N(1, 3, 7)]),
        ["SliceStepNonContiguous"] = (i => i[0].T.Slice(0, 0, 6, 3).Square(), () => [N(1, 3, 7)]),
        ["Select"] = (i => i[0].Select(0, 1), () => [N(1, 3, 4)]),
        ["SelectNegative"] = (i => i[0].Select(-1, -2).Exp(), () => [N(1, 3, 4)]),
        ["Flatten"] = (i => i[0].Flatten(1), () => [N(1, 2, 3, 4)]),
        ["FlattenNonContiguous"] = (i => i[0].T.Flatten(), () => [N(1, 2, 3, 4)]),
        ["Unflatten"] = (i => i[0].Unflatten(1, 2, -1), () => [N(1, 3, 4)]),
        ["Clone"] = (i => i[0].Clone() * i[0], () => [N(1, 7)]),
        ["Contiguous"] = (i => i[0].T.Contiguous().View(-1), () => [N(1, 3, 4)]),
        ["ViewChain"] = (i => i[0].Select(0, 1).Transpose(0, 1).Slice(0, 1, null, 2).Unsqueeze(0).Expand(2, -1, -1), () => [N(1, 2, 3, 5)]),

        // reductions
        ["SumAll"] = (i => i[0].Sum(), () => [N(1, 5, 13)]),
        ["SumDim"] = (i => i[0].Sum(1), () => [N(1, 2, 3, 4)]),
        ["SumDimKeep"] = (i => i[0].Sum(-1, keepDim: true), () => [N(1, 2, 3, 4)]),
        ["SumDims"] = (i => i[0].Sum([2, 0]), () => [N(1, 2, 3, 4)]),
        ["SumDimsKeep"] = (i => i[0].Sum([0, 2], keepDim: true), () => [N(1, 2, 3, 4)]),
        ["SumLeadingDims"] = (i => i[0].Sum([0, 1]), () => [N(1, 2, 3, 4)]),
        ["SumNonContiguous"] = (i => i[0].T.Sum(0), () => [N(1, 3, 4)]),
        ["MeanAll"] = (i => i[0].Mean(), () => [N(1, 7)]),
        ["MeanDim"] = (i => i[0].Mean(1), () => [N(1, 2, 3, 4)]),
        ["MeanLeadingDim"] = (i => i[0].Mean(0, keepDim: true), () => [N(1, 2, 3, 4)]),
        ["MeanDims"] = (i => i[0].Mean([-1, 1]), () => [N(1, 2, 3, 4)]),
        ["MeanNonContiguous"] = (i => i[0].T.Mean(1, keepDim: true), () => [N(1, 3, 4)]),
        ["VarAll"] = (i => i[0].Var(), () => [N(1, 7)]),
        ["VarAllBiased"] = (i => i[0].Var(unbiased: false), () => [N(1, 3, 4)]),
        ["VarDim"] = (i => i[0].Var(1), () => [N(1, 2, 3, 4)]),
        ["VarDimBiasedKeep"] = (i => i[0].Var(1, unbiased: false, keepDim: true), () => [N(1, 2, 3, 4)]),
        ["VarDims"] = (i => i[0].T.Var([0, 2], keepDim: true), () => [N(1, 2, 3, 4)]),
        ["StdAll"] = (i => i[0].Std(), () => [N(1, 7)]),
        ["StdDim"] = (i => i[0].Std(0), () => [N(1, 3, 4)]),
        ["StdDimsBiased"] = (i => i[0].Std([0, 1], unbiased: false), () => [N(1, 2, 3, 4)]),
        ["LogSumExpAll"] = (i => i[0].LogSumExp(), () => [N(1, 5, 13)]),
        ["LogSumExpDim"] = (i => i[0].LogSumExp(1), () => [N(1, 2, 3, 4)]),
        ["LogSumExpDimsKeep"] = (i => i[0].T.LogSumExp([0, 2], keepDim: true), () => [N(1, 2, 3, 4)]),
        ["MaxAll"] = (i => i[0].Max(), () => [S(1, [65])]),
        ["MinAll"] = (i => i[0].T.Min() * 2f, () => [S(1, [3, 7])]),
        ["MaxDim"] = (i => i[0].Max(1).Values, () => [S(1, [2, 7, 3])]),
        ["MaxDimKeep"] = (i => i[0].T.Max(0, keepDim: true).Values, () => [S(1, [3, 7])]),
        ["MinDim"] = (i => i[0].Min(-1).Values, () => [S(1, [2, 7])]),
        ["MinDimKeep"] = (i => i[0].Min(0, keepDim: true).Values, () => [S(1, [3, 1, 2])]),
        ["SoftmaxDim0"] = (i => i[0].T.Softmax(0), () => [N(1, 3, 2, 4)]),
        ["SoftmaxDim1"] = (i => i[0].T.Softmax(1), () => [N(1, 3, 2, 4)]),
        ["SoftmaxDim2"] = (i => i[0].T.Softmax(2), () => [N(1, 3, 2, 4)]),
        ["SoftmaxLast"] = (i => i[0].Softmax(-1), () => [N(1, 5, 13)]),
        ["LogSoftmaxDim0"] = (i => i[0].T.LogSoftmax(0), () => [N(1, 3, 2, 4)]),
        ["LogSoftmaxDim1"] = (i => i[0].T.LogSoftmax(1), () => [N(1, 3, 2, 4)]),
        ["LogSoftmaxDim2"] = (i => i[0].T.LogSoftmax(-1), () => [N(1, 3, 2, 4)]),
        ["SoftmaxSingleElement"] = (i => i[0].Softmax(0) * i[0], () => [N(1, 1)]),
        ["Gather"] = (i => i[0].Gather(1, Tensor.FromArray(new[] { 0, 0, 3, 2, 1, 1 }, 2, 3)), () => [N(1, 2, 4)]),
        ["GatherNonContiguous"] = (i => i[0].T.Gather(0, Tensor.FromArray(new[] { 3, 0, 3, 1 }, 2, 2)), () => [N(1, 2, 4)]),
        ["ScatterAdd"] = (i => i[0].ScatterAdd(1, Tensor.FromArray(new[] { 0, 0, 3, 2, 1, 1 }, 2, 3), i[1]), () => [N(1, 2, 4), N(2, 2, 3)]),
        ["ScatterAddSrcOnly"] = (i => Tensor.Zeros(3, 2).ScatterAdd(0, Tensor.FromArray(new[] { 2, 2, 0, 2 }, 2, 2), i[0]), () => [N(1, 2, 2)]),

        // in place on non-leaf tensors
        ["AddInPlace"] = (i => { var y = i[0].Square(); y.AddInPlace(i[1]); return y; }, () => [N(1, 2, 3), N(2, 3)]),
        ["SubInPlace"] = (i => { var y = i[0].Exp() * 1f; y.SubInPlace(i[1]); return y * i[0]; }, () => [N(1, 2, 3), N(2, 2, 1)]),
        ["AddInPlaceAlpha"] = (i => { var y = i[0] * i[1]; y.AddInPlace(i[1], -2f); return y; }, () => [N(1, 2, 3), N(2, 2, 3)]),
        ["MulInPlaceConstant"] = (i => { var y = i[0].Square(); y.MulInPlace(2.5f); y.MulInPlace(Tensor.Of(1f, -1f, 2f)); return y; }, () => [N(1, 2, 3)]),
        ["DivInPlaceConstant"] = (i => { var y = i[0] + 0f; y.DivInPlace(Tensor.Of(2f, 4f, 8f)); return y.Exp(); }, () => [N(1, 2, 3)]),
        ["CopyFrom"] = (i => { var y = i[0].Square(); y.CopyFrom(i[1]); return y * i[0]; }, () => [N(1, 2, 3), N(2, 3)]),
        ["FillInPlace"] = (i => { var y = i[0].Square(); y.FillInPlace(2f); return y * i[0]; }, () => [N(1, 2, 3)]),
        ["ClampInPlace"] = (i => { var y = i[0] * 2f; y.ClampInPlace(-0.5f, 0.7f); return y; }, () => [S(1, [2, 7])]),
        ["InPlaceOnPlainFromGrad"] = (i => { var acc = Tensor.Ones(2, 3); acc.AddInPlace(i[0].Tanh()); acc.MulInPlace(3f); return acc.Log(); }, () => [N(1, 2, 3)]),
    };

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void AutogradMatchesFiniteDifferences(string name)
    {
        var (f, inputs) = Cases[name];
        GradCheck.Assert(f, inputs());
    }

    // ---- hand values at kinks and ties (where finite differences cannot decide) ----

    static Tensor Leaf(params float[] values) => Tensor.Of(values).RequiresGradInPlace();

    static void Close(float[] expected, Tensor? actual)
    {
        Assert.NotNull(actual);
        var a = actual!.ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(expected[i] - a[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {a[i]}");
    }

    [Fact]
    public void MaximumAndMinimumSplitTheGradientEvenlyAtTies()
    {
        var a = Leaf(1f, 2f, 3f);
        var b = Leaf(1f, 5f, 0f);
        (a.Maximum(b) * Tensor.Of(2f, 4f, 6f)).Sum().Backward();
        Close([1, 0, 6], a.Grad);
        Close([1, 4, 0], b.Grad);
        a.ZeroGrad(); b.ZeroGrad();
        (a.Minimum(b) * Tensor.Of(2f, 4f, 6f)).Sum().Backward();
        Close([1, 4, 0], a.Grad);
        Close([1, 0, 6], b.Grad);
    }

    [Fact]
    public void MaximumTiesWithABroadcastOperandSumTheHalves()
    {
        var a = Leaf(2f, 2f, 1f, 3f);
        var b = Leaf(2f);
        a.Maximum(b).Sum().Backward();
        Close([0.5f, 0.5f, 0, 1], a.Grad);
        Close([0.5f + 0.5f + 1], b.Grad);
    }

    [Fact]
    public void MaxAndMinOverAllElementsShareTheGradientAmongTies()
    {
        var x = Leaf(1f, 3f, -2f, 3f, -2f, 3f);
        (x.Max() * 6f).Backward();
        Close([0, 2, 0, 2, 0, 2], x.Grad);
        x.ZeroGrad();
        x.Min().Backward();
        Close([0, 0, 0.5f, 0, 0.5f, 0], x.Grad);
    }

    [Fact]
    public void MaxAndMinAlongADimSendTheGradientToTheReturnedIndex()
    {
        var x = Tensor.FromArray(new float[] { 1, 4, 4, 0, 5, 5, 2, 0 }, 2, 4).RequiresGradInPlace();
        var (v, idx) = x.Max(1);
        Assert.Equal(new[] { 1, 0 }, idx.ToIntArray()); // first of the tied maxima
        (v * Tensor.Of(2f, 3f)).Sum().Backward();
        Close([0, 2, 0, 0, 3, 0, 0, 0], x.Grad);
        x.ZeroGrad();
        var (m, midx) = x.Min(1, keepDim: true);
        Assert.Equal(new[] { 3, 3 }, midx.ToIntArray());
        m.Sum().Backward();
        Close([0, 0, 0, 1, 0, 0, 0, 1], x.Grad);
    }

    [Fact]
    public void ClampPassesTheGradientOnItsBounds()
    {
        var x = Leaf(-1f, -0.5f, 0f, 0.7f, 1f);
        x.Clamp(-0.5f, 0.7f).Sum().Backward();
        Close([0, 1, 1, 1, 0], x.Grad);
        x.ZeroGrad();
        x.ClampMin(0f).Sum().Backward();
        Close([0, 0, 1, 1, 1], x.Grad);
        x.ZeroGrad();
        x.ClampMax(0.7f).Sum().Backward();
        Close([1, 1, 1, 1, 0], x.Grad);
    }

    [Fact]
    public void KinksAtZeroFollowPyTorch()
    {
        var x = Leaf(-1f, 0f, 2f);
        x.Relu().Sum().Backward();
        Close([0, 0, 1], x.Grad); // relu'(0) = 0
        x.ZeroGrad();
        x.Abs().Sum().Backward();
        Close([-1, 0, 1], x.Grad); // sign(0) = 0
        x.ZeroGrad();
        x.LeakyRelu(0.1f).Sum().Backward();
        Close([0.1f, 0.1f, 1], x.Grad); // PyTorch: x > 0 ? 1 : slope
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(257)]
    [InlineData(3200)]
    public void ReluBackwardPassesTheGradientExactlyWhereTheOutputIsPositive(int n)
    {
        // Vector lanes plus a scalar tail, zeros and a NaN among the inputs, and a non-contiguous incoming gradient.
        var gen = new Generator(n);
        var xs = Tensor.Randn([n], gen).ToArray();
        xs[0] = 0f;
        if (n > 3) xs[3] = float.NaN;
        var x = Tensor.Of(xs).RequiresGradInPlace();
        var gFull = Tensor.Randn([n, 2], gen);
        var g = gFull.Select(1, 1);
        x.Relu().Backward(g);
        var ga = g.ToArray();
        var expected = xs.Select((v, i) => v > 0f ? ga[i] : 0f).ToArray();
        Assert.Equal(expected, x.Grad!.ToArray());
    }

    [Fact]
    public void PowGradientsAtZeroBaseFollowPyTorch()
    {
        var x = Leaf(0f, 0f, 2f);
        var e = Leaf(2f, 0f, 0f);
        x.Pow(e).Sum().Backward();
        Close([0, 0, 0], x.Grad); // exponent 0: zero, not 0 * 0^-1 = NaN
        Close([0, 0, MathF.Log(2)], e.Grad); // d(2^e)/de = ln 2 at e = 0; base 0 with exponent >= 0: zero, not 0 * log 0
        x.ZeroGrad();
        x.Pow(0f).Sum().Backward();
        Close([0, 0, 0], x.Grad);
    }

    [Fact]
    public void StdOfConstantValuesHasZeroGradient()
    {
        var x = Leaf(2f, 2f, 2f);
        x.Std().Backward();
        Close([0, 0, 0], x.Grad); // PyTorch masks result == 0; sqrt'(0) * 0 must not become NaN
    }

    [Fact]
    public void SoftmaxRowsGetNoGradientFromASumOfProbabilities()
    {
        var x = Tensor.Randn([3, 5], new Generator(4)).RequiresGradInPlace();
        x.Softmax(1).Sum().Backward();
        foreach (var v in x.Grad!.ToArray()) Assert.True(Math.Abs(v) < 1e-6, $"got {v}");
    }

    [Fact]
    public void GatherWithRepeatedIndicesAccumulates()
    {
        var x = Leaf(1f, 2f, 3f);
        x.Gather(0, Tensor.FromArray(new[] { 2, 0, 2, 2 }, 4)).Sum().Backward();
        Close([1, 0, 3], x.Grad);
    }

    [Fact]
    public void MeanAndSumSpreadTheGradient()
    {
        var x = Tensor.Randn([2, 3, 4], new Generator(3)).RequiresGradInPlace();
        x.Mean([0, 2]).Sum().Backward();
        foreach (var v in x.Grad!.ToArray()) Assert.Equal(1f / 8, v, 6);
    }
}
