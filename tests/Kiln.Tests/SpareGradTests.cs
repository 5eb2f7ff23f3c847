using Kiln.Nn;
using Kiln.Optim;

namespace Kiln.Tests;

/// <summary>
/// ZeroGrad (set to null) keeps a gradient buffer that nothing outside the engine and the optimizers has seen, and
/// Linear's backward writes the next weight gradient into it: the values must be exactly those of a fresh buffer, and a
/// gradient the user has looked at (and may hold) must never be overwritten.
/// </summary>
public sealed class SpareGradTests
{
    static (Linear Fc, Tensor X, Tensor Y) Setup()
    {
        var g = new Generator(3);
        var fc = new Linear(7, 5, generator: g);
        return (fc, Tensor.Randn([4, 7], g), Tensor.Randn([4, 5], g));
    }

    static void Backward(Linear fc, Tensor x, Tensor y) => F.MseLoss(fc.Call(x), y).Backward();

    [Fact]
    public void AnUnseenGradientBufferIsReusedWithTheSameValuesAsAFreshOne()
    {
        var (fc, x, y) = Setup();
        var (fresh, _, _) = Setup();
        var opt = new SGD(fc.Parameters(), 0.1f);
        var optFresh = new SGD(fresh.Parameters(), 0.1f);
        Backward(fc, x, y);
        var buffer = fc.Weight._grad!.Storage;
        for (int step = 0; step < 3; step++)
        {
            opt.Step();
            opt.ZeroGrad();
            Assert.Null(fc.Weight._grad);
            Backward(fc, x, y);
            Assert.Same(buffer, fc.Weight._grad!.Storage);   // the spare came back
        }
        // the same four steps with the gradient looked at every time (so never reused)
        Backward(fresh, x, y);
        for (int step = 0; step < 3; step++)
        {
            var seen = fresh.Weight.Grad!;
            optFresh.Step();
            optFresh.ZeroGrad();
            Backward(fresh, x, y);
            Assert.NotSame(seen.Storage, fresh.Weight.Grad!.Storage);
        }
        Assert.Equal(fresh.Weight.Grad!.ToArray(), fc.Weight.Grad!.ToArray());
        Assert.Equal(fresh.Weight.ToArray(), fc.Weight.ToArray());
    }

    [Fact]
    public void AGradientTheUserHoldsIsNeverOverwritten()
    {
        var (fc, x, y) = Setup();
        Backward(fc, x, y);
        var held = fc.Weight.Grad!;
        var before = held.ToArray();
        fc.ZeroGrad();
        Assert.Null(fc.Weight.Grad);
        Backward(fc, x.Neg(), y);
        Assert.Equal(before, held.ToArray());
        Assert.NotSame(held.Storage, fc.Weight.Grad!.Storage);
    }

    [Fact]
    public void GradientsStillAccumulateAcrossBackwardCallsWithoutZeroGrad()
    {
        var (fc, x, y) = Setup();
        Backward(fc, x, y);
        var once = fc.Weight.Grad!.ToArray();
        fc.ZeroGrad();
        Backward(fc, x, y);
        Backward(fc, x, y);   // the spare was taken by the first call; the second adds to it
        var twice = fc.Weight.Grad!.ToArray();
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], twice[i], 1e-5f);
        fc.ZeroGrad(setToNull: false);
        Assert.All(fc.Weight.Grad!.ToArray(), v => Assert.Equal(0f, v));
    }
}
