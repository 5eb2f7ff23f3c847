using System.CommandLine;
using System.Globalization;
using Kiln.Cli.Training;
using Kiln.Learn;
using Kiln.Vision;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>`kiln train`: lesson 18's Fashion-MNIST workflow with progress, checkpoint, metrics and pictures.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var d = new TrainOptions();
        var dataset = new Option<string>("--dataset") { Description = "Dataset name.", DefaultValueFactory = _ => d.Dataset };
        var dataDir = new Option<string?>("--data-dir") { Description = "Directory with the dataset files (default: KILN_DATA, ~/.kiln/data, /usr/share/datasets)." };
        var model = new Option<string>("--model") { Description = "Model: " + string.Join(", ", Kiln.Models.FashionModels.Catalog.Keys) + ".", DefaultValueFactory = _ => d.Model };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs.", DefaultValueFactory = _ => d.Epochs };
        var bs = new Option<int>("--bs") { Description = "Batch size.", DefaultValueFactory = _ => d.BatchSize };
        var lr = new Option<string>("--lr") { Description = "Peak learning rate, or 'find' to run the LR finder first.", DefaultValueFactory = _ => d.Lr!.Value.ToString("G", CultureInfo.InvariantCulture) };
        var opt = new Option<string>("--opt") { Description = "Optimizer: adamw, adam, sgd, momentum.", DefaultValueFactory = _ => d.Optimizer };
        var wd = new Option<double>("--wd") { Description = "Weight decay.", DefaultValueFactory = _ => d.WeightDecay };
        var sched = new Option<string>("--sched") { Description = "Schedule: onecycle, cos, none.", DefaultValueFactory = _ => d.Schedule };
        var aug = new Option<string>("--aug") { Description = "Batch augmentation, comma-separated: crop, flip, erase, copy (or none).", DefaultValueFactory = _ => "none" };
        var tta = new Option<bool>("--tta") { Description = "Also report test-time-augmented (plain + flipped) accuracy." };
        var ttaShift = TtaShiftOption();
        var seed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => d.Seed };
        var output = new Option<string>("--out") { Description = "Output directory.", DefaultValueFactory = _ => d.Out };
        var threads = new Option<int>("--threads") { Description = "Kernel threads (0: all cores).", DefaultValueFactory = _ => 0 };
        var workers = new Option<int>("--workers") { Description = "Background data-loader workers.", DefaultValueFactory = _ => d.Workers };
        var limit = new Option<int>("--limit") { Description = "Train on the first N rows only (0: all).", DefaultValueFactory = _ => 0 };
        var dropout = new Option<double>("--dropout") { Description = "Dropout of the model2/3/4 heads.", DefaultValueFactory = _ => 0 };
        var smoothing = new Option<double>("--label-smoothing") { Description = "Label smoothing of the cross-entropy loss (0: none).", DefaultValueFactory = _ => 0 };
        var plain = new Option<bool>("--plain") { Description = "Plain progress lines instead of live bars." };

        var cmd = new Command("train", "Train a lesson-18 model on Fashion-MNIST: progress, epoch table, checkpoint, metrics JSON and PNG pictures.");
        foreach (var o in new Option[] { dataset, dataDir, model, epochs, bs, lr, opt, wd, sched, aug, tta, ttaShift, seed, output, threads, workers, limit, dropout, smoothing, plain })
            cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            string lrText = pr.GetValue(lr)!;
            double? lrValue = lrText == "find" ? null
                : double.TryParse(lrText, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new ArgumentException($"--lr must be a number or 'find', got '{lrText}'");
            string augText = pr.GetValue(aug)!;
            var options = new TrainOptions
            {
                Dataset = pr.GetValue(dataset)!, DataDir = pr.GetValue(dataDir), Model = pr.GetValue(model)!, Epochs = pr.GetValue(epochs),
                BatchSize = pr.GetValue(bs), Lr = lrValue, Optimizer = pr.GetValue(opt)!, WeightDecay = pr.GetValue(wd),
                Schedule = pr.GetValue(sched)!, Tta = pr.GetValue(tta), TtaShift = pr.GetValue(ttaShift), Seed = pr.GetValue(seed), Out = pr.GetValue(output)!,
                Threads = pr.GetValue(threads), Workers = pr.GetValue(workers), Limit = pr.GetValue(limit), Dropout = pr.GetValue(dropout),
                LabelSmoothing = pr.GetValue(smoothing), Augment = TrainOptions.ParseAugment(augText),
            };
            return Run(options, pr.GetValue(plain));
        });
        return cmd;
    }

    /// <summary>--tta-shift, shared by train and evaluate.</summary>
    internal static Option<int> TtaShiftOption() => new("--tta-shift")
    {
        Description = "TTA that also averages the images shifted by N pixels to the 8 neighbouring positions, each plain and flipped (18 predictions per image; implies --tta).",
        DefaultValueFactory = _ => 0,
    };

    static int Run(TrainOptions options, bool plain)
    {
        options.Validate();
        var progress = new ProgressCallback(Path.Combine(options.Out, TrainJob.LossPlot), plainOut: plain ? Console.Out : null);
        // Ctrl-C ends the process at once; checkpoints are written to a temporary file and renamed, so the last completed
        // epoch's checkpoint is never half-written. Say where it is.
        ConsoleCancelEventHandler onCancel = (_, _) =>
        {
            var ckpt = Path.Combine(options.Out, TrainJob.CheckpointFile);
            Console.Error.WriteLine(File.Exists(ckpt)
                ? $"kiln: interrupted; the last completed epoch's checkpoint is {ckpt}"
                : "kiln: interrupted before the first epoch completed; no checkpoint was written");
        };
        Console.CancelKeyPress += onCancel;
        TrainResult r;
        try { r = TrainJob.Run(options, progress, Console.Out); }
        finally { Console.CancelKeyPress -= onCancel; }
        Console.WriteLine($"validation accuracy {r.Accuracy:P2}" + (r.TtaAccuracy is double t ? $"; with TTA {t:P2}" : "")
            + $" after {options.Epochs} epoch(s) in {r.Elapsed.TotalSeconds:0} s (lr {r.Lr:G3})");
        Console.WriteLine($"wrote {Path.Combine(r.OutDir, TrainJob.CheckpointFile)}, {TrainJob.MetricsFile}, {TrainJob.LossPlot}, {TrainJob.SchedulePlot}, {TrainJob.GridFile}, {TrainJob.ConfusionFile}");
        return 0;
    }
}
