using System.Numerics;
using System.Runtime.CompilerServices;
using Kiln.Kernels;

namespace Kiln;

public sealed partial class Tensor
{
    /// <summary>
    /// PyTorch indexing: ints select (dim removed), ranges/slices, NewAxis and Ellipsis give a view sharing storage; Int32 index
    /// tensors, int[] and Bool masks (advanced indexing) gather a copy. Advanced indices broadcast together; their dims go where the
    /// first one stood when they are adjacent, else first (NumPy's rule, applied after ints have selected, as PyTorch does).
    /// Setting writes the value (broadcast to the indexed region) through the view, or scatters it (last write wins on duplicates).
    /// Autograd: views pass the gradient back in place, gathers scatter-add it (duplicates accumulate), and a write into a
    /// tensor in the graph (or of a value that requires grad) is recorded; writing into a leaf that requires grad is an error.
    /// </summary>
    // Named so the indexer's metadata name does not clash with Item().
    [IndexerName("At")]
    public Tensor this[params TensorIndex[] indices]
    {
        get => IndexGet(indices, "Index");
        set => IndexSet(value, indices, "Index");
    }

    /// <summary>A list of positions along dim 0, as Python's <c>x[[0, 2]]</c> (so the collection expression <c>x[[0, 2]]</c> is not read as <c>x[0, 2]</c>).</summary>
    [IndexerName("At")]
    public Tensor this[int[] indices]
    {
        get => IndexGet([indices], "Index");
        set => IndexSet(value, [indices], "Index");
    }

    /// <summary>Writes value (broadcast to the indexed region, converted to this dtype) at the indexed positions; returns this tensor.</summary>
    public Tensor IndexPut(Tensor value, params TensorIndex[] indices)
    {
        IndexSet(value, indices, "IndexPut");
        return this;
    }

    /// <summary>Writes a scalar at the indexed positions, e.g. <c>t.IndexPut(0, t &lt; 0)</c> for PyTorch's <c>t[t &lt; 0] = 0</c>; returns this tensor.</summary>
    public Tensor IndexPut(float value, params TensorIndex[] indices)
    {
        IndexSet(DType == DType.Float32 ? Scalar(value) : Full([], value, DType), indices, "IndexPut");
        return this;
    }

