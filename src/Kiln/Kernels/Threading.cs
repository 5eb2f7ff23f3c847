namespace Kiln.Kernels;

/// <summary>Kiln's thread count and the fixed-partition parallel loop that every kernel uses.</summary>
public static class Threading
{
    static int _threads = Environment.ProcessorCount;

    // Set on the threads running a parallel body: a kernel called from inside one (e.g. a GEMM per image in a convolution
    // split over images) runs on its calling thread instead of oversubscribing the cores.
    [ThreadStatic] static bool t_inParallel;

    /// <summary>Number of threads kernels may use (like torch.set_num_threads); at least 1. Reads 1 inside a parallel body.</summary>
    public static int Threads
    {
        get => t_inParallel ? 1 : _threads;
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
        int threads = Threads;
        int t = Math.Min(maxThreads > 0 ? Math.Min(maxThreads, threads) : threads, chunks);
        if (t <= 1)
        {
            for (int i = 0; i < chunks; i++) body(i);
            return;
        }
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = t }, i => Nested(body, i));
    }

    /// <summary>Splits [0, n) into contiguous ranges of at least <paramref name="minPerChunk"/> items, one or more per thread, and runs them.</summary>
    public static void ForRange(int n, int minPerChunk, Action<int, int> body)
    {
        int t = Threads;
        if (t <= 1 || n < 2 * minPerChunk)
        {
            body(0, n);
            return;
        }
        int chunks = Math.Min(t, n / minPerChunk);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = t }, c =>
        {
            int start = (int)((long)n * c / chunks), end = (int)((long)n * (c + 1) / chunks);
            bool was = t_inParallel;
            t_inParallel = true;
            try { body(start, end); }
            finally { t_inParallel = was; }
        });
    }

    static void Nested(Action<int> body, int i)
    {
        bool was = t_inParallel;
        t_inParallel = true;
        try { body(i); }
        finally { t_inParallel = was; }
    }
}
