using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Kiln.Data;
using Kiln.Kernels;
using Kiln.Learn;
using Kiln.Models;
using Kiln.Nn;
using Kiln.Optim;
using Kiln.Vision;

namespace Kiln.Cli.Training;

/// <summary>Everything `kiln train` can be told; the defaults are the README's main job.</summary>
public sealed record TrainOptions
{
    /// <summary>Dataset name in the catalog.</summary>
    public string Dataset { get; init; } = "fashion-mnist";
    /// <summary>Directory holding the dataset files (else the catalog's search path).</summary>
    public string? DataDir { get; init; }
    /// <summary>Model name in <see cref="FashionModels.Catalog"/>.</summary>
    public string Model { get; init; } = "deeper";
    /// <summary>Training epochs.</summary>
    public int Epochs { get; init; } = 5;
    /// <summary>Training batch size (validation uses twice this).</summary>
    public int BatchSize { get; init; } = 1024;
    /// <summary>Peak (1cycle) or constant learning rate; null runs the LR finder first and uses its suggestion.</summary>
    public double? Lr { get; init; } = 6e-2;
    /// <summary>Optimizer: adamw, adam, sgd, momentum.</summary>
    public string Optimizer { get; init; } = "adamw";
    /// <summary>Weight decay (decoupled for adamw).</summary>
    public double WeightDecay { get; init; } = 0.01;
    /// <summary>Schedule: onecycle, cos, none.</summary>
    public string Schedule { get; init; } = "onecycle";
    /// <summary>Batch augmentations, in order: crop (pad 1), flip, erase, copy.</summary>
    public IReadOnlyList<string> Augment { get; init; } = [];
    /// <summary>Also report test-time-augmented accuracy (plain + flipped).</summary>
    public bool Tta { get; init; }
    /// <summary>With TTA, also average the images shifted by this many pixels to each of the 8 neighbouring positions (0: plain + flipped only).</summary>
    public int TtaShift { get; init; }
    /// <summary>Seed of the weights, the shuffling and the augmentation.</summary>
    public int Seed { get; init; } = 42;
    /// <summary>Output directory for the checkpoint, metrics and pictures.</summary>
    public string Out { get; init; } = "runs/latest";
    /// <summary>Kernel threads (0: all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Background loader workers.</summary>
    public int Workers { get; init; } = 1;
    /// <summary>Use only the first N training rows (0: all); for quick runs.</summary>
    public int Limit { get; init; }
    /// <summary>Dropout for the GAP models (0: none).</summary>
    public double Dropout { get; init; }
    /// <summary>Label smoothing of the cross-entropy (0: none), as PyTorch's CrossEntropyLoss(label_smoothing).</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>The --aug option's list: comma-separated names, or "none" / empty for no augmentation.</summary>
    public static IReadOnlyList<string> ParseAugment(string text) =>
        text is "none" or "" ? [] : text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Throws ArgumentException naming the first bad value.</summary>
    public void Validate()
    {
        if (!FashionModels.Catalog.ContainsKey(Model))
            throw new ArgumentException($"unknown model '{Model}'; choose one of: {string.Join(", ", FashionModels.Catalog.Keys)}");
        if (Epochs < 1) throw new ArgumentException($"--epochs must be at least 1, got {Epochs}");
        if (TtaShift < 0) throw new ArgumentException($"--tta-shift must be 0 or more, got {TtaShift}");
        if (BatchSize < 1) throw new ArgumentException($"--bs must be at least 1, got {BatchSize}");
        if (Lr is double lr && !(lr > 0 && double.IsFinite(lr))) throw new ArgumentException($"--lr must be a positive number or 'find', got {lr}");
        if (Optimizer is not ("adamw" or "adam" or "sgd" or "momentum"))
            throw new ArgumentException($"unknown optimizer '{Optimizer}'; choose adamw, adam, sgd or momentum");
        if (Schedule is not ("onecycle" or "cos" or "none")) throw new ArgumentException($"unknown schedule '{Schedule}'; choose onecycle, cos or none");
        foreach (var a in Augment)
            if (a is not ("crop" or "flip" or "erase" or "copy"))
                throw new ArgumentException($"unknown augmentation '{a}'; choose from crop, flip, erase, copy (comma-separated)");
        if (Threads < 0) throw new ArgumentException($"--threads must be 0 (all cores) or more, got {Threads}");
        if (Workers < 0) throw new ArgumentException($"--workers must be 0 or more, got {Workers}");
        if (Limit < 0) throw new ArgumentException($"--limit must be 0 (all rows) or more, got {Limit}");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"--dropout must be in [0, 1), got {Dropout}");
        if (!(LabelSmoothing >= 0 && LabelSmoothing < 1)) throw new ArgumentException($"--label-smoothing must be in [0, 1), got {LabelSmoothing}");
    }
}

