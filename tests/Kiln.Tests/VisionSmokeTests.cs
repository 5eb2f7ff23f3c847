using Kiln.Vision;
using SkiaSharp;

namespace Kiln.Tests;

public class VisionSmokeTests
{
    [Fact]
    public void ScottPlotAndSkiaWriteAReadablePng()
    {
        var path = Path.Combine(Path.GetTempPath(), $"kiln-smoke-{Guid.NewGuid():N}.png");
        try
        {
            var plot = new ScottPlot.Plot();
            plot.Add.Scatter(new double[] { 0, 1, 2, 3 }, new double[] { 3, 1, 2, 0.5 });
            plot.Title("smoke");
            using (var img = plot.GetImage(320, 200))
            using (var bmp = SKBitmap.Decode(img.GetImageBytes()))
                Png.Save(bmp, path);
            using var back = SKBitmap.Decode(path);
            Assert.Equal(320, back.Width);
            Assert.Equal(200, back.Height);
            Assert.False(File.Exists(path + ".tmp"));
        }
        finally { File.Delete(path); }
    }
}
