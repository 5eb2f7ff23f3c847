using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Kiln.Data;
using Kiln.Models;
using Kiln.Optim;
using TorchSharp;
using static TorchSharp.torch;
using KTensor = Kiln.Tensor;
using TTensor = TorchSharp.torch.Tensor;

namespace Kiln.Bench;

/// <summary>
/// Issue 8's end-to-end benchmark: one epoch of Fashion-MNIST through get_model4 (1,224,948 parameters) at batch 1024
/// with AdamW and 1cycle, then validation on the test set, Kiln vs TorchSharp. Each library runs in its own child
/// process (this program re-invoked with the hidden mode epoch-side), so each has its own peak RSS.
/// </summary>
/// <remarks>
/// Both sides get the same work, as <c>kiln train --model model4 --lr 0.01 --epochs 1</c> does it:
/// <list type="bullet">
/// <item>data: Kiln's Fashion-MNIST reader, normalised as kiln train does ((x - 0.28) / 0.35, in Kiln), held as float
/// arrays; one shuffled order (fixed seed) used by both; 59 batches of 1024 with the last partial batch of 608 kept
/// (kiln train's loader does not drop it); validation over the test set in order, in batches of 1024 (kiln train's are
/// 2048), eval mode, no grad; batches are gathered on the training thread on both sides (kiln train collates on one
/// background worker);</item>
/// <item>model: Kiln's FashionModels model4 initialised from seed 42 as kiln train does (Kaiming normal a = 0.1, zeroed
/// last BatchNorm weight in each ResBlock); TorchSharp's copy (TrainStepBench.TorchModel) gets those same initial
/// weights, copied by state-dict name, so both start from one point;</item>
/// <item>optimiser: AdamW lr 0.01, betas (0.9, 0.999), eps 1e-8, decoupled weight decay 0.01 (kiln train's; TorchSharp's
/// AdamW defaults weight decay to 0, so everything is passed explicitly); OneCycleLR over the epoch's steps with the
/// defaults both libraries share (pct_start 0.3, cosine, div 25, final div 1e4, beta1 cycled 0.95 -> 0.85 -> 0.95),
/// stepped after every batch; cross-entropy loss;</item>
/// <item>a training step: gather the batch rows, make the input tensors, forward, loss, backward, optimiser step, zero
/// grad, scheduler step, read the loss value; TorchSharp's step runs in a DisposeScope so no tensor outlives it.</item>
/// </list>
/// Times are wall-clock over whole passes, first step (JIT, warm-up) included, as a user's epoch would see them. Peak
/// RSS is VmHWM, reset (/proc/self/clear_refs) after the data are loaded and the model built, so it covers training and
/// validation plus what was resident then (the data arrays, about 220 MiB on both sides, and the runtimes).
/// </remarks>
static class EpochBench
{
    const string Model = "model4";
    const int Batch = 1024, ValidBatch = 1024, Pixels = 784, ModelSeed = 42, ShuffleSeed = 2026, FullTrain = 60_000;
    const double MaxLr = 0.01, WeightDecay = 0.01, Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
    const float Mean = 0.28f, Std = 0.35f; // kiln train's normalisation (Kiln.Cli's TrainJob.Mean/Std; the bench does not reference the CLI)

    /// <summary>What one side measured; the child prints it as one JSON line.</summary>
    public sealed record SideResult(string Library, int Threads, int TrainImages, int Steps, double TrainSeconds, double FirstStepSeconds,
        float FirstLoss, float TrainLoss, int ValidImages, double ValidSeconds, double ValidLoss, double ValidAccuracy,
        double RssBeforeMiB, double PeakRssMiB, bool PeakReset, double GcCommittedMaxMiB, int Gen0, int Gen1, int Gen2, bool LibTorchLoaded)
    {
        public double TrainIps => TrainImages / TrainSeconds;
        public double ValidIps => ValidImages / ValidSeconds;
    }

    sealed class EpochData
    {
        public required float[] X, ValidX;  // normalised rows, [n*784]
        public required int[] Y, ValidY;
        public required int[] Order;        // the epoch's shuffled row order, shared by both sides
        public int N => Y.Length;
        public int ValidN => ValidY.Length;
        public int Steps => (N + Batch - 1) / Batch;
    }

