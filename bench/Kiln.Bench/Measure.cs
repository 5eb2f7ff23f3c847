using System.Diagnostics;

namespace Kiln.Bench;

/// <summary>One thing to time: a name and a call.</summary>
sealed class Contestant(string name, Action run)
{
    public string Name { get; } = name;
    public Action Run { get; } = run;
    public List<double> Times { get; } = new();   // seconds per call
    public double Total;
    public double Median => Stats.Median(Times);
    public double Best => Times.Count == 0 ? double.NaN : Times.Min();
}

static class Stats
{
    public static double Median(List<double> xs)
    {
        if (xs.Count == 0) return double.NaN;
        var s = xs.ToArray();
        Array.Sort(s);
        int h = s.Length / 2;
        return s.Length % 2 == 1 ? s[h] : 0.5 * (s[h - 1] + s[h]);
    }
}

/// <summary>
/// Interleaved timing: after a warm-up, contestants take turns in short chunks (~20 ms of calls each, order alternating
/// every round) so that machine noise (other processes, frequency changes) hits all of them alike. Every call is timed
/// on its own; we report the median and the best per-call time. Calls shorter than <see cref="BatchBelow"/> are timed in
/// back-to-back batches of enough calls to fill it (one sample = batch time / calls), so the ~30-40 ns cost of reading the
/// clock doesn't bias microsecond figures. A contestant is done once it has both <see cref="TargetSeconds"/> of timed calls
/// and <see cref="MinReps"/> samples (or <see cref="MaxReps"/> samples). Times use raw Stopwatch ticks (1 ns here), not
/// TimeSpan (100 ns ticks).
/// </summary>
static class Measure
{
    public static double TargetSeconds = 0.8;
    public static int MinReps = 7;
    public static int MaxReps = 20000;
    const double ChunkSeconds = 0.02;
    /// <summary>
    /// Idle time before each contestant's chunk, so the previous contestant's idle threads have gone to sleep: libtorch's
    /// OpenMP (libgomp) workers spin-wait after every parallel region, and a spinning worker on one of the two cores halved
    /// whichever Kiln call ran next (Kiln 1024³ at 2 threads: 118-138 GFLOPS median against 189.5 with torch idle;
    /// 180-189 with this pause, measured 2026-12-02). Kiln's own workers spin 200 µs. 10 ms measured enough; 30 ms cost both sides.
    /// </summary>
    public const int SettleMs = 10;
    const double SwitchCallBelow = 0.002;   // calls shorter than this get one untimed call after each switch
    const double BatchBelow = 2e-6;         // calls shorter than this are timed in batches filling about this long
    static double Seconds(long t0) => (Stopwatch.GetTimestamp() - t0) / (double)Stopwatch.Frequency;

    public static void Run(params Contestant[] cs)
    {
        var perCall = new double[cs.Length];
        for (int i = 0; i < cs.Length; i++)
        {
            // warm-up: JIT tiers, workspaces, thread pools, page faults; at least 3 calls or ~0.15 s
            var sw = Stopwatch.StartNew();
            int n = 0;
            double last = 0;
            while (n < 3 || sw.Elapsed.TotalSeconds < 0.15)
            {
                long t0 = Stopwatch.GetTimestamp();
                cs[i].Run();
                last = Seconds(t0);
                n++;
                if (n >= 3 && last > 0.05) break;
            }
            perCall[i] = last;
        }
        // Warm-up's last call can be an outlier: re-time a few calls for the per-call estimate.
        for (int i = 0; i < cs.Length; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int r = 0; r < 16; r++) cs[i].Run();
            perCall[i] = Math.Min(perCall[i], Seconds(t0) / 16);
        }
        var batch = perCall.Select(t => t >= BatchBelow ? 1 : Math.Clamp((int)Math.Ceiling(BatchBelow / Math.Max(t, 1e-9)), 1, 256)).ToArray();
        var chunk = perCall.Select((t, i) => Math.Clamp((int)(ChunkSeconds / Math.Max(t * batch[i], 1e-7)), 1, 2000)).ToArray();
        bool Done(Contestant c) => c.Times.Count >= MaxReps || (c.Total >= TargetSeconds && c.Times.Count >= MinReps);
        int previous = -1;
        for (int round = 0; !cs.All(Done); round++)
        {
            for (int j = 0; j < cs.Length; j++)
            {
                int i = round % 2 == 0 ? j : cs.Length - 1 - j;
                var c = cs[i];
                if (Done(c)) continue;
                if (previous != i) Thread.Sleep(SettleMs);   // only when another contestant ran last
                previous = i;
                if (perCall[i] < SwitchCallBelow) c.Run();
                for (int r = 0; r < chunk[i]; r++)
                {
                    int nb = batch[i];
                    long t0 = Stopwatch.GetTimestamp();
                    for (int q = 0; q < nb; q++) c.Run();
                    double dt = Seconds(t0);
                    c.Times.Add(dt / nb);
                    c.Total += dt;
                }
            }
        }
    }
}