/// <summary>What a finished training run measured.</summary>
public sealed record TrainResult(double Accuracy, double? TtaAccuracy, double Lr, TimeSpan Elapsed, IReadOnlyList<EpochStats> History, string OutDir);

/// <summary>
/// Lesson 18's Fashion-MNIST workflow: normalised data ((x - 0.28)/0.35), a catalog model, AdamW with 1cycle, optional batch
/// augmentation and TTA, with a checkpoint after every epoch and the pictures of the run written to the output directory.
/// </summary>
public static class TrainJob
{
    /// <summary>The lesson's normalisation: pixels in [0, 1], then (x - 0.28) / 0.35.</summary>
    public const float Mean = 0.28f, Std = 0.35f;

    /// <summary>File names written in the output directory.</summary>
    public const string CheckpointFile = "model.safetensors", MetricsFile = "metrics.json", LossPlot = "loss.png",
        SchedulePlot = "schedule.png", LrFindPlot = "lr-find.png", GridFile = "valid-predictions.png", ConfusionFile = "confusion.png";

    /// <summary>Loads the dataset, normalised, optionally limited to the first rows of the training split.</summary>
    public static DataSplits LoadData(string dataset, string? dataDir, int limit = 0)
    {
        var splits = Datasets.Get(dataset, dataDir);
        var train = Normalized(splits.Train, limit);
        var valid = Normalized(splits.Valid, 0);
        return new DataSplits(train, valid, splits.Classes);
    }

    static TensorDataset Normalized(TensorDataset d, int limit)
    {
        var x = d.X;
        var y = d.Y;
        if (limit > 0 && limit < d.Count) { x = x.Narrow(0, 0, limit); y = y.Narrow(0, 0, limit); }
        return new TensorDataset(((x - Mean) / Std).Contiguous(), y.Contiguous());
    }

    /// <summary>The batch augmentation named by options (null for none).</summary>
    public static ITransform? Augmentation(IReadOnlyList<string> names)
    {
        var list = new List<ITransform>();
        foreach (var a in names)
            list.Add(a switch
            {
                "crop" => new RandomCrop(28, padding: 1),
                "flip" => new RandomHorizontalFlip(),
                "erase" => new RandErase(),
                "copy" => new RandCopy(),
                _ => throw new ArgumentException($"unknown augmentation '{a}'"),
            });
        return list.Count == 0 ? null : Transforms.Compose([.. list]);
    }

    /// <summary>A fresh optimizer factory for the options.</summary>
    public static Func<IEnumerable<Tensor>, double, Optimizer> OptimizerFactory(TrainOptions o) => o.Optimizer switch
    {
        "adamw" => (ps, lr) => new AdamW(ps, lr, weightDecay: o.WeightDecay),
        "adam" => (ps, lr) => new Adam(ps, lr, weightDecay: o.WeightDecay),
        "sgd" => (ps, lr) => new SGD(ps, lr, momentum: 0.9, weightDecay: o.WeightDecay),
        "momentum" => (ps, lr) => new Momentum(ps, lr, weightDecay: o.WeightDecay),
        _ => throw new ArgumentException($"unknown optimizer '{o.Optimizer}'"),
    };

    /// <summary>The model the options name, initialised from the seed.</summary>
    public static Sequential CreateModel(TrainOptions o) =>
        FashionModels.Create(o.Model, new FashionModels.Options(Dropout: o.Dropout, Generator: new Generator(o.Seed)));

    /// <summary>The run's loss: cross-entropy, with the options' label smoothing (training and validation alike, as PyTorch's).</summary>
    static Func<Tensor, Tensor, Tensor> Loss(TrainOptions o)
    {
        float eps = (float)o.LabelSmoothing;
        return (preds, targets) => F.CrossEntropy(preds, targets, labelSmoothing: eps);
    }

    /// <summary>A learner over data and model with the options' optimizer, accuracy metric and extra callbacks.</summary>
    public static TrainLearner CreateLearner(TrainOptions o, DataSplits data, Module model, IEnumerable<Callback> callbacks, bool augment = true)
    {
        var dls = DataLoaders.FromDatasets(data.Train, data.Valid, o.BatchSize, seed: o.Seed, workers: o.Workers,
            batchTransform: augment ? Augmentation(o.Augment) : null);
        return new TrainLearner(model, dls, Loss(o), o.Lr ?? 1e-3, [new MetricsCallback(new Accuracy()) { Log = null }, .. callbacks], OptimizerFactory(o));
    }

