namespace Kiln;

public sealed partial class Tensor
{
    /// <summary>
    /// Concatenates tensors along an existing dim (negative counts from the end); all shapes must match except along dim.
    /// The result is a new contiguous tensor of the promoted dtype: the common dtype, or Float32 when any input is Float32,
    /// else Int32 when Int32 and Bool mix. As in PyTorch, 1-d empty tensors (shape [0]) are skipped whatever the others' shapes.
    /// </summary>
    public static Tensor Cat(Tensor[] tensors, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Length == 0) throw new ArgumentException("Cat: expected a non-empty list of tensors");
        var dtype = PromoteForJoin(tensors, "Cat");
        for (int i = 0; i < tensors.Length; i++)
            if (tensors[i].Dim == 0)
                throw new ArgumentException($"Cat: zero-dimensional tensor (at position {i}) cannot be concatenated; use Stack or Unsqueeze it first");

        // PyTorch's legacy rule: a tensor of shape [0] takes part in the dtype but not in the shape checks.
        static bool Skipped(Tensor t) => t.Dim == 1 && t._shape[0] == 0;
        int first = Array.FindIndex(tensors, t => !Skipped(t));
        if (first < 0)
        {
            Shapes.NormDim(dim, 1, "Cat");
            return Empty([0], dtype);
        }
        var refT = tensors[first];
        int d = Shapes.NormDim(dim, refT.Dim, "Cat");
        var outShape = (int[])refT._shape.Clone();
        long total = 0;
        for (int i = 0; i < tensors.Length; i++)
        {
            var t = tensors[i];
            if (Skipped(t)) continue;
            if (t.Dim != refT.Dim)
                throw new ArgumentException($"Cat: tensors must have the same number of dimensions, but tensor {first} has shape {Shapes.Str(refT._shape)} and tensor {i} has shape {Shapes.Str(t._shape)}");
            for (int k = 0; k < t.Dim; k++)
                if (k != d && t._shape[k] != refT._shape[k])
                    throw new ArgumentException($"Cat: sizes must match except in dimension {d}, but tensor {first} has shape {Shapes.Str(refT._shape)} and tensor {i} has shape {Shapes.Str(t._shape)} (dimension {k}: {refT._shape[k]} vs {t._shape[k]})");
            total += t._shape[d];
        }
        if (total > int.MaxValue) throw new ArgumentException($"Cat: the result would have {total} entries in dimension {d}");
        outShape[d] = (int)total;