    // ---------------- parent: checks, the two children, the table ----------------

    /// <summary>Runs the checks, then TorchSharp's and Kiln's child, and prints the table.</summary>
    public static int Run(int threads, int limit)
    {
        int steps = ((limit > 0 ? Math.Min(limit, FullTrain) : FullTrain) + Batch - 1) / Batch;
        Console.WriteLine($"\n## One epoch of Fashion-MNIST, get_model4, batch {Batch}, AdamW + 1cycle (max lr {MaxLr}), {threads} thread(s)" +
                          (limit > 0 ? $" (--limit {limit}: first {limit} rows of each split)" : ""));
        Env.SetThreads(threads);
        CheckModel();
        CheckSchedule(steps);

        var torchRes = RunChild("torch", threads, limit);
        var kilnRes = RunChild("kiln", threads, limit);

        Console.WriteLine();
        Console.WriteLine("| library | threads | train s | train images/s | valid s | valid images/s | RSS before MiB | peak RSS MiB | " +
                          "GC committed max MiB | train loss (last 10) | valid loss | valid accuracy | Kiln speed-up train / valid |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in new[] { torchRes, kilnRes })
        {
            string speedup = r == kilnRes ? $"{kilnRes.TrainIps / torchRes.TrainIps:0.00}x / {kilnRes.ValidIps / torchRes.ValidIps:0.00}x" : "";
            Console.WriteLine($"| {r.Library} | {r.Threads} | {r.TrainSeconds:0.0} | {r.TrainIps:0.0} | {r.ValidSeconds:0.00} | {r.ValidIps:0} | " +
                              $"{r.RssBeforeMiB:0} | {r.PeakRssMiB:0} | {r.GcCommittedMaxMiB:0} | {r.TrainLoss:0.000} | {r.ValidLoss:0.000} | {r.ValidAccuracy:P2} | {speedup} |");
        }
        foreach (var r in new[] { torchRes, kilnRes })
            Console.WriteLine($"{r.Library}: {r.TrainImages:N0} training images in {r.Steps} steps (first step {r.FirstStepSeconds:0.00} s), " +
                              $"loss {r.FirstLoss:0.000} at step 1; {r.ValidImages:N0} validation images; GCs gen0/1/2 {r.Gen0}/{r.Gen1}/{r.Gen2}" +
                              (r.PeakReset ? "" : "; VmHWM could not be reset, so the peak includes data loading") +
                              (r.Library == "Kiln" && r.LibTorchLoaded ? "; WARNING: libtorch was loaded in Kiln's process" : ""));
        if (torchRes.Steps != kilnRes.Steps || torchRes.TrainImages != kilnRes.TrainImages)
            Console.WriteLine("WARNING: the two sides trained on different data sizes");
        Console.WriteLine($"issue 8's targets: Kiln training throughput >= 2x TorchSharp's: {kilnRes.TrainIps / torchRes.TrainIps:0.00}x; " +
                          $"peak RSS <= TorchSharp's: {kilnRes.PeakRssMiB / torchRes.PeakRssMiB:0.00}x; " +
                          $"same accuracy within noise: {kilnRes.ValidAccuracy:P2} vs {torchRes.ValidAccuracy:P2}");
        return 0;
    }

    static SideResult RunChild(string side, int threads, int limit)
    {
        var psi = new ProcessStartInfo { FileName = Environment.ProcessPath!, RedirectStandardOutput = true, UseShellExecute = false };
        // Under `dotnet Kiln.Bench.dll` the process is dotnet and the program is the entry assembly; under the apphost it is the program itself.
        if (Path.GetFileNameWithoutExtension(psi.FileName) == "dotnet") psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var a in new[] { "epoch-side", "--side", side, "--threads", threads.ToString(CultureInfo.InvariantCulture),
                                  "--limit", limit.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        Console.Error.WriteLine($"epoch: starting the {side} child (progress on stderr)");
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"epoch bench: could not start the {side} child");
        string? json = null;
        for (string? line; (line = p.StandardOutput.ReadLine()) != null;)
            if (line.StartsWith('{')) json = line;
            else Console.WriteLine(line);
        p.WaitForExit();
        if (p.ExitCode != 0 || json == null)
            throw new InvalidOperationException($"epoch bench: the {side} child exited with code {p.ExitCode}{(json == null ? " and printed no result" : "")}");
        return JsonSerializer.Deserialize<SideResult>(json) ?? throw new InvalidDataException($"epoch bench: bad result from the {side} child: {json}");
    }

    // Same architecture and same weights give the same logits: model4 without the zeroed residual BatchNorm weights (so
    // every conv contributes), Kiln's weights copied into TorchSharp's model, 8 random images, eval and train mode.
    static void CheckModel()
    {
        var km = FashionModels.Create(Model, new FashionModels.Options(ZeroInitResidual: false, Generator: new Generator(7)));
        var tm = TrainStepBench.TorchModel(Model);
        CopyWeights(km, tm);
        var rng = new Random(7);
        var xs = new float[8 * Pixels];
        for (int i = 0; i < xs.Length; i++) xs[i] = (float)(rng.NextDouble() * 4 - 2);
        var kx = KTensor.FromArray(xs, 8, 1, 28, 28);
        using var tx = torch.tensor(xs, new long[] { 8, 1, 28, 28 });
        double Diff(bool train)
        {
            km.Train(train);
            tm.train(train);
            float[] k, t;
            using (Autograd.NoGrad()) k = km.Call(kx).ToArray();
            using (torch.no_grad())
            using (var o = tm.forward(tx)) t = o.data<float>().ToArray();
            if (k.Length != t.Length) throw new InvalidOperationException($"epoch bench: Kiln gives {k.Length} logits, TorchSharp {t.Length}");
            return k.Zip(t, (a, b) => (double)Math.Abs(a - b)).Max();
        }
        double eval = Diff(false), train = Diff(true);
        long kp = km.Parameters().Sum(p => (long)p.Numel), tp = tm.parameters().Sum(p => p.numel());
        Console.WriteLine($"model check: get_model4 with Kiln's weights copied into TorchSharp's, 8 random images: max |logit difference| " +
                          $"{eval:G2} (eval), {train:G2} (train mode); parameters Kiln {kp:N0}, TorchSharp {tp:N0}");
        if (kp != tp || !(eval < 1e-3 && train < 1e-3)) throw new InvalidOperationException("epoch bench: the two models differ");
        tm.Dispose();
    }

    // Kiln's OneCycleLR on Kiln's AdamW and TorchSharp's on TorchSharp's set the same lr and beta1 at every step.
    static void CheckSchedule(int steps)
    {
        var kopt = new AdamW([KTensor.Zeros(4).RequiresGradInPlace()], MaxLr, Beta1, Beta2, Eps, WeightDecay);
        var ksched = new OneCycleLR(kopt, MaxLr, steps);
        using var tp = new TorchSharp.Modules.Parameter(torch.zeros(4));
        var topt = optim.AdamW([tp], MaxLr, Beta1, Beta2, Eps, WeightDecay);
        var tsched = optim.lr_scheduler.OneCycleLR(topt, MaxLr, total_steps: steps);
        var kg = kopt.ParamGroups[0];
        var tg = topt.ParamGroups.First();
        double dLr = 0, dB1 = 0, peak = 0;
        int peakStep = 0;
        for (int s = 0; s < steps; s++)
        {
            double lr = tg.LearningRate, b1 = ((optim.IBetas)tg).Betas.Item1;
            dLr = Math.Max(dLr, Math.Abs(kg.Lr - lr) / lr);
            dB1 = Math.Max(dB1, Math.Abs(kg.Beta1 - b1));
            if (lr > peak) (peak, peakStep) = (lr, s);
            if (s == 0) Console.Write($"schedule check over {steps} steps: lr {lr:G2}, beta1 {b1:0.00} at step 1; ");
            if (s == steps - 1) Console.Write($"lr {lr:G2}, beta1 {b1:0.00} at step {steps}; ");
            ksched.Step();
            tsched.step();
        }
        Console.WriteLine($"peak lr {peak:G2} at step {peakStep + 1}; max relative lr difference {dLr:G2}, max beta1 difference {dB1:G2}");
        if (!(dLr < 1e-9 && dB1 < 1e-9)) throw new InvalidOperationException("epoch bench: the two schedules differ");
    }

    // ---------------- child: one side ----------------

    /// <summary>The hidden mode epoch-side: loads the data, runs one side's epoch and prints its result as one JSON line.</summary>
    public static int Side(string side, int threads, int limit)
    {
        if (side is not ("kiln" or "torch")) { Console.Error.WriteLine($"epoch-side: --side must be kiln or torch, got '{side}'"); return 2; }
        Kiln.Kernels.Threading.Threads = threads; // Kiln also loads and normalises the data on the torch side
        var data = Load(limit);
        var result = side == "kiln" ? KilnEpoch(data, threads) : TorchEpoch(data, threads);
        Console.WriteLine(JsonSerializer.Serialize(result with { LibTorchLoaded = LibTorchLoaded() }));
        return 0;
    }

    static EpochData Load(int limit)
    {
        var splits = Datasets.Get("fashion-mnist");
        int n = limit > 0 ? Math.Min(limit, splits.Train.Count) : splits.Train.Count;
        int nv = limit > 0 ? Math.Min(limit, splits.Valid.Count) : splits.Valid.Count;
        float[] X(KTensor x, int rows) => ((x.Narrow(0, 0, rows) - Mean) / Std).Contiguous().ToArray();
        int[] Y(KTensor y, int rows) => Array.ConvertAll(y.Narrow(0, 0, rows).Contiguous().ToArray(), v => (int)v);
        var order = Enumerable.Range(0, n).ToArray();
        new Random(ShuffleSeed).Shuffle(order);
        return new EpochData { X = X(splits.Train.X, n), Y = Y(splits.Train.Y, n), ValidX = X(splits.Valid.X, nv), ValidY = Y(splits.Valid.Y, nv), Order = order };
    }

    // Copies the rows of batch `step` (in `order`, or in file order when null) into x (and their labels via label).
    static int Gather(float[] src, int[]? order, int count, int step, int batch, float[] x, Action<int, int> label)
    {
        int start = step * batch, n = Math.Min(batch, count - start);
        for (int i = 0; i < n; i++)
        {
            int row = order != null ? order[start + i] : start + i;
            Array.Copy(src, (long)row * Pixels, x, (long)i * Pixels, Pixels);
            label(i, row);
        }
        return n;
    }

    static int Correct(float[] logits, int[] labels, int offset, int n)
    {
        int correct = 0;
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            for (int c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
            if (best == labels[offset + i]) correct++;
        }
        return correct;
    }

    static void Progress(string side, int step, int steps, float loss, Stopwatch sw)
    {
        if ((step + 1) % 10 == 0 || step == steps - 1)
            Console.Error.WriteLine($"  {side}: step {step + 1}/{steps}, loss {loss:0.000}, {sw.Elapsed.TotalSeconds:0.0} s");
    }

    static SideResult KilnEpoch(EpochData d, int threads)
    {
        var model = FashionModels.Create(Model, new FashionModels.Options(Generator: new Generator(ModelSeed)));
        var opt = new AdamW(model.Parameters(), MaxLr, Beta1, Beta2, Eps, WeightDecay);
        var sched = new OneCycleLR(opt, MaxLr, d.Steps);
        var xb = new Dictionary<int, float[]>();
        var losses = new float[d.Steps];
        var (rssBefore, reset) = ResetPeak();
        var mem = new GcWatch();

        model.Train();
        double first = 0;
        var sw = Stopwatch.StartNew();
        for (int s = 0; s < d.Steps; s++)
        {
            int n = Math.Min(Batch, d.N - s * Batch);
            var xs = Buffer(xb, n * Pixels);
            var ys = new int[n];
            Gather(d.X, d.Order, d.N, s, Batch, xs, (i, row) => ys[i] = d.Y[row]);
            var loss = Nn.F.CrossEntropy(model.Call(KTensor.FromArray(xs, n, 1, 28, 28)), KTensor.FromArray(ys, n));
            loss.Backward();
            opt.Step();
            opt.ZeroGrad();
            sched.Step();
            losses[s] = loss.Item();
            if (s == 0) first = sw.Elapsed.TotalSeconds;
            mem.Sample();
            Progress("Kiln", s, d.Steps, losses[s], sw);
        }
        double trainSec = sw.Elapsed.TotalSeconds;

        model.Eval();
        double lossSum = 0;
        int correct = 0;
        sw.Restart();
        using (Autograd.NoGrad())
            for (int s = 0; s * ValidBatch < d.ValidN; s++)
            {
                int n = Math.Min(ValidBatch, d.ValidN - s * ValidBatch);
                var xs = Buffer(xb, n * Pixels);
                var ys = new int[n];
                Gather(d.ValidX, null, d.ValidN, s, ValidBatch, xs, (i, row) => ys[i] = d.ValidY[row]);
                var logits = model.Call(KTensor.FromArray(xs, n, 1, 28, 28));
                lossSum += (double)Nn.F.CrossEntropy(logits, KTensor.FromArray(ys, n)).Item() * n;
                correct += Correct(logits.ToArray(), d.ValidY, s * ValidBatch, n);
                mem.Sample();
            }
        double validSec = sw.Elapsed.TotalSeconds;
        return Result("Kiln", threads, d, losses, trainSec, first, validSec, lossSum, correct, rssBefore, reset, mem);
    }

    static SideResult TorchEpoch(EpochData d, int threads)
    {
        torch.set_num_threads(threads);
        if (torch.get_num_threads() != threads) throw new InvalidOperationException($"torch.set_num_threads({threads}) left {torch.get_num_threads()} threads");
        var tm = TrainStepBench.TorchModel(Model);
        CopyWeights(FashionModels.Create(Model, new FashionModels.Options(Generator: new Generator(ModelSeed))), tm);
        var opt = optim.AdamW(tm.parameters(), MaxLr, Beta1, Beta2, Eps, WeightDecay);
        var sched = optim.lr_scheduler.OneCycleLR(opt, MaxLr, total_steps: d.Steps);
        var xb = new Dictionary<int, float[]>();
        var yb = new Dictionary<int, long[]>();
        var losses = new float[d.Steps];
        var (rssBefore, reset) = ResetPeak();
        var mem = new GcWatch();

        tm.train();
        double first = 0;
        var sw = Stopwatch.StartNew();
        for (int s = 0; s < d.Steps; s++)
        {
            using var scope = NewDisposeScope();
            int n = Math.Min(Batch, d.N - s * Batch);
            var xs = Buffer(xb, n * Pixels);
            var ys = Buffer(yb, n);
            Gather(d.X, d.Order, d.N, s, Batch, xs, (i, row) => ys[i] = d.Y[row]);
            var loss = nn.functional.cross_entropy(tm.forward(torch.tensor(xs, new long[] { n, 1, 28, 28 })), torch.tensor(ys, new long[] { n }));
            loss.backward();
            opt.step();
            opt.zero_grad();
            sched.step();
            losses[s] = loss.item<float>();
            if (s == 0) first = sw.Elapsed.TotalSeconds;
            mem.Sample();
            Progress("TorchSharp", s, d.Steps, losses[s], sw);
        }
        double trainSec = sw.Elapsed.TotalSeconds;

        tm.eval();
        double lossSum = 0;
        int correct = 0;
        sw.Restart();
        using (torch.no_grad())
            for (int s = 0; s * ValidBatch < d.ValidN; s++)
            {
                using var scope = NewDisposeScope();
                int n = Math.Min(ValidBatch, d.ValidN - s * ValidBatch);
                var xs = Buffer(xb, n * Pixels);
                var ys = Buffer(yb, n);
                Gather(d.ValidX, null, d.ValidN, s, ValidBatch, xs, (i, row) => ys[i] = d.ValidY[row]);
                var logits = tm.forward(torch.tensor(xs, new long[] { n, 1, 28, 28 }));
                lossSum += (double)nn.functional.cross_entropy(logits, torch.tensor(ys, new long[] { n })).item<float>() * n;
                correct += Correct(logits.data<float>().ToArray(), d.ValidY, s * ValidBatch, n);
                mem.Sample();
            }
        double validSec = sw.Elapsed.TotalSeconds;
        return Result("TorchSharp", threads, d, losses, trainSec, first, validSec, lossSum, correct, rssBefore, reset, mem);
    }

    static SideResult Result(string lib, int threads, EpochData d, float[] losses, double trainSec, double first, double validSec,
        double lossSum, int correct, double rssBefore, bool reset, GcWatch mem) =>
        new(lib, threads, d.N, d.Steps, trainSec, first, losses[0], losses[^Math.Min(10, losses.Length)..].Average(), d.ValidN, validSec,
            lossSum / d.ValidN, (double)correct / d.ValidN, rssBefore, Status("VmHWM"), reset, mem.MaxCommittedBytes / 1048576.0,
            GC.CollectionCount(0) - mem.Gen0, GC.CollectionCount(1) - mem.Gen1, GC.CollectionCount(2) - mem.Gen2, false);

    static T[] Buffer<T>(Dictionary<int, T[]> cache, int length) =>
        cache.TryGetValue(length, out var b) ? b : cache[length] = new T[length];

    /// <summary>Copies every parameter and BatchNorm running statistic of Kiln's model into TorchSharp's, matched by state-dict name.</summary>
    static void CopyWeights(Nn.Module kiln, nn.Module<TTensor, TTensor> torchModel)
    {
        var k = kiln.StateDict();
        var t = torchModel.state_dict();
        static bool Counter(string name) => name.EndsWith("num_batches_tracked", StringComparison.Ordinal); // 0 on both sides
        var missing = t.Keys.Where(n => !Counter(n) && !k.ContainsKey(n)).Concat(k.Keys.Where(n => !Counter(n) && !t.ContainsKey(n))).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"epoch bench: state-dict keys on one side only: {string.Join(", ", missing)}");
        using var _ = torch.no_grad();
        foreach (var (name, tt) in t)
        {
            if (Counter(name)) continue;
            var kt = k[name];
            if (!kt.Shape.Select(v => (long)v).SequenceEqual(tt.shape))
                throw new InvalidOperationException($"epoch bench: {name} is [{string.Join(",", kt.Shape)}] in Kiln, [{string.Join(",", tt.shape)}] in TorchSharp");
            using var src = torch.tensor(kt.ToArray(), tt.shape);
            tt.copy_(src);
        }
    }

