namespace Kiln;

/// <summary>
/// How Kiln hands tensor memory back: tensors are .NET arrays that the garbage collector frees, and Kiln asks it for a
/// full collection after every <see cref="CollectEveryBytes"/> of allocations that include large tensors.
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
/// Small models, whose tensors stay under 1 MiB, never trigger it.
/// </remarks>
public static class TensorMemory
{
    /// <summary>Bytes allocated between the collections Kiln asks for (default 256 MiB); 0 or less leaves it all to the runtime.</summary>
    public static long CollectEveryBytes { get; set; } = 256L << 20;

    /// <summary>Tensor buffers at least this long (floats or ints) trigger the check: 1 MiB.</summary>
    internal const int CheckFromLength = 1 << 18;

    static long _allocatedAtCollect;

    /// <summary>Number of collections Kiln has asked for so far (diagnostics and tests).</summary>
    public static int Collections => _collections;
    static int _collections;

    /// <summary>Called for every new tensor buffer: a large one checks the allowance (<see cref="CollectIfDue"/>).</summary>
    internal static void OnNewBuffer(int length)
    {
        if (length >= CheckFromLength) CollectIfDue();
    }

    /// <summary>Collects if the allowance since the last collection is used up.</summary>
    static void CollectIfDue()
    {
        long every = CollectEveryBytes;
        if (every <= 0) return;
        long allocated = GC.GetTotalAllocatedBytes(precise: false);
        long mark = Interlocked.Read(ref _allocatedAtCollect);
        if (allocated - mark < every) return;
        if (Interlocked.CompareExchange(ref _allocatedAtCollect, allocated, mark) != mark) return; // another thread is collecting
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        Interlocked.Increment(ref _collections);
        Interlocked.Exchange(ref _allocatedAtCollect, GC.GetTotalAllocatedBytes(precise: false));
    }
}
