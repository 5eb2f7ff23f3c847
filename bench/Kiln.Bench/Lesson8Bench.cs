using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;
using KTensor = Kiln.Tensor;

namespace Kiln.Bench;

/// <summary>
/// Lesson 8's table: 5x784 @ 784x10 for every entry of Kiln.Lessons.MatMulVariants.All, time per call and speed-up
/// over the triple loop, with torch.matmul on the same shape for reference. MatMulVariants is found by reflection so
/// the bench builds whether or not the lesson code is there yet.
/// </summary>
static class Lesson8Bench
{
    const int M = 5, K = 784, N = 10;

    public static int Run()
    {
        int threads = Environment.ProcessorCount;
        Env.SetThreads(threads);
        Console.WriteLine();
        Console.WriteLine($"Lesson 8: ({M}x{K}) @ ({K}x{N}), fp32, threads = {threads} (Kiln and torch). Time = median per call (best in brackets).");
        Console.WriteLine();

        var rng = new Random(8);
        float[] Rand(int n) { var x = new float[n]; for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1); return x; }
        float[] ad = Rand(M * K), bd = Rand(K * N);
        var a = KTensor.FromArray(ad, M, K);
        var b = KTensor.FromArray(bd, K, N);
        using var ta = torch.tensor(ad, new long[] { M, K });
        using var tb = torch.tensor(bd, new long[] { K, N });
        using var tref = torch.matmul(ta, tb);
        float[] reference = tref.data<float>().ToArray();

        var variants = FindVariants(out string? why);
        var cs = new List<Contestant>();
        var diffs = new List<string>();
        bool ok = true;
        foreach (var (name, run) in variants)
        {
            double d;
            try { d = RelDiff(run(a, b).ToArray(), reference); }
            catch (Exception e) { Console.WriteLine($"{name}: threw {e.GetType().Name}: {e.Message}"); ok = false; continue; }
            cs.Add(new Contestant(name, () => run(a, b)));
            diffs.Add(d < 1e-4 ? $"{d:0.0e+0}" : $"{d:0.0e+0} MISMATCH");
            ok &= d < 1e-4;
        }
        // Where the time goes: the bare kernel on preallocated arrays, without Tensor overhead.
        var craw = new float[M * N];
        Kiln.Kernels.Gemm.Sgemm(false, false, M, N, K, ad, K, bd, N, craw, N);
        cs.Add(new Contestant("(Gemm.Sgemm on arrays, reference)", () => Kiln.Kernels.Gemm.Sgemm(false, false, M, N, K, ad, K, bd, N, craw, N)));
        diffs.Add($"{RelDiff(craw, reference):0.0e+0}");
        cs.Add(new Contestant("(torch.matmul, reference)", () => { using var r = torch.matmul(ta, tb); }));
        diffs.Add("0");
        Measure.Run(cs.ToArray());

        var triple = cs.FirstOrDefault(c => c.Name.Contains("triple", StringComparison.OrdinalIgnoreCase)) ?? (variants.Count > 0 ? cs[0] : null);
        Console.WriteLine("| variant | time per call | speed-up over triple loop | rel.diff vs torch |");
        Console.WriteLine("|---|---:|---:|---:|");
        for (int i = 0; i < cs.Count; i++)
        {
            var c = cs[i];
            string speed = triple is null ? "-" : $"{triple.Median / c.Median:0.0}x";
            Console.WriteLine($"| {c.Name} | {Fmt(c.Median)} ({Fmt(c.Best)}) | {speed} | {diffs[i]} |");
        }
        if (why is not null) Console.WriteLine($"\nnote: {why}");
        if (!ok) Console.WriteLine("\nERROR: a MatMulVariants entry disagrees with torch.matmul or threw.");
        return ok ? 0 : 1;
    }

    static string Fmt(double s) => s >= 1e-3 ? $"{s * 1e3:0.00} ms" : $"{s * 1e6:0.00} µs";

    static double RelDiff(float[] x, float[] r)
    {
        if (x.Length != r.Length) return double.PositiveInfinity;
        double md = 0, ma = 0;
        for (int i = 0; i < r.Length; i++) { md = Math.Max(md, Math.Abs(x[i] - r[i])); ma = Math.Max(ma, Math.Abs(r[i])); }
        return md / Math.Max(ma, 1e-30);
    }

    /// <summary>Reads MatMulVariants.All (field or property): a list of (Name, Run) tuples.</summary>
    static List<(string Name, Func<KTensor, KTensor, KTensor> Run)> FindVariants(out string? why)
    {
        why = null;
        var list = new List<(string, Func<KTensor, KTensor, KTensor>)>();
        var type = typeof(KTensor).Assembly.GetType("Kiln.Lessons.MatMulVariants");
        if (type is null) { why = "Kiln.Lessons.MatMulVariants is not in this build of Kiln: only the torch reference was measured."; return list; }
        const BindingFlags F = BindingFlags.Public | BindingFlags.Static;
        object? all = type.GetField("All", F)?.GetValue(null) ?? type.GetProperty("All", F)?.GetValue(null);
        if (all is not IEnumerable items) { why = "MatMulVariants.All not found or not enumerable."; return list; }
        foreach (var item in items)
        {
            if (item is not ITuple tup || tup.Length < 2 || tup[0] is not string name) continue;
            Func<KTensor, KTensor, KTensor>? f = tup[1] switch
            {
                Func<KTensor, KTensor, KTensor> g => g,
                Delegate d => (x, y) => (KTensor)d.DynamicInvoke(x, y)!,
                _ => null,
            };
            if (f is not null) list.Add((name, f));
        }
        if (list.Count == 0) why = "MatMulVariants.All had no (string, delegate) entries.";
        return list;
    }
}