    /// <summary>Runs the whole job; progress goes to the given callback (a Spectre display or plain lines).</summary>
    public static TrainResult Run(TrainOptions o, Callback progress, TextWriter log)
    {
        o.Validate();
        if (o.Threads > 0) Threading.Threads = o.Threads;
        Tensor.ManualSeed(o.Seed);
        Directory.CreateDirectory(o.Out);
        var total = Stopwatch.StartNew();

        var data = LoadData(o.Dataset, o.DataDir, o.Limit);
        log.WriteLine($"{o.Dataset}: {data.Train.Count:N0} training and {data.Valid.Count:N0} validation images; model {o.Model}; {Threading.Threads} thread(s)");

        double lr;
        if (o.Lr is double given) lr = given;
        else
        {
            var probe = CreateLearner(o, data, CreateModel(o), [], augment: false);
            var found = probe.LrFind();
            Plots.Save(Plots.LrFinder(found.Lrs, found.Losses, found.SuggestedLr), Path.Combine(o.Out, LrFindPlot));
            lr = found.SuggestedLr;
            log.WriteLine($"LR finder: suggested lr {lr:G3} (curve in {Path.Combine(o.Out, LrFindPlot)})");
        }

        var model = CreateModel(o);
        var recorder = new Recorder();
        var checkpoint = new CheckpointEachEpoch(Path.Combine(o.Out, CheckpointFile), o);
        var learn = CreateLearner(o, data, model, []);
        Callback[] fitOnly = [recorder, progress, checkpoint];
        switch (o.Schedule)
        {
            case "onecycle": learn.FitOneCycle(o.Epochs, lr, fitOnly); break;
            case "cos":
                int steps = o.Epochs * learn.Dls.Train.Count;
                learn.Fit(o.Epochs, lr: lr, callbacks: [.. fitOnly, new BatchSchedCallback(opt => new CosineAnnealingLR(opt, steps))]);
                break;
            default: learn.Fit(o.Epochs, lr: lr, callbacks: fitOnly); break;
        }

        var history = learn.Get<MetricsCallback>()!.History.ToList(); // the fit's passes (GetPreds below adds its own)
        var (preds, targets) = learn.GetPreds();
        double acc = Accuracy.Compute(preds, targets);
        double? tta = null;
        if (o.Tta || o.TtaShift > 0)
        {
            var (tp, tt) = Tta.Predict(learn, shift: o.TtaShift);
            tta = Accuracy.Compute(tp, tt);
        }

        Plots.Save(Plots.LossCurve(recorder, learn.Dls.Train.Count), Path.Combine(o.Out, LossPlot));
        Plots.Save(Plots.Schedule(recorder.Lrs, recorder.Moms), Path.Combine(o.Out, SchedulePlot));
        RunPictures.Predictions(data.Valid.X, preds, targets, data.Classes, Mean, Std, Path.Combine(o.Out, GridFile));
        RunPictures.Confusion(preds, targets, data.Classes, Path.Combine(o.Out, ConfusionFile));
        total.Stop();
        var result = new TrainResult(acc, tta, lr, total.Elapsed, history, o.Out);
        WriteMetrics(o, result, Path.Combine(o.Out, MetricsFile));
        return result;
    }

    static void WriteMetrics(TrainOptions o, TrainResult r, string path)
    {
        var doc = new
        {
            options = o,
            lr = r.Lr,
            accuracy = r.Accuracy,
            tta_accuracy = r.TtaAccuracy,
            seconds = r.Elapsed.TotalSeconds,
            epochs = r.History.Select(s => new { epoch = s.Epoch, split = s.Training ? "train" : "valid", loss = s.Loss, metrics = s.Metrics, seconds = s.Time.TotalSeconds }),
        };
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Writes the checkpoint (atomically) after every completed epoch, with the run's model name in its metadata.</summary>
    sealed class CheckpointEachEpoch(string path, TrainOptions o) : Callback
    {
        public override int Order => 3;

        public override void AfterEpoch(Learner learn)
        {
            if (!learn.Training) Checkpoint.Save(learn.Model, learn.Opt, learn.Epoch + 1, path, Metadata(o));
        }
    }

    /// <summary>Checkpoint metadata that lets `kiln evaluate` and `kiln predict` rebuild the model and its input normalisation.</summary>
    public static Dictionary<string, string> Metadata(TrainOptions o) => new()
    {
        ["kiln.model"] = o.Model,
        ["kiln.dataset"] = o.Dataset,
        ["kiln.normalize"] = string.Create(CultureInfo.InvariantCulture, $"{Mean},{Std}"),
        ["kiln.dropout"] = o.Dropout.ToString(CultureInfo.InvariantCulture),
    };
}
