namespace Kiln.Data;

/// <summary>
/// A dataset in the PyTorch sense: a length and an item for each index in 0..Count-1 (lesson 4's "list of (x, y)
/// tuples"). Reading an item must be safe from several threads at once, because DataLoader workers call it in parallel.
/// </summary>
public interface IDataset<out T>
{
    /// <summary>Number of items.</summary>
    int Count { get; }

    /// <summary>The item at <paramref name="index"/> (0 &lt;= index &lt; Count).</summary>
    T this[int index] { get; }
}

/// <summary>
/// An in-memory dataset over tensors that share their first dimension, e.g. images X [N,1,28,28] and labels Y [N]:
/// item i is the fields' rows i (views, no copy). DataLoader gathers a whole batch of rows with one copy per field.
/// </summary>
public sealed class TensorDataset : IDataset<Tensor[]>
{
    readonly Tensor[] _fields;

    /// <summary>A dataset over the given fields (at least one; all with the same size of dimension 0).</summary>
    public TensorDataset(params Tensor[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        if (fields.Length == 0) throw new ArgumentException("TensorDataset: needs at least one tensor.", nameof(fields));
        for (int i = 0; i < fields.Length; i++)
        {
            if (fields[i] is null) throw new ArgumentNullException(nameof(fields), $"TensorDataset: field {i} is null.");
            if (fields[i].Dim == 0)
                throw new ArgumentException($"TensorDataset: field {i} is a 0-d tensor; every field needs a first (item) dimension.", nameof(fields));
        }
        int n = fields[0].Size(0);
        for (int i = 1; i < fields.Length; i++)
            if (fields[i].Size(0) != n)
                throw new ArgumentException(
                    $"TensorDataset: all fields must have the same number of items, but field 0 has shape {Shapes.Str(fields[0]._shape)} " +
                    $"({n} items) and field {i} has shape {Shapes.Str(fields[i]._shape)} ({fields[i].Size(0)} items).", nameof(fields));
        // Contiguous once here, so that a batch is a block copy of rows; detached so loaders never build autograd graphs.
        _fields = Array.ConvertAll(fields, f => f.IsContiguous && f.IsLeaf && !f.RequiresGrad ? f : f.Detach().CopyContiguous());
        Count = n;
    }

    /// <inheritdoc/>
    public int Count { get; }

    /// <summary>Number of fields per item.</summary>
    public int FieldCount => _fields.Length;

    /// <summary>Field <paramref name="i"/> as a whole tensor [N, ...] (field 0 is the input, field 1 the target).</summary>
    public Tensor Field(int i) => _fields[i];

    /// <summary>The input tensor (field 0) over all items.</summary>
    public Tensor X => _fields[0];

    /// <summary>The first target (field 1) over all items.</summary>
    public Tensor Y => _fields.Length > 1 ? _fields[1]
        : throw new InvalidOperationException("TensorDataset.Y: this dataset has only one field.");

    /// <inheritdoc/>
    public Tensor[] this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(index), $"TensorDataset: index {index} is out of range for {Count} items.");
            var r = new Tensor[_fields.Length];
            for (int f = 0; f < r.Length; f++) r[f] = _fields[f].Select(0, index);
            return r;
        }
    }

    /// <summary>The rows at <paramref name="indices"/> of every field as one batch (one block copy per row).</summary>
    public Batch Gather(ReadOnlySpan<int> indices)
    {
        var r = new Tensor[_fields.Length];
        for (int f = 0; f < r.Length; f++) r[f] = GatherRows(_fields[f], indices);
        return new Batch(r);
    }

    /// <summary>A dataset over the items at <paramref name="indices"/> (copied rows).</summary>
    public TensorDataset Subset(ReadOnlySpan<int> indices) => new(Gather(indices).ToArray());

    /// <summary>Copies the given rows of a contiguous tensor into a new tensor [indices.Length, ...].</summary>
    internal static Tensor GatherRows(Tensor src, ReadOnlySpan<int> indices)
    {
        if (!src.IsContiguous) src = src.CopyContiguous();
        var shape = (int[])src._shape.Clone();
        int n = shape[0];
        shape[0] = indices.Length;
        // Every element is overwritten below, so skip zeroing the (multi-megabyte) batch buffer.
        int total = Shapes.Numel(shape, "Gather");
        var dst = src.DType == DType.Float32
            ? Tensor.Unfilled(shape)
            : Tensor.Wrap(GC.AllocateUninitializedArray<int>(total), shape, src.DType);
        int row = n == 0 ? 0 : src.Numel / n;
        if (row == 0) return dst;
        for (int i = 0; i < indices.Length; i++)
        {
            int k = indices[i];
            if ((uint)k >= (uint)n) throw new ArgumentOutOfRangeException(nameof(indices), $"Gather: index {k} is out of range for {n} items.");
            if (src.DType == DType.Float32)
                Array.Copy(src.Storage.Floats!, src._offset + (long)k * row, dst.Storage.Floats!, (long)i * row, row);
            else
                Array.Copy(src.Storage.Ints!, src._offset + (long)k * row, dst.Storage.Ints!, (long)i * row, row);
        }
        return dst;
    }
}

