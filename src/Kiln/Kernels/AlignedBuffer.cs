using System.Runtime.InteropServices;

namespace Kiln.Kernels;

/// <summary>Growable 64-byte-aligned native float buffers, as the kernels' per-thread workspaces keep them.</summary>
internal static unsafe class AlignedBuffer
{
    /// <summary>Makes p hold at least need floats (cap tracks its size): reallocated, contents dropped, only when too small.</summary>
    public static void Ensure(ref float* p, ref long cap, long need)
    {
        if (need <= cap) return;
        NativeMemory.AlignedFree(p);
        p = null;
        cap = 0;
        p = (float*)NativeMemory.AlignedAlloc((nuint)(Math.Max(need, 16) * sizeof(float)), 64);
        cap = need;
    }
}
