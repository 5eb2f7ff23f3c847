using System.CommandLine;
using System.Diagnostics;
using Kiln.Cli.Training;
using Kiln.Data;
using Kiln.Kernels;
using Kiln.Models;
using Kiln.Nn;
using Kiln.Optim;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>
/// `kiln bench`: Kiln's side of the benchmarks on this machine (GEMM, issue 4's conv layers, BatchNorm/pooling, a training
/// step of each lesson-18 model, the augmented data loader). The side-by-side comparison with TorchSharp lives in bench/.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var threads = new Option<int>("--threads") { Description = "Kernel threads (default: all cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var seconds = new Option<double>("--seconds") { Description = "Timed seconds per measurement (after warm-up).", DefaultValueFactory = _ => 1.0 };
        var models = new Option<string>("--models") { Description = "Models whose training step is timed (comma-separated, or none).", DefaultValueFactory = _ => "cnn,deeper,model4" };
        var cmd = new Command("bench", "Time Kiln's kernels, layers, training steps and data loader on this machine.") { threads, seconds, models };
        cmd.SetAction(pr => Run(pr.GetValue(threads), pr.GetValue(seconds), pr.GetValue(models)!));
        return cmd;
    }

    /// <summary>Median seconds per call of f: a warm-up call, then calls until the budget is spent (at least 3).</summary>
    public static double Median(Action f, double budget)
    {
        f();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 3 || (total.Elapsed.TotalSeconds < budget && times.Count < 1000))
        {
            var sw = Stopwatch.StartNew();
            f();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    static int Run(int threads, double budget, string modelList)
    {
        if (threads < 1) throw new ArgumentException($"--threads must be at least 1, got {threads}");
        if (!(budget > 0)) throw new ArgumentException($"--seconds must be positive, got {budget}");
        Threading.Threads = threads;
        Tensor.ManualSeed(0);
        AnsiConsole.MarkupLine($"[bold]kiln bench[/]: {threads} thread(s), {Environment.ProcessorCount} core(s), median of timed calls (~{budget:0.#} s each)");

        var gemm = new Table().AddColumns("GEMM (fp32)", "time", "GFLOPS");
        foreach (int n in new[] { 256, 1024 })
        {
            var a = Tensor.Randn(n, n);
            var b = Tensor.Randn(n, n);
            double s = Median(() => a.MatMul(b), budget);
            gemm.AddRow($"{n} x {n} x {n}", Ms(s), $"{2.0 * n * n * n / s / 1e9:F0}");
        }
        AnsiConsole.Write(gemm);

        var layers = new Table().AddColumns("layer, batch 256", "forward", "forward + backward");
        (string Name, Module Layer, int[] Input)[] cases =
        [
            ("(a) conv 1->16 k5 s1 p2, 28x28", new Conv2d(1, 16, 5, 1, 2), [256, 1, 28, 28]),
            ("(b) conv 16->32 k3 s2 p1, 28x28", new Conv2d(16, 32, 3, 2, 1), [256, 16, 28, 28]),
            ("(c) conv 64->128 k3 s2 p1, 7x7", new Conv2d(64, 128, 3, 2, 1), [256, 64, 7, 7]),
            ("(d) conv 16->16 k5 s1 p2, 28x28", new Conv2d(16, 16, 5, 1, 2), [256, 16, 28, 28]),
            ("(e) conv 128->256 k3 s2 p1, 4x4", new Conv2d(128, 256, 3, 2, 1), [256, 128, 4, 4]),
            ("BatchNorm2d(16), 28x28", new BatchNorm2d(16), [256, 16, 28, 28]),
            ("AvgPool2d(2, ceil), 16x28x28", new AvgPool2d(2, ceilMode: true), [256, 16, 28, 28]),
        ];
        foreach (var (name, layer, shape) in cases)
        {
            var x = Tensor.Randn(shape);
            double fwd;
            using (Autograd.NoGrad()) fwd = Median(() => layer.Call(x), budget);
            var xg = x.Clone().RequiresGradInPlace();
            double both = Median(() =>
            {
                layer.Call(xg).Sum().Backward();
                xg.Grad = null;
                foreach (var p in layer.Parameters()) p.Grad = null;
            }, budget);
            layers.AddRow(name, Ms(fwd), Ms(both));
        }
        AnsiConsole.Write(layers);

        var steps = new Table().AddColumns("training step, batch 1024 (AdamW)", "time per step", "images/s", "epoch of 60,000");
        foreach (var name in modelList.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (name == "none") continue;
            var model = FashionModels.Create(name);
            var opt = new AdamW(model.Parameters(), 1e-3);
            var x = Tensor.Randn(1024, 1, 28, 28);
            var y = Tensor.RandInt(0, 10, [1024]);
            double s = Median(() =>
            {
                F.CrossEntropy(model.Call(x), y).Backward();
                opt.Step();
                opt.ZeroGrad();
            }, budget);
            steps.AddRow(name, Ms(s), $"{1024 / s:N0}", $"{s * 60000 / 1024:0.0} s");
        }
        if (steps.Rows.Count > 0) AnsiConsole.Write(steps);

        var data = new Table().AddColumns("data loader, 60,000 images, batch 1024", "batches/s");
        var images = new TensorDataset(Tensor.Rand(60000, 1, 28, 28), Tensor.RandInt(0, 10, [60000]));
        foreach (int workers in new[] { 0, 1 })
        {
            var dl = new DataLoader(images, 1024, shuffle: true, seed: 1, workers: workers,
                batchTransform: TrainJob.Augmentation(["crop", "flip"]));
            int batches = 0;
            var sw = Stopwatch.StartNew();
            foreach (var _ in dl) batches++;
            data.AddRow($"shuffled, crop + flip, {workers} worker(s)", $"{batches / sw.Elapsed.TotalSeconds:0.0}");
        }
        AnsiConsole.Write(data);
        return 0;
    }

    static string Ms(double seconds) => seconds < 1e-3 ? $"{seconds * 1e6:0.0} µs" : $"{seconds * 1e3:0.00} ms";
}
