namespace Kiln;

public static partial class Autograd
{
    /// <summary>
    /// After a Backward that released its graph, Kiln runs a full blocking garbage collection once at least this many
    /// bytes have been allocated since its last one (default 512 MiB; 0 or less turns it off).
    /// </summary>
    /// <remarks>
    /// A training step of a convolutional network at batch 1024 allocates gigabytes of short-lived activations and
    /// gradients (lesson 18's get_model4: about 2.1 GB per step). Those arrays live on the large object heap, which the
    /// runtime collects only every few steps, so between collections every new activation lands on fresh pages that the
    /// kernel must fault in and zero (measured: about 530,000 page faults, 2.2 GB, per get_model4 step). Right after
    /// Backward nearly all of the step's buffers are garbage; collecting there (a few milliseconds, since float arrays hold
    /// no references to trace) lets the next step reuse that memory, which also caps the peak at about one step's worth.
    /// Small models never reach the threshold and are unaffected.
    /// </remarks>
    public static long ReclaimAfterBackwardBytes { get; set; } = 512L << 20;

    static long _allocatedAtReclaim;

    /// <summary>Called by Backward once the graph is released: collect if enough has been allocated since the last time.</summary>
    internal static void ReclaimIfDue()
    {
        long threshold = ReclaimAfterBackwardBytes;
        if (threshold <= 0) return;
        long allocated = GC.GetTotalAllocatedBytes(precise: false);
        if (allocated - Volatile.Read(ref _allocatedAtReclaim) < threshold) return;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        Volatile.Write(ref _allocatedAtReclaim, GC.GetTotalAllocatedBytes(precise: false));
    }
}
