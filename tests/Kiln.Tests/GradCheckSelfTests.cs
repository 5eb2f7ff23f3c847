namespace Kiln.Tests;

/// <summary>GradCheck itself: it must catch wrong gradients, say where, and refuse inputs it cannot check.</summary>
public sealed class GradCheckSelfTests
{
    static Tensor N(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed)).RequiresGradInPlace();

    [Fact]
    public void PassesACorrectGradientAndLeavesInputsUnchanged()
    {
        var x = N(1, 3, 4);
        var before = x.ToArray();
        var reports = GradCheck.Run(i => i[0].Exp() * i[0], [x]);
        var r = Assert.Single(reports);
        Assert.True(r.Passed);
        Assert.True(Math.Abs(r.Analytic - r.Numeric) < 1e-2, $"{r}");
        Assert.Equal(before, x.ToArray());
        GradCheck.Assert(i => i[0].Exp() * i[0], x);
    }

    [Fact]
    public void DetectsAPathThatAutogradMisses()
    {
        var x = N(1, 7);
        // forward x * x, but one factor is detached: autograd gives x instead of 2x
        var ex = Assert.Throws<InvalidOperationException>(() => GradCheck.Assert(i => i[0] * i[0].Detach(), x));
        Assert.Contains("input 0", ex.Message);
        var r = Assert.Single(GradCheck.Run(i => i[0] * i[0].Detach(), [x]));
        Assert.False(r.Passed);
    }

    [Fact]
    public void ReportsTheInputAndElementThatDisagree()
    {
        var a = N(1, 2, 3);
        var b = N(2, 2, 3);
        var mask = Tensor.FromArray(new[] { false, false, false, false, true, false }, 2, 3);
        // element 4 of b is computed through a detached copy: its gradient from autograd is missing there only
        Func<Tensor[], Tensor> f = i => i[0] * 2f + Tensor.Where(mask, i[1].Detach().Square(), i[1].Square());
        var reports = GradCheck.Run(f, [a, b]);
        Assert.Equal(2, reports.Count);
        Assert.True(reports[0].Passed);
        Assert.False(reports[1].Passed);
        Assert.Equal(1, reports[1].Input);
        Assert.Equal(4, reports[1].Element);
        Assert.Equal(0, reports[1].Analytic);
        Assert.True(Math.Abs(reports[1].Numeric) > 1e-2);
        var ex = Assert.Throws<InvalidOperationException>(() => GradCheck.Assert(f, a, b));
        Assert.Contains("input 1", ex.Message);
        Assert.Contains("element 4", ex.Message);
    }

    [Fact]
    public void DetectsAGradientOffByASmallFactor()
    {
        var x = N(3, 5);
        // y = x + 0.1 * x with the second term's gradient dropped: 10% off everywhere
        var ex = Assert.Throws<InvalidOperationException>(() => GradCheck.Assert(i => i[0] + i[0].Detach() * 0.1f, x));
        Assert.Contains("disagrees", ex.Message);
    }

    [Fact]
    public void ChecksANonContiguousLeaf()
    {
        var x = Tensor.Randn([4, 3], new Generator(5)).T.Detach().RequiresGradInPlace();
        Assert.False(x.IsContiguous);
        GradCheck.Assert(i => i[0].Square(), x);
        Assert.Throws<InvalidOperationException>(() => GradCheck.Assert(i => i[0] * i[0].Detach(), x));
    }

    [Fact]
    public void TreatsInputsWithoutRequiresGradAsConstants()
    {
        var x = N(1, 3);
        var c = Tensor.Randn([3], new Generator(2));
        var reports = GradCheck.Run(i => i[0] * i[1], [x, c]);
        var r = Assert.Single(reports);
        Assert.Equal(0, r.Input);
    }

    [Fact]
    public void RejectsAnExpandedLeaf()
    {
        var x = Tensor.Randn([1, 3], new Generator(1)).Expand(4, 3);
        x.RequiresGrad = true;
        Assert.True(x.IsLeaf);
        var ex = Assert.Throws<ArgumentException>(() => GradCheck.Assert(i => i[0] * 2f, x));
        Assert.Contains("expanded", ex.Message);
    }

    [Fact]
    public void RejectsWhenNoInputRequiresGrad()
    {
        var x = Tensor.Randn([3], new Generator(1));
        Assert.Throws<ArgumentException>(() => GradCheck.Assert(i => i[0] * 2f, x));
    }

    [Fact]
    public void RejectsANonLeafInput()
    {
        var x = N(1, 3) * 2f;
        var ex = Assert.Throws<ArgumentException>(() => GradCheck.Assert(i => i[0] * 2f, x));
        Assert.Contains("leaf", ex.Message);
    }

    [Fact]
    public void RejectsAnOutputThatDoesNotDependOnTheInputs()
    {
        var x = N(1, 3);
        Assert.Throws<ArgumentException>(() => GradCheck.Assert(_ => Tensor.Ones(3), x));
    }

    [Fact]
    public void RejectsANonFloatOutput()
    {
        var x = N(1, 3);
        Assert.Throws<ArgumentException>(() => GradCheck.Assert(i => i[0] > 0f, x));
    }

    [Fact]
    public void ClearsStaleGradientsBeforeChecking()
    {
        var x = N(1, 3);
        (x * 100f).Sum().Backward();
        GradCheck.Assert(i => i[0].Square(), x);
    }
}
