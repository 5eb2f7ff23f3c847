using Kiln.Kernels;
using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Kiln.Bench;

/// <summary>
/// One small GEMM: C[m,n] = op(A)[m,k] · op(B)[k,n], A stored as (transA ? k x m : m x k), B as (transB ? n x k : k x n),
/// all contiguous row-major. Label names the training step it stands for.
/// </summary>
sealed record SmallShape(string Label, bool TransA, bool TransB, int M, int N, int K)
{
    public string Form => $"{(TransA ? "T" : "N")}{(TransB ? "T" : "N")}";

    /// <summary>
    /// Lesson 8 and the MLP 784-50-ReLU-10 training steps. Linear layout W [out,in]: forward y = x·Wᵀ (NT),
    /// dX = dY·W (NN), dW = dYᵀ·X (TN). [in,out] layout: forward x·W (NN), dX = dY·Wᵀ (NT), dW = Xᵀ·dY (TN).
    /// Batch 64 gets both layouts; batches 1, 8, 16 the Linear layout.
    /// </summary>
    public static SmallShape[] All()
    {
        var list = new List<SmallShape> { new("lesson 8 (5x784)@(784x10)", false, false, 5, 10, 784) };
        foreach (int bs in new[] { 64, 16, 8, 1 })
        {
            list.Add(new($"b{bs} fc1 fwd x·W1ᵀ", false, true, bs, 50, 784));
            list.Add(new($"b{bs} fc2 fwd h·W2ᵀ", false, true, bs, 10, 50));
            list.Add(new($"b{bs} fc2 dX dy·W2", false, false, bs, 50, 10));
            list.Add(new($"b{bs} fc2 dW dyᵀ·h", true, false, 10, 50, bs));
            list.Add(new($"b{bs} fc1 dX dh·W1", false, false, bs, 784, 50));
            list.Add(new($"b{bs} fc1 dW dhᵀ·x", true, false, 50, 784, bs));
            if (bs != 64) continue;
            list.Add(new($"b{bs} [in,out] fc1 fwd x·W1", false, false, bs, 50, 784));
            list.Add(new($"b{bs} [in,out] fc2 fwd h·W2", false, false, bs, 10, 50));
            list.Add(new($"b{bs} [in,out] fc2 dX dy·W2ᵀ", false, true, bs, 50, 10));
            list.Add(new($"b{bs} [in,out] fc2 dW hᵀ·dy", true, false, 50, 10, bs));
            list.Add(new($"b{bs} [in,out] fc1 dX dh·W1ᵀ", false, true, bs, 784, 50));
            list.Add(new($"b{bs} [in,out] fc1 dW xᵀ·dh", true, false, 784, 50, bs));
        }
        return list.ToArray();
    }
}

/// <summary>Kiln's Gemm.Sgemm and TorchSharp (matmul on transposed views, and addmm_ into a preallocated output) on the same data.</summary>
sealed class SmallCase : IDisposable
{
    public readonly SmallShape S;
    readonly float[] _a, _b, _c;
    readonly int _lda, _ldb;
    readonly TTensor _ta, _tb, _taOp, _tbOp, _tout;

    public SmallCase(SmallShape s, int seed = 3)
    {
        S = s;
        var rng = new Random(seed);
        int aRows = s.TransA ? s.K : s.M, aCols = s.TransA ? s.M : s.K;
        int bRows = s.TransB ? s.N : s.K, bCols = s.TransB ? s.K : s.N;
        _lda = aCols; _ldb = bCols;
        _a = Fill(new float[aRows * aCols], rng);
        _b = Fill(new float[bRows * bCols], rng);
        _c = new float[s.M * s.N];
        _ta = torch.tensor(_a, new long[] { aRows, aCols });
        _tb = torch.tensor(_b, new long[] { bRows, bCols });
        _taOp = s.TransA ? _ta.t() : _ta.alias();
        _tbOp = s.TransB ? _tb.t() : _tb.alias();
        _tout = torch.empty(s.M, s.N);
    }

    static float[] Fill(float[] x, Random rng)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    public void Kiln() => Gemm.Sgemm(S.TransA, S.TransB, S.M, S.N, S.K, _a, _lda, _b, _ldb, _c, S.N);

