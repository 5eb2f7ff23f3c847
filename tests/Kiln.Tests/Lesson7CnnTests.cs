using Kiln.Nn;

namespace Kiln.Tests;

public class Lesson7CnnTests
{
    // Lesson 7's MNIST CNN: conv(ni, nf) = Conv2d(ks 3, stride 2, padding 1) with bias, each followed by BatchNorm2d and
    // ReLU except the last (BatchNorm only), then Flatten.
    static Sequential Model()
    {
        static Conv2d Conv(int ni, int nf) => new(ni, nf, 3, 2, 1);
        return new Sequential(
            Conv(1, 8), new BatchNorm2d(8), new ReLU(),      // 14x14
            Conv(8, 16), new BatchNorm2d(16), new ReLU(),    // 7x7
            Conv(16, 32), new BatchNorm2d(32), new ReLU(),   // 4x4
            Conv(32, 16), new BatchNorm2d(16), new ReLU(),   // 2x2
            Conv(16, 10), new BatchNorm2d(10),               // 1x1
            new Flatten());
    }

    [Fact]
    public void The_mnist_cnn_has_12126_parameters_and_maps_28x28_digits_to_10_logits()
    {
        var m = Model();
        Assert.Equal(12_126, m.Parameters().Sum(p => p.Numel));
        Assert.Equal([4, 10], m.Call(Tensor.Randn(4, 1, 28, 28)).Shape);
    }
}
