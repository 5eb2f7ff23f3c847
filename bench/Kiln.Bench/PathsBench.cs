using Kiln.Kernels;

namespace Kiln.Bench;

/// <summary>
/// Diagnostic: Kiln alone, each GEMM path forced (packed / unpacked loops / direct kernels) on the small shapes and a grid
/// of larger ones, to set <c>Gemm.ChoosePath</c>'s thresholds. Time per call in µs (median); "auto" is the path chosen.
/// </summary>
static class PathsBench
{
    public static int Run(int[] threads, string? filter)
    {
        var shapes = SmallShape.All().ToList();
        foreach (int m in new[] { 16, 64, 128, 256 })
            foreach (int n in new[] { 16, 50, 128, 784 })
                foreach (int k in new[] { 16, 64, 256, 784, 2048 })
                    foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true) })
                        shapes.Add(new SmallShape("grid", ta, tb, m, n, k));
        var baseCfg = Gemm.Current;
        var cfgs = new[] { baseCfg.WithPathMode(1), baseCfg.WithPathMode(2), baseCfg.WithPathMode(3) };
        foreach (int t in threads)
        {
            Env.SetThreads(t);
            Console.WriteLine($"\nthreads = {t}\n");
            Console.WriteLine("| shape | form | m x n x k | packed µs | unpacked µs | direct µs | auto | direct/packed |");
            Console.WriteLine("|---|---|---|---:|---:|---:|---:|---:|");
            foreach (var s in shapes)
            {
                if (filter is not null && !($"{s.Label} {s.Form} {s.M}x{s.N}x{s.K}").Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                var rng = new Random(1);
                int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
                var a = new float[s.M * s.K]; var b = new float[s.K * s.N]; var c = new float[s.M * s.N];
                for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble();
                for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextDouble();
                var cs = cfgs.Select(cfg => new Contestant(cfg.PathMode.ToString(),
                    () => Gemm.Sgemm(cfg, s.TransA, s.TransB, s.M, s.N, s.K, a, lda, b, ldb, c, s.N))).ToArray();
                Measure.Run(cs);
                int auto = Gemm.ChoosePath(s.TransA, s.TransB, s.M, s.N, s.K);
                static string U(double sec) => $"{sec * 1e6:0.00}";
                Console.WriteLine($"| {s.Label} | {s.Form} | {s.M}x{s.N}x{s.K} | {U(cs[0].Median)} | {U(cs[1].Median)} | {U(cs[2].Median)} | {auto} | {cs[2].Median / cs[0].Median:0.00} |");
            }
        }
        return 0;
    }
}
