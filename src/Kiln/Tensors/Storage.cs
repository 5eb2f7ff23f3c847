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

    /// <summary>Number of elements held.</summary>
    public int Length => Floats?.Length ?? Ints!.Length;
}
