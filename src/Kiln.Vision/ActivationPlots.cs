using Kiln.Learn;
using ScottPlot;
using SkiaSharp;

namespace Kiln.Vision;

/// <summary>Lesson 16/18's activation plots as PNG files: means and stds per layer, the "colorful dimension" histograms and the dead-activation chart.</summary>
public static class ActivationPlots
{
    /// <summary>Renders several plots into one PNG, cols per row, each cell cellWidth x cellHeight (atomic write).</summary>
    public static void SaveGrid(IReadOnlyList<Plot> plots, string path, int cols = 2, int cellWidth = 480, int cellHeight = 340)
    {
        ArgumentNullException.ThrowIfNull(plots);
        if (plots.Count == 0) throw new ArgumentException("ActivationPlots.SaveGrid: no plots");
        cols = Math.Clamp(cols, 1, plots.Count);
        int rows = (plots.Count + cols - 1) / cols;
        using var bmp = new SKBitmap(cols * cellWidth, rows * cellHeight);
        using (var canvas = new SKCanvas(bmp))
        {
            canvas.Clear(SKColors.White);
            for (int i = 0; i < plots.Count; i++)
            {
                using var cell = SKBitmap.Decode(plots[i].GetImageBytes(cellWidth, cellHeight, ScottPlot.ImageFormat.Png));
                canvas.DrawBitmap(cell, i % cols * cellWidth, i / cols * cellHeight);
            }
        }
        Png.Save(bmp, path);
    }

    static string Label(ActivationStats s, int i) => $"layer {s.Names[i]}";

    /// <summary>Two plots, the mean and the std of each hooked layer's activations per training batch.</summary>
    public static Plot[] MeansAndStds(ActivationStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var means = Plots.Lines("Activation means", "training batch", "mean",
            stats.Layers.Select((l, i) => (Label(stats, i), (IReadOnlyList<double>)l.Means)));
        var stds = Plots.Lines("Activation stds", "training batch", "std",
            stats.Layers.Select((l, i) => (Label(stats, i), (IReadOnlyList<double>)l.Stds)));
        return [means, stds];
    }

    /// <summary>Writes the means and stds plots side by side to path.</summary>
    public static void SaveMeansAndStds(ActivationStats stats, string path) => SaveGrid(MeansAndStds(stats), path, cols: 2);

    /// <summary>
    /// One heat map per layer: x = training batch, y = histogram bin of |activation| (0 at the bottom), colour = log(1 + count).
    /// A healthy layer shows a smooth band spreading upwards; a yellow floor means most activations are near zero.
    /// </summary>
    public static Plot[] ColorfulDimension(ActivationStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var plots = new List<Plot>();
        for (int i = 0; i < stats.Layers.Count; i++)
        {
            var img = stats.ColorDim(i);
            int bins = img.GetLength(0), batches = img.GetLength(1);
            // Heatmap rows are drawn top-down: put bin 0 in the last row so it sits at the bottom.
            var flipped = new double[bins, batches];
            for (int b = 0; b < bins; b++)
                for (int t = 0; t < batches; t++) flipped[bins - 1 - b, t] = img[b, t];
            var plt = new Plot();
            var hm = plt.Add.Heatmap(flipped);
            hm.Colormap = new ScottPlot.Colormaps.Viridis();
            hm.Extent = new CoordinateRect(0, batches, 0, stats.HistMax);
            plt.Title($"{Label(stats, i)}: |activation| histogram");
            plt.XLabel("training batch");
            plt.YLabel("|activation|");
            plt.Axes.Margins(0, 0);
            plots.Add(plt);
        }
        return [.. plots];
    }

    /// <summary>Writes the colorful-dimension heat maps of every layer to path, cols per row.</summary>
    public static void SaveColorfulDimension(ActivationStats stats, string path, int cols = 2) => SaveGrid(ColorfulDimension(stats), path, cols);

    /// <summary>The fraction of each layer's activations in the lowest histogram bin per training batch (lesson 16's get_min chart), y in [0, 1].</summary>
    public static Plot DeadChart(ActivationStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var plt = Plots.Lines($"Activations near zero (|a| < {stats.HistMax / stats.HistBins:0.###})", "training batch", "fraction",
            stats.Layers.Select((_, i) => (Label(stats, i), (IReadOnlyList<double>)stats.DeadFraction(i))));
        plt.Axes.SetLimitsY(0, 1);
        return plt;
    }
}
