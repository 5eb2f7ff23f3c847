using System.Runtime.CompilerServices;

namespace Kiln;

/// <summary>
/// An n-dimensional array: a <see cref="Storage"/> plus shape, strides and offset. Views (Reshape, Transpose, Expand,
/// slicing...) share storage and never copy. Float32 holds values; Int32 holds labels and indices; Bool holds masks.
/// </summary>
public sealed partial class Tensor
{
    internal readonly Storage Storage;
    internal readonly int[] _shape;
    internal readonly int[] _strides;
    internal readonly int _offset;

    /// <summary>Element type.</summary>
    public DType DType { get; }

    internal Tensor(Storage storage, int[] shape, int[] strides, int offset, DType dtype)
    {
        Storage = storage;
        _shape = shape;
        _strides = strides;
        _offset = offset;
        DType = dtype;
    }

    /// <summary>A new contiguous tensor over a zeroed buffer (large float buffers may be recycled: <see cref="TensorMemory"/>).</summary>
    internal static Tensor Empty(int[] shape, DType dtype = DType.Float32) => New(shape, dtype, zeroed: true);

    /// <summary>
    /// A new contiguous tensor whose contents are unspecified, for kernels that write every element (no zero-filling pass:
    /// outputs are megabytes at batch 256, and clearing them first cost as much as writing them); integer and bool tensors
    /// are zeroed as by <see cref="Empty"/>.
    /// </summary>
    internal static Tensor Unfilled(int[] shape, DType dtype = DType.Float32) => New(shape, dtype, zeroed: false);

    static Tensor New(int[] shape, DType dtype, bool zeroed)
    {
        int n = Shapes.Numel(shape, zeroed ? "Empty" : "Unfilled");
        var storage = dtype == DType.Float32 ? new Storage(TensorMemory.NewFloats(n, zeroed)) : new Storage(new int[n]);
        return new Tensor(storage, (int[])shape.Clone(), Shapes.ContiguousStrides(shape), 0, dtype);
    }

    /// <summary>Wraps a flat float buffer (not copied) as a contiguous tensor of the given shape.</summary>
    internal static Tensor Wrap(float[] data, params int[] shape)
    {
        if (Shapes.Numel(shape, "Wrap") != data.Length)
            throw new ArgumentException($"Wrap: {data.Length} values cannot have shape {Shapes.Str(shape)}");
        return new Tensor(new Storage(data), (int[])shape.Clone(), Shapes.ContiguousStrides(shape), 0, DType.Float32);
    }

    /// <summary>Wraps a flat int buffer (not copied) as a contiguous Int32 (or Bool) tensor of the given shape.</summary>
    internal static Tensor Wrap(int[] data, int[] shape, DType dtype = DType.Int32)
    {
        if (Shapes.Numel(shape, "Wrap") != data.Length)
            throw new ArgumentException($"Wrap: {data.Length} values cannot have shape {Shapes.Str(shape)}");
        return new Tensor(new Storage(data), (int[])shape.Clone(), Shapes.ContiguousStrides(shape), 0, dtype);
    }

    /// <summary>Sizes of each dimension (a copy).</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>Element strides of each dimension (a copy); 0 for expanded dimensions.</summary>
    public int[] Strides => (int[])_strides.Clone();

    /// <summary>Offset of the first element in the storage.</summary>
    public int Offset => _offset;

    /// <summary>Number of dimensions.</summary>
    public int Dim => _shape.Length;

    /// <summary>Total number of elements.</summary>
    public int Numel
    {
        get
        {
            int n = 1;
            foreach (int s in _shape) n *= s;
            return n;
        }
    }

    /// <summary>Size of one dimension (negative counts from the end).</summary>
    public int Size(int dim) => _shape[Shapes.NormDim(dim, Dim, "Size")];

    /// <summary>The shared storage this tensor views.</summary>
    public Storage UntypedStorage => Storage;

    /// <summary>True when elements are laid out row-major with no gaps, so the data is one span.</summary>
    public bool IsContiguous
    {
        get
        {
            if (Numel == 0) return true; // no elements, nothing to lay out (as PyTorch)
            int expected = 1;
            for (int d = _shape.Length - 1; d >= 0; d--)
            {
                if (_shape[d] == 1) continue;
                if (_strides[d] != expected) return false;
                expected *= _shape[d];
            }
            return true;
        }
    }

    /// <summary>The contiguous float data as a span (throws if not contiguous or not Float32).</summary>
    internal Span<float> FloatSpan
    {
        get
        {
            if (DType != DType.Float32) throw new InvalidOperationException($"expected a float32 tensor, got {DType.Name()}");
            if (!IsContiguous) throw new InvalidOperationException("expected a contiguous tensor");
            return Numel == 0 ? Span<float>.Empty : Storage.Floats.AsSpan(_offset, Numel);
        }
    }

    /// <summary>The contiguous int data as a span (throws if not contiguous or not integral).</summary>
    internal Span<int> IntSpan
    {
        get
        {
            if (DType == DType.Float32) throw new InvalidOperationException("expected an int32 or bool tensor, got float32");
            if (!IsContiguous) throw new InvalidOperationException("expected a contiguous tensor");
            return Numel == 0 ? Span<int>.Empty : Storage.Ints.AsSpan(_offset, Numel);
        }
    }

