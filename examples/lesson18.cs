#:project ../src/Kiln/Kiln.csproj
#:project ../src/Kiln.Vision/Kiln.Vision.csproj
// Lesson 18 (2022 part 2): accelerated SGD (momentum, RMSProp, Adam), learning-rate schedules and 1cycle, the LR
// finder, from a CNN to ResNets, then augmentation, test-time augmentation, random erasing and copying, ensembling.
// All on Fashion-MNIST, pixels (x - 0.28) / 0.35, batch size 1024.
//
// Run from the repository root:
//   dotnet run -c Release examples/lesson18.cs            the lesson's runs and epoch counts (many hours on a CPU)
//   dotnet run -c Release examples/lesson18.cs --quick    small subsets, one epoch, only the baseline CNN is trained (seconds)
// Pictures go to examples/out/lesson18/. The optimizer spreadsheet of the lesson is examples/lesson18-spreadsheet.cs.
// The lesson's training loader did not shuffle; Kiln's shuffles (seeded), so per-epoch numbers differ slightly.
using System.Runtime.CompilerServices;
using Kiln;
using Kiln.Data;
using Kiln.Learn;
using Kiln.Models;
using Kiln.Nn;
using Kiln.Optim;
using Kiln.Vision;

bool quick = args.Contains("--quick");
string outDir = Path.Combine(ExamplesDir(), "out", "lesson18");
Directory.CreateDirectory(outDir);
Section("Lesson 18: optimizers, schedules, ResNets, augmentation" + (quick ? " (quick mode)" : ""));

// ---- Data ---------------------------------------------------------------------------------------------------------------------
var fashion = Datasets.Get("fashion-mnist");
Tensor.ManualSeed(42);
var (trainDs, validDs) = (fashion.Train, fashion.Valid);
if (quick) (trainDs, validDs) = (Subset(trainDs, 1024), Subset(validDs, 512));
trainDs = new TensorDataset((trainDs.X - 0.28f) / 0.35f, trainDs.Y);
validDs = new TensorDataset((validDs.X - 0.28f) / 0.35f, validDs.Y);
const int bs = 1024;
var dls = DataLoaders.FromDatasets(trainDs, validDs, bs, seed: 42);
Console.WriteLine($"train {Shape(trainDs.X)}, valid {Shape(validDs.X)}; pixel range {trainDs.X.Min().Item():F2} .. {trainDs.X.Max().Item():F2} " +
                  $"(lesson: -0.80 .. 2.06); {dls.Train.Count} training batches of {bs} (lesson: 59)");
var classes = fashion.Classes;
int E(int lessonEpochs) => quick ? 1 : lessonEpochs;

// ---- Optimizers compared on the baseline CNN, 3 epochs each -------------------------------------------------------------------
Section("SGD vs Momentum vs RMSProp vs Adam (baseline CNN, 3 epochs, constant lr)");
var optimizers = new (string Name, double Lr, Func<IEnumerable<Tensor>, double, Optimizer> Make, string Lesson)[]
{
    ("SGD", 0.4, (ps, lr) => new SGD(ps, lr), "0.852"),
    ("Momentum 0.9", 1.5, (ps, lr) => new Momentum(ps, lr, mom: 0.9), "0.876"),
    ("RMSProp", 3e-3, (ps, lr) => RMSProp.Lesson18(ps, lr), "0.853"),
    ("Adam", 6e-3, (ps, lr) => Adam.Lesson18(ps, lr), "0.871"),
};
var optResults = new List<(string, double, double, string)>();
foreach (var (name, lr, make, lesson) in optimizers)
{
    Console.WriteLine($"-- {name}, lr {lr}");
    Tensor.ManualSeed(42);
    var learn = MakeLearner(FashionModels.Create("cnn"), lr, make);
    learn.Fit(E(3));
    optResults.Add((name, lr, LastAccuracy(learn), lesson));
}
Console.WriteLine($"{"optimizer",-14} {"lr",7} {"accuracy",9}   lesson [nb]");
foreach (var (name, lr, acc, lesson) in optResults) Console.WriteLine($"{name,-14} {lr,7} {acc,9:F4}   {lesson}");