/// <summary>A dataset over a list held in memory (lesson 4's <c>list(zip(x, y))</c> or <c>range(15)</c>).</summary>
public sealed class ListDataset<T> : IDataset<T>
{
    readonly IReadOnlyList<T> _items;

    /// <summary>A dataset whose item i is <paramref name="items"/>[i] (the list is not copied).</summary>
    public ListDataset(IReadOnlyList<T> items) => _items = items ?? throw new ArgumentNullException(nameof(items));

    /// <inheritdoc/>
    public int Count => _items.Count;

    /// <inheritdoc/>
    public T this[int index] => _items[index];
}

/// <summary>A dataset computed on access: item i is <c>get(i)</c> (e.g. decode file i).</summary>
public sealed class FuncDataset<T> : IDataset<T>
{
    readonly Func<int, T> _get;

    /// <summary>A dataset of <paramref name="count"/> items produced by <paramref name="get"/> (must be thread-safe).</summary>
    public FuncDataset(int count, Func<int, T> get)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        _get = get ?? throw new ArgumentNullException(nameof(get));
    }

    /// <inheritdoc/>
    public int Count { get; }

    /// <inheritdoc/>
    public T this[int index] => (uint)index < (uint)Count ? _get(index)
        : throw new ArgumentOutOfRangeException(nameof(index), $"FuncDataset: index {index} is out of range for {Count} items.");
}

/// <summary>Helpers to make datasets.</summary>
public static class Dataset
{
    /// <summary>A dataset over a list (not copied).</summary>
    public static ListDataset<T> FromList<T>(IReadOnlyList<T> items) => new(items);

    /// <summary>A dataset over any sequence (materialised once into an array).</summary>
    public static ListDataset<T> From<T>(IEnumerable<T> items) => new(items.ToArray());

    /// <summary>An in-memory tensor dataset (see <see cref="TensorDataset"/>).</summary>
    public static TensorDataset FromTensors(params Tensor[] fields) => new(fields);

    /// <summary>A dataset whose item i is <c>select(source[i])</c>, computed on access.</summary>
    public static FuncDataset<TOut> Map<TIn, TOut>(this IDataset<TIn> source, Func<TIn, TOut> select)
        => new(source.Count, i => select(source[i]));

    /// <summary>The items of <paramref name="source"/> at <paramref name="indices"/> (a view, items are read on access).</summary>
    public static FuncDataset<T> Subset<T>(this IDataset<T> source, IReadOnlyList<int> indices)
    {
        foreach (int i in indices)
            if ((uint)i >= (uint)source.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"Subset: index {i} is out of range for {source.Count} items.");
        return new FuncDataset<T>(indices.Count, k => source[indices[k]]);
    }
}
