using Kiln.Lessons;
using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>Conv2d/Conv1d/ConvTranspose2d modules, lesson 15's conv/deconv/simple_cnn and the Convolutions lesson API.</summary>
public sealed class ConvModuleTests
{
    [Fact]
    public void Conv2d_HasPyTorchsShapesAndDefaultInitBounds()
    {
        var conv = new Conv2d(16, 32, 3, stride: 2, padding: 1, generator: new Generator(1));
        Assert.Equal(new[] { 32, 16, 3, 3 }, conv.Weight.Shape);
        Assert.Equal(new[] { 32 }, conv.Bias!.Shape);
        float bound = 1f / MathF.Sqrt(16 * 9);   // kaiming_uniform(a=√5) on fan_in 144 = U(±1/√144); bias the same bound
        var w = conv.Weight.ToArray();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.True(w.Max() > 0.9f * bound && w.Min() < -0.9f * bound, "weights should fill the interval");
        Assert.All(conv.Bias!.ToArray(), v => Assert.InRange(v, -bound, bound));
        Assert.Equal(new[] { 4, 32, 14, 14 }, conv.Call(Tensor.Randn(4, 16, 28, 28)).Shape);
        Assert.Equal(["weight", "bias"], conv.NamedParameters().Select(p => p.Item1).ToArray());
        Assert.Contains("16, 32, kernelSize: 3, stride: 2, padding: 1", conv.ToString());
    }

    [Fact]
    public void GroupedConvTranspose2d_UsesPyTorchsFanIn()
    {
        // PyTorch computes the bias bound from weight [in, out/groups, kh, kw]: fan_in = (out/groups)·kh·kw.
        var t = new ConvTranspose2d(4, 6, 3, stride: 2, padding: 1, outputPadding: 1, groups: 2, generator: new Generator(2));
        Assert.Equal(new[] { 4, 3, 3, 3 }, t.Weight.Shape);
        float bound = 1f / MathF.Sqrt(3 * 9);
        Assert.All(t.Weight.ToArray(), v => Assert.InRange(v, -bound, bound));
        Assert.All(t.Bias!.ToArray(), v => Assert.InRange(v, -bound, bound));
        Assert.Equal(new[] { 2, 6, 8, 8 }, t.Call(Tensor.Randn(2, 4, 4, 4)).Shape);
        Assert.Contains("outputPadding: 1", t.ToString());
    }

    [Fact]
    public void Conv1d_ModuleMatchesTheFunctionalForm()
    {
        var c = new Conv1d(3, 5, 3, padding: 1, bias: false);
        Assert.Null(c.Bias);
        var x = Tensor.Randn(2, 3, 10);
        Assert.Equal(F.Conv1d(x, c.Weight, null, 1, 1).ToArray(), c.Call(x).ToArray());
        Assert.Single(c.Parameters());
    }

