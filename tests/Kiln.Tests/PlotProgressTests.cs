using Kiln.Learn;
using Kiln.Vision;
using Spectre.Console;
using static Kiln.Tests.LearnTestData;

namespace Kiln.Tests;

public class PlotProgressTests
{
    static TrainLearner NewLearner(MetricsCallback mc)
    {
        var (train, valid) = Loaders();
        return new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [mc]);
    }

    [Fact]
    public void PlainMode_PrintsOneAlignedRowPerEpoch_AndRestoresTheMetricsLog()
    {
        var sw = new StringWriter();
        var seen = new List<EpochStats>();
        var mc = new MetricsCallback(new Accuracy()) { Log = seen.Add };
        var learn = NewLearner(mc);
        var progress = new ProgressCallback(plainOut: sw);
        learn.Fit(3, callbacks: [progress]);
        var lines = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.Equal("epoch     train_loss  valid_loss  accuracy  time", lines[0]);
        for (int e = 0; e < 3; e++)
        {
            var cells = lines[e + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(5, cells.Length);
            Assert.Equal(e.ToString(), cells[0]);
            var valid = mc.History.Where(h => !h.Training).ElementAt(e);
            Assert.Equal(valid.Loss, double.Parse(cells[2], System.Globalization.CultureInfo.InvariantCulture), 5);
            Assert.Equal(valid.Metrics["accuracy"], double.Parse(cells[3], System.Globalization.CultureInfo.InvariantCulture), 5);
        }
        Assert.Equal(lines[0].IndexOf("valid_loss"), lines[1].IndexOf(lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]));
        Assert.Empty(seen); // the progress display had the log during the fit...
        learn.Fit(1);
        Assert.Equal(2, seen.Count); // ...and gave it back afterwards
        Assert.Equal(9, progress.TrainLosses.Count);
    }

    [Fact]
    public void PredictionPasses_PrintNothing_AndLeaveTheMetricsLogAlone()
    {
        var sw = new StringWriter();
        var seen = new List<EpochStats>();
        var mc = new MetricsCallback(new Accuracy()) { Log = seen.Add };
        var learn = NewLearner(mc);
        learn.Add(new ProgressCallback(plainOut: sw));
        learn.Fit(1);
        int printed = sw.ToString().Length;
        Assert.True(printed > 0);
        learn.GetPreds();
        Assert.Equal(printed, sw.ToString().Length);
        Assert.Single(seen); // the prediction pass went to the metrics' own log, not to the progress table
    }

    [Fact]
    public void TrainingOnlyFit_StillPrintsRows()
    {
        var sw = new StringWriter();
        var learn = NewLearner(new MetricsCallback());
        learn.Fit(2, valid: false, callbacks: [new ProgressCallback(plainOut: sw)]);
        var lines = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("1 ", lines[2]);
    }

    [Fact]
    public void InteractiveMode_DrawsBarsAndRows_AndWritesTheLivePlot()
    {
        var sw = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            Interactive = InteractionSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(sw),
        });
        var plot = Path.Combine(Path.GetTempPath(), $"kiln-live-{Guid.NewGuid():N}.png");
        try
        {
            var learn = NewLearner(new MetricsCallback(new Accuracy()));
            var progress = new ProgressCallback(plotPath: plot, console: console);
            learn.Fit(2, callbacks: [progress]);
            var text = sw.ToString();
            Assert.Contains("train_loss", text);
            Assert.Equal(2, progress.Rows.Count);
            Assert.Contains(progress.Rows[1][1], text);
            PlotTests.AssertPng(plot, 640, 400);
        }
        finally { File.Delete(plot); }
    }
}

public class ProgressWithoutMetricsTests
{
    [Fact]
    public void WithoutAMetricsCallback_RowsStillShowTheLosses()
    {
        var (train, valid) = Loaders();
        var sw = new StringWriter();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1);
        var progress = new ProgressCallback(plainOut: sw);
        learn.Fit(2, callbacks: [progress]);
        Assert.Equal(["epoch", "train_loss", "valid_loss", "time"], progress.Header);
        Assert.Equal(2, progress.Rows.Count);
        var (preds, t) = learn.GetPreds();
        Assert.Equal(Kiln.Nn.F.CrossEntropy(preds, t).Item(), double.Parse(progress.Rows[1][2], System.Globalization.CultureInfo.InvariantCulture), 5);
        Assert.Equal(3, sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