    // ---------------- process memory ----------------

    // The managed heap's committed memory as of the latest GC, sampled after every batch (the GC keeps no peak of its own),
    // and the collection counts at the start; TorchSharp's tensors live in native memory, so its number stays small.
    sealed class GcWatch
    {
        public readonly int Gen0 = GC.CollectionCount(0), Gen1 = GC.CollectionCount(1), Gen2 = GC.CollectionCount(2);
        public long MaxCommittedBytes { get; private set; } = GC.GetGCMemoryInfo().TotalCommittedBytes;
        public void Sample() => MaxCommittedBytes = Math.Max(MaxCommittedBytes, GC.GetGCMemoryInfo().TotalCommittedBytes);
    }

    // The resident set now, then VmHWM reset to it (Linux: writing 5 to clear_refs), so the peak read later is this phase's.
    internal static (double RssMiB, bool Reset) ResetPeak()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        bool reset;
        try { File.WriteAllText("/proc/self/clear_refs", "5"); reset = true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { reset = false; }
        return (Status("VmRSS"), reset);
    }

    // A memory line of /proc/self/status ("VmHWM:   320472 kB") in MiB; NaN where there is none.
    internal static double Status(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(key + ":", StringComparison.Ordinal))
                    return double.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024;
        }
        catch (IOException) { }
        return double.NaN;
    }

    static bool LibTorchLoaded()
    {
        try { return File.ReadLines("/proc/self/maps").Any(l => l.Contains("libtorch", StringComparison.Ordinal)); }
        catch (IOException) { return false; }
    }
}
