using Kiln.Lessons;
using static Kiln.Lessons.InitExperiments;

namespace Kiln.Tests;

/// <summary>
/// Lesson 8's initialisation experiments on 10,000 rows of standard-normal 784-pixel inputs. The expected values follow
/// from E[z²] = fan_in · s² · E[x²] for z = x@w with weights of variance s², and E[relu(z)²] = E[z²]/2.
/// </summary>
public sealed class InitExperimentTests
{
    static readonly Lazy<Tensor> Inputs = new(() => Tensor.Randn([10_000, 784], new Generator(8)));

    static Tensor X => Inputs.Value;

    [Fact]
    public void UnscaledWeights_GiveActivationStdOfAboutSqrtFanIn()
    {
        var s = Layer(X, 50, WeightScale.Unscaled, Nonlinearity.None, new Generator(10));
        Assert.InRange(s.Std, 26.0, 30.0); // √784 = 28
        Assert.InRange(s.Mean, -2.0, 2.0);
    }

    [Fact]
    public void FanInScaledWeights_GiveActivationStdOfAboutOne()
    {
        var s = Layer(X, 50, WeightScale.FanIn, Nonlinearity.None, new Generator(11));
        Assert.InRange(s.Std, 0.95, 1.05);
        Assert.InRange(s.Mean, -0.05, 0.05);
    }

    [Fact]
    public void ReluAfterFanInScaling_HalvesTheSecondMomentAndShiftsTheMean()
    {
        var s = Layer(X, 50, WeightScale.FanIn, Nonlinearity.Relu, new Generator(12));
        Assert.InRange(s.MeanSquare, 0.45, 0.55);                 // E[relu(z)²] = E[z²]/2 = 0.5
        Assert.InRange(s.Mean, 0.37, 0.43);                       // E[relu(z)] = 1/√(2π) ≈ 0.399 for z ~ N(0,1)
        Assert.InRange(s.Std, 0.55, 0.62);                        // √(0.5 - 1/(2π)) ≈ 0.584
    }

    [Fact]
    public void Kaiming_KeepsThePostReluMeanSquareAtTheInputs()
    {
        // E[x²] = 1 for standard-normal inputs, so Kaiming's preserved quantity, the post-ReLU second moment, is ≈ 1.
        var s = Layer(X, 50, WeightScale.Kaiming, Nonlinearity.Relu, new Generator(13));
        Assert.InRange(s.MeanSquare, 0.9, 1.1);
        Assert.InRange(s.Mean, 0.52, 0.61);                       // √2 · 1/√(2π) = 1/√π ≈ 0.564: not zero-mean
        Assert.InRange(s.Std, 0.78, 0.87);                        // √(1 - 1/π) ≈ 0.826
    }

    [Fact]
    public void ShiftedRelu_BringsTheMeanNearZero()
    {
        var plain = Layer(X, 50, WeightScale.Kaiming, Nonlinearity.Relu, new Generator(14));
        var shifted = Layer(X, 50, WeightScale.Kaiming, Nonlinearity.ShiftedRelu, new Generator(14));
        Assert.True(plain.Mean > 0.5, $"plain ReLU mean {plain.Mean}");
        Assert.InRange(shifted.Mean, -0.1, 0.15);                 // 1/√π - 0.5 ≈ 0.064
        Assert.Equal(plain.Std, shifted.Std, 1e-3);               // a shift moves the mean, not the spread
    }

    [Fact]
    public void EightReluLayers_KaimingStaysStable_UnscaledExplodes_FanInShrinksBySqrt2PerLayer()
    {
        const int depth = 8, width = 50;
        var kaiming = Stack(X, depth, width, WeightScale.Kaiming, Nonlinearity.Relu, new Generator(20));
        var unscaled = Stack(X, depth, width, WeightScale.Unscaled, Nonlinearity.Relu, new Generator(20));
        var fanIn = Stack(X, depth, width, WeightScale.FanIn, Nonlinearity.Relu, new Generator(20));

        // Per-layer growth of E[a²], as a geometric mean over layers 2..8 (width-50 layers fluctuate layer to layer: one
        // random 50-column weight shifts the second moment by tens of percent, so single ratios are noisy).
        static double Growth(IReadOnlyList<ActivationStats> s) => Math.Pow(s[^1].MeanSquare / s[0].MeanSquare, 1.0 / (s.Count - 1));

        // Kaiming: E[a²] stays at the input's E[x²] = 1, layer after layer.
        foreach (var s in kaiming) Assert.InRange(s.MeanSquare, 0.5, 2.0);
        Assert.InRange(Growth(kaiming), 0.85, 1.15);
        // Unscaled with ReLU multiplies E[a²] by fan_in/2 per layer (392 on the first, 25 after): astronomical after 8.
        Assert.InRange(Growth(unscaled), 18, 35);
        Assert.True(unscaled[^1].MeanSquare > 1e10, $"unscaled final mean square {unscaled[^1].MeanSquare}");
        // 1/√fan_in with ReLU halves E[a²] per layer: the rms shrinks by √2 per layer, from 0.71 to about 2^-4 after 8.
        Assert.InRange(Growth(fanIn), 0.4, 0.6);
        Assert.InRange(Math.Sqrt(fanIn[^1].MeanSquare), 0.03, 0.12);
    }
}
