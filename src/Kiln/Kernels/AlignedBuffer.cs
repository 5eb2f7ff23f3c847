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

/// <summary>
/// Three growable aligned buffers that one thread keeps for a family of kernels (each subclass has its own
/// [ThreadStatic] instance); freed when the thread's instance is collected.
/// </summary>
internal abstract unsafe class ThreadBuffers
{
    protected float* P0, P1, P2;
    long _cap0, _cap1, _cap2;

    /// <summary>Makes the three buffers hold at least n0, n1 and n2 floats (contents dropped only where one grows).</summary>
    protected void Ensure(long n0, long n1, long n2)
    {
        AlignedBuffer.Ensure(ref P0, ref _cap0, n0);
        AlignedBuffer.Ensure(ref P1, ref _cap1, n1);
        AlignedBuffer.Ensure(ref P2, ref _cap2, n2);
    }

    ~ThreadBuffers()
    {
        NativeMemory.AlignedFree(P0);
        NativeMemory.AlignedFree(P1);
        NativeMemory.AlignedFree(P2);
    }
}

