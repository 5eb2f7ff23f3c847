using System.Collections;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Kiln.Data;

/// <summary>
/// The batching engine shared by the data loaders: splits 0..Length-1 into batches (reshuffled at every pass when
/// shuffling), builds batch k from its indices and a random generator of its own, on the calling thread or on background
/// workers with bounded prefetch. Each pass draws its order and per-batch seeds from the loader's seeded generator on
/// the consuming thread, so a given seed yields the same batches in the same order whatever the number of workers.
/// </summary>
public abstract class Loader<TBatch> : IEnumerable<TBatch>
{
    readonly Generator _passes;
    readonly object _lock = new();

    /// <summary>Sets up batching of <paramref name="length"/> items (see the derived loaders for the parameters).</summary>
    protected Loader(int length, int batchSize, bool shuffle, bool dropLast, long? seed, int workers, int prefetch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"DataLoader: batch size must be at least 1, got {batchSize}.");
        if (workers < 0) throw new ArgumentOutOfRangeException(nameof(workers), $"DataLoader: workers must be 0 (build batches on the calling thread) or more, got {workers}.");
        if (prefetch < 1) throw new ArgumentOutOfRangeException(nameof(prefetch), $"DataLoader: prefetch must be at least 1 batch per worker, got {prefetch}.");
        Length = length;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Workers = workers;
        Prefetch = prefetch;
        // Without an explicit seed, draw one from the default generator so that Tensor.ManualSeed still fixes everything.
        if (seed is long s) Seed = s;
        else lock (Generator.Default) Seed = (long)Generator.Default.NextUInt64();
        _passes = new Generator(Seed);
    }

    /// <summary>Number of items in the dataset.</summary>
    public int Length { get; }

    /// <summary>Items per batch (the last batch of a pass may be smaller unless <see cref="DropLast"/>).</summary>
    public int BatchSize { get; }

    /// <summary>Whether each pass visits the items in a new random order.</summary>
    public bool Shuffle { get; }

    /// <summary>Whether a final partial batch is dropped.</summary>
    public bool DropLast { get; }

    /// <summary>Background threads building batches (0: batches are built on the consuming thread when asked for).</summary>
    public int Workers { get; }

    /// <summary>Batches each worker may have ready ahead of the consumer (bounded prefetch).</summary>
    public int Prefetch { get; }

    /// <summary>The seed behind every pass's order and every batch's random augmentation.</summary>
    public long Seed { get; }

    /// <summary>Number of batches one pass yields.</summary>
    public int Count => DropLast ? Length / BatchSize : (Length + BatchSize - 1) / BatchSize;

    /// <summary>Builds one batch from the dataset indices it holds, using <paramref name="rng"/> for any randomness (called from worker threads).</summary>
    protected abstract TBatch MakeBatch(int[] indices, Generator rng);

    /// <summary>Starts one pass over the data (reshuffled if <see cref="Shuffle"/>); dispose the enumerator (foreach does) to stop its workers.</summary>
    public IEnumerator<TBatch> GetEnumerator()
    {
        var pass = NextPass();
        return Workers == 0 ? Sequential(pass) : new WorkerEnumerator(this, pass);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    sealed record Pass(int[] Order, long[] BatchSeeds);

    Pass NextPass()
    {
        int n = Length, count = Count;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var seeds = new long[count];
        lock (_lock)
        {
            if (Shuffle)
                for (int i = n - 1; i > 0; i--)
                {
                    int j = _passes.NextInt(0, i + 1);
                    (order[i], order[j]) = (order[j], order[i]);
                }
            for (int b = 0; b < count; b++) seeds[b] = (long)_passes.NextUInt64();
        }
        return new Pass(order, seeds);
    }

    TBatch Build(Pass pass, int b)
    {
        int start = b * BatchSize;
        int len = Math.Min(BatchSize, Length - start);
        return MakeBatch(pass.Order.AsSpan(start, len).ToArray(), new Generator(pass.BatchSeeds[b]));
    }

    IEnumerator<TBatch> Sequential(Pass pass)
    {
        for (int b = 0; b < pass.BatchSeeds.Length; b++) yield return Build(pass, b);
    }

    /// <summary>
    /// Batch b is built by worker b % W and handed over through that worker's bounded queue, so batches arrive in order
    /// and at most W * Prefetch finished batches wait. A worker's exception is queued in place of its batch and rethrown
    /// by MoveNext; Dispose cancels the workers and joins them, so an abandoned pass leaves no thread behind. The threads
    /// only reference the shared WorkerPool state, not the enumerator, so an enumerator dropped without Dispose
    /// is finalized and its finalizer cancels them too.
    /// </summary>
    sealed class WorkerEnumerator : IEnumerator<TBatch>
    {
        readonly WorkerPool _w;
        int _next;
        TBatch? _current;
        bool _disposed;

        public WorkerEnumerator(Loader<TBatch> loader, Pass pass) => _w = new WorkerPool(loader, pass);

        ~WorkerEnumerator() => _w.Cancel();

        public TBatch Current => _current!;

        object? IEnumerator.Current => Current;

        public bool MoveNext()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_next >= _w.Count) return false;
            var (batch, error) = _w.Take(_next);
            _next++;
            if (error != null)
            {
                Dispose();
                error.Throw();
            }
            _current = batch;
            return true;
        }

        public void Reset() => throw new NotSupportedException("DataLoader: start a new pass with GetEnumerator() instead of Reset().");

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            GC.SuppressFinalize(this);
            _w.Cancel();
            _w.Join();
        }
    }

    /// <summary>The worker threads of one pass and their queues.</summary>
    sealed class WorkerPool
    {
        readonly Loader<TBatch> _loader;
        readonly Pass _pass;
        readonly BlockingCollection<(TBatch? Batch, ExceptionDispatchInfo? Error)>[] _queues;
        readonly Thread[] _threads;
        readonly CancellationTokenSource _cancel = new();

        public WorkerPool(Loader<TBatch> loader, Pass pass)
        {
            _loader = loader;
            _pass = pass;
            int w = Math.Max(1, Math.Min(loader.Workers, pass.BatchSeeds.Length));
            _queues = new BlockingCollection<(TBatch?, ExceptionDispatchInfo?)>[w];
            _threads = new Thread[w];
            for (int i = 0; i < w; i++)
            {
                _queues[i] = new BlockingCollection<(TBatch?, ExceptionDispatchInfo?)>(loader.Prefetch);
                int id = i;
                _threads[i] = new Thread(() => Work(id)) { IsBackground = true, Name = $"Kiln DataLoader worker {i}" };
            }
            foreach (var t in _threads) t.Start();
        }

        public int Count => _pass.BatchSeeds.Length;

        public (TBatch? Batch, ExceptionDispatchInfo? Error) Take(int b) => _queues[b % _queues.Length].Take();

        void Work(int id)
        {
            var token = _cancel.Token;
            int stride = _threads.Length;
            try
            {
                for (int b = id; b < _pass.BatchSeeds.Length && !token.IsCancellationRequested; b += stride)
                {
                    (TBatch?, ExceptionDispatchInfo?) item;
                    try { item = (_loader.Build(_pass, b), null); }
                    catch (Exception e) { item = (default, ExceptionDispatchInfo.Capture(e)); }
                    _queues[id].Add(item, token);
                    if (item.Item2 != null) return;
                }
            }
            catch (OperationCanceledException) { }
        }

        /// <summary>Asks the workers to stop (safe from a finalizer: never blocks).</summary>
        public void Cancel()
        {
            try { _cancel.Cancel(); } catch (ObjectDisposedException) { }
        }

        /// <summary>Waits for the workers to finish (after <see cref="Cancel"/>) and releases the queues.</summary>
        public void Join()
        {
            foreach (var t in _threads) t.Join();
            foreach (var q in _queues) q.Dispose();
            _cancel.Dispose();
        }
    }
}