        var result = Empty(outShape, dtype);
        var starts = new int[tensors.Length];
        int offset = 0;
        for (int i = 0; i < tensors.Length; i++)
        {
            var t = tensors[i];
            starts[i] = offset;
            if (Skipped(t)) continue;
            int len = t._shape[d];
            if (len > 0) CopyStrided(t, result.Narrow(d, offset, len));
            offset += len;
        }
        // Each input's gradient is its own slab of g along dim (the list is copied: the caller may reuse its array).
        if (NeedsGrad(tensors)) tensors = (Tensor[])tensors.Clone();
        return Record(result, "Cat", tensors, g =>
        {
            var r = new Tensor?[tensors.Length];
            for (int i = 0; i < r.Length; i++)
                if (tensors[i]._requiresGrad && !Skipped(tensors[i])) r[i] = g.Narrow(d, starts[i], tensors[i]._shape[d]);
            return r;
        });
    }

    /// <summary>Concatenates a sequence of tensors along dim; see <see cref="Cat(Tensor[], int)"/>.</summary>
    public static Tensor Cat(IEnumerable<Tensor> tensors, int dim = 0) => Cat(tensors.ToArray(), dim);

    /// <summary>
    /// Stacks equally shaped tensors along a new dim (0..rank, negative counts from the end of the result): n tensors of
    /// shape S give S with n inserted at dim. A new contiguous tensor; dtypes promote as in <see cref="Cat(Tensor[], int)"/>.
    /// </summary>
    public static Tensor Stack(Tensor[] tensors, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Length == 0) throw new ArgumentException("Stack: expected a non-empty list of tensors");
        var dtype = PromoteForJoin(tensors, "Stack");
        var shape = tensors[0]._shape;
        for (int i = 1; i < tensors.Length; i++)
            if (!Shapes.Equal(tensors[i]._shape, shape))
                throw new ArgumentException($"Stack: all tensors must have the same shape, but tensor 0 has shape {Shapes.Str(shape)} and tensor {i} has shape {Shapes.Str(tensors[i]._shape)}");
        int d = Shapes.NormDim(dim, shape.Length + 1, "Stack");
        var result = Empty([.. shape[..d], tensors.Length, .. shape[d..]], dtype);
        for (int i = 0; i < tensors.Length; i++) CopyStrided(tensors[i], result.Select(d, i));
        // Each input's gradient is its own index of g along the new dim (the list is copied: the caller may reuse its array).
        if (NeedsGrad(tensors)) tensors = (Tensor[])tensors.Clone();
        return Record(result, "Stack", tensors, g =>
        {
            var r = new Tensor?[tensors.Length];
            for (int i = 0; i < r.Length; i++) r[i] = tensors[i]._requiresGrad ? g.Select(d, i) : null;
            return r;
        });
    }

    /// <summary>Stacks a sequence of tensors along a new dim; see <see cref="Stack(Tensor[], int)"/>.</summary>
    public static Tensor Stack(IEnumerable<Tensor> tensors, int dim = 0) => Stack(tensors.ToArray(), dim);

    /// <summary>Views of consecutive pieces of splitSize along dim (the last may be smaller), like torch.split.</summary>
    public Tensor[] Split(int splitSize, int dim = 0)
    {
        int d = JoinDim(dim, "Split");
        int n = _shape[d];
        if (splitSize < 0 || (splitSize == 0 && n > 0))
            throw new ArgumentException($"Split: split size must be positive, got {splitSize} for dimension {d} of shape {Shapes.Str(_shape)}");
        int pieces = n == 0 ? 1 : (n + splitSize - 1) / splitSize;
        var r = new Tensor[pieces];
        for (int i = 0; i < pieces; i++)
        {
            int start = i * splitSize;
            r[i] = Narrow(d, start, Math.Min(splitSize, n - start));
        }
        return r;
    }

    /// <summary>Views of consecutive pieces with the given sizes along dim; the sizes must sum to that dim's size.</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        int d = JoinDim(dim, "Split");
        long sum = 0;
        foreach (int s in sizes)
        {
            if (s < 0) throw new ArgumentException($"Split: sizes {Shapes.Str(sizes)} contain a negative size (shape {Shapes.Str(_shape)}, dimension {d})");
            sum += s;
        }
        if (sum != _shape[d])
            throw new ArgumentException($"Split: sizes {Shapes.Str(sizes)} sum to {sum}, but dimension {d} of shape {Shapes.Str(_shape)} has size {_shape[d]}");
        var r = new Tensor[sizes.Length];
        int start = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            r[i] = Narrow(d, start, sizes[i]);
            start += sizes[i];
        }
        return r;
    }

    /// <summary>Views of up to chunks pieces of ceil(size/chunks) along dim (the last may be smaller, and there may be fewer), like torch.chunk.</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        int d = JoinDim(dim, "Chunk");
        if (chunks <= 0) throw new ArgumentException($"Chunk: number of chunks must be positive, got {chunks} (shape {Shapes.Str(_shape)})");
        int n = _shape[d];
        // An empty dim still yields the requested number of (empty) chunks, as in PyTorch.
        if (n == 0) return Split(new int[chunks], d);
        return Split((int)((n + (long)chunks - 1) / chunks), d);
    }

    /// <summary>Views of every index along dim, with that dim removed (the inverse of Stack).</summary>
    public Tensor[] Unbind(int dim = 0)
    {
        int d = JoinDim(dim, "Unbind");
        var r = new Tensor[_shape[d]];
        for (int i = 0; i < r.Length; i++) r[i] = Select(d, i);
        return r;
    }

    int JoinDim(int dim, string op)
    {
        if (Dim == 0) throw new ArgumentException($"{op}: a 0-d tensor has no dimension to split");
        return Shapes.NormDim(dim, Dim, op);
    }

    static DType PromoteForJoin(Tensor[] tensors, string op)
    {
        var dtype = DType.Bool;
        for (int i = 0; i < tensors.Length; i++)
        {
            var t = tensors[i] ?? throw new ArgumentNullException(nameof(tensors), $"{op}: tensor {i} is null");
            if (t.DType == DType.Float32) dtype = DType.Float32;
            else if (t.DType == DType.Int32 && dtype == DType.Bool) dtype = DType.Int32;
        }
        return dtype;
    }
}
