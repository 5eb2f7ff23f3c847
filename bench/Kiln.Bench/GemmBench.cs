using Kiln.Kernels;
using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Kiln.Bench;

/// <summary>One GEMM problem: C[m,n] = op(A) · B with A stored as rows x cols (transposed when TransA).</summary>
sealed record GemmShape(string Label, int M, int N, int K, bool TransA = false)
{
    public double Flops => 2.0 * M * N * K;
    public int ARows => TransA ? K : M;
    public int ACols => TransA ? M : K;

    public static readonly GemmShape[] All =
    [
        new("128", 128, 128, 128),
        new("256", 256, 256, 256),
        new("512", 512, 512, 512),
        new("1024", 1024, 1024, 1024),
        new("2048", 2048, 2048, 2048),
        new("(1024x784)@(784x50)", 1024, 50, 784),
        new("(50x1024)@(1024x784)", 50, 784, 1024),
        new("(1024x50)T@(1024x784)", 50, 784, 1024, TransA: true),
    ];
}

/// <summary>Kiln's Gemm.Sgemm and TorchSharp's matmul on the same data, timed interleaved.</summary>
sealed class GemmCase : IDisposable
{
    public readonly GemmShape S;
    readonly float[] _a, _b, _c;
    readonly TTensor _ta, _tb, _tout;
    readonly TTensor _taOp;   // op(A) as torch sees it: a transposed view for TransA (no copy)

    public GemmCase(GemmShape s, int seed = 1)
    {
        S = s;
        var rng = new Random(seed);
        _a = Fill(new float[s.ARows * s.ACols], rng);
        _b = Fill(new float[s.K * s.N], rng);
        _c = new float[s.M * s.N];
        _ta = torch.tensor(_a, new long[] { s.ARows, s.ACols });
        _tb = torch.tensor(_b, new long[] { s.K, s.N });
        _taOp = s.TransA ? _ta.t() : _ta.alias();
        _tout = torch.empty(s.M, s.N);
    }

    static float[] Fill(float[] x, Random rng)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>Kiln: C = op(A)·B into a preallocated C.</summary>
    public void Kiln() => Gemm.Sgemm(S.TransA, false, S.M, S.N, S.K, _a, S.ACols, _b, S.N, _c, S.N);

    /// <summary>torch.matmul (allocates its output; TorchSharp has no out= overload for matmul).</summary>
    public void TorchMatmul()
    {
        using var r = torch.matmul(_taOp, _tb);
    }

    /// <summary>Matmul into a preallocated output: out.addmm_(A, B, beta: 0, alpha: 1) (BLAS sgemm with beta = 0).</summary>
    public void TorchOut() => _tout.addmm_(_taOp, _tb, beta: 0, alpha: 1);

    /// <summary>max |Kiln − Torch| / max |Torch| over C, after one fresh call of each.</summary>
    public double RelDiff()
    {
        Kiln();
        using var r = torch.matmul(_taOp, _tb);
        var t = r.contiguous().data<float>().ToArray();
        TorchOut();
        var o = _tout.data<float>().ToArray();
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < t.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Max(Math.Abs(_c[i] - t[i]), Math.Abs(o[i] - t[i])));
            maxAbs = Math.Max(maxAbs, Math.Abs(t[i]));
        }
        return maxDiff / Math.Max(maxAbs, 1e-30);
    }

    public void Dispose()
    {
        _ta.Dispose(); _tb.Dispose(); _taOp.Dispose(); _tout.Dispose();
    }
}

static class GemmBench
{
    public static int Run(int[] threads, string? filter = null)
    {
        Console.WriteLine();
        Console.WriteLine($"GEMM, fp32, row-major. GFLOPS = 2mnk / per-call time; med = median call, best = fastest call. " +
                          $"Timing: warm-up, then interleaved chunks until >= {Measure.TargetSeconds:0.##} s and >= {Measure.MinReps} calls per contestant.");
        Console.WriteLine("torch.matmul allocates its result; torch out= is out.addmm_(a, b, beta:0, alpha:1) into a preallocated tensor.");
        Console.WriteLine("ratio = Kiln median / the faster of the two torch medians.  rel.diff = max|Kiln - torch| / max|torch|.");
        bool allOk = true;
        foreach (int t in threads)
        {
            Env.SetThreads(t);
            Console.WriteLine();
            Console.WriteLine($"threads = {t} (Kiln Threading.Threads = {Threading.Threads}, torch.get_num_threads() = {get_num_threads()}); " +
                              $"FMA peak measured now (register-only Vector512 FMA loop): {Peak.Gflops(t):0} GFLOPS");
            Console.WriteLine();
            Console.WriteLine("| shape | threads | Kiln GFLOPS med (best) | torch.matmul GFLOPS med (best) | torch out= GFLOPS med (best) | Kiln/Torch | rel.diff |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
            foreach (var s in GemmShape.All.Where(x => filter == null || filter.Split('|').Contains(x.Label)))
            {
                using var gc = new GemmCase(s);
                var kiln = new Contestant("Kiln", gc.Kiln);
                var mm = new Contestant("torch.matmul", gc.TorchMatmul);
                var outc = new Contestant("torch out=", gc.TorchOut);
                Measure.Run(kiln, mm, outc);
                double rel = gc.RelDiff();
                bool ok = rel < 1e-4;
                allOk &= ok;
                double G(double sec) => s.Flops / sec / 1e9;
                double torchBest = Math.Min(mm.Median, outc.Median);
                string label = s.Label.Length <= 4 ? $"{s.Label}x{s.Label}x{s.Label}" : s.Label;
                Console.WriteLine($"| {label} | {t} | {G(kiln.Median),6:0.0} ({G(kiln.Best):0.0}) | {G(mm.Median),6:0.0} ({G(mm.Best):0.0}) | " +
                                  $"{G(outc.Median),6:0.0} ({G(outc.Best):0.0}) | {torchBest / kiln.Median:0.00}x | {rel:0.0e+0}{(ok ? "" : " MISMATCH")} |");
            }
        }
        if (!allOk) Console.WriteLine("\nERROR: Kiln and TorchSharp disagree on at least one shape (rel.diff >= 1e-4).");
        return allOk ? 0 : 1;
    }

    /// <summary>Tuning aid: Kiln alone on the given shapes with several block configurations ("Kc,Mc,Nc" separated by ';'),
    /// timed interleaved like the torch comparison so machine noise hits them alike.</summary>
    public static int Tune(int threads, string labels, string cfgs)
    {
        Env.SetThreads(threads);
        var baseCfg = Gemm.Current;
        foreach (var label in labels.Split('|'))
        {
            var s = GemmShape.All.First(x => x.Label == label);
            using var gc = new GemmCase(s);
            var cs = cfgs.Split(';').Select(c =>
            {
                var v = c.Split(',');
                var cfg = baseCfg.WithBlocks(int.Parse(v[0]), int.Parse(v[1]), int.Parse(v[2]));
                return new Contestant(c, () => { Gemm.Current = cfg; gc.Kiln(); });
            }).ToArray();
            Measure.Run(cs);
            foreach (var c in cs)
                Console.WriteLine($"{label,6} {c.Name,-20} GFLOPS med {s.Flops / c.Median / 1e9,6:0.0} best {s.Flops / c.Best / 1e9,6:0.0}");
        }
        Gemm.Current = baseCfg;
        return 0;
    }
}
