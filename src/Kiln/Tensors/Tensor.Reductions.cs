using Kiln.Kernels;

namespace Kiln;

public sealed partial class Tensor
{
    /// <summary>
    /// Moves the reduced dims last and returns a contiguous [rows, len] layout of this tensor plus the result shape.
    /// dims == null reduces everything.
    /// </summary>
    (Tensor data, int rows, int len, int[] outShape) ReduceLayout(int[]? dims, bool keepDim, string op)
    {
        var reduce = new bool[Dim];
        if (dims == null) Array.Fill(reduce, true);
        else
        {
            if (dims.Length == 0 && Dim > 0) throw new ArgumentException($"{op}: empty list of dimensions");
            foreach (int d0 in dims)
            {
                int d = Shapes.NormDim(d0, Dim, op);
                if (reduce[d]) throw new ArgumentException($"{op}: dimension {d} appears twice in {Shapes.Str(dims)}");
                reduce[d] = true;
            }
        }
        var perm = new List<int>();
        var outShape = new List<int>();
        int rows = 1, len = 1;
        for (int d = 0; d < Dim; d++)
            if (!reduce[d]) { perm.Add(d); outShape.Add(_shape[d]); rows *= _shape[d]; }
            else if (keepDim) outShape.Add(1);
        for (int d = 0; d < Dim; d++)
            if (reduce[d]) { perm.Add(d); len *= _shape[d]; }
        var data = Permute(perm.ToArray()).Contiguous();
        return (data, rows, len, outShape.ToArray());
    }

    /// <summary>Runs rowOp on every row of length len into a float result.</summary>
    Tensor ReduceRows(int[]? dims, bool keepDim, string op, Func<ReadOnlySpan<float>, float> rowOp, bool allowEmpty = false)
    {
        var x = DType == DType.Float32 ? this : Float();
        var (data, rows, len, outShape) = x.ReduceLayout(dims, keepDim, op);
        if (len == 0 && !allowEmpty && rows > 0)
            throw new ArgumentException($"{op}: cannot reduce over an empty dimension of shape {Shapes.Str(_shape)}");
        var r = Empty(outShape);
        var src = data.Storage.Floats!;
        var dst = r.Storage.Floats!;
        int off = data._offset;
        Threading.ForRange(rows, Math.Max(1, 16384 / Math.Max(len, 1)), (r0, r1) =>
        {
            for (int i = r0; i < r1; i++) dst[i] = rowOp(src.AsSpan(off + i * len, len));
        });
        return r;
    }

    /// <summary>Int result of an int row reduction (arg-indices, int sums).</summary>
    Tensor ReduceRowsInt(int[]? dims, bool keepDim, string op, Func<ReadOnlySpan<float>, int>? floatOp, Func<ReadOnlySpan<int>, int>? intOp)
    {
        bool useInt = intOp != null && DType.IsIntegral();
        var x = useInt || DType == DType.Float32 ? this : Float();
        var (data, rows, len, outShape) = x.ReduceLayout(dims, keepDim, op);
        if (len == 0 && rows > 0 && floatOp != null)
            throw new ArgumentException($"{op}: cannot reduce over an empty dimension of shape {Shapes.Str(_shape)}");
        var r = Empty(outShape, DType.Int32);
        var dst = r.Storage.Ints!;
        int off = data._offset;
        for (int i = 0; i < rows; i++)
            dst[i] = useInt ? intOp!(data.Storage.Ints.AsSpan(off + i * len, len)) : floatOp!(data.Storage.Floats.AsSpan(off + i * len, len));
        return r;
    }

    /// <summary>Sum of all elements (0-d; int tensors and masks give an Int32 count).</summary>
    public Tensor Sum() => SumCore(null, false);
    /// <summary>Sum over dim.</summary>
    public Tensor Sum(int dim, bool keepDim = false) => SumCore([dim], keepDim);
    /// <summary>Sum over several dims.</summary>
    public Tensor Sum(int[] dims, bool keepDim = false) => SumCore(dims, keepDim);

