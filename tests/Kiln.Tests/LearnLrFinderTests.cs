using Kiln.Learn;
using static Kiln.Tests.LearnTestData;

namespace Kiln.Tests;

public class LearnLrFinderTests
{
    [Fact]
    public void LrFind_StopsOnDivergence_SkipsValidation_AndRestoresTheWeights()
    {
        var (train, valid) = Loaders();
        var log = new EventLog();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [log]);
        var before = learn.Model.Parameters().Select(p => p.ToArray()).ToArray();

        var r = learn.LrFind(gamma: 2, maxEpochs: 10);

        Assert.True(r.Losses.Count < 30, $"ran all {r.Losses.Count} batches without diverging");
        double last = r.Losses[^1];
        Assert.True(double.IsNaN(last) || last > 3 * r.MinLoss, $"stopped at loss {last} with min {r.MinLoss}");
        for (int i = 0; i < r.Losses.Count - 1; i++) // every earlier batch stayed within 3x the running minimum
            Assert.True(r.Losses[i] <= 3 * r.Losses.Take(i + 1).Min());
        for (int i = 0; i < r.Lrs.Count; i++) Assert.Equal(1e-5 * Math.Pow(2, i), r.Lrs[i], 1e-12 * Math.Pow(2, i));
        var ev = log.Events;
        Assert.Contains("BE:v", ev);
        for (int i = 0; i < ev.Count; i++) // validation passes were cancelled before any batch
            if (ev[i] == "BE:v") Assert.Equal("CE", ev[i + 1]);
        Assert.DoesNotContain("AF", log.Events);
        Assert.Equal(before, learn.Model.Parameters().Select(p => p.ToArray()).ToArray());
        int best = r.Losses.ToList().IndexOf(r.MinLoss);
        Assert.Equal(r.Lrs[best] / 10, r.SuggestedLr);
        Assert.Empty(learn.Callbacks.OfType<LrFinderCallback>());

        var png = Path.Combine(Path.GetTempPath(), $"kiln-lrfind-{Guid.NewGuid():N}.png");
        try
        {
            Kiln.Vision.Plots.Save(Kiln.Vision.Plots.LrFinder(r), png);
            PlotTests.AssertPng(png, 640, 400);
        }
        finally { File.Delete(png); }
    }

    [Fact]
    public void LrFind_RunsAtMostMaxEpochs_WhenTheLossNeverDiverges()
    {
        var (train, valid) = Loaders();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy);
        var r = learn.LrFind(gamma: 1.01, maxEpochs: 2);
        Assert.Equal(6, r.Losses.Count);
        Assert.Equal(6, r.Lrs.Count);
    }
}