    [Fact]
    public void Modules_RejectBadHyperparameters()
    {
        var e = Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 3, groups: 2));
        Assert.Contains("Conv2d: inChannels 3 and outChannels 4 must both be divisible by groups 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Conv1d(3, 4, 0));
        Assert.Contains("Conv1d: kernel size must be positive", e.Message);
    }

    [Fact]
    public void SimpleCnn_Has5274ParametersAndGivesTenLogitsPer28x28Image()
    {
        var model = ConvBlocks.SimpleCnn(new Generator(3));
        var counts = model.Select(m => m.Parameters().Sum(p => p.Numel)).ToArray();
        Assert.Equal(new[] { 40, 296, 1168, 2320, 1450, 0 }, counts);
        Assert.Equal(5274, model.NumParameters());
        var y = model.Call(Tensor.Randn(3, 1, 28, 28));
        Assert.Equal(new[] { 3, 10 }, y.Shape);
        Assert.IsType<Conv2d>(model[4]);        // conv(16, 10, act: false) is the bare convolution
    }

    [Fact]
    public void SimpleCnn_Trains()
    {
        // A gradient step on a fixed batch lowers the loss: the whole stack's backward is wired.
        Tensor.ManualSeed(4);
        var model = ConvBlocks.SimpleCnn();
        var x = Tensor.Randn(16, 1, 28, 28);
        var y = Tensor.RandInt(0, 10, [16]);
        float first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            var loss = F.CrossEntropy(model.Call(x), y);
            if (step == 0) first = loss.Item();
            last = loss.Item();
            model.ZeroGrad();
            loss.Backward();
            using (Autograd.NoGrad())
                foreach (var p in model.Parameters()) p.SubInPlace(p.Grad! * 0.4f);
        }
        Assert.True(last < first - 0.1f, $"loss {first} -> {last}");
    }

    [Fact]
    public void Conv_BlockFollowsTheLessonsDefaults()
    {
        var plain = Assert.IsType<Sequential>(ConvBlocks.Conv(3, 8));
        Assert.Equal(2, plain.Count);
        var conv = Assert.IsType<Conv2d>(plain[0]);
        Assert.Equal((Size2)2, conv.Stride);
        Assert.Equal((Size2)1, conv.Padding);
        Assert.NotNull(conv.Bias);
        Assert.IsType<ReLU>(plain[1]);
        Assert.Equal(new[] { 2, 8, 4, 4 }, plain.Call(Tensor.Randn(2, 3, 7, 7)).Shape);

        // With a norm factory: conv (no bias) -> norm(nf) -> ReLU; the factory receives nf.
        int seen = 0;
        var normed = Assert.IsType<Sequential>(ConvBlocks.Conv(3, 8, ks: 5, stride: 1, norm: nf => { seen = nf; return new Identity(); }));
        Assert.Equal(8, seen);
        Assert.Equal(3, normed.Count);
        Assert.Null(Assert.IsType<Conv2d>(normed[0]).Bias);
        Assert.Equal((Size2)2, ((Conv2d)normed[0]).Padding);
        Assert.NotNull(((Conv2d)((Sequential)ConvBlocks.Conv(3, 8, act: false, norm: _ => new Identity(), bias: true))[0]).Bias);
    }

    [Fact]
    public void Deconv_UpsamplesByTwoThenConvolves()
    {
        var d = ConvBlocks.Deconv(4, 2, generator: new Generator(5));
        var x = Tensor.Randn(2, 4, 3, 5);
        var y = d.Call(x);
        Assert.Equal(new[] { 2, 2, 6, 10 }, y.Shape);
        // Nearest 2x: every pixel becomes a 2x2 block; then the same conv as a stride-1 "same" Conv2d.
        var up = new float[2 * 4 * 6 * 10];
        var xs = x.ToArray();
        for (int i = 0; i < up.Length; i++)
        {
            int ox = i % 10, oy = i / 10 % 6, nc = i / 60;
            up[i] = xs[nc * 15 + oy / 2 * 5 + ox / 2];
        }
        var conv = (Conv2d)d[1];
        var expected = F.Conv2d(Tensor.FromArray(up, 2, 4, 6, 10), conv.Weight, conv.Bias, 1, 1).Relu();
        ConvRef.AssertClose(expected.ToArray(), y.ToArray(), "deconv", 1e-5f);
        Assert.All(y.ToArray(), v => Assert.True(v >= 0));
    }
}

/// <summary>Lesson 15's convolution path: loop, unfold + matmul and the fast conv agree; batched shapes; the size formula.</summary>
public sealed class ConvLessonTests
{
    public static TheoryData<string> KernelNames => new() { "top", "left", "diag1", "diag2" };

    static Tensor Kernel(string name) => name switch
    {
        "top" => Convolutions.TopEdge,
        "left" => Convolutions.LeftEdge,
        "diag1" => Convolutions.Diag1,
        _ => Convolutions.Diag2,
    };

