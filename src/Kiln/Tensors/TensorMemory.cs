using System.Runtime.CompilerServices;

namespace Kiln;

/// <summary>
/// How Kiln hands tensor memory back: tensors are .NET arrays that the garbage collector frees, and Kiln asks it for a
/// full collection after every <see cref="CollectEveryBytes"/> of allocations that include large tensors; large float
/// buffers found unreachable are kept and handed to the next tensor of the same length (<see cref="RecycleBuffers"/>).
/// </summary>
/// <remarks>
/// A training step of a convolutional network at batch 1024 allocates gigabytes of short-lived activations, gradients and
/// temporaries (lesson 18's get_model4: about 2.1 GB per step). Arrays that large live on the large object heap, which
/// the runtime left to grow for several steps between collections: every new activation landed on fresh pages the kernel
/// had to fault in and zero (about 530,000 page faults, 2.2 GB, per get_model4 step) and the process peaked at 6.6-8.6 GiB
/// (libtorch, which frees each tensor the moment its last reference goes, at about 3 GiB over a get_model4 epoch; Kiln
/// with this class at 2.8 GiB: docs/PERFORMANCE.md). Float arrays hold no
/// references, so a full collection only has to visit the few objects around them and takes milliseconds; running one
/// whenever another <see cref="CollectEveryBytes"/> have been allocated (checked each time a tensor buffer of at least
/// 1 MiB is created) keeps the heap near the live tensors plus that allowance and lets new tensors reuse warm pages.
/// Small models, whose tensors stay under 1 MiB, never trigger it. The runtime still handed the freed memory back to the
/// operating system, so recycling the buffers themselves removed most of the remaining page faults (docs/TENSORS.md).
/// </remarks>
public static class TensorMemory
{
    /// <summary>Bytes allocated between the collections Kiln asks for (default 256 MiB); 0 or less leaves it all to the runtime.</summary>
    public static long CollectEveryBytes { get; set; } = 256L << 20;

    /// <summary>
    /// Whether float buffers of at least 1 MiB are recycled (default true): once the garbage collector finds that nothing
    /// references such a buffer any more, Kiln keeps it and hands it to the next tensor of the same length instead of
    /// asking the runtime for fresh memory. Turning it off stops new buffers from being kept; buffers already kept are dropped
    /// at the next collection.
    /// </summary>
    public static bool RecycleBuffers { get; set; } = true;

    /// <summary>
    /// At most this many bytes of recycled buffers wait for reuse after each of Kiln's collections; the ones that waited
    /// longest go back to the runtime first. Default: an eighth of the memory available to the process (3 GiB of 24), at
    /// least 256 MiB.
    /// </summary>
    public static long KeepFreeBytes
    {
        // Worked out when asked (after a collection), not at type initialisation, when the runtime may not know it yet.
        get => _keepFreeBytes >= 0 ? _keepFreeBytes : Math.Max(256L << 20, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8);
        set => _keepFreeBytes = value;
    }
    static long _keepFreeBytes = -1;

    /// <summary>A free buffer not taken during this many of Kiln's collections goes back to the runtime.</summary>
    internal const int MaxIdleCollections = 16;

    /// <summary>Tensor buffers at least this long (floats or ints) trigger the check: 1 MiB.</summary>
    internal const int CheckFromLength = 1 << 18;

    static long _allocatedAtCollect;

    /// <summary>Number of collections Kiln has asked for so far (diagnostics and tests).</summary>
    public static int Collections => _collections;
    static int _collections;

    /// <summary>Buffers handed out again from the recycled ones so far (diagnostics and tests).</summary>
    public static long RecycledBuffers => Interlocked.Read(ref _recycledCount);
    static long _recycledCount;

    /// <summary>Free buffers kept for reuse right now and their size in bytes.</summary>
    public static (int Count, long Bytes) FreeBuffers => Recycler.FreeStats();

    /// <summary>Bytes of large buffers allocated fresh since the last one that was recycled.</summary>
    static long _missStreakBytes;

    /// <summary>
    /// Fresh bytes in a row (no recycled buffer in between) after which misses evict free buffers: the collection allowance,
    /// at least 64 MiB.
    /// </summary>
    internal const long MinMissStreakBytes = 64L << 20;

    /// <summary>Bytes of recycled buffers handed out so far: allocations the runtime does not see.</summary>
    static long _recycledBytes;

    /// <summary>Called for every new tensor buffer: a large one checks the allowance (<see cref="CollectIfDue()"/>).</summary>
    internal static void OnNewBuffer(int length)
    {
        if (length < CheckFromLength) return;
        Interlocked.Add(ref _largeSinceCollect, (long)length * sizeof(float));
        CollectIfDue();
    }

