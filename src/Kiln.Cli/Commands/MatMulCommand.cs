using System.CommandLine;
using System.Diagnostics;
using Kiln.Kernels;
using Kiln.Lessons;
using Spectre.Console;

namespace Kiln.Cli.Commands;

/// <summary>`kiln matmul`: lesson 8's matrix-multiply path, from the triple loop to Kiln's GEMM, timed on this machine.</summary>
internal static class MatMulCommand
{
    public static Command Create()
    {
        var threads = new Option<int>("--threads") { Description = "Threads for Kiln's kernels (default: all cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var seed = new Option<int>("--seed") { Description = "Seed for the random matrices.", DefaultValueFactory = _ => 42 };
        var cmd = new Command("matmul", "Lesson 8's matmul variants on 5x784 @ 784x10, checked against the triple loop and timed, then GEMM GFLOPS for square sizes.");
        cmd.Options.Add(threads);
        cmd.Options.Add(seed);
        cmd.SetAction(pr => Run(pr.GetValue(threads), pr.GetValue(seed)));
        return cmd;
    }

    static int Run(int threads, int seed)
    {
        if (threads < 1) throw new ArgumentException($"--threads must be at least 1, got {threads}");
        Threading.Threads = threads;
        Tensor.ManualSeed(seed);
        var a = Tensor.Randn(5, 784);
        var b = Tensor.Randn(784, 10);
        AnsiConsole.MarkupLine($"[bold]Lesson 8: from the foundations[/] - multiplying a [[5,784]] batch by [[784,10]] weights ({threads} thread(s))");

        var reference = MatMulVariants.TripleLoop(a, b);
        var table = new Table().AddColumns("variant", "time per call", "speed-up vs triple loop", "max |diff| vs triple loop");
        double baseline = 0;
        foreach (var (name, run) in MatMulVariants.All)
        {
            double seconds = Median(() => run(a, b));
            if (baseline == 0) baseline = seconds;
            float diff = (run(a, b) - reference).Abs().Max().Item();
            table.AddRow(name, Format(seconds), $"{baseline / seconds:0.##}x", $"{diff:E1}");
        }
        AnsiConsole.Write(table);

        var gemm = new Table().AddColumns("square GEMM", "time", "GFLOPS");
        foreach (int n in new[] { 256, 512, 1024 })
        {
            var x = Tensor.Randn(n, n);
            var y = Tensor.Randn(n, n);
            double s = Median(() => x.MatMul(y));
            gemm.AddRow($"{n} x {n}", Format(s), $"{2.0 * n * n * n / s / 1e9:F1}");
        }
        AnsiConsole.Write(gemm);
        return 0;
    }

    /// <summary>Median wall time of fn over repeated calls (at least 5, up to ~0.3 s), after a warm-up that lets the JIT optimise the hot loops.</summary>
    static double Median(Func<Tensor> fn)
    {
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || (warm.Elapsed.TotalSeconds < 0.2 && i < 200); i++) fn();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 5 || (total.Elapsed.TotalSeconds < 0.3 && times.Count < 1000))
        {
            var sw = Stopwatch.StartNew();
            fn();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    static string Format(double s) => s >= 1e-3 ? $"{s * 1e3:F2} ms" : $"{s * 1e6:F1} us";
}
