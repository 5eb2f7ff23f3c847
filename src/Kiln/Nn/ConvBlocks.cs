namespace Kiln.Nn;

/// <summary>
/// Lesson 15's small factories for convolutional nets: conv (a padded, optionally strided Conv2d with optional
/// normalisation and ReLU), deconv (nearest 2x upsampling then a stride-1 conv) and simple_cnn (the 28x28 MNIST classifier).
/// </summary>
public static class ConvBlocks
{
    /// <summary>
    /// The lesson's conv(ni, nf, ks, stride, act, norm, bias): Conv2d(ni, nf, ks, stride, padding ks/2), then norm(nf) when
    /// given (e.g. <c>n => new BatchNorm2d(n)</c>), then ReLU when act. The bias defaults to "no norm" (a norm layer's shift
    /// makes it redundant). Returns the bare Conv2d when there is neither norm nor activation, a Sequential otherwise.
    /// </summary>
    public static Module Conv(int ni, int nf, int ks = 3, int stride = 2, bool act = true, Func<int, Module>? norm = null, bool? bias = null, Generator? generator = null)
    {
        var conv = new Conv2d(ni, nf, ks, stride, ks / 2, bias: bias ?? norm == null, generator: generator);
        if (norm == null && !act) return conv;
        var layers = new Sequential(conv);
        if (norm != null) layers.Add(norm(nf));
        if (act) layers.Add(new ReLU());
        return layers;
    }

    /// <summary>
    /// The lesson's deconv(ni, nf, ks, act): nearest-neighbour 2x upsampling, Conv2d(ni, nf, ks, stride 1, padding ks/2),
    /// then ReLU when act. [N, ni, H, W] -> [N, nf, 2H, 2W].
    /// </summary>
    public static Sequential Deconv(int ni, int nf, int ks = 3, bool act = true, Generator? generator = null)
    {
        var layers = new Sequential(new UpsamplingNearest2d(2), new Conv2d(ni, nf, ks, 1, ks / 2, generator: generator));
        if (act) layers.Add(new ReLU());
        return layers;
    }

    /// <summary>
    /// The lesson's simple_cnn for [N, 1, 28, 28] images: conv(1,4) 14x14, conv(4,8) 7x7, conv(8,16) 4x4, conv(16,16) 2x2,
    /// conv(16,10, act: false) 1x1, Flatten -> [N, 10] logits; 5,274 parameters.
    /// </summary>
    public static Sequential SimpleCnn(Generator? generator = null) => new(
        Conv(1, 4, generator: generator),
        Conv(4, 8, generator: generator),
        Conv(8, 16, generator: generator),
        Conv(16, 16, generator: generator),
        Conv(16, 10, act: false, generator: generator),
        new Flatten());
}
