using Kiln.Learn;
using ScottPlot;

namespace Kiln.Vision;

/// <summary>Training plots written as PNG files (ScottPlot): loss curves, LR-finder curve, lr/momentum schedules, value series.</summary>
public static class Plots
{
    /// <summary>Renders plot to a PNG of width x height pixels at path, atomically (temporary file, then rename).</summary>
    public static void Save(Plot plot, string path, int width = 640, int height = 400)
    {
        ArgumentNullException.ThrowIfNull(plot);
        var bytes = plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var tmp = full + $".{Environment.ProcessId}.tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, full, overwrite: true);
    }

    static double[] Range(int n, double start = 0, double step = 1) => [.. Enumerable.Range(0, n).Select(i => start + i * step)];

    static void Style(Plot plt, string title, string xLabel, string yLabel)
    {
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
    }

    /// <summary>
    /// The loss per training batch (and its running mean when there are many batches) with the validation loss per epoch
    /// drawn at the end of each epoch's batches.
    /// </summary>
    public static Plot LossCurve(IReadOnlyList<double> trainLosses, IReadOnlyList<double>? validLosses = null, int batchesPerEpoch = 0)
    {
        ArgumentNullException.ThrowIfNull(trainLosses);
        var plt = new Plot();
        Style(plt, "Loss", "training batch", "loss");
        var raw = plt.Add.ScatterLine(Range(trainLosses.Count), trainLosses.ToArray());
        raw.LegendText = "train (per batch)";
        raw.LineWidth = 1;
        if (trainLosses.Count >= 20)
        {
            raw.Color = raw.Color.WithAlpha(0.35);
            int w = Math.Max(2, trainLosses.Count / 20);
            var smooth = new double[trainLosses.Count];
            double sum = 0;
            for (int i = 0; i < smooth.Length; i++)
            {
                sum += trainLosses[i];
                if (i >= w) sum -= trainLosses[i - w];
                smooth[i] = sum / Math.Min(i + 1, w);
            }
            var s = plt.Add.ScatterLine(Range(smooth.Length), smooth);
            s.LegendText = $"train (mean of {w})";
            s.LineWidth = 2;
            s.Color = raw.Color.WithAlpha(1.0);
        }
        if (validLosses is { Count: > 0 })
        {
            int per = batchesPerEpoch > 0 ? batchesPerEpoch : Math.Max(1, trainLosses.Count / validLosses.Count);
            var v = plt.Add.Scatter(Range(validLosses.Count, per - 1, per), validLosses.ToArray());
            v.LegendText = "valid (per epoch)";
            v.LineWidth = 2;
            v.MarkerSize = 8;
        }
        plt.ShowLegend(Alignment.UpperRight);
        return plt;
    }

    /// <summary>The loss curve of a recorder: per-batch training losses and the per-epoch validation losses.</summary>
    public static Plot LossCurve(Recorder recorder, int batchesPerEpoch = 0)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        var valid = recorder.Values.Select(r => r[1]).Where(v => !double.IsNaN(v)).ToList();
        return LossCurve(recorder.Losses, valid, batchesPerEpoch);
    }

    /// <summary>Loss against learning rate on a log10 x axis (the LR finder's curve), with the suggested lr marked.</summary>
    public static Plot LrFinder(IReadOnlyList<double> lrs, IReadOnlyList<double> losses, double? suggested = null)
    {
        ArgumentNullException.ThrowIfNull(lrs);
        ArgumentNullException.ThrowIfNull(losses);
        if (lrs.Count != losses.Count) throw new ArgumentException($"Plots.LrFinder: {lrs.Count} lrs but {losses.Count} losses");
        var plt = new Plot();
        Style(plt, "Learning rate finder", "learning rate (log scale)", "loss");
        var xs = lrs.Select(Math.Log10).ToArray();
        var line = plt.Add.ScatterLine(xs, losses.ToArray());
        line.LineWidth = 2;
        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = v => $"1e{v:0}",
        };
        plt.Axes.Bottom.TickGenerator = ticks;
        if (suggested is double s && s > 0)
        {
            var vl = plt.Add.VerticalLine(Math.Log10(s));
            vl.LinePattern = LinePattern.Dashed;
            vl.Color = Colors.Red;
            vl.LegendText = $"suggested lr {s:0.###e+0}";
            plt.ShowLegend(Alignment.UpperLeft);
        }
        // Diverged points would flatten the interesting part: cap the y range at a few times the starting loss.
        var finite = losses.Where(double.IsFinite).ToArray();
        if (finite.Length > 0)
        {
            double lo = finite.Min(), hi = Math.Min(finite.Max(), finite[0] * 3);
            if (hi > lo) plt.Axes.SetLimitsY(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo));
        }
        return plt;
    }

    /// <summary>The curve of an <see cref="LrFinderExtensions.LrFind"/> run with its suggested lr marked.</summary>
    public static Plot LrFinder(LrFindResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return LrFinder(result.Lrs, result.Losses, result.SuggestedLr);
    }

    /// <summary>The lr and momentum a recorder saw, per training batch.</summary>
    public static Plot Schedule(Recorder recorder)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        return Schedule(recorder.Lrs, recorder.Moms);
    }

    /// <summary>The learning rate (left axis) and momentum or beta1 (right axis) of each training batch, as a recorder saw them.</summary>
    public static Plot Schedule(IReadOnlyList<double> lrs, IReadOnlyList<double>? moms = null)
    {
        ArgumentNullException.ThrowIfNull(lrs);
        var plt = new Plot();
        Style(plt, "Schedule", "training batch", "learning rate");
        var l = plt.Add.ScatterLine(Range(lrs.Count), lrs.ToArray());
        l.LegendText = "lr";
        l.LineWidth = 2;
        if (moms is { Count: > 0 } && moms.Any(double.IsFinite))
        {
            var m = plt.Add.ScatterLine(Range(moms.Count), moms.ToArray());
            m.LegendText = "momentum";
            m.LineWidth = 2;
            m.Axes.YAxis = plt.Axes.Right;
            plt.Axes.Right.Label.Text = "momentum";
        }
        plt.ShowLegend(Edge.Bottom);
        return plt;
    }

    /// <summary>One line per named series over the same x index (e.g. per-layer activation means).</summary>
    public static Plot Lines(string title, string xLabel, string yLabel, IEnumerable<(string Name, IReadOnlyList<double> Values)> series)
    {
        var plt = new Plot();
        Style(plt, title, xLabel, yLabel);
        foreach (var (name, values) in series)
        {
            var s = plt.Add.ScatterLine(Range(values.Count), values.ToArray());
            s.LegendText = name;
            s.LineWidth = 1.5f;
        }
        plt.ShowLegend(Edge.Bottom);
        return plt;
    }
}
