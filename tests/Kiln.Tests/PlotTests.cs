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

/// <summary>Image grids and activation plots from real Fashion-MNIST data; set KILN_PLOT_DIR to keep the PNGs.</summary>
public sealed class PlotImageTests : IDisposable
{
    static readonly string[] Classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    readonly string _dir = Environment.GetEnvironmentVariable("KILN_PLOT_DIR") is { Length: > 0 } d ? d
        : Directory.CreateTempSubdirectory("kiln-plots-").FullName;

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("KILN_PLOT_DIR") is not { Length: > 0 }) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void ImageGrid_UsesSqrtRows_AndTitles()
    {
        var (x, y) = FashionMnist.Train;
        var ims = x.Narrow(0, 0, 10);
        var titles = y.Narrow(0, 0, 10).ToIntArray().Select(i => Classes[i]).ToArray();
        using (var bmp = ImageGrid.Render(ims, titles, cellSize: 84))
        {
            // 10 images: rows = floor(sqrt(10)) = 3, cols = ceil(10 / 3) = 4.
            Assert.Equal(4 * (84 + 6) + 6, bmp.Width);
            Assert.Equal(3 * (84 + 18 + 6) + 6, bmp.Height); // title band: max(14, 84 / 7) + 4
        }
        var p = Path.Combine(_dir, "grid.png");
        ImageGrid.Save(ims, p, titles, cellSize: 84);
        PlotTests.AssertPng(p, 4 * 90 + 6, 3 * 108 + 6);
        Assert.Throws<ArgumentException>(() => ImageGrid.Render(ims, titles[..3]));
        Assert.Throws<ArgumentException>(() => ImageGrid.Render(Tensor.Zeros(2, 2, 5, 5)));
    }

    [Fact]
    public void SaveBatch_TitlesTheFirstImagesWithClassNames()
    {
        var (x, y) = FashionMnist.Train;
        var batch = new Kiln.Data.Batch(x.Narrow(0, 0, 20).Unsqueeze(1), y.Narrow(0, 0, 20));
        var p = Path.Combine(_dir, "batch.png");
        ImageGrid.SaveBatch(batch, p, Classes, max: 9, cellSize: 64);
        // 9 images: 3 x 3 cells of 64 + 14-pixel title band + 4.
        PlotTests.AssertPng(p, 3 * 70 + 6, 3 * (64 + 18 + 6) + 6);
    }

    [Fact]
    public void ImageGrid_ScalesOneChannelImagesPerImage()
    {
        var ims = Tensor.FromArray(new float[] { 0, 1, 2, 3, 10, 10, 10, 20 }, 2, 1, 2, 2);
        using var bmp = ImageGrid.Render(ims, cellSize: 2);
        // First image: 0 -> black, 3 -> white; second: 10 -> black, 20 -> white.
        Assert.Equal(new SKColor(0, 0, 0), bmp.GetPixel(6, 6));
        Assert.Equal(new SKColor(255, 255, 255), bmp.GetPixel(7, 7));
        Assert.Equal(new SKColor(0, 0, 0), bmp.GetPixel(14, 6));
        Assert.Equal(new SKColor(255, 255, 255), bmp.GetPixel(15, 7));
    }

    [Fact]
    public void ActivationPlots_WritePngs()
    {
        var (x, y) = FashionMnist.Train;
        var xs = ((x.Narrow(0, 0, 3000).Reshape(-1, 784) - 0.286f) / 0.353f).Contiguous();
        var ys = y.Narrow(0, 0, 3000).Contiguous();
        var g = new Generator(1);
        var model = new Kiln.Nn.Sequential(new Kiln.Nn.Linear(784, 100, generator: g), new Kiln.Nn.ReLU(),
            new Kiln.Nn.Linear(100, 50, generator: g), new Kiln.Nn.ReLU(), new Kiln.Nn.Linear(50, 10, generator: g));
        var stats = new ActivationStats(m => m is Kiln.Nn.ReLU);
        var learn = new TrainLearner(model, new TensorLoader(xs, ys, 50), new TensorLoader(xs.Narrow(0, 0, 100), ys.Narrow(0, 0, 100), 100),
            CrossEntropy, 0.3, [stats]);
        learn.Fit(1);
        Assert.Equal(60, stats.Layers[0].Means.Count);

        var a = Path.Combine(_dir, "act-stats.png");
        ActivationPlots.SaveMeansAndStds(stats, a);
        PlotTests.AssertPng(a, 960, 340);
        var c = Path.Combine(_dir, "colorful-dim.png");
        ActivationPlots.SaveColorfulDimension(stats, c);
        PlotTests.AssertPng(c, 960, 340);
        var dpath = Path.Combine(_dir, "dead.png");
        Plots.Save(ActivationPlots.DeadChart(stats), dpath);
        PlotTests.AssertPng(dpath, 640, 400);
    }
}