    /// <summary>Bytes of tensor buffers of at least 1 MiB created since Kiln's last collection.</summary>
    static long _largeSinceCollect;

    /// <summary>
    /// A float buffer of exactly <paramref name="length"/> elements for a new tensor or a kernel's output: zero-filled if
    /// <paramref name="zeroed"/>, otherwise with unspecified contents the caller overwrites entirely. Buffers of at least
    /// 1 MiB come from the recycled ones when one of that length is free (<see cref="RecycleBuffers"/>).
    /// </summary>
    internal static float[] NewFloats(int length, bool zeroed)
    {
        if (length < CheckFromLength || !RecycleBuffers)
            return zeroed ? new float[length] : GC.AllocateUninitializedArray<float>(length);
        CollectIfDue();   // a collection now refills the free buffers before the lookup
        var a = Recycler.Take(length);
        if (a != null)
        {
            Interlocked.Exchange(ref _missStreakBytes, 0);
            Interlocked.Increment(ref _recycledCount);
            Interlocked.Add(ref _recycledBytes, (long)length * sizeof(float));
            if (zeroed) Array.Clear(a);
            return a;
        }
        // A miss. A long run of them means the workload changed sizes (another model, the last, smaller batch of an
        // epoch, validation): then each further miss sends as many bytes of free buffers back to the runtime,
        // longest-waiting first, so that switching sizes does not keep a second set of buffers in the process. Single
        // misses in a steady loop (a buffer still in use) leave the free ones alone: they are needed a moment later.
        long bytes = (long)length * sizeof(float);
        if (Interlocked.Add(ref _missStreakBytes, bytes) > Math.Max(MinMissStreakBytes, CollectEveryBytes)) Recycler.Evict(bytes);
        a = zeroed ? new float[length] : GC.AllocateUninitializedArray<float>(length);
        Recycler.Track(a);
        return a;
    }

    /// <summary>
    /// Called when a backward pass has released its graph: if tensor buffers of 1 MiB or more adding up to a quarter of
    /// the allowance were created since the last collection, collect now, so the graph's buffers are free for the next
    /// forward pass instead of that pass starting on fresh memory. Small models (no such buffers) never collect here.
    /// </summary>
    internal static void OnGraphReleased()
    {
        long quarter = CollectEveryBytes / 4;
        if (RecycleBuffers && quarter > 0 && Interlocked.Read(ref _largeSinceCollect) >= quarter) CollectIfDue(quarter);
    }

    /// <summary>Collects if the allowance since the last collection is used up.</summary>
    static void CollectIfDue() => CollectIfDue(CollectEveryBytes);

    static void CollectIfDue(long every)
    {
        if (every <= 0) return;
        long allocated = GC.GetTotalAllocatedBytes(precise: false) + Interlocked.Read(ref _recycledBytes);
        long mark = Interlocked.Read(ref _allocatedAtCollect);
        if (allocated - mark < every) return;
        if (Interlocked.CompareExchange(ref _allocatedAtCollect, allocated, mark) != mark) return; // another thread is collecting
        Recycler.NextCollection();
        Interlocked.Exchange(ref _largeSinceCollect, 0);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        GC.WaitForPendingFinalizers();   // buffers found unreachable are back among the free ones
        Recycler.DropStale();
        Interlocked.Increment(ref _collections);
        Interlocked.Exchange(ref _allocatedAtCollect, GC.GetTotalAllocatedBytes(precise: false) + Interlocked.Read(ref _recycledBytes));
    }

    /// <summary>
    /// Keeps large float buffers nobody references any more, by length, for reuse.
    /// </summary>
    /// <remarks>
    /// Why: a training step at batch 1024 allocates gigabytes of activations and gradients of the same few lengths, and the
    /// runtime returns freed large-object memory to the operating system, so every new buffer was fresh pages to fault in
    /// and zero (get_model4: about 171,000 page faults and 0.6-0.7 s of kernel CPU time per step). libtorch's allocator
    /// reuses memory the same way.
    /// How it stays safe: each tracked buffer is the key of a <see cref="ConditionalWeakTable{TKey,TValue}"/> entry whose
    /// value, a <see cref="Returner"/>, is finalizable. The table keeps the returner alive exactly as long as the buffer is
    /// reachable from anything at all (a tensor, a kernel's local variable, a span), so the returner's finalizer runs only
    /// once the buffer is garbage; it then puts the buffer (reachable again through the returner) among the free ones and
    /// re-registers itself for the buffer's next life. A buffer is therefore never handed out while anything can still
    /// read or write it. Free buffers are dropped (left to the runtime) after <see cref="MaxIdleCollections"/> collections
    /// without use, or oldest first beyond <see cref="KeepFreeBytes"/>.
    /// </remarks>
    static class Recycler
    {
        static readonly ConditionalWeakTable<float[], Returner> Tracked = new();
        static readonly Dictionary<int, List<Entry>> Free = [];
        static readonly Lock Gate = new();
        static int _collection;

