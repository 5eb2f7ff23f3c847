using System.Diagnostics;
using Kiln.Data;
using Kiln.Nn;
using Kiln.Optim;
using TorchSharp;
using static TorchSharp.torch;
using KTensor = Kiln.Tensor;
using TTensor = TorchSharp.torch.Tensor;

namespace Kiln.Bench;

/// <summary>
/// Issue 3's benchmark: one epoch of Fashion-MNIST (60,000 rows, batch 64 → 938 steps, the last one of 32 rows) through an
/// MLP 784-50-ReLU-10 with cross-entropy and SGD lr 0.1, Kiln vs TorchSharp in the same run at the same thread count.
/// Both train from the same initial weights on the same shuffled, normalised rows held in memory; every step is timed
/// alone. Timed region of one step: slicing the batch (a view: Narrow / narrow, no copy), forward, loss, backward,
/// optimizer step, zeroing the gradients, and reading the loss value as a float (as a training loop that logs does).
/// TorchSharp's step also opens and disposes a DisposeScope (how TorchSharp code frees its per-step tensors).
/// </summary>
static class MlpBench
{
    const int In = 784, Hidden = 50, Classes = 10, Batch = 64;
    const float Lr = 0.1f;
    const int InitSeed = 42, ShuffleSeed = 2026;

    /// <summary>Untimed warm-up epochs per contestant, alternating Kiln, TorchSharp, Kiln, ... before the timed ones: .NET's
    /// tiered JIT compiles Kiln's hot methods first quickly, then instrumented, then optimised once they have run ~30 times
    /// and the runtime has seen no new compilation for 100 ms, which happens only in Kiln's second warm-up epoch, after
    /// TorchSharp's first. Measured with one warm-up epoch: Kiln's first timed epoch ran at 2-4x its later step time.</summary>
    const int WarmupEpochs = 2;

    /// <summary>Epochs per contestant per thread count (alternating order); --reps overrides.</summary>
    public static int Reps = 5;

    /// <summary>Run a full blocking GC before each timed epoch (default); --no-collect turns it off to show how Kiln's step depends on the GC heap's state.</summary>
    public static bool CollectBeforeEpoch = true;

    sealed class Data
    {
        public required float[] X;       // [60000*784] normalised, in the epoch's shuffled order
        public required int[] Y;         // [60000]
        public required float[] ValidX;  // [10000*784] normalised test rows
        public required int[] ValidY;
        public int N => Y.Length;
        public int Steps => (N + Batch - 1) / Batch;
        public float Mean, Std;
    }

    sealed record EpochResult(double[] StepSeconds, float[] Losses, double ValidAcc, long AllocBytes, int Gen0, int Gen1, int Gen2, long MinorFaults, double SysSeconds, double GcPauseSeconds)
    {
        public double Total => StepSeconds.Sum();
        public double LateLoss => Losses[^100..].Average();
    }

    static string DataDir => Environment.GetEnvironmentVariable("KILN_FASHION_MNIST") is { Length: > 0 } d ? d : "/usr/share/datasets/fashion-mnist";

    static Data Load()
    {
        string F(string n)
        {
            var p = Path.Combine(DataDir, n);
            if (!File.Exists(p))
                throw new FileNotFoundException($"mlp bench: '{p}' is missing; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` or set KILN_FASHION_MNIST", p);
            return p;
        }
        var (x, y) = Idx.ReadPair(F("train-images-idx3-ubyte.gz"), F("train-labels-idx1-ubyte.gz"));
        var (vx, vy) = Idx.ReadPair(F("t10k-images-idx3-ubyte.gz"), F("t10k-labels-idx1-ubyte.gz"));
        var xs = x.ToArray();
        var ys = y.ToIntArray();
        double sum = 0, sq = 0;
        foreach (var v in xs) { sum += v; sq += (double)v * v; }
        float mean = (float)(sum / xs.Length), std = (float)Math.Sqrt(sq / xs.Length - (sum / xs.Length) * (sum / xs.Length));
        // The epoch's shuffle: one fixed-seed permutation, applied once here (data preparation is not timed).
        int n = ys.Length;
        var perm = Enumerable.Range(0, n).ToArray();
        new Random(ShuffleSeed).Shuffle(perm);
        var sx = new float[xs.Length];
        var sy = new int[n];
        for (int i = 0; i < n; i++)
        {
            int r = perm[i];
            for (int j = 0; j < In; j++) sx[i * In + j] = (xs[r * In + j] - mean) / std;
            sy[i] = ys[r];
        }
        var vxs = vx.ToArray();
        for (int i = 0; i < vxs.Length; i++) vxs[i] = (vxs[i] - mean) / std;
        return new Data { X = sx, Y = sy, ValidX = vxs, ValidY = vy.ToIntArray(), Mean = mean, Std = std };
    }

