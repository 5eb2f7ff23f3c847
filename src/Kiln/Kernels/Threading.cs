namespace Kiln.Kernels;

/// <summary>Kiln's thread count and the fixed-partition parallel loop that every kernel uses.</summary>
public static class Threading
{
    static int _threads = Environment.ProcessorCount;

    /// <summary>Number of threads kernels may use (like torch.set_num_threads); at least 1.</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "Threading.Threads: thread count must be >= 1");
            _threads = value;
        }
    }

    /// <summary>
    /// Runs body(chunk) for chunk in [0, chunks) using up to <see cref="Threads"/> threads.
    /// Work is split into caller-chosen chunks, so results never depend on how many threads ran them.
    /// </summary>
    public static void For(int chunks, Action<int> body, int maxThreads = 0)
    {
        int t = Math.Min(maxThreads > 0 ? Math.Min(maxThreads, _threads) : _threads, chunks);
        if (t <= 1)
        {
            for (int i = 0; i < chunks; i++) body(i);
            return;
        }
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = t }, body);
    }

    /// <summary>Splits [0, n) into contiguous ranges of at least <paramref name="minPerChunk"/> items, one or more per thread, and runs them.</summary>
    public static void ForRange(int n, int minPerChunk, Action<int, int> body)
    {
        int t = _threads;
        if (t <= 1 || n < 2 * minPerChunk)
        {
            body(0, n);
            return;
        }
        int chunks = Math.Min(t, n / minPerChunk);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = t }, c =>
        {
            int start = (int)((long)n * c / chunks), end = (int)((long)n * (c + 1) / chunks);
            body(start, end);
        });
    }
}
