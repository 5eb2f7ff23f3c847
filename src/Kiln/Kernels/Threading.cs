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
        if (UseTeam && Team.TryRun(chunks, body, t)) return;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = t }, i => Nested(body, i));
    }

    /// <summary>
    /// Splits [0, n) into contiguous ranges of at least <paramref name="minPerChunk"/> items, one or more per thread, and runs
    /// them; with <paramref name="align"/> &gt; 1 every range but the first starts on a multiple of it (e.g. 16 floats: a
    /// 64-byte cache line, so no line is written by two threads).
    /// </summary>
    public static void ForRange(int n, int minPerChunk, Action<int, int> body, int align = 1)
    {
        int t = Threads;
        if (t <= 1 || n < 2 * minPerChunk)
        {
            body(0, n);
            return;
        }
        // A range is at least one alignment step long, so rounding its start down never leaves an empty one.
        int chunks = Math.Min(t, n / Math.Max(minPerChunk, align));
        if (chunks <= 1)
        {
            body(0, n);
            return;
        }
        For(chunks, c => body(Boundary(c), Boundary(c + 1)));

        int Boundary(int c) => c == chunks ? n : (int)((long)n * c / chunks) / align * align;
    }

    /// <summary>Whether <see cref="For"/> runs on Kiln's own worker team (true) or on <c>Parallel.For</c> (false; measurements).</summary>
    internal static bool UseTeam = Environment.GetEnvironmentVariable("KILN_TEAM") != "0";

    /// <summary>
    /// Kiln's persistent worker threads (Threads - 1 of them; the calling thread is the last member). After a job a worker
    /// spins for a short while (<see cref="SpinMicroseconds"/>) waiting for the next one before it sleeps, as OpenMP's
    /// workers do: kernels come back to back, and a sleeping thread-pool worker woke too late often enough that
    /// <c>Parallel.For</c>'s caller ran both halves of a 2-thread job itself. One job at a time: a second thread calling
    /// <see cref="For"/> while the team is busy gets <c>Parallel.For</c>.
    /// </summary>
    static class Team
    {
        internal const int SpinMicroseconds = 200;
        static readonly object Gate = new();
        static Thread[] _workers = [];
        static Job? _job;
        static int _seq, _sleepers, _busy;

        sealed class Job(Action<int> body, int chunks, int workers)
        {
            public readonly Action<int> Body = body;
            public readonly int Chunks = chunks, Workers = workers;
            public int Next, Done;
            public Exception? Error;

            public void Work()
            {
                bool was = t_inParallel;
                t_inParallel = true;
                try
                {
                    int i;
                    while ((i = Interlocked.Increment(ref Next) - 1) < Chunks)
                    {
                        try { Body(i); }
                        catch (Exception e) { Interlocked.CompareExchange(ref Error, e, null); }
                        Interlocked.Increment(ref Done);
                    }
                }
                finally { t_inParallel = was; }
            }
        }

        public static bool TryRun(int chunks, Action<int> body, int threads)
        {
            if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
            try
            {
                EnsureWorkers(threads - 1);
                var job = new Job(body, chunks, threads - 1);
                Volatile.Write(ref _job, job);
                Interlocked.Increment(ref _seq);
                if (Volatile.Read(ref _sleepers) > 0)
                    lock (Gate) Monitor.PulseAll(Gate);
                job.Work();
                var spin = new SpinWait();
                while (Volatile.Read(ref job.Done) < chunks) spin.SpinOnce(sleep1Threshold: -1);
                if (job.Error != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(job.Error).Throw();
                return true;
            }
            finally { Volatile.Write(ref _busy, 0); }
        }

        static void EnsureWorkers(int n)
        {
            if (_workers.Length >= n) return;
            var grown = new Thread[n];
            Array.Copy(_workers, grown, _workers.Length);
            for (int w = _workers.Length; w < n; w++)
            {
                int index = w;
                grown[w] = new Thread(() => Loop(index)) { IsBackground = true, Name = $"Kiln worker {w + 1}" };
                grown[w].Start();
            }
            _workers = grown;
        }

        static void Loop(int index)
        {
            int seen = Volatile.Read(ref _seq);
            long spinTicks = System.Diagnostics.Stopwatch.Frequency * SpinMicroseconds / 1_000_000;
            while (true)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                while (Volatile.Read(ref _seq) == seen)
                {
                    if (System.Diagnostics.Stopwatch.GetTimestamp() - start < spinTicks) { Thread.SpinWait(20); continue; }
                    lock (Gate)
                    {
                        Interlocked.Increment(ref _sleepers);   // a full fence: the caller's read of _sleepers cannot miss it
                        while (Volatile.Read(ref _seq) == seen) Monitor.Wait(Gate);
                        Interlocked.Decrement(ref _sleepers);
                    }
                }
                seen = Volatile.Read(ref _seq);
                var job = Volatile.Read(ref _job);
                if (job != null && index < job.Workers) job.Work();
            }
        }
    }

    static void Nested(Action<int> body, int i)
    {
        bool was = t_inParallel;
        t_inParallel = true;
        try { body(i); }
        finally { t_inParallel = was; }
    }
}