    Tensor SumCore(int[]? dims, bool keepDim) => DType.IsIntegral()
        ? ReduceRowsInt(dims, keepDim, "Sum", null, Reduce.SumInt)
        : Record(LeadingDimsSum(dims, keepDim, "Sum", out _) ?? ReduceRows(dims, keepDim, "Sum", Reduce.Sum, allowEmpty: true),
            "Sum", this, g => ExpandReduced(g, dims, keepDim));

    /// <summary>Backward of a reduction: the reduced gradient broadcast back over the reduced dims (a stride-0 view).</summary>
    Tensor ExpandReduced(Tensor g, int[]? dims, bool keepDim)
    {
        if (!keepDim && Dim > 0)
        {
            var reduced = dims == null ? Enumerable.Range(0, Dim).ToArray() : dims.Select(d => Shapes.NormDim(d, Dim, "Backward")).Order().ToArray();
            foreach (int d in reduced) g = g.Unsqueeze(d);
        }
        return g.Expand(_shape);
    }

    /// <summary>Number of elements folded into each result of a reduction over dims.</summary>
    int ReducedCount(int[]? dims)
    {
        if (dims == null) return Numel;
        int n = 1;
        foreach (int d in dims) n *= _shape[Shapes.NormDim(d, Dim, "Backward")];
        return n;
    }

    /// <summary>
    /// Sum over the leading dims of a contiguous float tensor (bias gradients, batch statistics): adds whole rows in order
    /// instead of transposing the data so the reduced dims come last. Null when the layout does not fit.
    /// </summary>
    Tensor? LeadingDimsSum(int[]? dims, bool keepDim, string op, out int count)
    {
        count = 0;
        if (dims == null || dims.Length == 0 || DType != DType.Float32 || !IsContiguous || Numel == 0) return null;
        var seen = new bool[Dim];
        foreach (int d0 in dims)
        {
            int d = Shapes.NormDim(d0, Dim, op);
            if (seen[d]) return null;
            seen[d] = true;
        }
        int j = dims.Length;
        if (j >= Dim) return null;
        for (int d = 0; d < j; d++) if (!seen[d]) return null;
        int rows = 1, cols = 1;
        for (int d = 0; d < j; d++) rows *= _shape[d];
        for (int d = j; d < Dim; d++) cols *= _shape[d];
        var outShape = keepDim ? [.. Enumerable.Repeat(1, j), .. _shape[j..]] : _shape[j..];
        var r = Empty(outShape);
        var src = Storage.Floats!;
        var dst = r.Storage.Floats!;
        int off = _offset;
        // Each output element is the same ordered sum of its column whatever the split, so threads never change the bits.
        Threading.ForRange(cols, Math.Max(64, 65536 / rows), (c0, c1) =>
        {
            var d = dst.AsSpan(c0, c1 - c0);
            src.AsSpan(off + c0, c1 - c0).CopyTo(d);
            for (int n = 1; n < rows; n++) System.Numerics.Tensors.TensorPrimitives.Add(d, src.AsSpan(off + n * cols + c0, c1 - c0), d);
        });
        count = rows;
        return r;
    }

    /// <summary>Mean of all elements (0-d).</summary>
    public Tensor Mean() => MeanCore(null, false);
    /// <summary>Mean over dim.</summary>
    public Tensor Mean(int dim, bool keepDim = false) => MeanCore([dim], keepDim);
    /// <summary>Mean over several dims.</summary>
    public Tensor Mean(int[] dims, bool keepDim = false) => MeanCore(dims, keepDim);

    Tensor MeanCore(int[]? dims, bool keepDim)
    {
        var r = LeadingDimsSum(dims, keepDim, "Mean", out int count) is Tensor sum
            ? sum.DivInPlace(Scalar(count))
            : ReduceRows(dims, keepDim, "Mean", s => s.Length == 0 ? float.NaN : Reduce.Sum(s) / s.Length, allowEmpty: true);
        return Record(r, "Mean", this, g => ExpandReduced(g, dims, keepDim) / ReducedCount(dims));
    }

