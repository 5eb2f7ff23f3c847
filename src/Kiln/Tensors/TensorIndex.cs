namespace Kiln;

/// <summary>
/// One entry of a PyTorch/NumPy-style index, as in <c>x[0, 1..^1, TensorIndex.NewAxis, idx]</c>. Converts implicitly from
/// int and <see cref="System.Index"/> (select), <see cref="System.Range"/> (slice), <see cref="Tensor"/> (Int32 index tensor or
/// Bool mask), int[] (index list) and bool[] (mask). With <c>using static Kiln.TensorIndex;</c> you can write <c>c[None, ..]</c>.
/// Note that <c>..</c> is one full slice (Python's <c>:</c>); Python's <c>...</c> is <see cref="Ellipsis"/>.
/// </summary>
public sealed class TensorIndex
{
    internal enum IndexKind { Int, Slice, NewAxis, Ellipsis, Tensor }

    internal IndexKind Kind { get; }
    readonly Index _index;
    readonly Index _start, _stop;
    readonly int _step;
    readonly Tensor? _tensor;

    TensorIndex(IndexKind kind, Index index = default, Index start = default, Index stop = default, int step = 1, Tensor? tensor = null)
    {
        Kind = kind;
        _index = index;
        _start = start;
        _stop = stop;
        _step = step;
        _tensor = tensor;
    }

    /// <summary>Inserts a new dimension of size 1 (NumPy's np.newaxis, Python's None).</summary>
    public static TensorIndex NewAxis { get; } = new(IndexKind.NewAxis);

    /// <summary>Alias of <see cref="NewAxis"/> that reads like the course's <c>c[None]</c>.</summary>
    public static TensorIndex None => NewAxis;

    /// <summary>Stands for as many full slices as needed to index every dimension (Python's <c>...</c>); at most one per index.</summary>
    public static TensorIndex Ellipsis { get; } = new(IndexKind.Ellipsis);

    /// <summary>A Python slice start:stop:step (null bounds mean the ends; negative bounds count from the end; step must be positive).</summary>
    public static TensorIndex Slice(int? start = null, int? stop = null, int step = 1)
    {
        if (step <= 0) throw new ArgumentException($"Index: slice step must be positive, got {step} (PyTorch does not support negative steps; use Flip)");
        return new(IndexKind.Slice, start: FromPython(start, 0), stop: FromPython(stop, int.MaxValue), step: step);
    }

    static Index FromPython(int? v, int whenNull) => v switch
    {
        null => whenNull == int.MaxValue ? Index.End : Index.Start,
        < 0 => Index.FromEnd(-v.Value),
        _ => Index.FromStart(v.Value),
    };

    /// <summary>Selects one position (negative counts from the end) and removes the dimension.</summary>
    public static implicit operator TensorIndex(int index) => new(IndexKind.Int, index: index < 0 ? Index.FromEnd(-index) : Index.FromStart(index));

    /// <summary>Selects one position (<c>^1</c> is the last) and removes the dimension.</summary>
    public static implicit operator TensorIndex(Index index) => new(IndexKind.Int, index: index);

    /// <summary>A view of a range of positions (<c>..</c>, <c>1..^1</c>), clamped to the dimension like a Python slice.</summary>
    public static implicit operator TensorIndex(Range range) => new(IndexKind.Slice, start: range.Start, stop: range.End);

    /// <summary>An Int32 tensor of positions (advanced indexing, a copy) or a Bool mask over the next mask.Dim dimensions.</summary>
    public static implicit operator TensorIndex(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return new(IndexKind.Tensor, tensor: tensor);
    }

    /// <summary>A list of positions along one dimension (advanced indexing, like Python's <c>x[[0, 2]]</c>).</summary>
    public static implicit operator TensorIndex(int[] indices) => Tensor.FromArray(indices ?? throw new ArgumentNullException(nameof(indices)));

    /// <summary>A 1-d Bool mask along one dimension.</summary>
    public static implicit operator TensorIndex(bool[] mask) => Tensor.FromArray(mask ?? throw new ArgumentNullException(nameof(mask)));

    /// <summary>The index tensor of a Tensor entry.</summary>
    internal Tensor Tensor => _tensor!;

    /// <summary>Number of dimensions of the indexed tensor this entry consumes.</summary>
    internal int Consumes => Kind switch
    {
        IndexKind.Int or IndexKind.Slice => 1,
        IndexKind.Tensor => _tensor!.DType == DType.Bool ? _tensor.Dim : 1,
        _ => 0,
    };

    /// <summary>The position an Int entry selects in a dimension of the given size (may be out of range; the caller checks).</summary>
    internal int Position(int size) => _index.IsFromEnd ? size - _index.Value : _index.Value;

    /// <summary>Start, length and step of a Slice entry in a dimension of the given size, clamped as Python does.</summary>
    internal (int Start, int Length, int Step) Resolve(int size)
    {
        int s = Math.Clamp(_start.IsFromEnd ? size - _start.Value : _start.Value, 0, size);
        int e = Math.Clamp(_stop.IsFromEnd ? size - _stop.Value : _stop.Value, s, size);
        return (s, (e - s + _step - 1) / _step, _step);
    }

    /// <summary>Python-like text of this entry: <c>3</c>, <c>^1</c>, <c>1:^1:2</c>, <c>None</c>, <c>...</c>, <c>int32[3]</c>.</summary>
    public override string ToString() => Kind switch
    {
        IndexKind.Int => _index.IsFromEnd ? $"-{_index.Value}" : _index.Value.ToString(),
        IndexKind.Slice => $"{Bound(_start, true)}:{Bound(_stop, false)}" + (_step != 1 ? $":{_step}" : ""),
        IndexKind.NewAxis => "None",
        IndexKind.Ellipsis => "...",
        _ => $"{_tensor!.DType.Name()}{Shapes.Str(_tensor._shape)}",
    };

    static string Bound(Index i, bool start) => i.IsFromEnd
        ? (i.Value == 0 && !start ? "" : $"-{i.Value}")
        : (i.Value == 0 && start ? "" : i.Value.ToString());
}