    public void TorchMatmul()
    {
        using var r = torch.matmul(_taOp, _tbOp);
    }

    public void TorchOut() => _tout.addmm_(_taOp, _tbOp, beta: 0, alpha: 1);

    public double RelDiff()
    {
        Kiln();
        using var r = torch.matmul(_taOp, _tbOp);
        var t = r.contiguous().data<float>().ToArray();
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < t.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(_c[i] - t[i]));
            maxAbs = Math.Max(maxAbs, Math.Abs(t[i]));
        }
        return maxDiff / Math.Max(maxAbs, 1e-30);
    }

    public void Dispose()
    {
        _ta.Dispose(); _tb.Dispose(); _taOp.Dispose(); _tbOp.Dispose(); _tout.Dispose();
    }
}

static class SmallBench
{
    /// <summary>Seconds of timed calls per contestant in this mode unless --time is given (the calls are microseconds long).</summary>
    public const double DefaultSeconds = 0.3;

    public static int Run(int[] threads, string? filter)
    {
        Console.WriteLine();
        Console.WriteLine("Small/skinny GEMM (lesson 8, MLP 784-50-ReLU-10 training steps), fp32, row-major, contiguous operands. " +
                          "Time per call in µs: median (best).");
        Console.WriteLine($"Timing: warm-up, then interleaved chunks until >= {Measure.TargetSeconds:0.##} s and >= {Measure.MinReps} calls per contestant.");
        Console.WriteLine("form: N/T = op(A), op(B) not transposed / transposed (torch gets a .t() view, no copy). torch.matmul allocates its result; " +
                          "torch out= is out.addmm_(a, b, beta:0, alpha:1).");
        Console.WriteLine("ratio = the faster torch median / Kiln median (> 1: Kiln faster).  rel.diff = max|Kiln - torch.matmul| / max|torch|.");
        bool allOk = true;
        var shapes = SmallShape.All().Where(s => filter is null || s.Label.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToArray();
        foreach (int t in threads)
        {
            Env.SetThreads(t);
            Console.WriteLine();
            Console.WriteLine($"threads = {t} (Kiln Threading.Threads = {Threading.Threads}, torch.get_num_threads() = {get_num_threads()})");
            Console.WriteLine();
            Console.WriteLine("| step | form | m x n x k | threads | Kiln µs | torch.matmul µs | torch out= µs | ratio | rel.diff |");
            Console.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|");
            double logSum = 0, worst = double.PositiveInfinity;
            foreach (var s in shapes)
            {
                using var sc = new SmallCase(s);
                var kiln = new Contestant("Kiln", sc.Kiln);
                var mm = new Contestant("torch.matmul", sc.TorchMatmul);
                var outc = new Contestant("torch out=", sc.TorchOut);
                Measure.Run(kiln, mm, outc);
                double rel = sc.RelDiff();
                bool ok = rel < 1e-4;
                allOk &= ok;
                double ratio = Math.Min(mm.Median, outc.Median) / kiln.Median;
                logSum += Math.Log(ratio);
                worst = Math.Min(worst, ratio);
                static string U(double sec) => $"{sec * 1e6:0.00}";
                Console.WriteLine($"| {s.Label} | {s.Form} | {s.M}x{s.N}x{s.K} | {t} | {U(kiln.Median)} ({U(kiln.Best)}) | {U(mm.Median)} ({U(mm.Best)}) | " +
                                  $"{U(outc.Median)} ({U(outc.Best)}) | {ratio:0.00}x | {rel:0.0e+0}{(ok ? "" : " MISMATCH")} |");
            }
            if (shapes.Length > 0)
                Console.WriteLine($"\nthreads = {t}: geometric-mean ratio {Math.Exp(logSum / shapes.Length):0.00}x, lowest {worst:0.00}x over {shapes.Length} shapes");
        }
        if (!allOk) Console.WriteLine("\nERROR: Kiln and TorchSharp disagree on at least one shape (rel.diff >= 1e-4).");
        return allOk ? 0 : 1;
    }
}
