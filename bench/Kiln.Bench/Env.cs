using System.Reflection;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Kiln.Bench;

static class Env
{
    public static void Print()
    {
        Console.WriteLine($"date:        {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine($"cpu:         {CpuModel()}, {Environment.ProcessorCount} logical cores, " +
                          $"AVX-512F={System.Runtime.Intrinsics.X86.Avx512F.IsSupported}, Vector512 accelerated={System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
        Console.WriteLine($".NET:        {RuntimeInformation.FrameworkDescription} ({RuntimeInformation.OSDescription})");
        Console.WriteLine($"Kiln GEMM:   {KilnKernelName()}");
        var tsv = typeof(TorchSharp.torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                  ?? typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString();
        Console.WriteLine($"TorchSharp:  {tsv?.Split('+')[0]} (libtorch {__version__}, CPU, oneMKL sgemm statically linked in libtorch_cpu); " +
                          $"default threads {get_num_threads()}");
        Console.WriteLine($"Server GC:   {System.Runtime.GCSettings.IsServerGC}");
        Console.WriteLine($"load avg:    {LoadAvg()} (1/5/15 min, at start; other processes on these {Environment.ProcessorCount} cores skew results)");
    }

    public static string LoadAvg()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "?"; }
    }

    public static string CpuModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name")) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return "unknown";
    }

    /// <summary>Name of the micro-kernel configuration Kiln's Gemm picked (internal; read by reflection so a rename can't break the build).</summary>
    public static string KilnKernelName()
    {
        var cur = typeof(Kiln.Kernels.Gemm).GetField("Current", BindingFlags.NonPublic | BindingFlags.Static)?.GetValue(null);
        if (cur is null) return "?";
        var t = cur.GetType();
        string Get(string n) => (t.GetField(n)?.GetValue(cur) ?? t.GetProperty(n)?.GetValue(cur))?.ToString() ?? "?";
        return $"{Get("Name")} (Mr={Get("Mr")}, Nr={Get("Nr")}, Kc={Get("Kc")}, Mc={Get("Mc")}, Nc={Get("Nc")})";
    }

    public static void SetThreads(int t)
    {
        Kiln.Kernels.Threading.Threads = t;
        set_num_threads(t);
        if (get_num_threads() != t) throw new InvalidOperationException($"torch.set_num_threads({t}) left {get_num_threads()} threads");
    }
}
