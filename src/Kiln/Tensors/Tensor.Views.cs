namespace Kiln;

public sealed partial class Tensor
{
    /// <summary>A view sharing this tensor's storage with a new shape, strides and offset.</summary>
    internal Tensor AsStrided(int[] shape, int[] strides, int offset) =>
        // An empty view reads nothing, but its offset can walk past the end of the storage (Zeros(0,7)[:,1::2] has offset 1):
        // clamp it so code slicing storage at the offset stays in range.
        new(Storage, shape, strides, Array.IndexOf(shape, 0) >= 0 ? Math.Min(offset, Storage.Length) : offset, DType) { _base = _base ?? this };

    /// <summary>Backward of a window view: the gradient lands in the viewed positions of a zero tensor shaped like this one.</summary>
    Tensor IntoZeros(Tensor g, Func<Tensor, Tensor> sameView)
    {
        var z = Zeros(_shape);
        sameView(z).CopyFrom(g);
        return z;
    }

    int[] InferShape(int[] shape, string op)
    {
        int n = Numel, known = 1, infer = -1;
        var r = (int[])shape.Clone();
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"{op}: only one dimension can be -1, got {Shapes.Str(shape)}");
                infer = i;
            }
            else if (r[i] < 0) throw new ArgumentException($"{op}: invalid size {r[i]} in {Shapes.Str(shape)}");
            else known *= r[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || n % known != 0)
                throw new ArgumentException($"{op}: shape {Shapes.Str(shape)} is invalid for a tensor of shape {Shapes.Str(_shape)} ({n} elements)");
            r[infer] = n / known;
        }
        else if (known != n)
            throw new ArgumentException($"{op}: shape {Shapes.Str(shape)} is invalid for a tensor of shape {Shapes.Str(_shape)} ({n} elements)");
        return r;
    }

    /// <summary>Strides that let the current layout be read with newShape without copying, or null if impossible (PyTorch's rule).</summary>
    int[]? ViewStrides(int[] newShape)
    {
        if (Numel == 0 || IsContiguous) return Shapes.ContiguousStrides(newShape);
        var ns = new int[newShape.Length];
        int viewD = newShape.Length - 1;
        int chunkBase = _strides.Length > 0 ? _strides[^1] : 1;
        long tensorNumel = 1, viewNumel = 1;
        for (int d = _shape.Length - 1; d >= 0; d--)
        {
            tensorNumel *= _shape[d];
            if (d == 0 || (_shape[d - 1] != 1 && _strides[d - 1] != tensorNumel * chunkBase))
            {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1))
                {
                    ns[viewD] = (int)(viewNumel * chunkBase);
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) return null;
                if (d > 0)
                {
                    chunkBase = _strides[d - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? ns : null;
    }

    /// <summary>A view with a new shape (one dim may be -1); throws if the layout cannot be viewed without a copy (use Reshape).</summary>
    public Tensor View(params int[] shape)
    {
        var s = InferShape(shape, "View");
        var st = ViewStrides(s) ?? throw new InvalidOperationException(
            $"View: a tensor of shape {Shapes.Str(_shape)} with strides {Shapes.Str(_strides)} cannot be viewed as {Shapes.Str(s)} without a copy; use Reshape");
        return Record(AsStrided(s, st, _offset), "View", this, g => g.Reshape(_shape));
    }

    /// <summary>A tensor with a new shape (one dim may be -1): a view when the layout allows, otherwise a copy.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var s = InferShape(shape, "Reshape");
        var st = ViewStrides(s);
        // The copy is a fresh tensor, not a view of anything (in-place writes on it are ordinary writes).
        var r = st != null ? AsStrided(s, st, _offset) : new Tensor(CopyContiguous().Storage, s, Shapes.ContiguousStrides(s), 0, DType);
        return Record(r, "Reshape", this, g => g.Reshape(_shape));
    }

    /// <summary>Flattens dims startDim..endDim into one (view when possible).</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Dim == 0) return Reshape(1);
        int s = Shapes.NormDim(startDim, Dim, "Flatten"), e = Shapes.NormDim(endDim, Dim, "Flatten");
        if (s > e) throw new ArgumentException($"Flatten: startDim {startDim} comes after endDim {endDim} for shape {Shapes.Str(_shape)}");
        var ns = new List<int>();
        for (int d = 0; d < s; d++) ns.Add(_shape[d]);
        int m = 1;
        for (int d = s; d <= e; d++) m *= _shape[d];
        ns.Add(m);
        for (int d = e + 1; d < Dim; d++) ns.Add(_shape[d]);
        return Reshape(ns.ToArray());
    }

    /// <summary>Splits dim into the given sizes (one may be -1): the inverse of Flatten.</summary>
    public Tensor Unflatten(int dim, params int[] sizes)
    {
        int d = Shapes.NormDim(dim, Dim, "Unflatten");
        var ns = new List<int>(_shape[..d]);
        ns.AddRange(sizes);
        ns.AddRange(_shape[(d + 1)..]);
        return Reshape(ns.ToArray());
    }

    /// <summary>A view with dims d0 and d1 swapped.</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        if (Dim == 0) return this;
        int a = Shapes.NormDim(dim0, Dim, "Transpose"), b = Shapes.NormDim(dim1, Dim, "Transpose");
        var sh = (int[])_shape.Clone();
        var st = (int[])_strides.Clone();
        (sh[a], sh[b]) = (sh[b], sh[a]);
        (st[a], st[b]) = (st[b], st[a]);
        return Record(AsStrided(sh, st, _offset), "Transpose", this, g => g.Transpose(a, b));
    }

    /// <summary>Transpose of a matrix (or all dims reversed, as PyTorch's .T; 0-d and 1-d are returned as is).</summary>
    public Tensor T
    {
        get
        {
            if (Dim < 2) return this;
            var p = new int[Dim];
            for (int i = 0; i < Dim; i++) p[i] = Dim - 1 - i;
            return Permute(p);
        }
    }

    /// <summary>Swaps the last two dims (batched matrix transpose, PyTorch's .mT).</summary>
    public Tensor MT => Dim < 2
        ? throw new InvalidOperationException($"MT: needs at least 2 dimensions, got shape {Shapes.Str(_shape)}")
        : Transpose(-2, -1);

    /// <summary>A view with dims reordered: result dim i is this tensor's dim dims[i].</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Dim)
            throw new ArgumentException($"Permute: got {dims.Length} dims {Shapes.Str(dims)} for a tensor of shape {Shapes.Str(_shape)}");
        var seen = new bool[Dim];
        var sh = new int[Dim];
        var st = new int[Dim];
        for (int i = 0; i < Dim; i++)
        {
            int d = Shapes.NormDim(dims[i], Dim, "Permute");
            if (seen[d]) throw new ArgumentException($"Permute: dimension {d} repeats in {Shapes.Str(dims)}");
            seen[d] = true;
            sh[i] = _shape[d];
            st[i] = _strides[d];
        }
        var inverse = new int[Dim];
        for (int i = 0; i < Dim; i++) inverse[Shapes.NormDim(dims[i], Dim, "Permute")] = i;
        return Record(AsStrided(sh, st, _offset), "Permute", this, g => g.Permute(inverse));
    }

    /// <summary>A view broadcasting size-1 dims to larger sizes with stride 0 (-1 keeps a size; new leading dims allowed).</summary>
    public Tensor Expand(params int[] sizes)
    {
        if (sizes.Length < Dim)
            throw new ArgumentException($"Expand: cannot expand shape {Shapes.Str(_shape)} to {Shapes.Str(sizes)} (fewer dimensions)");
        int lead = sizes.Length - Dim;
        var sh = new int[sizes.Length];
        var st = new int[sizes.Length];
        for (int i = 0; i < sizes.Length; i++)
        {
            int j = i - lead;
            if (j < 0)
            {
                if (sizes[i] < 0) throw new ArgumentException($"Expand: size -1 is not allowed for the new leading dimension {i} in {Shapes.Str(sizes)}");
                sh[i] = sizes[i];
                st[i] = 0;
                continue;
            }
            int want = sizes[i] == -1 ? _shape[j] : sizes[i];
            if (want < 0) throw new ArgumentException($"Expand: invalid size {sizes[i]} at dimension {i} in {Shapes.Str(sizes)} (only -1 is allowed, to keep a size)");
            if (want == _shape[j]) { sh[i] = want; st[i] = _strides[j]; }
            else if (_shape[j] == 1) { sh[i] = want; st[i] = 0; }
            else throw new ArgumentException($"Expand: cannot expand shape {Shapes.Str(_shape)} to {Shapes.Str(sizes)} (dimension {i}: {_shape[j]} is not 1)");
        }
        return Record(AsStrided(sh, st, _offset), "Expand", this, g => SumTo(g, _shape));
    }

    /// <summary>Expand to other's shape.</summary>
    public Tensor ExpandAs(Tensor other) => Expand(other._shape);

    /// <summary>Broadcast this tensor to shape (a stride-0 view).</summary>
    public Tensor BroadcastTo(params int[] shape) => Record(
        AsStrided((int[])shape.Clone(), Shapes.BroadcastStrides(_shape, _strides, shape, "BroadcastTo"), _offset), "BroadcastTo", this, g => SumTo(g, _shape));

    /// <summary>Removes all size-1 dims (beware: a batch of size 1 collapses too; prefer Squeeze(dim)).</summary>
    public Tensor Squeeze()
    {
        var sh = new List<int>();
        var st = new List<int>();
        for (int d = 0; d < Dim; d++)
            if (_shape[d] != 1) { sh.Add(_shape[d]); st.Add(_strides[d]); }
        return Record(AsStrided(sh.ToArray(), st.ToArray(), _offset), "Squeeze", this, g => g.Reshape(_shape));
    }

    /// <summary>Removes dim if its size is 1 (otherwise returns the same shape, as PyTorch does).</summary>
    public Tensor Squeeze(int dim)
    {
        if (Dim == 0) return this;
        int d = Shapes.NormDim(dim, Dim, "Squeeze");
        if (_shape[d] != 1) return this;
        return Record(AsStrided([.. _shape[..d], .. _shape[(d + 1)..]], [.. _strides[..d], .. _strides[(d + 1)..]], _offset), "Squeeze", this, g => g.Reshape(_shape));
    }

    /// <summary>Inserts a size-1 dim at position dim (negative counts from the end of the result).</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = Shapes.NormDim(dim, Dim + 1, "Unsqueeze");
        int stride = d < Dim ? _shape[d] * _strides[d] : 1;
        return Record(AsStrided([.. _shape[..d], 1, .. _shape[d..]], [.. _strides[..d], stride, .. _strides[d..]], _offset), "Unsqueeze", this, g => g.Reshape(_shape));
    }

    /// <summary>A view of length elements of dim starting at start.</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = Shapes.NormDim(dim, Dim, "Narrow");
        if (start < 0) start += _shape[d];
        if (start < 0 || length < 0 || start + length > _shape[d])
            throw new ArgumentOutOfRangeException(nameof(start), $"Narrow: start {start} and length {length} exceed dimension {d} of size {_shape[d]} (shape {Shapes.Str(_shape)})");
        var sh = (int[])_shape.Clone();
        sh[d] = length;
        return Record(AsStrided(sh, (int[])_strides.Clone(), _offset + start * _strides[d]), "Narrow", this, g => IntoZeros(g, z => z.Narrow(d, start, length)));
    }

    /// <summary>A view of dim from start (inclusive) to end (exclusive) stepping by step, with Python slice clamping (negative start/end count from the end).</summary>
    public Tensor Slice(int dim, int? start = null, int? end = null, int step = 1)
    {
        int d = Shapes.NormDim(dim, Dim, "Slice");
        if (step <= 0) throw new ArgumentException($"Slice: step must be positive, got {step} (PyTorch does not support negative steps; use Flip)");
        int n = _shape[d];
        int s = start ?? 0, e = end ?? n;
        if (s < 0) s += n;
        if (e < 0) e += n;
        s = Math.Clamp(s, 0, n);
        e = Math.Clamp(e, s, n);
        int len = (e - s + step - 1) / step;
        var sh = (int[])_shape.Clone();
        var st = (int[])_strides.Clone();
        sh[d] = len;
        st[d] = _strides[d] * step;
        return Record(AsStrided(sh, st, _offset + (len > 0 ? s * _strides[d] : 0)), "Slice", this, g => IntoZeros(g, z => z.Slice(d, s, e, step)));
    }

    /// <summary>A view of one index along dim, with that dim removed (negative index counts from the end).</summary>
    public Tensor Select(int dim, int index)
    {
        int d = Shapes.NormDim(dim, Dim, "Select");
        int i = index < 0 ? index + _shape[d] : index;
        if (i < 0 || i >= _shape[d])
            throw new IndexOutOfRangeException($"Select: index {index} is out of range for dimension {d} of size {_shape[d]} (shape {Shapes.Str(_shape)})");
        return Record(AsStrided([.. _shape[..d], .. _shape[(d + 1)..]], [.. _strides[..d], .. _strides[(d + 1)..]], _offset + i * _strides[d]), "Select", this, g => IntoZeros(g, z => z.Select(d, i)));
    }
}