    [Theory]
    [MemberData(nameof(KernelNames))]
    public void LoopUnfoldAndFastConv_AgreeOnARandomImage(string kernel)
    {
        var img = Tensor.Rand([28, 28], new Generator(6));
        var k = Kernel(kernel);
        var loop = Convolutions.ApplyKernelLoop(img, k);
        Assert.Equal(new[] { 26, 26 }, loop.Shape);
        ConvRef.AssertClose(loop.ToArray(), Convolutions.UnfoldMatMul(img, k).ToArray(), "unfold", 1e-5f);
        ConvRef.AssertClose(loop.ToArray(), Convolutions.Fast(img, k).ToArray(), "fast", 1e-5f);
        // The loop is the definition: output (i, j) is the kernel's response centred on pixel (i+1, j+1).
        var a = img.ToArray();
        var kv = k.ToArray();
        double r = 0;
        for (int di = 0; di < 3; di++)
            for (int dj = 0; dj < 3; dj++) r += a[(10 + di) * 28 + 4 + dj] * kv[di * 3 + dj];
        Assert.Equal(r, loop[10, 4].Item(), 5);
        Assert.Equal(loop[10, 4].Item(), Convolutions.ApplyKernel(img, 11, 5, k));
    }

    [Fact]
    public void EdgeKernels_AreTheLessonsValues()
    {
        Assert.Equal(new float[] { -1, -1, -1, 0, 0, 0, 1, 1, 1 }, Convolutions.TopEdge.ToArray());
        Assert.Equal(new float[] { -1, 0, 1, -1, 0, 1, -1, 0, 1 }, Convolutions.LeftEdge.ToArray());
        Assert.Equal(new float[] { 0, -1, 1, -1, 1, 0, 1, 0, 0 }, Convolutions.Diag1.ToArray());
        Assert.Equal(new float[] { 1, -1, 0, 0, 1, -1, 0, 0, 1 }, Convolutions.Diag2.ToArray());
        Assert.Equal(new[] { 4, 1, 3, 3 }, Convolutions.EdgeKernels.Shape);
    }

    [Fact]
    public void TopEdge_RespondsToAHorizontalEdge()
    {
        // Dark above, bright below: the top-edge kernel gives +3 on the edge rows, 0 in flat regions.
        var img = Tensor.Zeros(8, 8);
        img[4.., ..] = Tensor.Ones(4, 8);
        var y = Convolutions.Fast(img, Convolutions.TopEdge);
        Assert.Equal(3f, y[2, 3].Item());
        Assert.Equal(3f, y[3, 3].Item());
        Assert.Equal(0f, y[0, 3].Item());
        Assert.Equal(0f, y[5, 3].Item());
    }

    [Fact]
    public void BatchedConv_Gives16x4x26x26()
    {
        var batch = Tensor.Rand([16, 1, 28, 28], new Generator(7));
        var y = F.Conv2d(batch, Convolutions.EdgeKernels);
        Assert.Equal(new[] { 16, 4, 26, 26 }, y.Shape);
        ConvRef.AssertClose(Convolutions.ApplyKernelLoop(batch[9, 0], Convolutions.Diag1).ToArray(), y[9, 2].ToArray(), "image 9, diag1", 1e-5f);
        // The lesson's unfold demo: one 28x28 image gives 9 rows of 676 windows.
        Assert.Equal(new[] { 1, 9, 676 }, F.Unfold(batch[..1], 3).Shape);
    }

    [Fact]
    public void OutputSize_IsTheLessonsFormula()
    {
        Assert.Equal(26, Convolutions.OutputSize(28, 3));
        Assert.Equal(6, Convolutions.OutputSize(5, 4, padding: 2));     // 5x5 input, 4x4 kernel, pad 2 -> 6x6
        int[] halves = [28, 14, 7, 4, 2, 1];
        for (int i = 0; i + 1 < halves.Length; i++) Assert.Equal(halves[i + 1], Convolutions.OutputSize(halves[i], 3, 2, 1));
        Assert.Equal(new[] { 1, 1, 6, 6 }, F.Conv2d(Tensor.Rand(1, 1, 5, 5), Tensor.Rand(1, 1, 4, 4), padding: 2).Shape);
    }
}
