using System.Diagnostics;
using Kiln.Data;
using Kiln.Nn;
using Kiln.Optim;

namespace Kiln.Bench;

/// <summary>
/// Issue 5's loader benchmark: batches per second of shuffled Fashion-MNIST training batches of 1024 ([1024,1,28,28] +
/// labels; 59 per pass) built by Kiln's DataLoader alone (the consumer only touches each batch), normalised (mean 0.28, std 0.35)
/// and augmented as lesson 18 does on the batch, with 0, 1 and 2 workers. Each configuration runs one warm-up pass, then
/// <see cref="Passes"/> timed passes; the median pass is reported, with the process CPU time per batch (all threads), which
/// other processes' load distorts much less than wall time.
/// </summary>
static class DataBench
{
    const int BatchSize = 1024;

    /// <summary>Timed passes per configuration.</summary>
    public static int Passes = 5;

    public static int Run()
    {
        var sw = Stopwatch.StartNew();
        var data = Datasets.Get("fashion-mnist");
        Console.WriteLine($"\nFashion-MNIST loaded in {sw.Elapsed.TotalSeconds:0.00} s: train {Shapes(data.Train.X)}, labels {Shapes(data.Train.Y)}");
        var norm = new Normalize(0.28f, 0.35f);
        var augs = new (string Name, ITransform? T)[]
        {
            ("none (gather only)", null),
            ("normalize", norm),
            ("normalize + crop(pad 1) + flip", Transforms.Compose(norm, new RandomCrop(28, 1), new RandomHorizontalFlip())),
            ("normalize + per-item crop + flip", Transforms.Compose(norm, new RandomCrop(28, 1, perItem: true), new RandomHorizontalFlip(perItem: true))),
            ("normalize + crop + flip + RandErase", Transforms.Compose(norm, new RandomCrop(28, 1), new RandomHorizontalFlip(), new RandErase())),
            ("normalize + crop + flip + RandCopy", Transforms.Compose(norm, new RandomCrop(28, 1), new RandomHorizontalFlip(), new RandCopy())),
        };
        PerTransform(data.Train, norm);
        Console.WriteLine($"\n{"batch transform",-38} {"workers",7} {"batches/s",10} {"ms/batch",9} {"images/s",10} {"CPU ms/batch",13}");
        foreach (var (name, t) in augs)
            foreach (int workers in new[] { 0, 1, 2 })
            {
                var dl = new DataLoader(data.Train, BatchSize, shuffle: true, seed: 42, workers: workers, batchTransform: t);
                Pass(dl); // warm-up (JIT, thread start)
                var times = new List<(double Wall, double Cpu)>();
                for (int p = 0; p < Passes; p++) times.Add(Pass(dl));
                times.Sort();
                var (sec, cpu) = times[times.Count / 2];
                double bps = dl.Count / sec;
                Console.WriteLine($"{name,-38} {workers,7} {bps,10:0.0} {1000 / bps,9:0.00} {bps * BatchSize,10:0} {1000 * cpu / dl.Count,13:0.00}");
            }
        Training(data.Train, Transforms.Compose(norm, new RandomCrop(28, 1), new RandomHorizontalFlip()));
        return 0;
    }

    /// <summary>
    /// Data time inside a training loop: an MLP 784-256-ReLU-10 (SGD, cross-entropy) trains on the augmented batches; the
    /// time the loop spends in MoveNext (waiting for or building the next batch) is reported as a share of the pass.
    /// </summary>
    static void Training(TensorDataset train, ITransform aug)
    {
        Console.WriteLine($"\n{"training MLP 784-256-10 on crop+flip batches",-46} {"workers",7} {"step ms",8} {"data ms",8} {"data %",7}");
        foreach (int workers in new[] { 0, 1, 2 })
        {
            Tensor.ManualSeed(1);
            var model = new Sequential(new Linear(784, 256), new ReLU(), new Linear(256, 10));
            var opt = new SGD(model.Parameters(), 0.1f);
            var dl = new DataLoader(train, BatchSize, shuffle: true, seed: 42, workers: workers, batchTransform: aug);
            double data = 0, total = 0;
            int steps = 0;
            for (int pass = 0; pass < 3; pass++)
            {
                var sw = Stopwatch.StartNew();
                using var e = dl.GetEnumerator();
                while (true)
                {
                    long t0 = sw.ElapsedTicks;
                    if (!e.MoveNext()) break;
                    double d = (sw.ElapsedTicks - t0) / (double)Stopwatch.Frequency;
                    var b = e.Current;
                    var loss = F.CrossEntropy(model.Call(b.X.View(b.Size, 784)), b.Y);
                    loss.Backward();
                    opt.Step();
                    opt.ZeroGrad();
                    if (pass > 0) { data += d; steps++; } // pass 0 warms up
                }
                if (pass > 0) total += sw.Elapsed.TotalSeconds;
            }
            Console.WriteLine($"{"",-46} {workers,7} {1000 * total / steps,8:0.00} {1000 * data / steps,8:0.00} {100 * data / total,6:0.0}%");
        }
    }

    /// <summary>Milliseconds (wall) per Apply of each transform alone on one [1024,1,28,28] batch (median of 21 runs).</summary>
    static void PerTransform(TensorDataset train, Normalize norm)
    {
        var x = train.Gather(Enumerable.Range(0, BatchSize).ToArray()).X;
        var ts = new (string, ITransform)[]
        {
            ("Normalize", norm), ("RandomCrop(28, pad 1)", new RandomCrop(28, 1)), ("RandomCrop per item", new RandomCrop(28, 1, perItem: true)),
            ("RandomHorizontalFlip", new RandomHorizontalFlip(p: 1)), ("RandomResizedCrop(28)", new RandomResizedCrop(28)),
            ("RandErase", new RandErase()), ("RandCopy", new RandCopy()),
        };
        Console.WriteLine($"\n{"transform alone on [1024,1,28,28]",-38} {"ms",7}");
        var g = new Generator(1);
        foreach (var (name, t) in ts)
        {
            var times = new List<double>();
            for (int i = 0; i < 21; i++)
            {
                var sw = Stopwatch.StartNew();
                t.Apply(x, g);
                times.Add(sw.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            Console.WriteLine($"{name,-38} {times[10],7:0.00}");
        }
    }

    /// <summary>Wall seconds and process CPU seconds (all threads) of one pass.</summary>
    static (double Wall, double Cpu) Pass(DataLoader dl)
    {
        double checksum = 0;
        var proc = Process.GetCurrentProcess();
        var cpu0 = proc.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        foreach (var b in dl) checksum += b.Y.Size(0);
        double s = sw.Elapsed.TotalSeconds;
        proc.Refresh();
        double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
        if (checksum != 60000) throw new InvalidOperationException($"DataBench: a pass yielded {checksum} items, expected 60000");
        return (s, cpu);
    }

    static string Shapes(Tensor t) => "[" + string.Join(",", t.Shape) + "]";
}
