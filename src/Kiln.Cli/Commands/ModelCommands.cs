using System.CommandLine;
using System.Globalization;
using Kiln.Cli.Training;
using Kiln.Data;
using Kiln.Learn;
using Kiln.Models;
using Kiln.Nn;
using Kiln.Vision;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>`kiln evaluate`, `kiln predict`, `kiln lr-find`, `kiln summary` and `kiln show-batch`: the tools around a training run.</summary>
internal static class ModelCommands
{
    static Option<string?> DataDir() => new("--data-dir") { Description = "Directory with the dataset files (default: KILN_DATA, ~/.kiln/data, /usr/share/datasets)." };
    static Option<string> ModelName() => new("--model") { Description = "Model: " + string.Join(", ", FashionModels.Catalog.Keys) + ".", DefaultValueFactory = _ => new TrainOptions().Model };
    static Option<string> CheckpointPath() => new("--checkpoint") { Description = "Checkpoint written by kiln train.", DefaultValueFactory = _ => Path.Combine(new TrainOptions().Out, TrainJob.CheckpointFile) };

    /// <summary>All the commands of this file.</summary>
    public static IEnumerable<Command> Create() => [Evaluate(), Predict(), LrFind(), Summary(), ShowBatch()];

    /// <summary>Rebuilds the model a checkpoint was trained as (its metadata names it) and loads the weights, verified.</summary>
    public static (Module Model, TrainOptions Options) LoadCheckpoint(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"checkpoint '{path}' does not exist; train one with `kiln train --out DIR` (it writes DIR/{TrainJob.CheckpointFile})");
        var (_, meta) = SafeTensors.Load(path);
        if (!meta.TryGetValue("kiln.model", out var name) || !FashionModels.Catalog.ContainsKey(name))
            throw new InvalidDataException($"checkpoint '{path}' does not name a Kiln model (no 'kiln.model' metadata); it was not written by kiln train");
        double dropout = meta.TryGetValue("kiln.dropout", out var d) ? double.Parse(d, CultureInfo.InvariantCulture) : 0;
        var options = new TrainOptions { Model = name, Dropout = dropout, Dataset = meta.GetValueOrDefault("kiln.dataset", "fashion-mnist") };
        var model = TrainJob.CreateModel(options);
        Checkpoint.LoadModel(model, path);
        model.Eval();
        return (model, options);
    }

    static Command Evaluate()
    {
        var ckpt = new Option<string[]>("--checkpoint")
        {
            Description = "Checkpoint written by kiln train; give it several times to evaluate an ensemble (predictions averaged, as lesson 18 does).",
            DefaultValueFactory = _ => [Path.Combine(new TrainOptions().Out, TrainJob.CheckpointFile)],
        };
        var tta = new Option<bool>("--tta") { Description = "Average plain and horizontally flipped predictions (per model, before an ensemble's average)." };
        var ttaShift = TrainCommand.TtaShiftOption();
        var dataDir = DataDir();
        var cmd = new Command("evaluate", "Validation accuracy of a checkpoint or an ensemble of checkpoints, with or without test-time augmentation.") { ckpt, tta, ttaShift, dataDir };
        cmd.SetAction(pr =>
        {
            var paths = pr.GetValue(ckpt)!;
            int shift = pr.GetValue(ttaShift);
            if (shift < 0) throw new ArgumentException($"--tta-shift must be 0 or more, got {shift}");
            bool withTta = pr.GetValue(tta) || shift > 0;
            Tensor? sum = null, targets = null;
            string? dataset = null;
            DataSplits? data = null;
            foreach (var path in paths)
            {
                var (model, o) = LoadCheckpoint(path);
                if (dataset != null && o.Dataset != dataset)
                    throw new ArgumentException($"evaluate: '{path}' was trained on {o.Dataset}, the first checkpoint on {dataset}; an ensemble needs one dataset");
                dataset = o.Dataset;
                data ??= TrainJob.LoadData(o.Dataset, pr.GetValue(dataDir), limit: 1);
                var learn = TrainJob.CreateLearner(o, data, model, []);
                var (preds, t) = learn.GetPreds();
                string name = paths.Length > 1 ? $"{path}: " : "";
                Console.WriteLine($"{name}{o.Model} on {data.Valid.Count:N0} validation images: accuracy {Accuracy.Compute(preds, t):P2}");
                if (withTta)
                {
                    (preds, _) = Tta.Predict(learn, shift: shift);
                    string how = shift == 0 ? "plain + flipped" : $"plain + flipped, each also shifted by {shift} pixel(s) 8 ways: 18 predictions";
                    Console.WriteLine($"{name}with TTA ({how}): accuracy {Accuracy.Compute(preds, t):P2}");
                }
                sum = sum is null ? preds : sum + preds;
                targets ??= t;
            }
            if (paths.Length > 1)
                Console.WriteLine($"ensemble of {paths.Length} (mean of {(withTta ? "the TTA" : "the")} predictions): accuracy {Accuracy.Compute(sum! / paths.Length, targets!):P2}");
            return 0;
        });
        return cmd;
    }

    static Command Predict()
    {
        var ckpt = CheckpointPath();
        var files = new Argument<string[]>("images") { Description = "PNG or JPEG files (converted to 28x28 grey).", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("predict", "Top-3 classes with probabilities for image files.") { ckpt, files };
        cmd.SetAction(pr =>
        {
            var (model, o) = LoadCheckpoint(pr.GetValue(ckpt)!);
            var classes = FashionMnist.Classes;
            foreach (var file in pr.GetValue(files)!)
            {
                var x = ToModelInput(file);
                Tensor probs;
                using (Autograd.NoGrad()) probs = model.Call(x).Softmax(1).Squeeze(0);
                var p = probs.ToArray();
                var top = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).Take(3);
                Console.WriteLine($"{file}: " + string.Join(", ", top.Select(i => $"{classes[i]} {p[i]:P1}")));
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>An image file as the models expect it: grey, 28x28 (resized when needed), normalised, [1, 1, 28, 28].</summary>
    public static Tensor ToModelInput(string file)
    {
        if (!File.Exists(file)) throw new FileNotFoundException($"image '{file}' does not exist");
        Tensor img;
        try { img = Images.Load(file, channels: 1); }
        catch (Exception e) when (e is not FileNotFoundException)
        {
            throw new InvalidDataException($"cannot read '{file}' as an image ({e.Message}); give a PNG or JPEG file", e);
        }
        if (img.Size(1) != 28 || img.Size(2) != 28) img = new Resize(28).Apply(img, new Generator(0));
        return ((img - TrainJob.Mean) / TrainJob.Std).Unsqueeze(0);
    }

    static Command LrFind()
    {
        var model = ModelName();
        var bs = new Option<int>("--bs") { Description = "Batch size.", DefaultValueFactory = _ => new TrainOptions().BatchSize };
        var output = new Option<string>("--out") { Description = "Output directory for lr-find.png.", DefaultValueFactory = _ => new TrainOptions().Out };
        var dataDir = DataDir();
        var cmd = new Command("lr-find", "Lesson 18's LR finder: loss against an exponentially growing lr, plotted, with a suggestion.") { model, bs, output, dataDir };
        cmd.SetAction(pr =>
        {
            var o = new TrainOptions { Model = pr.GetValue(model)!, BatchSize = pr.GetValue(bs), Out = pr.GetValue(output)!, DataDir = pr.GetValue(dataDir) };
            o.Validate();
            var data = TrainJob.LoadData(o.Dataset, o.DataDir);
            var found = TrainJob.CreateLearner(o, data, TrainJob.CreateModel(o), [], augment: false).LrFind();
            var path = Path.Combine(o.Out, TrainJob.LrFindPlot);
            Plots.Save(Plots.LrFinder(found.Lrs, found.Losses, found.SuggestedLr), path);
            Console.WriteLine($"suggested lr {found.SuggestedLr:G3} (minimum loss {found.MinLoss:0.###} over {found.Lrs.Count} batches); plot: {path}");
            return 0;
        });
        return cmd;
    }

    static Command Summary()
    {
        var model = ModelName();
        var cmd = new Command("summary", "Lesson 18's summary: each layer's input and output shapes, parameters and MFLOPS.") { model };
        cmd.SetAction(pr =>
        {
            var o = new TrainOptions { Model = pr.GetValue(model)! };
            o.Validate();
            var s = Summaries.Summary(TrainJob.CreateModel(o), Tensor.Zeros(1, 1, 28, 28));
            Console.WriteLine(s.ToMarkdown());
            return 0;
        });
        return cmd;
    }

    static Command ShowBatch()
    {
        var aug = new Option<string>("--aug") { Description = "Batch augmentation, comma-separated: crop, flip, erase, copy.", DefaultValueFactory = _ => "crop,flip" };
        var n = new Option<int>("-n") { Description = "Images shown.", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 42 };
        var output = new Option<string>("--out") { Description = "Output directory for batch.png.", DefaultValueFactory = _ => new TrainOptions().Out };
        var dataDir = DataDir();
        var cmd = new Command("show-batch", "A grid of one augmented training batch, as the model sees it (batch.png).") { aug, n, seed, output, dataDir };
        cmd.SetAction(pr =>
        {
            string a = pr.GetValue(aug)!;
            var o = new TrainOptions
            {
                Augment = TrainOptions.ParseAugment(a),
                Seed = pr.GetValue(seed), Out = pr.GetValue(output)!, DataDir = pr.GetValue(dataDir), BatchSize = Math.Max(1, pr.GetValue(n)), Workers = 0,
            };
            o.Validate();
            var data = TrainJob.LoadData(o.Dataset, o.DataDir);
            var dls = DataLoaders.FromDatasets(data.Train, data.Valid, o.BatchSize, seed: o.Seed, batchTransform: TrainJob.Augmentation(o.Augment));
            var batch = dls.Train.First();
            var path = Path.Combine(o.Out, "batch.png");
            Directory.CreateDirectory(o.Out);
            var y = batch.Y.ToIntArray();
            ImageGrid.Save(batch.X * TrainJob.Std + TrainJob.Mean, path, [.. y.Select(i => FashionMnist.Classes[i])]);
            Console.WriteLine($"wrote {path} ({batch.Size} images, augmentation: {(o.Augment.Count == 0 ? "none" : string.Join("+", o.Augment))})");
            return 0;
        });
        return cmd;
    }
}
