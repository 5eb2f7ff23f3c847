namespace Kiln;

/// <summary>
/// The flat buffer behind one or more tensors. Views share a Storage; exactly one of the arrays is set
/// (floats for Float32, ints for Int32 and Bool).
/// </summary>
public sealed class Storage
{
    internal readonly float[]? Floats;
    internal readonly int[]? Ints;

    /// <summary>Incremented by every in-place write, so later code (autograd) can detect modified inputs.</summary>
    public int Version { get; internal set; }

    internal Storage(float[] data)
    {
        Floats = data;
        TensorMemory.OnNewBuffer(data.Length);
    }

    internal Storage(int[] data)
    {
        Ints = data;
        TensorMemory.OnNewBuffer(data.Length);
    }

    /// <summary>
    /// 1 once a backward pass has passed this buffer along as a gradient (so it may be held elsewhere and must not become a
    /// leaf's Grad without a copy); a flag on the storage rather than a set in the engine, so that the engine does not keep
    /// every intermediate gradient alive until the pass ends.
    /// </summary>
    internal int GradClaimed;

    /// <summary>Number of elements held.</summary>
    public int Length => Floats?.Length ?? Ints!.Length;
}