        readonly record struct Entry(float[] Buffer, Returner Returner, int Since);

        internal static void Track(float[] buffer) => Tracked.AddOrUpdate(buffer, new Returner(buffer));

        internal static float[]? Take(int length)
        {
            Entry e;
            lock (Gate)
            {
                if (!Free.TryGetValue(length, out var list) || list.Count == 0) return null;
                e = list[^1];
                list.RemoveAt(list.Count - 1);
            }
            // The free list held the returner; from here the table ties it to the buffer again (re-adding is harmless if
            // the runtime kept the entry through the buffer's resurrection).
            Tracked.AddOrUpdate(e.Buffer, e.Returner);
            return e.Buffer;
        }

        /// <summary>From a returner's finalizer: false if the buffer should be left to the runtime.</summary>
        internal static bool Return(float[] buffer, Returner returner)
        {
            if (!RecycleBuffers || Environment.HasShutdownStarted) return false;
            lock (Gate)
            {
                if (!Free.TryGetValue(buffer.Length, out var list)) Free[buffer.Length] = list = [];
                foreach (var e in list)
                    if (ReferenceEquals(e.Buffer, buffer)) return true;   // never listed twice
                list.Add(new Entry(buffer, returner, _collection));
                return true;
            }
        }

        internal static void NextCollection()
        {
            lock (Gate) _collection++;
        }

        /// <summary>
        /// Drops free buffers, longest-waiting first, until at least <paramref name="bytes"/> are dropped; buffers returned
        /// at the latest collection stay (they have not had their chance yet).
        /// </summary>
        internal static void Evict(long bytes)
        {
            List<Entry>? dropped = null;
            lock (Gate) DropOldest(bytes, e => e.Since < _collection, ref dropped);
            Let(dropped);
        }

        /// <summary>
        /// Under the gate: removes eligible free buffers, longest-waiting (then largest) first, until at least
        /// <paramref name="bytes"/> are removed, and lists them in <paramref name="dropped"/>.
        /// </summary>
        static void DropOldest(long bytes, Func<Entry, bool> eligible, ref List<Entry>? dropped)
        {
            if (bytes <= 0) return;
            foreach (var e in Free.Values.SelectMany(l => l).Where(eligible).OrderBy(e => e.Since).ThenByDescending(e => e.Buffer.Length).ToList())
            {
                if (bytes <= 0) break;
                Free[e.Buffer.Length].Remove(e);
                bytes -= (long)e.Buffer.Length * sizeof(float);
                (dropped ??= []).Add(e);
            }
        }

        /// <summary>Leaves dropped buffers to the runtime: their returners stop recycling them.</summary>
        static void Let(List<Entry>? dropped)
        {
            if (dropped == null) return;
            foreach (var e in dropped)
            {
                e.Returner.Release();
                Tracked.Remove(e.Buffer);
            }
        }

        /// <summary>
        /// Drops free buffers that waited through <see cref="MaxIdleCollections"/> collections without being taken, then the
        /// longest-waiting ones while the free buffers add up to more than <see cref="KeepFreeBytes"/>.
        /// </summary>
        internal static void DropStale()
        {
            List<Entry>? dropped = null;
            lock (Gate)
            {
                long total = 0;
                foreach (var list in Free.Values)
                {
                    list.RemoveAll(e =>
                    {
                        if (RecycleBuffers && e.Since >= _collection - MaxIdleCollections) return false;
                        (dropped ??= []).Add(e);
                        return true;
                    });
                    foreach (var e in list) total += (long)e.Buffer.Length * sizeof(float);
                }
                DropOldest(total - KeepFreeBytes, _ => true, ref dropped);
            }
            Let(dropped);
        }

        /// <summary>Number of free buffers and their bytes (tests and diagnostics).</summary>
        internal static (int Count, long Bytes) FreeStats()
        {
            lock (Gate)
                return (Free.Values.Sum(l => l.Count), Free.Values.Sum(l => l.Sum(e => (long)e.Buffer.Length * sizeof(float))));
        }
    }

    /// <summary>Finalizable companion of one tracked buffer: see <see cref="Recycler"/>.</summary>
    sealed class Returner(float[] buffer)
    {
        float[]? _buffer = buffer;

        /// <summary>Lets the buffer go to the runtime when it is next unreachable.</summary>
        internal void Release()
        {
            _buffer = null;
            GC.SuppressFinalize(this);
        }

        ~Returner()
        {
            var b = _buffer;
            if (b != null && Recycler.Return(b, this)) GC.ReRegisterForFinalize(this);
            else _buffer = null;
        }
    }
}