    // ---------------- Kiln ----------------

    sealed class KilnRun
    {
        public readonly Sequential Model;
        public readonly SGD Opt;
        readonly KTensor _x, _y;

        public KilnRun(Data d, float[][] init, KTensor x, KTensor y)
        {
            var fc1 = new Linear(In, Hidden);
            var fc2 = new Linear(Hidden, Classes);
            using (Autograd.NoGrad())
            {
                fc1.Weight.CopyFrom(KTensor.FromArray(init[0], Hidden, In));
                fc1.Bias!.CopyFrom(KTensor.FromArray(init[1], Hidden));
                fc2.Weight.CopyFrom(KTensor.FromArray(init[2], Classes, Hidden));
                fc2.Bias!.CopyFrom(KTensor.FromArray(init[3], Classes));
            }
            Model = new Sequential(fc1, new ReLU(), fc2);
            Opt = new SGD(Model.Parameters(), Lr);
            _x = x;
            _y = y;
        }

        public float Step(int s)
        {
            int start = s * Batch, len = Math.Min(Batch, _y.Size(0) - start);
            var xb = _x.Narrow(0, start, len);
            var yb = _y.Narrow(0, start, len);
            var loss = F.CrossEntropy(Model.Call(xb), yb);
            loss.Backward();
            Opt.Step();
            Opt.ZeroGrad();
            return loss.Item();
        }

        public double Accuracy(Data d)
        {
            using var _ = Autograd.NoGrad();
            var pred = Model.Call(KTensor.FromArray(d.ValidX, d.ValidY.Length, In)).ArgMax(1).ToIntArray();
            int ok = 0;
            for (int i = 0; i < pred.Length; i++) if (pred[i] == d.ValidY[i]) ok++;
            return ok / (double)pred.Length;
        }
    }

    // ---------------- TorchSharp ----------------

    sealed class TorchRun : IDisposable
    {
        readonly nn.Module<TTensor, TTensor> _model;
        readonly TorchSharp.Modules.Linear _fc1, _fc2;
        readonly TorchSharp.Modules.CrossEntropyLoss _ce;
        readonly optim.Optimizer _opt;
        readonly TTensor _x, _y;
        readonly int _n;

        public TorchRun(float[][] init, TTensor x, TTensor y, int n)
        {
            _fc1 = nn.Linear(In, Hidden);
            _fc2 = nn.Linear(Hidden, Classes);
            using (no_grad())
            {
                _fc1.weight!.copy_(torch.tensor(init[0], new long[] { Hidden, In }));
                _fc1.bias!.copy_(torch.tensor(init[1], new long[] { Hidden }));
                _fc2.weight!.copy_(torch.tensor(init[2], new long[] { Classes, Hidden }));
                _fc2.bias!.copy_(torch.tensor(init[3], new long[] { Classes }));
            }
            _model = nn.Sequential(_fc1, nn.ReLU(), _fc2);
            _ce = nn.CrossEntropyLoss();
            _opt = optim.SGD(_model.parameters(), Lr);
            _x = x;
            _y = y;
            _n = n;
        }

        public float Step(int s)
        {
            using var scope = NewDisposeScope();
            int start = s * Batch, len = Math.Min(Batch, _n - start);
            var xb = _x.narrow(0, start, len);
            var yb = _y.narrow(0, start, len);
            var loss = _ce.forward(_model.forward(xb), yb);
            loss.backward();
            _opt.step();
            _opt.zero_grad();
            return loss.item<float>();
        }

        public double Accuracy(TTensor vx, TTensor vy)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            long ok = _model.forward(vx).argmax(1).eq(vy).sum().item<long>();
            return ok / (double)vy.shape[0];
        }