    /// <summary>log(sum(exp(x))) over all elements (0-d).</summary>
    public Tensor LogSumExp() => LogSumExpCore(null, false);

    Tensor LogSumExpCore(int[]? dims, bool keepDim)
    {
        var r = ReduceRows(dims, keepDim, "LogSumExp", Reduce.LogSumExp);
        return Record(r, "LogSumExp", this, g => ExpandReduced(g, dims, keepDim) * (this - ExpandReduced(r, dims, keepDim)).Exp(), this, r);
    }

    /// <summary>Variance of all elements (unbiased by default, like PyTorch).</summary>
    public Tensor Var(bool unbiased = true) => VarCore(null, unbiased, false);
    /// <summary>Variance over dim.</summary>
    public Tensor Var(int dim, bool unbiased = true, bool keepDim = false) => Var([dim], unbiased, keepDim);
    /// <summary>Variance over several dims.</summary>
    public Tensor Var(int[] dims, bool unbiased = true, bool keepDim = false) => VarCore(dims, unbiased, keepDim);

    /// <summary>Variance; its gradient is 2(x - mean)/(n - correction) times the incoming gradient.</summary>
    Tensor VarCore(int[]? dims, bool unbiased, bool keepDim)
    {
        int correction = unbiased ? 1 : 0;
        var r = ReduceRows(dims, keepDim, "Var", s => Reduce.Var(s, correction), allowEmpty: true);
        return Record(r, "Var", this, g =>
        {
            var mean = dims == null ? Mean() : Mean(dims, keepDim: true);
            return ExpandReduced(g, dims, keepDim) * (this - mean) * (2f / (ReducedCount(dims) - correction));
        }, this);
    }

    /// <summary>Standard deviation of all elements (unbiased by default).</summary>
    public Tensor Std(bool unbiased = true) => SqrtOfVar(Var(unbiased));
    /// <summary>Standard deviation over dim.</summary>
    public Tensor Std(int dim, bool unbiased = true, bool keepDim = false) => SqrtOfVar(Var(dim, unbiased, keepDim));
    /// <summary>Standard deviation over several dims.</summary>
    public Tensor Std(int[] dims, bool unbiased = true, bool keepDim = false) => SqrtOfVar(Var(dims, unbiased, keepDim));

    /// <summary>sqrt of a variance whose gradient is 0 where the std is 0 (as PyTorch), not 1/(2·0) times a zero deviation = NaN.</summary>
    static Tensor SqrtOfVar(Tensor variance)
    {
        var r = variance.Detach().Sqrt();
        return Record(r, "Std", variance, g => Where(r.Eq(0f), 0f, g / (r * 2f)), r);
    }

    /// <summary>Largest element (0-d). NaN propagates.</summary>
    /// <remarks>The gradient is shared evenly among all elements equal to the maximum (like torch.amax).</remarks>
    public Tensor Max() => DType.IsIntegral()
        ? Take(ArgMax().Item<int>())
        : ExtremeGrad(ReduceRows(null, false, "Max", Reduce.Max), "Max");

    /// <summary>Records an all-element max/min: ties share the gradient evenly.</summary>
    Tensor ExtremeGrad(Tensor r, string op) => Record(r, op, this, g =>
    {
        var hit = Eq(r).Float();
        return hit * (g / hit.Sum());
    }, this, r);

    /// <summary>Smallest element (0-d). NaN propagates.</summary>
    /// <remarks>The gradient is shared evenly among all elements equal to the minimum (like torch.amin).</remarks>
    public Tensor Min() => DType.IsIntegral()
        ? Take(ArgMin().Item<int>())
        : ExtremeGrad(ReduceRows(null, false, "Min", Reduce.Min), "Min");

