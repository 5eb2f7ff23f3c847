using Kiln.Learn;
using Kiln.Nn;
using static Kiln.Tests.LearnTestData;

namespace Kiln.Tests;

public class LearnHooksTests
{
    [Fact]
    public void Summary_OfLesson15sMlp_Counts39760Parameters()
    {
        var g = new Generator(1);
        var model = new Sequential(new Linear(784, 50, generator: g), new ReLU(), new Linear(50, 10, generator: g));
        var s = Summaries.Summary(model, Tensor.Randn(16, 784));
        Assert.Equal(3, s.Rows.Count);
        Assert.Equal([39250L, 0L, 510L], s.Rows.Select(r => r.Params));
        Assert.Equal(39760, s.TotalParams);
        Assert.Equal(0.03976, s.TotalMFlops, 12);
        Assert.Equal([16, 50], s.Rows[1].OutputShape);
        var md = s.ToMarkdown().Split('\n');
        Assert.Equal("|Module|Input|Output|Num params|MFLOPS|", md[0]);
        Assert.Equal("|Linear|(16, 784)|(16, 50)|39250|0.0|", md[2]);
        Assert.Equal("Tot params: 39760; MFLOPS: 0.0", md[^1]);
        Assert.True(model.Training);
    }

    /// <summary>A stand-in for a conv layer: a 4-d weight [8,1,3,3] and a 1-d bias, output [N, 8, 14, 14].</summary>
    sealed class FakeConv : Module
    {
        public FakeConv()
        {
            RegisterParameter("weight", Tensor.Zeros(8, 1, 3, 3));
            RegisterParameter("bias", Tensor.Zeros(8));
        }
        public override Tensor Forward(Tensor x) => Tensor.Zeros(x.Size(0), 8, 14, 14);
    }

    [Fact]
    public void Summary_UsesLesson18sFlopsFormula_For4dParameters()
    {
        var model = new Sequential(new FakeConv(), new Flatten(), new Linear(8 * 14 * 14, 10));
        var s = Summaries.Summary(model, Tensor.Zeros(2, 1, 28, 28));
        Assert.Equal((72.0 * 14 * 14 + 8) / 1e6, s.Rows[0].MFlops, 12);
        Assert.Equal([2, 1, 28, 28], s.Rows[0].InputShape);
        Assert.Equal(80L + 15690, s.TotalParams);
        Assert.Equal((72.0 * 14 * 14 + 8 + 15690) / 1e6, s.TotalMFlops, 12);
    }

    [Fact]
    public void ActivationStats_RecordsMeanStdAndHistogramPerTrainingBatch()
    {
        var (train, valid) = Loaders();
        var model = Mlp(1);
        var first = train.First().X;
        float[] relu;
        using (Autograd.NoGrad()) relu = model[1].Call(model[0].Call(first)).ToArray();

        var stats = new ActivationStats(m => m is ReLU);
        var learn = new TrainLearner(model, train, valid, CrossEntropy, 0.1, [stats]);
        learn.Fit(2);
        Assert.Equal(["1"], stats.Names);
        var layer = Assert.Single(stats.Layers);
        Assert.Equal(6, layer.Means.Count); // training batches only
        double mean = relu.Average(v => (double)v);
        double std = Math.Sqrt(relu.Sum(v => (v - mean) * (v - mean)) / (relu.Length - 1));
        Assert.Equal(mean, layer.Means[0], 6);
        Assert.Equal(std, layer.Stds[0], 6);
        Assert.Equal(40, layer.Hists[0].Length);
        Assert.Equal(relu.Count(v => Math.Abs(v) <= 10), layer.Hists[0].Sum());
        Assert.Equal(relu.Count(v => Math.Abs(v) < 0.25), layer.Hists[0][0]);
        var dead = stats.DeadFraction(0);
        Assert.Equal(relu.Count(v => Math.Abs(v) < 0.25) / (double)relu.Count(v => Math.Abs(v) <= 10), dead[0], 12);
        var img = stats.ColorDim(0);
        Assert.Equal((40, 6), (img.GetLength(0), img.GetLength(1)));
        Assert.Equal(Math.Log(1 + layer.Hists[3][0]), img[0, 3], 12);

        // The hooks are gone after the fit.
        using (Autograd.NoGrad()) model.Call(first);
        Assert.Equal(6, layer.Means.Count);
    }

    [Fact]
    public void Hooks_RunOnEveryForward_UntilDisposed()
    {
        var model = Mlp(1);
        var shapes = new List<string>();
        using (var hooks = new Hooks(model.NamedChildren(), (h, m, i, o) => shapes.Add($"{h.Name}:{string.Join("x", o.Shape)}")))
        {
            model.Call(Tensor.Zeros(5, 4));
            Assert.Equal(3, hooks.Items.Count);
        }
        model.Call(Tensor.Zeros(5, 4));
        Assert.Equal(["0:5x16", "1:5x16", "2:5x3"], shapes);
    }
}

public class LearnHooksCallbackTests
{
    [Fact]
    public void HooksCallback_RunsOnTheChosenPasses_AndIsRemovedAfterTheFit()
    {
        var (train, valid) = Loaders();
        var model = Mlp(1);
        var seen = new List<(string Name, bool Training)>();
        var hc = new HooksCallback(m => m is Linear, (h, m, i, o) => seen.Add((h.Name, m.Training)), onTrain: false, onValid: true);
        var learn = new TrainLearner(model, train, valid, CrossEntropy, 0.1, [hc]);
        learn.Fit(1);
        Assert.Equal(4, seen.Count); // 2 validation batches x 2 Linear layers, no training batch
        Assert.All(seen, s => Assert.False(s.Training));
        Assert.Equal(["0", "2"], seen.Take(2).Select(s => s.Name));
        model.Call(Tensor.Zeros(1, 4));
        model.Eval().Call(Tensor.Zeros(1, 4));
        Assert.Equal(4, seen.Count);
    }
}
