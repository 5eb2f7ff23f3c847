using Kiln.Kernels;

namespace Kiln.Bench;

/// <summary>
/// Diagnostic: Kiln alone, each GEMM path forced (packed / unpacked loops / direct kernels) on the small shapes and a grid
/// of larger ones, to set <c>Gemm.ChoosePath</c>'s thresholds. Time per call in µs: median (best); "auto" is the path chosen. For
/// A·Bᵀ the direct path is also forced both ways (dot = the Dot kernels, copy = Bᵀ copied, then the Rows kernels), to set
/// <c>Gemm.PreferDot</c>.
/// </summary>
static class PathsBench
{
    public static int Run(int[] threads, string? filter)
    {
        var shapes = SmallShape.All().ToList();
        // issue 2's skinny training shapes (the gemm benchmark's last three rows)
        shapes.Add(new SmallShape("issue 2 (1024x784)@(784x50)", false, false, 1024, 50, 784));
        shapes.Add(new SmallShape("issue 2 (50x1024)@(1024x784)", false, false, 50, 784, 1024));
        shapes.Add(new SmallShape("issue 2 (1024x50)ᵀ@(1024x784)", true, false, 50, 784, 1024));
        foreach (int m in new[] { 16, 64, 128, 256 })
            foreach (int n in new[] { 16, 50, 128, 784 })
                foreach (int k in new[] { 16, 64, 256, 784, 2048 })
                    foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true) })
                        shapes.Add(new SmallShape("grid", ta, tb, m, n, k));
        var baseCfg = Gemm.Current;
        var cfgs = new[] { baseCfg.WithPathMode(1), baseCfg.WithPathMode(2), baseCfg.WithPathMode(3), baseCfg.WithPathMode(4), baseCfg.WithPathMode(5) };
        Console.WriteLine($"Kernels: {baseCfg.Name}, direct kernels {(GemmDirect.Supports(baseCfg.DirectLanes) ? $"{baseCfg.DirectLanes} lanes" : "not available here")}");
        foreach (int t in threads)
        {
            Env.SetThreads(t);
            Console.WriteLine($"\nthreads = {t}\n");
            Console.WriteLine("| shape | form | m x n x k | packed µs med (best) | unpacked µs | direct µs | dot µs | copy µs | auto | direct/packed |");
            Console.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var s in shapes)
            {
                if (filter is not null && !($"{s.Label} {s.Form} {s.M}x{s.N}x{s.K}").Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                var rng = new Random(1);
                int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
                var a = new float[s.M * s.K]; var b = new float[s.K * s.N]; var c = new float[s.M * s.N];
                for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble();
                for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble();
                bool abt = !s.TransA && s.TransB;
                var cs = cfgs.Take(abt ? 5 : 3).Select(cfg => new Contestant(cfg.PathMode.ToString(),
                    () => Gemm.Sgemm(cfg, s.TransA, s.TransB, s.M, s.N, s.K, a, lda, b, ldb, c, s.N))).ToArray();
                Measure.Run(cs);
                int auto = Gemm.ChoosePath(baseCfg, s.TransA, s.TransB, s.M, s.N, s.K);
                static string U(Contestant c) => $"{c.Median * 1e6:0.00} ({c.Best * 1e6:0.00})";
                Console.WriteLine($"| {s.Label} | {s.Form} | {s.M}x{s.N}x{s.K} | {U(cs[0])} | {U(cs[1])} | {U(cs[2])} | {(abt ? U(cs[3]) : "")} | {(abt ? U(cs[4]) : "")} | {auto} | {cs[2].Median / cs[0].Median:0.00} |");
            }
        }
        return 0;
    }
}
