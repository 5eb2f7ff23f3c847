using System.Diagnostics;
using Kiln.Bench;

// Kiln benchmark program: Kiln vs TorchSharp (libtorch CPU) on this machine, same process, same run.
//   dotnet run -c Release --project bench/Kiln.Bench -- [gemm|lesson8|all|bdn] [--threads 1,2] [--time SECONDS]
//   gemm (default): GEMM GFLOPS table at 1 and 2 threads; lesson8: MatMulVariants table; all: both;
//   bdn [BenchmarkDotNet args]: the BenchmarkDotNet class (GEMM 1024 and one skinny shape, 2 threads).

string mode = args.Length > 0 && !args[0].StartsWith("--") ? args[0].ToLowerInvariant() : "gemm";
var rest = args.Length > 0 && !args[0].StartsWith("--") ? args[1..] : args;

if (mode == "bdn")
{
    BenchmarkDotNet.Running.BenchmarkSwitcher.FromTypes([typeof(GemmBdn)]).Run(rest.Length > 0 ? rest : ["--filter", "*"]);
    return 0;
}

int[] threads = [1, 2];
for (int i = 0; i < rest.Length; i++)
{
    switch (rest[i])
    {
        case "--threads": threads = rest[++i].Split(',').Select(int.Parse).ToArray(); break;
        case "--time": Measure.TargetSeconds = double.Parse(rest[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown option {rest[i]}"); return 2;
    }
}

if (!Stopwatch.IsHighResolution) Console.WriteLine("warning: Stopwatch is not high-resolution");
var total = Stopwatch.StartNew();
Env.Print();
int rc = 0;
switch (mode)
{
    case "gemm": rc = GemmBench.Run(threads); break;
    case "lesson8": rc = Lesson8Bench.Run(); break;
    case "all": rc = GemmBench.Run(threads) | Lesson8Bench.Run(); break;
    default: Console.Error.WriteLine($"unknown mode '{mode}' (gemm | lesson8 | all | bdn)"); return 2;
}
Console.WriteLine($"\nelapsed {total.Elapsed.TotalSeconds:0.0} s; load avg at end: {Env.LoadAvg()}");
return rc;