    /// <summary>Maximum over dim with the index of its first occurrence (ties pick the lowest index), like torch.max(x, dim).</summary>
    public (Tensor Values, Tensor Indices) Max(int dim, bool keepDim = false)
    {
        var idx = ArgMax(dim, keepDim: true);
        var vals = Gather(dim, idx);
        return keepDim ? (vals, idx) : (vals.Squeeze(dim), idx.Squeeze(dim));
    }

    /// <summary>Minimum over dim with the index of its first occurrence, like torch.min(x, dim).</summary>
    public (Tensor Values, Tensor Indices) Min(int dim, bool keepDim = false)
    {
        var idx = ArgMin(dim, keepDim: true);
        var vals = Gather(dim, idx);
        return keepDim ? (vals, idx) : (vals.Squeeze(dim), idx.Squeeze(dim));
    }

    /// <summary>Flat index of the first maximum (Int32, 0-d).</summary>
    public Tensor ArgMax() => Reshape(-1).ArgMax(0);
    /// <summary>Index of the first maximum along dim (Int32).</summary>
    public Tensor ArgMax(int dim, bool keepDim = false) => ReduceRowsInt([dim], keepDim, "ArgMax", Reduce.ArgMax, Reduce.ArgMaxInt);
    /// <summary>Flat index of the first minimum (Int32, 0-d).</summary>
    public Tensor ArgMin() => Reshape(-1).ArgMin(0);
    /// <summary>Index of the first minimum along dim (Int32).</summary>
    public Tensor ArgMin(int dim, bool keepDim = false) => ReduceRowsInt([dim], keepDim, "ArgMin", Reduce.ArgMin, Reduce.ArgMinInt);

    /// <summary>log(sum(exp(x))) over dim, computed stably.</summary>
    public Tensor LogSumExp(int dim, bool keepDim = false) => LogSumExpCore([dim], keepDim);
    /// <summary>log(sum(exp(x))) over several dims, computed stably.</summary>
    public Tensor LogSumExp(int[] dims, bool keepDim = false) => LogSumExpCore(dims, keepDim);

    /// <summary>Softmax along dim (shifted by the maximum for stability).</summary>
    public Tensor Softmax(int dim) => SoftmaxCore(dim, false, "Softmax");
    /// <summary>Log-softmax along dim: x - logsumexp(x).</summary>
    public Tensor LogSoftmax(int dim) => SoftmaxCore(dim, true, "LogSoftmax");

    Tensor SoftmaxCore(int dim, bool log, string op)
    {
        if (Dim == 0) return log ? ZerosLike(Float()) : OnesLike(Float());
        int d = Shapes.NormDim(dim, Dim, op);
        var x = DType == DType.Float32 ? this : Float();
        // Work on a contiguous layout with dim last; permute back at the end.
        var moved = x.Transpose(d, Dim - 1).Contiguous();
        int len = _shape[d], rows = len == 0 ? 0 : Numel / len;
        var r = Empty(moved._shape);
        var src = moved.Storage.Floats!;
        var dst = r.Storage.Floats!;
        int off = moved._offset;
        Threading.ForRange(rows, Math.Max(1, 8192 / Math.Max(len, 1)), (r0, r1) =>
        {
            for (int i = r0; i < r1; i++) Reduce.Softmax(src.AsSpan(off + i * len, len), dst.AsSpan(i * len, len), log);
        });
        var result = d == Dim - 1 ? r : r.Transpose(d, Dim - 1).CopyContiguous();
        return Record(result, op, this, g => log
            ? g - result.Exp() * g.Sum(d, keepDim: true)
            : result * (g - (g * result).Sum(d, keepDim: true)), result);
    }

    /// <summary>The element at flat row-major position i as a 0-d tensor (a view).</summary>
    Tensor Take(int i) => AsStrided([], [], StorageIndex(i));