// ---- Schedules ------------------------------------------------------------------------------------------------------------------
Section("Schedules: cosine annealing and 1cycle");
int steps = 100;
var cosLrs = Schedules.Lrs(new CosineAnnealingLR(new SGD([Tensor.Zeros(1).RequiresGradInPlace()], 0.06), steps), steps);
Console.WriteLine($"CosineAnnealingLR(T_max {steps}) from 0.06: lr at steps 0, 25, 50, 75, 100 = {string.Join(", ", new[] { 0, 25, 50, 75, 100 }.Select(i => cosLrs[i].ToString("0.#####")))}");
var oneCycleLrs = Schedules.Lrs(new OneCycleLR(new AdamW([Tensor.Zeros(1).RequiresGradInPlace()], 0.06), 0.06, steps), steps - 1);
var oneCycleMoms = Schedules.Record(new OneCycleLR(new AdamW([Tensor.Zeros(1).RequiresGradInPlace()], 0.06), 0.06, steps), steps - 1, "beta1");
Console.WriteLine($"OneCycleLR(max 0.06, {steps} steps): lr {oneCycleLrs[0]:0.####} -> {oneCycleLrs.Max():0.####} at step {Array.IndexOf(oneCycleLrs, oneCycleLrs.Max())} " +
                  $"-> {oneCycleLrs[^1]:0.#########}; beta1 {oneCycleMoms[0]} -> {oneCycleMoms.Min()} -> {oneCycleMoms[^1]}");
Plots.Save(Plots.Lines("CosineAnnealingLR", "step", "lr", [("lr", cosLrs)]), Path.Combine(outDir, "schedule-cosine.png"));
Plots.Save(Plots.Schedule(oneCycleLrs, oneCycleMoms), Path.Combine(outDir, "schedule-onecycle.png"));

Console.WriteLine("-- batch-stepped cosine, AdamW lr 2e-2, 3 epochs (lesson [nb]: ~0.883)");
Tensor.ManualSeed(42);
var cosLearn = MakeLearner(FashionModels.Create("cnn"), 2e-2, (ps, lr) => new AdamW(ps, lr));
int totalSteps = E(3) * dls.Train.Count;
cosLearn.Fit(E(3), callbacks: [new BatchSchedCallback(opt => new CosineAnnealingLR(opt, totalSteps))]);
Plots.Save(Plots.Schedule(cosLearn.Get<Recorder>()!), Path.Combine(outDir, "fit-cosine-schedule.png"));

Console.WriteLine("-- 1cycle, AdamW max lr 6e-2, 5 epochs, baseline CNN (lesson: 0.906)");
Tensor.ManualSeed(42);
var cnnLearn = MakeLearner(FashionModels.Create("cnn"), 6e-2, (ps, lr) => new AdamW(ps, lr));
cnnLearn.FitOneCycle(E(5), maxLr: 6e-2);
Plots.Save(Plots.Schedule(cnnLearn.Get<Recorder>()!), Path.Combine(outDir, "fit-onecycle-schedule.png"));
Plots.Save(Plots.LossCurve(cnnLearn.Get<Recorder>()!, dls.Train.Count), Path.Combine(outDir, "fit-onecycle-loss.png"));
var archResults = new List<(string, long, double, double, string)>
{
    ("cnn", cnnLearn.Model.NumParameters(), Summaries.Summary(cnnLearn.Model, validDs.X[..1]).TotalMFlops, LastAccuracy(cnnLearn), "0.906"),
};

// ---- LR finder --------------------------------------------------------------------------------------------------------------------
Section("LR finder (lr x1.3 per batch from 1e-5 until the loss passes 3x its minimum), ResNet");
Tensor.ManualSeed(42);
var finderModel = FashionModels.Create(quick ? "cnn" : "resnet");
var finderLearn = MakeLearner(finderModel, 1e-3, (ps, lr) => new AdamW(ps, lr), progress: false);
var found = finderLearn.LrFind();
Console.WriteLine($"{found.Lrs.Count} batches, lr {found.Lrs[0]:E1} .. {found.Lrs[^1]:E1}; minimum loss {found.MinLoss:F3}; suggestion {found.SuggestedLr:E1}   (lesson: ~2e-2)");
Plots.Save(Plots.LrFinder(found), Path.Combine(outDir, "lr-find.png"));

// ---- Architectures ----------------------------------------------------------------------------------------------------------------
Section("CNN -> deeper -> ResNet -> wider -> global-average-pool variants (AdamW, 1cycle, 5 epochs)");
var arches = new (string Name, double Lr, string Lesson)[]
{
    ("deeper", 6e-2, "0.917"), ("resnet", 2e-2, "0.922"), ("wider", 1e-2, "0.927"),
    ("model2", 1e-2, "0.926"), ("model3", 1e-2, "~0.927"), ("model4", 1e-2, "~0.926"),
};
foreach (var (name, lr, lesson) in arches)
{
    Tensor.ManualSeed(42);
    var model = FashionModels.Create(name);
    var summary = Summaries.Summary(model, validDs.X[..16]);
    Console.WriteLine($"-- {name}: {FashionModels.Catalog[name]}");
    if (name is "resnet" or "model4") Console.WriteLine(summary.ToMarkdown());
    else Console.WriteLine($"Tot params: {summary.TotalParams:N0}; MFLOPS: {summary.TotalMFlops:F1}");
    double acc = double.NaN;
    if (!quick)   // quick mode: summaries only, the ResNets take minutes per epoch on a CPU
    {
        var learn = MakeLearner(model, lr, (ps, l) => new AdamW(ps, l));
        learn.FitOneCycle(5, maxLr: lr);
        acc = LastAccuracy(learn);
    }
    archResults.Add((name, summary.TotalParams, summary.TotalMFlops, acc, lesson));
}
Console.WriteLine($"{"model",-8} {"params",11} {"MFLOPS",7} {"accuracy",9}   lesson");
foreach (var (name, ps, mf, acc, lesson) in archResults)
    Console.WriteLine($"{name,-8} {ps,11:N0} {mf,7:F1} {(double.IsNaN(acc) ? "(not run)" : acc.ToString("F4")),9}   {lesson}");

// ---- Augmentation -----------------------------------------------------------------------------------------------------------------
Section("Augmentation: RandomCrop(28, padding 1) + RandomHorizontalFlip, one random choice per batch");
var augGen = new Generator(42);
var aug = Transforms.Compose(new RandomCrop(28, padding: 1), new RandomHorizontalFlip());
Callback AugCallback(ITransform tfm) => new BatchTransformCallback(BatchTransformCallback.OnInput(x => tfm.Apply(x, augGen)), onTrain: true, onValid: false);
string augModel = quick ? "cnn" : "model4";
Tensor.ManualSeed(42);
var preview = MakeLearner(FashionModels.Create(augModel), 1e-2, (ps, lr) => new AdamW(ps, lr), progress: false);
preview.Fit(1, callbacks: [AugCallback(aug), new SingleBatchCallback()]);   // one batch through the pipeline, as SingleBatchCB
var previewBatch = preview.Batch!;
ImageGrid.Save(previewBatch.X[..16], Path.Combine(outDir, "augmentation-preview.png"),
    [.. previewBatch.Y[..16].ToIntArray().Select(i => classes[i])]);
Console.WriteLine($"preview of one augmented training batch: {Path.Combine(outDir, "augmentation-preview.png")}");

Console.WriteLine($"-- {augModel}, 20 epochs without augmentation (lesson: train 0.999, valid 0.924)");
Tensor.ManualSeed(42);
var noAug = MakeLearner(FashionModels.Create(augModel), 1e-2, (ps, lr) => new AdamW(ps, lr));
noAug.FitOneCycle(E(20), maxLr: 1e-2);
Console.WriteLine($"-- {augModel}, 20 epochs with crop + flip (lesson: 0.938)");
Tensor.ManualSeed(42);
var augLearn = MakeLearner(FashionModels.Create(augModel), 1e-2, (ps, lr) => new AdamW(ps, lr), AugCallback(aug));
augLearn.FitOneCycle(E(20), maxLr: 1e-2);
Checkpoint.SaveModel(augLearn.Model, Path.Combine(outDir, "model-aug.safetensors"));

// ---- Test-time augmentation -------------------------------------------------------------------------------------------------------
Section("Test-time augmentation: plain, flipped, and the average of both");
Console.WriteLine($"without augmentation: valid {LastAccuracy(noAug):F4}; with crop + flip: valid {LastAccuracy(augLearn):F4}");
Quiet(augLearn);   // predictions are fits too: no progress table for them
var (plainPreds, targets) = augLearn.GetPreds();
var flipCb = new BatchTransformCallback(BatchTransformCallback.OnInput(Tta.FlipHorizontal), onTrain: false, onValid: true);
var (flipPreds, _) = augLearn.GetPreds(callbacks: [flipCb]);
var (ttaPreds, _) = Tta.Predict(augLearn);
Console.WriteLine($"plain {Accuracy.Compute(plainPreds, targets):F4} (lesson 0.938), flipped {Accuracy.Compute(flipPreds, targets):F4} (lesson 0.941), " +
                  $"average {Accuracy.Compute(ttaPreds, targets):F4} (lesson 0.942, notebook 0.945)");
RunPictures.Predictions(validDs.X[..36], ttaPreds[..36], targets[..36], classes, 0.28f, 0.35f, Path.Combine(outDir, "tta-predictions.png"));

// ---- Random erasing and random copying ------------------------------------------------------------------------------------------
Section("Random erase and random copy (pct 0.2, up to 4 blocks)");
var erase = Transforms.Compose(new RandomCrop(28, padding: 1), new RandomHorizontalFlip(), new RandErase(0.2, 4));
var copy = Transforms.Compose(new RandomCrop(28, padding: 1), new RandomHorizontalFlip(), new RandCopy(0.2, 4));
var sample = trainDs.X[..16];
var erased = new RandErase(0.2, 4).Apply(sample, new Generator(1));
var copied = new RandCopy(0.2, 4).Apply(sample, new Generator(1));
Console.WriteLine($"batch before: mean {sample.Mean().Item():F3}, std {sample.Std().Item():F3}, min {sample.Min().Item():F2}, max {sample.Max().Item():F2}; " +
                  $"after RandErase: mean {erased.Mean().Item():F3}, std {erased.Std().Item():F3}, min {erased.Min().Item():F2}, max {erased.Max().Item():F2} (clamped to the batch's range)");
ImageGrid.Save(erased, Path.Combine(outDir, "rand-erase.png"));
ImageGrid.Save(copied, Path.Combine(outDir, "rand-copy.png"));
Console.WriteLine($"-- {augModel} with crop + flip + RandErase, 50 epochs, lr 2e-2 (lesson: 0.946, the best result)");
Tensor.ManualSeed(42);
var eraseLearn = MakeLearner(FashionModels.Create(augModel), 2e-2, (ps, lr) => new AdamW(ps, lr), AugCallback(erase));
eraseLearn.FitOneCycle(E(50), maxLr: 2e-2);
double eraseAcc = LastAccuracy(eraseLearn);
var (eraseTta, eraseTargets) = Tta.Predict(Quiet(eraseLearn));
Console.WriteLine($"RandErase model: {eraseAcc:F4}, with TTA {Accuracy.Compute(eraseTta, eraseTargets):F4}");

// ---- Ensembling -------------------------------------------------------------------------------------------------------------------
Section("Ensemble: two RandCopy models (25 epochs each), predictions averaged");
var copyLearners = new List<Learner>();
for (int i = 0; i < 2; i++)
{
    Console.WriteLine($"-- RandCopy model {i + 1}");
    Tensor.ManualSeed(1 + i);
    var l = MakeLearner(FashionModels.Create(augModel), 1e-2, (ps, lr) => new AdamW(ps, lr), AugCallback(copy));
    l.FitOneCycle(E(25), maxLr: 1e-2);
    copyLearners.Add(l);
}
var copyAccs = copyLearners.Select(LastAccuracy).ToArray();
var (ensPreds, ensTargets) = Tta.Ensemble([.. copyLearners.Select(Quiet)]);
Console.WriteLine($"models {copyAccs[0]:F4} and {copyAccs[1]:F4} (lesson 0.941, 0.940); " +
                  $"ensemble {Accuracy.Compute(ensPreds, ensTargets):F4} (lesson 0.944, notebook 0.947)");
Console.WriteLine($"\nPictures written to {outDir}");

// ---- helpers ---------------------------------------------------------------------------------------------------------------------
Learner MakeLearner(Module model, double lr, Func<IEnumerable<Tensor>, double, Optimizer> opt, Callback? extra = null, bool progress = true)
{
    var cbs = new List<Callback> { new MetricsCallback(new Accuracy()), new Recorder() };
    if (progress) cbs.Add(new ProgressCallback());
    else cbs[0] = new MetricsCallback(new Accuracy()) { Log = null };
    if (extra != null) cbs.Add(extra);
    return new TrainLearner(model, dls, (p, y) => F.CrossEntropy(p, y), lr, cbs, opt);
}

// Removes the progress table and the metrics' printing (for prediction passes, which are fits too).
static Learner Quiet(Learner learn)
{
    if (learn.Get<ProgressCallback>() is { } progress) learn.Remove(progress);
    learn.Get<MetricsCallback>()!.Log = null;
    return learn;
}

static double LastAccuracy(Learner learn) => learn.Get<Recorder>()!.Values[^1][2];
static TensorDataset Subset(TensorDataset ds, int n) => ds.Subset([.. Tensor.RandPerm(ds.Count)[..n].ToIntArray()]);
static void Section(string title) => Console.WriteLine($"\n== {title} ==");
static string Shape(Tensor t) => "[" + string.Join(", ", t.Shape) + "]";
static string ExamplesDir([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