    /// <summary>The entries at the given positions (a 1-d (or 0-d) Int32 tensor) along dim, like torch.index_select: dim's size becomes index's length.</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        ArgumentNullException.ThrowIfNull(index);
        int d = Shapes.NormDim(dim, Dim, "IndexSelect");
        if (index.DType != DType.Int32)
            throw new ArgumentException($"IndexSelect: index must be an int32 tensor, got {index.DType.Name()} of shape {Shapes.Str(index._shape)}");
        if (index.Dim > 1)
            throw new ArgumentException($"IndexSelect: index must be 0-d or 1-d, got shape {Shapes.Str(index._shape)}");
        var ix = new TensorIndex[d + 1];
        for (int i = 0; i < d; i++) ix[i] = ..;
        ix[d] = index.Dim == 0 ? index.Reshape(1) : index;
        return IndexGet(ix, "IndexSelect");
    }

    /// <summary>A copy with value wherever mask (Bool, broadcastable to this shape) is true, like torch.masked_fill.</summary>
    public Tensor MaskedFill(Tensor mask, float value)
    {
        ArgumentNullException.ThrowIfNull(mask);
        if (mask.DType != DType.Bool)
            throw new ArgumentException($"MaskedFill: mask must be a bool tensor, got {mask.DType.Name()} of shape {Shapes.Str(mask._shape)}");
        if (!BroadcastsTo(mask._shape, _shape))
            throw new ArgumentException($"MaskedFill: mask of shape {Shapes.Str(mask._shape)} cannot be broadcast to the tensor's shape {Shapes.Str(_shape)}");
        var r = CopyContiguous();
        var m = mask.BroadcastTo(_shape).Contiguous();
        var mv = m.Storage.Ints!.AsSpan(m._offset, r.Numel);
        if (DType == DType.Float32)
        {
            var d = r.Storage.Floats!;
            for (int i = 0; i < mv.Length; i++) if (mv[i] != 0) d[i] = value;
        }
        else
        {
            var d = r.Storage.Ints!;
            int v = DType == DType.Bool ? (value != 0 ? 1 : 0) : (int)value;
            for (int i = 0; i < mv.Length; i++) if (mv[i] != 0) d[i] = v;
        }
        // Filled positions no longer depend on this tensor.
        return Record(r, "MaskedFill", this, g => Where(m, 0f, g), m);
    }

    /// <summary>The elements where mask is true, as a 1-d copy in row-major order (mask and this broadcast together), like torch.masked_select.</summary>
    public Tensor MaskedSelect(Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        if (mask.DType != DType.Bool)
            throw new ArgumentException($"MaskedSelect: mask must be a bool tensor, got {mask.DType.Name()} of shape {Shapes.Str(mask._shape)}");
        var shape = Shapes.Broadcast(_shape, mask._shape, "MaskedSelect");
        return BroadcastTo(shape).IndexGet([mask.BroadcastTo(shape)], "MaskedSelect");
    }

    /// <summary>Positions of the non-zero (true) elements as an Int32 tensor of shape [count, Dim], in row-major order, like torch.nonzero.</summary>
    public Tensor Nonzero()
    {
        var cols = NonzeroColumns(this);
        int n = Dim == 0 ? (Item() != 0 ? 1 : 0) : cols[0].Length, k = Dim;
        var r = new int[n * k];
        for (int j = 0; j < k; j++)
            for (int i = 0; i < n; i++) r[i * k + j] = cols[j][i];
        return Wrap(r, [n, k]);
    }

    // ---- the plan: basic indices applied as a view, advanced ones recorded against the view's dims ----

    /// <summary>The view after ints, slices, NewAxis and Ellipsis; Adv lists the advanced indices, whose dims are still full in View.</summary>
    sealed record IndexPlan(Tensor View, AdvancedIndex[] Adv);

    /// <summary>An advanced index over View dims Pos..Pos+Span-1: positions along dim Pos (Int32 tensor), or, for a mask
    /// (IsMask), the storage-offset deltas of its true elements, already in range.</summary>
    readonly record struct AdvancedIndex(int Pos, int Span, Tensor Index, int SourceDim, bool IsMask);

    static bool BroadcastsTo(int[] from, int[] to)
    {
        if (from.Length > to.Length) return false;
        for (int i = 0; i < from.Length; i++)
        {
            int f = from[^(i + 1)], t = to[^(i + 1)];
            if (f != t && f != 1) return false;
        }
        return true;
    }

    IndexPlan PlanIndex(TensorIndex[] indices, string op)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int consumed = 0, ellipses = 0;
        for (int i = 0; i < indices.Length; i++)
        {
            var ix = indices[i] ?? throw new ArgumentNullException(nameof(indices), $"{op}: entry {i} is null; use TensorIndex.NewAxis (or TensorIndex.None) for a new axis");
            if (ix.Kind == TensorIndex.IndexKind.Ellipsis && ++ellipses > 1)
                throw new ArgumentException($"{op}: an index can only have a single ellipsis (...), got [{string.Join<TensorIndex>(", ", indices)}]");
            if (ix.Kind == TensorIndex.IndexKind.Tensor && ix.Tensor.DType == DType.Float32)
                throw new ArgumentException($"{op}: tensors used as indices must be int32 or bool, got float32 of shape {Shapes.Str(ix.Tensor._shape)} at entry {i}");
            consumed += ix.Consumes;
        }
        if (consumed > Dim)
            throw new IndexOutOfRangeException($"{op}: too many indices for a tensor of shape {Shapes.Str(_shape)}: [{string.Join<TensorIndex>(", ", indices)}] index {consumed} dimensions, the tensor has {Dim}");

        var shape = new List<int>(Dim + indices.Length);
        var strides = new List<int>(Dim + indices.Length);
        var adv = new List<AdvancedIndex>();
        int offset = _offset, d = 0;
        void Keep() { shape.Add(_shape[d]); strides.Add(_strides[d]); d++; }
        foreach (var ix in indices)
        {
            switch (ix.Kind)
            {
                case TensorIndex.IndexKind.Int:
                {
                    int n = _shape[d], i = ix.Position(n);
                    if (i < 0 || i >= n)
                        throw new IndexOutOfRangeException($"{op}: index {ix} is out of range for dimension {d} of size {n} (shape {Shapes.Str(_shape)})");
                    offset += i * _strides[d];
                    d++;
                    break;
                }
                case TensorIndex.IndexKind.Slice:
                {
                    var (s, len, step) = ix.Resolve(_shape[d]);
                    if (len > 0) offset += s * _strides[d];
                    shape.Add(len);
                    strides.Add(_strides[d] * step);
                    d++;
                    break;
                }
                case TensorIndex.IndexKind.NewAxis:
                    shape.Add(1);
                    strides.Add(d < Dim ? _shape[d] * _strides[d] : 1);
                    break;
                case TensorIndex.IndexKind.Ellipsis:
                    for (int k = Dim - consumed; k > 0; k--) Keep();
                    break;
                default:
                {
                    var t = ix.Tensor;
                    if (t.DType == DType.Int32)
                    {
                        adv.Add(new(shape.Count, 1, t, d, false));
                        Keep();
                    }
                    else if (t.Dim == 0)
                    {
                        // A 0-d mask adds a dim of size 1 (true) or 0 (false), as in PyTorch's x[True].
                        adv.Add(new(shape.Count, 1, Zeros([t.Item() != 0 ? 1 : 0], DType.Int32), d, true));
                        shape.Add(1);
                        strides.Add(0);
                    }
                    else
                    {
                        for (int k = 0; k < t.Dim; k++)
                            if (t._shape[k] != _shape[d + k])
                                throw new ArgumentException($"{op}: mask of shape {Shapes.Str(t._shape)} does not match the indexed tensor's dimensions {d}..{d + t.Dim - 1} of shape {Shapes.Str(_shape)} (size {t._shape[k]} vs {_shape[d + k]} at dimension {d + k})");
                        adv.Add(new(shape.Count, t.Dim, MaskOffsets(t, _strides[d..(d + t.Dim)]), d, true));
                        for (int k = 0; k < t.Dim; k++) Keep();
                    }
                    break;
                }
            }
        }
        while (d < Dim) Keep();
        return new IndexPlan(AsStrided(shape.ToArray(), strides.ToArray(), offset), adv.ToArray());
    }

    /// <summary>Storage-offset deltas (for the given strides) of mask's true elements in row-major order, as a 1-d Int32 tensor.</summary>
    static Tensor MaskOffsets(Tensor mask, int[] strides)
    {
        var c = mask.Contiguous();
        var v = c.Storage.Ints!.AsSpan(c._offset, c.Numel);
        int count = 0;
        foreach (int x in v) if (x != 0) count++;
        var r = new int[count];
        int nd = mask.Dim, inner = mask._shape[nd - 1], innerStride = strides[nd - 1];
        var pos = new int[nd];
        int j = 0, outer = 0;
        for (int flat = 0; flat < v.Length; flat += inner)
        {
            for (int i = 0, o = outer; i < inner; i++, o += innerStride)
                if (v[flat + i] != 0) r[j++] = o;
            for (int k = nd - 2; k >= 0; k--)
            {
                outer += strides[k];
                if (++pos[k] < mask._shape[k]) break;
                outer -= pos[k] * strides[k];
                pos[k] = 0;
            }
        }
        return Wrap(r, [count]);
    }

    /// <summary>For each dimension of t, the coordinates of its non-zero elements in row-major order (one array per dim).</summary>
    static int[][] NonzeroColumns(Tensor t)
    {
        var c = t.DType == DType.Float32 ? t.Ne(0f) : t.Contiguous();
        var v = c.Storage.Ints!.AsSpan(c._offset, c.Numel);
        int count = 0;
        foreach (int x in v) if (x != 0) count++;
        var cols = new int[t.Dim][];
        for (int k = 0; k < cols.Length; k++) cols[k] = new int[count];
        var pos = new int[t.Dim];
        for (int flat = 0, j = 0; flat < v.Length; flat++)
        {
            if (v[flat] != 0)
            {
                for (int k = 0; k < pos.Length; k++) cols[k][j] = pos[k];
                j++;
            }
            for (int k = pos.Length - 1; k >= 0; k--)
            {
                if (++pos[k] < t._shape[k]) break;
                pos[k] = 0;
            }
        }
        return cols;
    }

    // ---- advanced indexing: one storage offset per broadcast index position, then a dense block of the remaining dims ----

    /// <summary>Where the data of an advanced index lives: per broadcast position b, V's storage offset adv[b]; the remaining dims
    /// of V (Rest*) map to a dense row-major tensor of OutShape, in which position b starts at b * BlockStride.</summary>
    sealed record AdvancedLayout(int[] OutShape, int[] Adv, int BlockStride, int[] RestShape, int[] RestViewStrides, int[] RestOutStrides);

    AdvancedLayout LayoutAdvanced(IndexPlan p, string op)
    {
        var v = p.View;
        int[] b = p.Adv[0].Index._shape;
        for (int k = 1; k < p.Adv.Length; k++) b = BroadcastIndexShapes(b, p.Adv[k].Index._shape, p, op);
        int nb = Shapes.Numel(b, op);
        var adv = new int[nb];
        var isAdv = new bool[v.Dim];
        int advDims = 0;
        foreach (var a in p.Adv)
        {
            for (int d = a.Pos; d < a.Pos + a.Span; d++) isAdv[d] = true;
            advDims += a.Span;
            var ix = a.Index.BroadcastTo(b).Contiguous();
            var vals = ix.Storage.Ints!.AsSpan(ix._offset, nb);
            if (a.IsMask)
            {
                for (int i = 0; i < nb; i++) adv[i] += vals[i];
                continue;
            }
            int size = v._shape[a.Pos], stride = v._strides[a.Pos];
            for (int i = 0; i < nb; i++)
            {
                int j = vals[i], jj = j < 0 ? j + size : j;
                if (jj < 0 || jj >= size)
                    throw new IndexOutOfRangeException($"{op}: index {j} is out of range for dimension {a.SourceDim} of size {size} (shape {Shapes.Str(_shape)})");
                adv[i] += jj * stride;
            }
        }

        int first = p.Adv[0].Pos, last = p.Adv[^1].Pos + p.Adv[^1].Span - 1;
        bool adjacent = last - first + 1 == advDims;
        int insertAt = adjacent ? first : 0;
        var restShape = new List<int>();
        var restView = new List<int>();
        var restOutPos = new List<int>();
        var outShape = new List<int>();
        for (int d = 0; d < v.Dim; d++)
        {
            if (d == insertAt) outShape.AddRange(b);
            if (isAdv[d]) continue;
            restShape.Add(v._shape[d]);
            restView.Add(v._strides[d]);
            restOutPos.Add(outShape.Count);
            outShape.Add(v._shape[d]);
        }
        var os = outShape.ToArray();
        var outStrides = Shapes.ContiguousStrides(os);
        int blockStride = 1;
        for (int d = insertAt + b.Length; d < os.Length; d++) blockStride *= os[d];
        var restOut = restOutPos.Select(q => outStrides[q]).ToArray();
        return new AdvancedLayout(os, adv, blockStride, restShape.ToArray(), restView.ToArray(), restOut);
    }

    static int[] BroadcastIndexShapes(int[] a, int[] b, IndexPlan p, string op)
    {
        try { return Shapes.Broadcast(a, b, op); }
        catch (ArgumentException)
        {
            throw new ArgumentException($"{op}: shape mismatch: index tensors of shapes {string.Join(", ", p.Adv.Select(a => (a.IsMask ? "mask " : "") + Shapes.Str(a.Index._shape)))} cannot be broadcast together");
        }
    }

    /// <summary>How TransferAdvanced moves data: dense from store, store from dense (last duplicate wins), or dense added into store.</summary>
    enum Transfer { Gather, Scatter, Accumulate }

    /// <summary>Moves data between the indexed positions of a storage and a dense block: dense[b, rest] = store[adv[b] + rest] (gather),
    /// back (scatter, in order, so the last duplicate wins), or added back (accumulate, so duplicates sum: the gather's backward).</summary>
    static void TransferAdvanced<T>(T[] store, int viewOffset, AdvancedLayout l, T[] dense, int denseOffset, Transfer mode) where T : INumberBase<T>
    {
        long restN = 1;
        foreach (int s in l.RestShape) restN *= s;
        if (restN == 0 || l.Adv.Length == 0) return;
        if (restN == 1)
        {
            // One element per index position (x[mask], acts[rows, targets]): no inner loop to set up.
            int[] a = l.Adv;
            if (mode == Transfer.Gather) for (int b = 0; b < a.Length; b++) dense[denseOffset + b * l.BlockStride] = store[viewOffset + a[b]];
            else if (mode == Transfer.Scatter) for (int b = 0; b < a.Length; b++) store[viewOffset + a[b]] = dense[denseOffset + b * l.BlockStride];
            else for (int b = 0; b < a.Length; b++) store[viewOffset + a[b]] += dense[denseOffset + b * l.BlockStride];
            return;
        }
        var sh = Strided.Coalesce(l.RestShape, [l.RestViewStrides, l.RestOutStrides], out var st);
        int nd = sh.Length, inner = sh[nd - 1], si = st[0][nd - 1], di = st[1][nd - 1];
        int outer = (int)(restN / inner);
        var idx = new int[nd - 1];
        for (int b = 0; b < l.Adv.Length; b++)
        {
            Array.Clear(idx);
            int s0 = viewOffset + l.Adv[b], d0 = denseOffset + b * l.BlockStride;
            for (int r = 0; r < outer; r++)
            {
                int so = s0, dof = d0;
                for (int k = 0; k < nd - 1; k++) { so += idx[k] * st[0][k]; dof += idx[k] * st[1][k]; }
                if (mode == Transfer.Accumulate) for (int i = 0; i < inner; i++, so += si, dof += di) store[so] += dense[dof];
                else if (si == 1 && di == 1)
                {
                    if (mode == Transfer.Gather) Array.Copy(store, so, dense, dof, inner);
                    else Array.Copy(dense, dof, store, so, inner);
                }
                else if (mode == Transfer.Gather) for (int i = 0; i < inner; i++, so += si, dof += di) dense[dof] = store[so];
                else for (int i = 0; i < inner; i++, so += si, dof += di) store[so] = dense[dof];
                for (int k = nd - 2; k >= 0; k--)
                {
                    if (++idx[k] < sh[k]) break;
                    idx[k] = 0;
                }
            }
        }
    }

    Tensor IndexGet(TensorIndex[] indices, string op)
    {
        var p = PlanIndex(indices, op);
        // Basic indexing is a view: its gradient lands in the same view of a zero tensor shaped like this one.
        if (p.Adv.Length == 0) return Record(p.View, op, this, g => IntoZeros(g, z => z.PlanIndex(indices, op).View));
        var l = LayoutAdvanced(p, op);
        var r = Empty(l.OutShape, DType);
        if (DType == DType.Float32) TransferAdvanced(Storage.Floats!, p.View._offset, l, r.Storage.Floats!, 0, Transfer.Gather);
        else TransferAdvanced(Storage.Ints!, p.View._offset, l, r.Storage.Ints!, 0, Transfer.Gather);
        // A gather's gradient is g added back at the gathered positions of zeros shaped like this (duplicates accumulate).
        return Record(r, op, this, g => Zeros(_shape).AccumulateAt(indices, g, op), IndexTensors(indices));
    }

    /// <summary>Adds g (shaped like this[indices]) into this contiguous float tensor at the positions indices select; returns this.</summary>
    Tensor AccumulateAt(TensorIndex[] indices, Tensor g, string op)
    {
        var p = PlanIndex(indices, op);
        var l = LayoutAdvanced(p, op);
        var gc = g.IsContiguous ? g : g.CopyContiguous();
        TransferAdvanced(Storage.Floats!, p.View._offset, l, gc.Storage.Floats!, gc._offset, Transfer.Accumulate);
        BumpVersion();
        return this;
    }

    /// <summary>The index tensors among indices (saved by the graph: changing them in place before Backward is an error).</summary>
    static Tensor[] IndexTensors(TensorIndex[] indices) =>
        [.. indices.Where(ix => ix.Kind == TensorIndex.IndexKind.Tensor).Select(ix => ix.Tensor)];

    /// <summary>
    /// this[indices] = value. With autograd (this or value requires grad) the write is recorded like PyTorch's index_put_:
    /// the old value's gradient is g with the written region zeroed, value's is g[indices] summed to value's shape, where
    /// a position written twice credits only its last writer. Writing into a leaf that requires grad is an error outside NoGrad.
    /// </summary>
    void IndexSet(Tensor value, TensorIndex[] indices, string op)
    {
        ArgumentNullException.ThrowIfNull(value);
        // A value converted to ints carries no gradient.
        if (DType != DType.Float32 && value._requiresGrad) value = value.Detach();
        bool targetGrad = _requiresGrad;
        if (!Autograd.IsGradEnabled || !(targetGrad || value._requiresGrad))
        {
            IndexSetRaw(value, indices, op, out _, out _);
            return;
        }
        CheckInPlace(op, value);
        Tensor? winners;
        int[] fitted;
        // The write goes around CopyFrom's autograd rules (they refuse views of graph tensors); the node recorded below covers it.
        using (Autograd.NoGrad()) IndexSetRaw(value, indices, op, out fitted, out winners);
        var valueShape = value._shape;
        bool valueGrad = value._requiresGrad;
        RecordInPlace(op, value, g =>
        {
            Tensor? gOld = null, gValue = null;
            if (targetGrad)
            {
                gOld = g.CopyContiguous();
                gOld.IndexSetRaw(Scalar(0f), indices, op, out _, out _);
            }
            if (valueGrad)
            {
                var gv = g.IndexGet(indices, op);
                if (winners != null) gv = Where(winners, gv, 0f);
                gValue = SumTo(gv, fitted).Reshape(valueShape);
            }
            return [gOld, gValue];
        }, IndexTensors(indices));
    }

    /// <summary>
    /// The write of IndexSet, unrecorded. fitted is the value's shape as broadcast into the region; winners (advanced indices
    /// with a position written more than once, when value requires grad) marks the region's elements whose write survived.
    /// </summary>
    void IndexSetRaw(Tensor value, TensorIndex[] indices, string op, out int[] fitted, out Tensor? winners)
    {
        var p = PlanIndex(indices, op);
        winners = null;
        if (p.Adv.Length == 0)
        {
            RejectExpandedTarget(p.View, op);
            var fv = FitValue(value, p.View._shape, op);
            fitted = fv._shape;
            p.View.CopyFrom(fv);
            return;
        }
        RejectExpandedTarget(this, op);
        var l = LayoutAdvanced(p, op);
        var v = FitValue(value, l.OutShape, op);
        fitted = v._shape;
        if (value._requiresGrad && DType == DType.Float32 && HasDuplicates(l.Adv)) winners = Winners(indices, l.OutShape, op);
        if (DType == DType.Bool && v.DType != DType.Bool) v = v.Ne(0f);
        else v = v.To(DType);
        v = v.BroadcastTo(l.OutShape);
        // A value that reads this tensor's storage is copied out first so the scatter cannot read its own output.
        if (v.Storage == Storage || !v.IsContiguous) v = v.CopyContiguous();
        BumpVersion();
        if (DType == DType.Float32) TransferAdvanced(Storage.Floats!, p.View._offset, l, v.Storage.Floats!, v._offset, Transfer.Scatter);
        else TransferAdvanced(Storage.Ints!, p.View._offset, l, v.Storage.Ints!, v._offset, Transfer.Scatter);
    }

    static bool HasDuplicates(int[] offsets)
    {
        var seen = new HashSet<int>();
        foreach (int o in offsets) if (!seen.Add(o)) return true;
        return false;
    }

    /// <summary>For a scatter into this tensor's shape at indices, a Bool tensor of the region's shape: true where that element's write is the last to its position.</summary>
    Tensor Winners(TensorIndex[] indices, int[] regionShape, string op)
    {
        var ids = Arange(Shapes.Numel(regionShape, op)).Reshape(regionShape);
        var w = Zeros(_shape, DType.Int32);
        w.IndexSetRaw(ids, indices, op, out _, out _);
        return w.IndexGet(indices, op).Eq(ids);
    }

    /// <summary>Throws when target has a broadcast (stride-0) dim: several of its elements share one memory location, so a write would be ambiguous.</summary>
    static void RejectExpandedTarget(Tensor target, string op)
    {
        for (int k = 0; k < target.Dim; k++)
            if (target._strides[k] == 0 && target._shape[k] > 1)
                throw new InvalidOperationException($"{op}: cannot assign into an expanded tensor of shape {Shapes.Str(target._shape)} with strides {Shapes.Str(target._strides)} (several elements share one memory location); Clone() it first");
    }

    /// <summary>value with surplus leading size-1 dims dropped (PyTorch allows <c>x[0] = ones(1, n)</c>); throws unless it broadcasts to target.</summary>
    static Tensor FitValue(Tensor value, int[] target, string op)
    {
        var v = value;
        while (v.Dim > target.Length && v._shape[0] == 1) v = v.AsStrided(v._shape[1..], v._strides[1..], v._offset);
        if (!BroadcastsTo(v._shape, target))
            throw new ArgumentException($"{op}: cannot assign a value of shape {Shapes.Str(value._shape)} to an indexed region of shape {Shapes.Str(target)}");
        return v;
    }
}