    /// <summary>Picks values along dim at the given indices (same rank as this tensor), like torch.gather. Its gradient scatter-adds back.</summary>
    public Tensor Gather(int dim, Tensor index)
    {
        int d = Shapes.NormDim(dim, Dim, "Gather");
        var offs = IndexOffsets(_shape, _strides, _offset, d, index, "Gather");
        var r = Empty(index._shape, DType);
        if (DType == DType.Float32)
        {
            var src = Storage.Floats!;
            var dst = r.Storage.Floats!;
            for (int k = 0; k < offs.Length; k++) dst[k] = src[offs[k]];
        }
        else
        {
            var src = Storage.Ints!;
            var dst = r.Storage.Ints!;
            for (int k = 0; k < offs.Length; k++) dst[k] = src[offs[k]];
        }
        return Record(r, "Gather", this, g => Zeros(_shape).ScatterAddRaw(d, index, g), index);
    }

    /// <summary>out = this with src added at index along dim (torch.scatter_add); duplicates accumulate.</summary>
    public Tensor ScatterAdd(int dim, Tensor index, Tensor src)
    {
        int d = Shapes.NormDim(dim, Dim, "ScatterAdd");
        if (DType != DType.Float32 || src.DType != DType.Float32)
            throw new ArgumentException($"ScatterAdd: needs float32 tensors, got {DType.Name()} and {src.DType.Name()}");
        if (!Shapes.Equal(src._shape, index._shape))
            throw new ArgumentException($"ScatterAdd: src of shape {Shapes.Str(src._shape)} must match index of shape {Shapes.Str(index._shape)}");
        var r = CopyContiguous().ScatterAddRaw(d, index, src);
        return Record(r, "ScatterAdd", [this, src], g => [g, src._requiresGrad ? g.Gather(d, index) : null], index);
    }

    /// <summary>Adds src into this contiguous tensor at index along dim, in place and unrecorded; returns this.</summary>
    Tensor ScatterAddRaw(int d, Tensor index, Tensor src)
    {
        var offs = IndexOffsets(_shape, _strides, _offset, d, index, "ScatterAdd");
        var vals = src.Contiguous();
        var v = vals.Storage.Floats!;
        var dst = Storage.Floats!;
        for (int k = 0; k < offs.Length; k++) dst[offs[k]] += v[vals._offset + k];
        BumpVersion();
        return this;
    }

    /// <summary>Storage offsets, in the given layout, of the elements that index picks along dim (row-major over index).</summary>
    static int[] IndexOffsets(int[] shape, int[] strides, int offset, int d, Tensor index, string op)
    {
        int rank = shape.Length;
        if (index.DType != DType.Int32)
            throw new ArgumentException($"{op}: index must be an int32 tensor, got {index.DType.Name()}");
        if (index.Dim != rank)
            throw new ArgumentException($"{op}: index of shape {Shapes.Str(index._shape)} must have the same number of dimensions as the input {Shapes.Str(shape)}");
        for (int k = 0; k < rank; k++)
            if (k != d && index._shape[k] > shape[k])
                throw new ArgumentException($"{op}: index shape {Shapes.Str(index._shape)} exceeds input shape {Shapes.Str(shape)} at dimension {k}");
        int n = index.Numel;
        var offs = new int[n];
        var ic = index.Contiguous();
        var iv = ic.Storage.Ints!;
        var pos = new int[rank];
        for (int flat = 0; flat < n; flat++)
        {
            int rem = flat;
            for (int k = rank - 1; k >= 0; k--) { pos[k] = rem % index._shape[k]; rem /= index._shape[k]; }
            int j = iv[ic._offset + flat];
            if (j < 0) j += shape[d];
            if (j < 0 || j >= shape[d])
                throw new IndexOutOfRangeException($"{op}: index {iv[ic._offset + flat]} is out of range for dimension {d} of size {shape[d]}");
            int off = offset;
            for (int k = 0; k < rank; k++) off += (k == d ? j : pos[k]) * strides[k];
            offs[flat] = off;
        }
        return offs;
    }
}
