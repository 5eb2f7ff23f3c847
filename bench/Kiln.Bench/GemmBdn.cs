using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Kiln.Bench;

/// <summary>
/// BenchmarkDotNet view of the same comparison (run: <c>-- bdn</c>): GEMM 1024 and one skinny shape, Kiln vs TorchSharp,
/// 2 threads. In-process toolchain, so the patched libLibTorchSharp.so in this build output is the one loaded.
/// </summary>
[Config(typeof(Cfg))]
public class GemmBdn
{
    sealed class Cfg : ManualConfig
    {
        public Cfg()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(15));
        }
    }

    GemmCase _case = null!;

    [Params("1024", "(1024x784)@(784x50)")]
    public string Shape { get; set; } = "1024";

    [GlobalSetup]
    public void Setup()
    {
        Env.SetThreads(2);
        _case = new GemmCase(GemmShape.All.Single(s => s.Label == Shape));
    }

    [GlobalCleanup]
    public void Cleanup() => _case.Dispose();

    [Benchmark(Baseline = true)]
    public void Kiln() => _case.Kiln();

    [Benchmark]
    public void TorchMatmul() => _case.TorchMatmul();

    [Benchmark]
    public void TorchOut() => _case.TorchOut();
}
