using System.Runtime.CompilerServices;

namespace Kiln.Data;

/// <summary>
/// Collation: turning the items of one batch into the batch. Tensors are stacked along a new dimension 0, numbers become
/// a tensor, tuples and field arrays are collated field by field, and anything else (strings, chars, paths) is grouped
/// into a list, like PyTorch's default_collate.
/// </summary>
public static class Collate
{
    /// <summary>Stacks field f of every item into field f of the batch; all items need the same fields and shapes.</summary>
    public static Batch Tensors(IReadOnlyList<Tensor[]> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0) throw new ArgumentException("Collate: a batch needs at least one item.", nameof(items));
        int nf = items[0].Length;
        for (int i = 1; i < items.Count; i++)
            if (items[i].Length != nf)
                throw new ArgumentException($"Collate: item 0 of the batch has {nf} field(s) but item {i} has {items[i].Length}; every item needs the same fields.");
        var fields = new Tensor[nf];
        var column = new Tensor[items.Count];
        for (int f = 0; f < nf; f++)
        {
            for (int i = 0; i < column.Length; i++) column[i] = items[i][f];
            fields[f] = StackField(column, f);
        }
        return new Batch(fields);
    }

    /// <summary>Stacks one field's tensors, explaining a shape mismatch (items of different sizes cannot be collated).</summary>
    static Tensor StackField(Tensor[] column, int field)
    {
        var s0 = column[0]._shape;
        for (int i = 1; i < column.Length; i++)
            if (!column[i]._shape.AsSpan().SequenceEqual(s0))
                throw new ArgumentException(
                    $"Collate: cannot stack field {field}: item 0 has shape {Shapes.Str(s0)} but item {i} has shape {Shapes.Str(column[i]._shape)}. " +
                    "Items of different sizes cannot be collated into one tensor; resize or crop them to one size with an item transform (e.g. Transforms.Resize).");
        using (Autograd.NoGrad()) return Tensor.Stack(column);
    }

    /// <summary>PyTorch-style default collation of arbitrary items: a Tensor, an object[] per tuple/array field, or a grouped list.</summary>
    public static object Default<T>(IReadOnlyList<T> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0) throw new ArgumentException("Collate: a batch needs at least one item.", nameof(items));
        var boxed = new object?[items.Count];
        for (int i = 0; i < boxed.Length; i++) boxed[i] = items[i];
        return DefaultBoxed(boxed, "batch");
    }

    static object DefaultBoxed(object?[] items, string where)
    {
        object? first = items[0];
        switch (first)
        {
            case Tensor:
                var ts = new Tensor[items.Length];
                for (int i = 0; i < ts.Length; i++)
                    ts[i] = items[i] as Tensor ?? throw new ArgumentException($"Collate: {where}: item 0 is a Tensor but item {i} is {Describe(items[i])}.");
                return StackField(ts, 0);
            case int or long or short or byte or sbyte or ushort:
                var ints = new int[items.Length];
                for (int i = 0; i < ints.Length; i++) ints[i] = Convert.ToInt32(items[i]);
                return Tensor.FromArray(ints, ints.Length);
            case float or double:
                var fs = new float[items.Length];
                for (int i = 0; i < fs.Length; i++) fs[i] = Convert.ToSingle(items[i]);
                return Tensor.FromArray(fs, fs.Length);
            case bool:
                var bs = new bool[items.Length];
                for (int i = 0; i < bs.Length; i++) bs[i] = (bool)items[i]!;
                return Tensor.FromArray(bs, bs.Length);
            case ITuple or Tensor[]:
                int n = Fields(first).Length;
                var rows = new object?[items.Length][];
                for (int i = 0; i < items.Length; i++)
                {
                    rows[i] = items[i] is ITuple or Tensor[] ? Fields(items[i]!) : throw new ArgumentException($"Collate: {where}: item 0 is a tuple but item {i} is {Describe(items[i])}.");
                    if (rows[i].Length != n) throw new ArgumentException($"Collate: {where}: item 0 has {n} fields but item {i} has {rows[i].Length}.");
                }
                var result = new object[n];
                var col = new object?[items.Length];
                for (int f = 0; f < n; f++)
                {
                    for (int i = 0; i < items.Length; i++) col[i] = rows[i][f];
                    result[f] = DefaultBoxed(col, $"field {f}");
                }
                return result;
            default:
                return new List<object?>(items);
        }
    }

    static object?[] Fields(object item)
    {
        if (item is Tensor[] arr) return arr;
        var t = (ITuple)item;
        var r = new object?[t.Length];
        for (int i = 0; i < r.Length; i++) r[i] = t[i];
        return r;
    }

    static string Describe(object? o) => o is null ? "null" : $"a {o.GetType().Name}";
}