    /// <summary>This tensor if already contiguous, otherwise a contiguous copy.</summary>
    public Tensor Contiguous() => IsContiguous ? this : Clone();

    /// <summary>A contiguous copy with its own storage (gradients flow through it).</summary>
    public Tensor Clone() => Record(CopyContiguous(), "Clone", this, g => g);

    /// <summary>A contiguous copy, not recorded for autograd.</summary>
    internal Tensor CopyContiguous()
    {
        var r = Unfilled(_shape, DType);
        CopyStrided(this, r);
        return r;
    }

    /// <summary>Copies src's elements (already broadcast to dst's shape) into dst, whatever both layouts are.</summary>
    internal static void CopyStrided(Tensor src, Tensor dst)
    {
        if (src.DType == DType.Float32 && dst.DType == DType.Float32)
            Kernels.Strided.Copy(src.Storage.Floats!, src._offset, dst.Storage.Floats!, dst._offset, dst._shape, src._strides, dst._strides);
        else if (src.DType != DType.Float32 && dst.DType != DType.Float32)
            Kernels.Strided.Copy(src.Storage.Ints!, src._offset, dst.Storage.Ints!, dst._offset, dst._shape, src._strides, dst._strides);
        else if (dst.DType == DType.Float32)
            Kernels.Strided.Convert(src.Storage.Ints!, src._offset, dst.Storage.Floats!, dst._offset, dst._shape, src._strides, dst._strides);
        else
            Kernels.Strided.Convert(src.Storage.Floats!, src._offset, dst.Storage.Ints!, dst._offset, dst._shape, src._strides, dst._strides);
    }

    /// <summary>A copy converted to another dtype (float to int truncates toward zero; to Bool tests != 0); this tensor if already that dtype.</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        // Compare rather than convert: truncating first would turn 0.5 and NaN into 0 (false).
        if (dtype == DType.Bool) return Ne(0f);
        var r = Unfilled(_shape, dtype);
        CopyStrided(this, r);
        return r;
    }

    /// <summary>As float32 (masks become 0/1), like PyTorch's .float().</summary>
    public Tensor Float() => To(DType.Float32);

    /// <summary>As int32, like PyTorch's .int() / .long().</summary>
    public Tensor Int() => To(DType.Int32);

    /// <summary>As bool (non-zero is true).</summary>
    public Tensor Bool() => To(DType.Bool);

    /// <summary>Element at a flat position in row-major order of this tensor's shape.</summary>
    internal int StorageIndex(int flat)
    {
        int off = _offset;
        for (int d = _shape.Length - 1; d >= 0; d--)
        {
            int s = _shape[d];
            off += flat % s * _strides[d];
            flat /= s;
        }
        return off;
    }

    /// <summary>The value of a one-element tensor, as float.</summary>
    public float Item()
    {
        if (Numel != 1) throw new InvalidOperationException($"Item: tensor of shape {Shapes.Str(_shape)} has {Numel} elements, expected exactly 1");
        return DType == DType.Float32 ? Storage.Floats![_offset] : Storage.Ints![_offset];
    }

    /// <summary>The value of a one-element tensor converted to T (float, double, int, long or bool).</summary>
    public T Item<T>() where T : struct
    {
        float v = Item();
        if (typeof(T) == typeof(float)) return (T)(object)v;
        if (typeof(T) == typeof(double)) return (T)(object)(double)v;
        if (typeof(T) == typeof(int)) return (T)(object)(DType == DType.Float32 ? (int)v : Storage.Ints![_offset]);
        if (typeof(T) == typeof(long)) return (T)(object)(long)(DType == DType.Float32 ? (long)v : Storage.Ints![_offset]);
        if (typeof(T) == typeof(bool)) return (T)(object)(v != 0);
        throw new NotSupportedException($"Item<{typeof(T).Name}>: supported types are float, double, int, long and bool");
    }

    /// <summary>All elements in row-major order as floats (ints and bools converted).</summary>
    public float[] ToArray()
    {
        if (Numel == 0) return []; // an empty view's offset may lie past the end of its storage
        var c = (DType == DType.Float32 ? this : Float()).Contiguous();
        return c.Storage.Floats.AsSpan(c._offset, c.Numel).ToArray();
    }

    /// <summary>All elements in row-major order as ints (floats truncated toward zero).</summary>
    public int[] ToIntArray()
    {
        if (Numel == 0) return [];
        var c = (DType == DType.Float32 ? Int() : this).Contiguous();
        return c.Storage.Ints.AsSpan(c._offset, c.Numel).ToArray();
    }

    /// <summary>All elements as bools (non-zero is true).</summary>
    public bool[] ToBoolArray() => Array.ConvertAll(ToArray(), v => v != 0);

    /// <summary>Elements copied into a multi-dimensional .NET array of float with this tensor's shape (rank >= 1).</summary>
    public Array ToMultiArray()
    {
        if (Dim == 0) throw new InvalidOperationException("ToMultiArray: a 0-d tensor has no array form; use Item()");
        var arr = Array.CreateInstance(typeof(float), _shape);
        var flat = ToArray();
        Buffer.BlockCopy(flat, 0, arr, 0, flat.Length * sizeof(float));
        return arr;
    }

    /// <summary>Marks an in-place write on this tensor's storage.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void BumpVersion() => Storage.Version++;
}
