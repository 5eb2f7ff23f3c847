using Kiln.Learn;
using Kiln.Optim;
using Kiln.Vision;
using SkiaSharp;
using static Kiln.Tests.LearnTestData;

namespace Kiln.Tests;

/// <summary>The plot writers produce decodable PNGs of the requested size; set KILN_PLOT_DIR to keep them for a look.</summary>
public sealed class PlotTests : IDisposable
{
    readonly string _dir = Environment.GetEnvironmentVariable("KILN_PLOT_DIR") is { Length: > 0 } d ? d
        : Directory.CreateTempSubdirectory("kiln-plots-").FullName;

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("KILN_PLOT_DIR") is not { Length: > 0 }) Directory.Delete(_dir, recursive: true);
    }

    internal static void AssertPng(string path, int width, int height)
    {
        using var bmp = SKBitmap.Decode(path);
        Assert.NotNull(bmp);
        Assert.Equal((width, height), (bmp.Width, bmp.Height));
        // Not a blank canvas: a plot has many distinct colours.
        var colours = new HashSet<uint>();
        for (int y = 0; y < bmp.Height; y += 3)
            for (int x = 0; x < bmp.Width; x += 3) colours.Add((uint)bmp.GetPixel(x, y));
        Assert.True(colours.Count > 5, $"{path} has only {colours.Count} colours");
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    static Recorder TrainedRecorder()
    {
        var (train, valid) = Loaders(shuffle: true);
        var rec = new Recorder();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.01, [new EpochSetter(), rec], optFunc: (ps, lr) => new AdamW(ps, lr));
        learn.FitOneCycle(10, 0.05);
        return rec;
    }

    [Fact]
    public void LossCurve_And_Schedule_WritePngs()
    {
        var rec = TrainedRecorder();
        var p = Path.Combine(_dir, "loss.png");
        Plots.Save(Plots.LossCurve(rec, batchesPerEpoch: 3), p);
        AssertPng(p, 640, 400);
        var s = Path.Combine(_dir, "schedule.png");
        Plots.Save(Plots.Schedule(rec.Lrs, rec.Moms), s, 600, 360);
        AssertPng(s, 600, 360);
    }

    [Fact]
    public void LrFinderCurve_WritesAPng()
    {
        var lrs = Enumerable.Range(0, 40).Select(i => 1e-5 * Math.Pow(1.3, i)).ToArray();
        var losses = lrs.Select(lr => 2.3 - 1.5 * Math.Exp(-Math.Pow(Math.Log10(lr) + 2, 2)) + (lr > 0.1 ? 8 * lr : 0)).ToArray();
        var p = Path.Combine(_dir, "lrfind.png");
        Plots.Save(Plots.LrFinder(lrs, losses, suggested: 3e-3), p);
        AssertPng(p, 640, 400);
        Assert.Throws<ArgumentException>(() => Plots.LrFinder(lrs, losses[1..]));
    }
}