        public void Dispose()
        {
            _opt.Dispose();
            _model.Dispose();
            _ce.Dispose();
        }
    }

    static EpochResult Epoch(int steps, Func<int, float> step, Func<double> accuracy)
    {
        var t = new double[steps];
        var losses = new float[steps];
        int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
        long a0 = GC.GetTotalAllocatedBytes(precise: false);
        var pause0 = GC.GetTotalPauseDuration();
        var (mf0, sys0) = ProcStat();
        double f = Stopwatch.Frequency;
        for (int s = 0; s < steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            losses[s] = step(s);
            t[s] = (Stopwatch.GetTimestamp() - t0) / f;
        }
        long alloc = GC.GetTotalAllocatedBytes(precise: false) - a0;
        var (mf1, sys1) = ProcStat();
        var r = new EpochResult(t, losses, 0, alloc, GC.CollectionCount(0) - g0, GC.CollectionCount(1) - g1, GC.CollectionCount(2) - g2, mf1 - mf0, sys1 - sys0,
            (GC.GetTotalPauseDuration() - pause0).TotalSeconds);
        return r with { ValidAcc = accuracy() };
    }

    /// <summary>This process's minor page faults and kernel (system) CPU seconds so far, from /proc/self/stat (Linux; zeros elsewhere).</summary>
    public static (long MinorFaults, double SysSeconds) ProcStat()
    {
        try
        {
            var s = File.ReadAllText("/proc/self/stat");
            var f = s[(s.LastIndexOf(')') + 2)..].Split(' ');   // fields from 3 (state) on
            return (long.Parse(f[7]), long.Parse(f[12]) / 100.0);  // field 10 minflt, field 15 stime (clock ticks, 100 Hz)
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { return (0, 0); }
    }

    static float[][] InitialWeights()
    {
        var g = new Generator(InitSeed);
        var fc1 = new Linear(In, Hidden, generator: g);
        var fc2 = new Linear(Hidden, Classes, generator: g);
        return [fc1.Weight.ToArray(), fc1.Bias!.ToArray(), fc2.Weight.ToArray(), fc2.Bias!.ToArray()];
    }

    public static int Run(int[] threadCounts, bool profile)
    {
        var swLoad = Stopwatch.StartNew();
        var d = Load();
        Console.WriteLine($"\n## MLP training step (issue 3): 784-50-ReLU-10, batch {Batch}, cross-entropy, SGD lr {Lr}, one epoch of Fashion-MNIST");
        Console.WriteLine($"data: {DataDir}, {d.N} training rows ({d.Steps} steps, last batch {d.N - (d.Steps - 1) * Batch} rows), " +
                          $"normalised with mean {d.Mean:0.0000} std {d.Std:0.0000}, shuffled with seed {ShuffleSeed}; validation = the {d.ValidY.Length} test rows; " +
                          $"loaded in {swLoad.Elapsed.TotalSeconds:0.0} s (not timed)");
        Console.WriteLine($"same initial weights (Kiln Linear init, seed {InitSeed}) copied into both; {Reps} epoch(s) per contestant per thread count, alternating order; " +
                          $"warm-up: {WarmupEpochs} untimed epochs per contestant on throwaway models, alternating; " +
                          (CollectBeforeEpoch ? "full GC before each timed epoch" : "NO GC before the timed epochs (--no-collect)"));
        var init = InitialWeights();
        var kx = KTensor.FromArray(d.X, d.N, In);
        var ky = KTensor.FromArray(d.Y, d.N);
        using var tx = torch.tensor(d.X, new long[] { d.N, In });
        using var ty = torch.tensor(Array.ConvertAll(d.Y, v => (long)v), new long[] { d.N });
        using var tvx = torch.tensor(d.ValidX, new long[] { d.ValidY.Length, In });
        using var tvy = torch.tensor(Array.ConvertAll(d.ValidY, v => (long)v), new long[] { d.ValidY.Length });

        var rows = new List<string>();
        foreach (int threads in threadCounts)
        {
            Env.SetThreads(threads);
            // warm-up: JIT tiers (Kiln), libtorch's thread pool and allocator (torch); reported, not counted
            var warm = new List<string>();
            for (int e = 0; e < WarmupEpochs; e++)
            {
                var k = new KilnRun(d, init, kx, ky);
                long t0 = Stopwatch.GetTimestamp();
                for (int s = 0; s < d.Steps; s++) k.Step(s);
                double kSec = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                using var t = new TorchRun(init, tx, ty, d.N);
                t0 = Stopwatch.GetTimestamp();
                for (int s = 0; s < d.Steps; s++) t.Step(s);
                double tSec = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                warm.Add($"Kiln {kSec / d.Steps * 1e6:0} / TorchSharp {tSec / d.Steps * 1e6:0}");
            }
            Console.WriteLine($"\nwarm-up epochs, µs/step (untimed in the results): {string.Join("; ", warm)}");
            var kr = new List<EpochResult>();
            var tr = new List<EpochResult>();
            for (int rep = 0; rep < Reps; rep++)
            {
                for (int j = 0; j < 2; j++)
                {
                    bool kilnTurn = (rep % 2 == 0) == (j == 0);
                    if (CollectBeforeEpoch)
                    {
                        GC.Collect();
                        GC.WaitForPendingFinalizers();
                    }
                    if (kilnTurn)
                    {
                        var k = new KilnRun(d, init, kx, ky);
                        kr.Add(Epoch(d.Steps, k.Step, () => k.Accuracy(d)));
                    }
                    else
                    {
                        using var t = new TorchRun(init, tx, ty, d.N);
                        tr.Add(Epoch(d.Steps, t.Step, () => t.Accuracy(tvx, tvy)));
                    }
                }
            }
            Print(threads, kr, tr);
            rows.Add(Row(threads, kr, tr));
            if (profile) MlpProfile.Run(threads, kx, ky, init, d.Steps);
        }
        Console.WriteLine("\nsummary (Markdown):\n");
        Console.WriteLine("| threads | Kiln µs/step mean (median) | TorchSharp µs/step mean (median) | Kiln steps/s | TorchSharp steps/s | Kiln speed-up (mean; median) | final loss Kiln / Torch | valid acc Kiln / Torch |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows) Console.WriteLine(r);
        Console.WriteLine("\nfinal loss = mean training loss over the epoch's last 100 steps (first epoch); valid acc = accuracy on the 10,000 test rows after the epoch.");
        return 0;
    }

    static double Median(IEnumerable<EpochResult> rs) => Stats.Median(rs.SelectMany(r => r.StepSeconds).ToList());
    static double Mean(IEnumerable<EpochResult> rs) => rs.Sum(r => r.Total) / rs.Sum(r => r.StepSeconds.Length);

    static void Print(int threads, List<EpochResult> kr, List<EpochResult> tr)
    {
        Console.WriteLine($"\nthreads = {threads} (Kiln Threading.Threads = {Kiln.Kernels.Threading.Threads}, torch.get_num_threads() = {get_num_threads()})");
        Console.WriteLine("| contestant | epoch | epoch time | µs/step mean | µs/step median | p90 | max | steps/s | loss first → last-100 mean | valid acc | alloc/step | GCs gen0/1/2 | GC pause | page faults/step | kernel CPU |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, rs) in new[] { ("Kiln", kr), ("TorchSharp", tr) })
            for (int i = 0; i < rs.Count; i++)
            {
                var r = rs[i];
                var s = r.StepSeconds.OrderBy(v => v).ToArray();
                double mean = r.Total / s.Length;
                Console.WriteLine($"| {name} | {i + 1} | {r.Total * 1e3:0.0} ms | {mean * 1e6:0.0} | {Stats.Median([.. s]) * 1e6:0.0} | {s[(int)(0.9 * s.Length)] * 1e6:0.0} | " +
                                  $"{s[^1] * 1e6:0} | {1 / mean:0} | {r.Losses[0]:0.000} → {r.LateLoss:0.0000} | {r.ValidAcc:0.0000} | " +
                                  $"{r.AllocBytes / (double)s.Length / 1024:0.0} KiB | {r.Gen0}/{r.Gen1}/{r.Gen2} | {r.GcPauseSeconds * 1e3:0.0} ms | {r.MinorFaults / (double)s.Length:0.0} | {r.SysSeconds / r.Total:0%} |");
            }
        double km = Mean(kr), tm = Mean(tr), kmed = Median(kr), tmed = Median(tr);
        Console.WriteLine($"all epochs: Kiln {km * 1e6:0.0} µs/step mean, {kmed * 1e6:0.0} median; TorchSharp {tm * 1e6:0.0} mean, {tmed * 1e6:0.0} median; " +
                          $"Kiln speed-up {tm / km:0.00}x (mean), {tmed / kmed:0.00}x (median); target ≥ 3x");
        bool kDet = kr.All(r => r.Losses.SequenceEqual(kr[0].Losses));
        double dl = Math.Abs(kr[0].LateLoss - tr[0].LateLoss);
        Console.WriteLine($"Kiln epochs bit-identical: {kDet}; |Δ final loss| Kiln vs torch = {dl:0.0000}; " +
                          $"max |Δ loss| over the first 20 steps = {Enumerable.Range(0, 20).Max(i => Math.Abs(kr[0].Losses[i] - tr[0].Losses[i])):0.0e0}");
    }

    static string Row(int threads, List<EpochResult> kr, List<EpochResult> tr)
    {
        double km = Mean(kr), tm = Mean(tr), kmed = Median(kr), tmed = Median(tr);
        return $"| {threads} | {km * 1e6:0.0} ({kmed * 1e6:0.0}) | {tm * 1e6:0.0} ({tmed * 1e6:0.0}) | {1 / km:0} | {1 / tm:0} | {tm / km:0.00}x; {tmed / kmed:0.00}x | " +
               $"{kr[0].LateLoss:0.0000} / {tr[0].LateLoss:0.0000} | {kr[0].ValidAcc:0.0000} / {tr[0].ValidAcc:0.0000} |";
    }
}
