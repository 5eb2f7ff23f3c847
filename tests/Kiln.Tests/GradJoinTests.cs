namespace Kiln.Tests;

/// <summary>Gradients through Cat/Stack (slices of g per input) and Split/Chunk/Unbind (views).</summary>
public sealed class GradJoinTests
{
    static Tensor Leaf(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed)).RequiresGradInPlace();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(-1)]
    public void Cat_MatchesFiniteDifferences_ForMixedLayouts(int dim)
    {
        int[] Shape(int n) => dim == 0 ? [n, 3] : [3, n];
        var a = Leaf(1, Shape(2));
        var b = (dim == 0 ? Tensor.Randn([3, 1], new Generator(2)).T : Tensor.Randn([1, 3], new Generator(2)).T).RequiresGradInPlace();
        var c = (dim == 0 ? Tensor.Randn([7, 6], new Generator(3)).Slice(1, null, null, 2) : Tensor.Randn([6, 7], new Generator(3)).Slice(0, null, null, 2)).RequiresGradInPlace();
        GradCheck.Assert(t => Tensor.Cat(t, dim), a, b, c);
    }

    [Fact]
    public void Cat_OfTheSameTensorSeveralTimes_AccumulatesEveryCopy()
    {
        var x = Leaf(4, 2, 3);
        Tensor.Cat([x, x * 2f, x], 0).Sum().Backward();
        Assert.All(x.Grad!.ToArray(), v => Assert.Equal(4f, v));
        GradCheck.Assert(t => Tensor.Cat([t[0], t[1], t[0]], 1).Square(), Leaf(5, 2, 3), Leaf(6, 2, 1));
    }

    [Fact]
    public void Cat_WithInputsThatDoNotRequireGradOrAreLegacyEmpty_RoutesOnlyToTheOthers()
    {
        var x = Leaf(7, 3);
        var c = Tensor.Randn([4], new Generator(8));
        GradCheck.Assert(t => Tensor.Cat([c, t[0], Tensor.Zeros(0), t[0]]).Exp(), x);
        GradCheck.Assert(t => Tensor.Cat([t[0], Tensor.Zeros(0, 2)], 0), Leaf(9, 3, 2));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(-1)]
    public void Stack_MatchesFiniteDifferences(int dim)
    {
        var a = Leaf(10, 2, 3);
        var b = Tensor.Randn([3, 2], new Generator(11)).T.RequiresGradInPlace();
        GradCheck.Assert(t => Tensor.Stack([t[0], t[1], t[0]], dim).Tanh(), a, b);
    }

    [Fact]
    public void SplitChunkUnbind_AreRecordedViews_MatchingFiniteDifferences()
    {
        var x = Leaf(12, 7, 3);
        GradCheck.Assert(t =>
        {
            var p = t[0].Split(3, 0);                  // 3, 3, 1 rows
            return Tensor.Cat([p[2] * 2f, p[0].Exp(), p[1].Square()], 0);
        }, x);
        GradCheck.Assert(t =>
        {
            var p = t[0].Split([1, 4, 2], 0);
            return p[1].Sum(0) + p[2].Sum(0) * p[0].Squeeze(0);
        }, x);
        GradCheck.Assert(t =>
        {
            var p = t[0].Chunk(2, 1);                  // 2 and 1 columns
            return p[0] * p[1];
        }, x);
        GradCheck.Assert(t =>
        {
            var rows = t[0].Unbind(0);
            return Tensor.Stack([rows[6], rows[0] * rows[1], rows[6]], 1);
        }, x);
    }

    [Fact]
    public void UnbindThenStack_IsTheIdentityForGradients()
    {
        var x = Leaf(13, 3, 4);
        var g = Tensor.Randn([4, 3], new Generator(14));
        Tensor.Stack(x.Unbind(0), 1).Backward(g);
        Assert.Equal(g.T.ToArray(), x.Grad!.ToArray());
    }
}
