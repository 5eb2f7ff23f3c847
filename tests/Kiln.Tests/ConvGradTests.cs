using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>Finite-difference gradient checks of every convolution op, for input, weight and bias, in small configurations.</summary>
public sealed class ConvGradTests
{
    static Tensor Leaf(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed)).RequiresGradInPlace();

    [Theory]
    [InlineData(2, 3, 4, 5, 5, 3, 1, 1, 1, 1)]
    [InlineData(1, 2, 3, 7, 6, 3, 2, 1, 1, 1)]
    [InlineData(2, 4, 4, 6, 6, 3, 2, 0, 1, 2)]
    [InlineData(1, 3, 3, 5, 5, 3, 1, 2, 2, 3)]
    [InlineData(3, 1, 2, 4, 4, 2, 1, 0, 1, 1)]
    [InlineData(2, 4, 9, 3, 12, 3, 1, 1, 1, 1)]       // the direct stride-1 kernel (>= 4 channels, rows >= 12 wide)
    [InlineData(2, 4, 16, 3, 13, 2, 1, 1, 1, 1)]      // ... and its weight gradient (16 output channels)
    [InlineData(2, 8, 3, 5, 5, 3, 2, 1, 1, 1)]        // the channels-last path (8 input channels, stride 2)
    [InlineData(2, 4, 8, 5, 14, 3, 2, 1, 1, 1)]       // AVX2's direct stride-2 kernel on phase planes (rows >= 7 wide)
    public void Conv2d_MatchesFiniteDifferences(int n, int cin, int cout, int h, int w, int k, int stride, int pad, int dil, int groups)
    {
        GradCheck.Assert(t => F.Conv2d(t[0], t[1], t[2], stride, pad, dil, groups),
            Leaf(1, n, cin, h, w), Leaf(2, cout, cin / groups, k, k), Leaf(3, cout));
    }

    [Fact]
    public void Conv2d_MatchesFiniteDifferences_ForRectangularKernelsAndMixedHyperparameters() =>
        GradCheck.Assert(t => F.Conv2d(t[0], t[1], t[2], (2, 1), (0, 1), (1, 2)),
            Leaf(4, 2, 2, 7, 6), Leaf(5, 3, 2, 2, 3), Leaf(6, 3));

    [Fact]
    public void Conv2d_MatchesFiniteDifferences_ForANonContiguousInputAndNoBias() =>
        GradCheck.Assert(t => F.Conv2d(t[0].Permute(0, 3, 1, 2), t[1], null, 1, 1),
            Leaf(7, 2, 5, 5, 3), Leaf(8, 2, 3, 3, 3));

    [Theory]
    [InlineData(2, 3, 2, 9, 3, 1, 1, 1, 1)]
    [InlineData(1, 4, 4, 10, 3, 2, 0, 2, 2)]
    public void Conv1d_MatchesFiniteDifferences(int n, int cin, int cout, int len, int k, int stride, int pad, int dil, int groups) =>
        GradCheck.Assert(t => F.Conv1d(t[0], t[1], t[2], stride, pad, dil, groups),
            Leaf(9, n, cin, len), Leaf(10, cout, cin / groups, k), Leaf(11, cout));

    [Theory]
    [InlineData(2, 3, 2, 3, 3, 3, 2, 1, 1, 1, 1)]
    [InlineData(1, 2, 4, 4, 3, 2, 2, 0, 0, 1, 2)]
    [InlineData(1, 2, 2, 3, 4, 3, 1, 1, 0, 2, 1)]
    [InlineData(2, 4, 2, 2, 2, 3, 3, 1, 2, 1, 2)]
    public void ConvTranspose2d_MatchesFiniteDifferences(int n, int cin, int cout, int h, int w, int k, int stride, int pad, int outPad, int dil, int groups) =>
        GradCheck.Assert(t => F.ConvTranspose2d(t[0], t[1], t[2], stride, pad, outPad, groups, dil),
            Leaf(12, n, cin, h, w), Leaf(13, cin, cout / groups, k, k), Leaf(14, cout));

    [Fact]
    public void UnfoldAndFold_MatchFiniteDifferences()
    {
        GradCheck.Assert(t => F.Unfold(t[0], (2, 3), 1, 1, (2, 1)), Leaf(15, 2, 2, 5, 4));
        GradCheck.Assert(t => F.Unfold(t[0], 2, dilation: 2), Leaf(16, 1, 3, 5, 5));
        // Fold of [N, C*kh*kw, L] with overlapping blocks (stride 1): each pixel sums several entries.
        GradCheck.Assert(t => F.Fold(t[0], (4, 5), 2, padding: 1), Leaf(17, 2, 8, 30));
        GradCheck.Assert(t => F.Fold(t[0], (5, 5), 3, stride: 2), Leaf(18, 1, 9, 4));
    }

    [Fact]
    public void ConvModules_MatchFiniteDifferencesThroughTheirParameters()
    {
        var conv = new Conv2d(2, 3, 3, stride: 2, padding: 1, generator: new Generator(19));
        var x = Leaf(20, 2, 2, 5, 5);
        GradCheck.Assert(t => conv.Call(t[0]), [x, conv.Weight, conv.Bias!], 1e-2, 2e-3, 2e-2);
        var deconv = ConvBlocks.Deconv(2, 2, act: false, generator: new Generator(21));
        GradCheck.Assert(t => deconv.Call(t[0]), Leaf(22, 1, 2, 3, 3));
    }
}
