using Kiln.Kernels;

namespace Kiln;

public sealed partial class Tensor
{
    /// <summary>
    /// Matrix product with torch.matmul semantics: 1-D·1-D dot (0-d), 2-D·2-D, 1-D·2-D and 2-D·1-D (the vector's unit dim is
    /// added then removed), and batched N-D products [..., m, k]·[..., k, n] -> [..., m, n] with broadcast batch dims.
    /// </summary>
    public Tensor MatMul(Tensor other) => MatMulCore(this, other, "MatMul");

    /// <summary>Matrix product a·b with torch.matmul semantics (see the instance <see cref="MatMul(Tensor)"/>).</summary>
    public static Tensor MatMul(Tensor a, Tensor b) => MatMulCore(a, b, "MatMul");

    /// <summary>2-D matrix product [m,k]·[k,n] -> [m,n] (torch.mm: no broadcasting, no vectors).</summary>
    public Tensor Mm(Tensor other)
    {
        if (Dim != 2 || other.Dim != 2)
            throw new ArgumentException($"Mm: expected two 2-D matrices, got {Shapes.Str(_shape)} and {Shapes.Str(other._shape)}");
        return MatMulCore(this, other, "Mm");
    }

    /// <summary>Batched matrix product [b,m,k]·[b,k,n] -> [b,m,n] (torch.bmm: equal batch sizes, no broadcasting).</summary>
    public Tensor Bmm(Tensor other)
    {
        if (Dim != 3 || other.Dim != 3)
            throw new ArgumentException($"Bmm: expected two 3-D tensors, got {Shapes.Str(_shape)} and {Shapes.Str(other._shape)}");
        if (_shape[0] != other._shape[0])
            throw new ArgumentException($"Bmm: batch sizes differ: {Shapes.Str(_shape)} and {Shapes.Str(other._shape)}");
        return MatMulCore(this, other, "Bmm");
    }

    /// <summary>Dot product of two 1-D tensors of equal length, as a 0-d tensor (torch.dot).</summary>
    public Tensor Dot(Tensor other)
    {
        if (Dim != 1 || other.Dim != 1)
            throw new ArgumentException($"Dot: expected two 1-D tensors, got {Shapes.Str(_shape)} and {Shapes.Str(other._shape)}");
        return MatMulCore(this, other, "Dot");
    }

    /// <summary>How GEMM can read one matrix operand in place: as is (row stride ld) or transposed (column stride ld).</summary>
    readonly record struct GemmOperand(bool Trans, int Ld);

    /// <summary>
    /// Whether a [rows, cols] matrix with strides (rs, cs) can be handed to GEMM without copying: it needs unit stride along
    /// one dim and a leading dimension at least the length of that dim. Size-1 dims may have any stride.
    /// </summary>
    static GemmOperand? AsGemmOperand(int rows, int cols, int rs, int cs)
    {
        if ((cs == 1 || cols == 1) && (rows == 1 || rs >= Math.Max(cols, 1)))
            return new GemmOperand(false, rows == 1 ? Math.Max(cols, 1) : rs);
        if ((rs == 1 || rows == 1) && (cols == 1 || cs >= Math.Max(rows, 1)))
            return new GemmOperand(true, cols == 1 ? Math.Max(rows, 1) : cs);
        return null;
    }

    /// <summary>True when GEMM can read the matrices in t's last two dims straight from storage (MatMul will not copy t).</summary>
    internal static bool GemmReadsInPlace(Tensor t) =>
        t.Dim >= 2 && AsGemmOperand(t._shape[^2], t._shape[^1], t._strides[^2], t._strides[^1]) is not null;

    /// <summary>t itself when GEMM can read it in place, otherwise the copy MatMul would make (tests use it to check what is copied).</summary>
    internal static Tensor GemmReadable(Tensor t)
    {
        OperandOf(ref t, t._shape[^2], t._shape[^1]);
        return t;
    }

    /// <summary>Below this many multiply-adds per product GEMM runs single-threaded, so batches are spread across threads instead.</summary>
    const long BatchParallelWork = 1L << 20;

    /// <summary>
    /// The product and its backward: with vectors promoted (a: [k] -> [1,k], b: [k] -> [k,1]) and g viewed as [batch..., m, n],
    /// dA = g·Bᵀ and dB = Aᵀ·g, each summed over the batch dims its operand was broadcast along. The transposes are views
    /// that GEMM reads in place.
    /// </summary>
    static Tensor MatMulCore(Tensor a, Tensor b, string op)
    {
        var r = MatMulForward(a, b, op);
        if (!NeedsGrad(a, b)) return r;
        var a2 = a.Dim == 1 ? RawUnsqueeze(a, 0) : a;
        var b2 = b.Dim == 1 ? RawUnsqueeze(b, 1) : b;
        int k = a2._shape[^1], rows = Shapes.Numel(a2._shape[..^1], op);
        return Record(r, op, [a, b], g =>
        {
            int[] g2Shape = [.. Shapes.Broadcast(a2._shape[..^2], b2._shape[..^2], op), a2._shape[^2], b2._shape[^1]];
            var g2 = g.Reshape(g2Shape);
            Tensor? ga = null, gb = null;
            if (a._requiresGrad) ga = SumTo(MatMulForward(g2, b2.MT, op), a2._shape).Reshape(a._shape);
            if (b._requiresGrad)
                // A 2-D right operand shared by every batch (x·W with x [..., m, k]): one GEMM over all rows, [k, rows]·[rows, n].
                gb = b2.Dim == 2 && a2.Dim > 2
                    ? MatMulForward(a2.Reshape(rows, k).MT, g2.Reshape(rows, g2Shape[^1]), op).Reshape(b._shape)
                    : SumTo(MatMulForward(a2.MT, g2, op), b2._shape).Reshape(b._shape);
            return [ga, gb];
        }, a, b);
    }

    /// <summary>An unrecorded view of t with a size-1 dim inserted at d (MatMul's vector promotion).</summary>
    static Tensor RawUnsqueeze(Tensor t, int d)
    {
        int stride = d < t.Dim ? t._shape[d] * t._strides[d] : 1;
        return t.AsStrided([.. t._shape[..d], 1, .. t._shape[d..]], [.. t._strides[..d], stride, .. t._strides[d..]], t._offset);
    }

    /// <summary>Unrecorded a·b written into <paramref name="into"/> when it is given and has the result's shape (any contents;
    /// contiguous, offset 0, float32), else into a new tensor; returns the result.</summary>
    internal static Tensor MatMulInto(Tensor a, Tensor b, Tensor? into) => MatMulForward(a, b, "MatMul", into);

    static Tensor MatMulForward(Tensor a, Tensor b, string op, Tensor? into = null)
    {
        if (a.DType != DType.Float32 || b.DType != DType.Float32)
            throw new ArgumentException($"{op}: expected float32 tensors, got {a.DType.Name()} {Shapes.Str(a._shape)} and {b.DType.Name()} {Shapes.Str(b._shape)} (convert with .Float())");
        if (a.Dim == 0 || b.Dim == 0)
            throw new ArgumentException($"{op}: both arguments need at least 1 dimension, got {Shapes.Str(a._shape)} and {Shapes.Str(b._shape)}");

        // Vectors become matrices (a: [k] -> [1,k], b: [k] -> [k,1]); the added dims are dropped from the result.
        var a2 = a.Dim == 1 ? RawUnsqueeze(a, 0) : a;
        var b2 = b.Dim == 1 ? RawUnsqueeze(b, 1) : b;
        int m = a2._shape[^2], k = a2._shape[^1], k2 = b2._shape[^2], n = b2._shape[^1];
        if (k != k2)
            throw new ArgumentException($"{op}: cannot multiply {Shapes.Str(a._shape)} by {Shapes.Str(b._shape)} (inner dimensions {k} and {k2} differ)");

        var batchA = a2._shape[..^2];
        var batchB = b2._shape[..^2];
        int[] batch;
        try { batch = Shapes.Broadcast(batchA, batchB, op); }
        catch (ArgumentException)
        {
            throw new ArgumentException($"{op}: cannot multiply {Shapes.Str(a._shape)} by {Shapes.Str(b._shape)} (batch dimensions {Shapes.Str(batchA)} and {Shapes.Str(batchB)} cannot be broadcast)");
        }

        var outShape = new List<int>(batch);
        if (a.Dim > 1) outShape.Add(m);
        if (b.Dim > 1) outShape.Add(n);
        // GEMM overwrites C; only an empty inner dimension (k = 0) needs the zeros.
        var result = into != null && k > 0 && Shapes.Equal(into._shape, [.. outShape]) && into._offset == 0 && into.IsContiguous
            && into.DType == DType.Float32 && into.Storage.Length == into.Numel ? into
            : k == 0 ? Empty([.. outShape]) : Unfilled([.. outShape]);
        int batches = Shapes.Numel(batch, op);
        // Empty products (k = 0 gives zeros) return before touching storage: an empty view's offset may lie past its buffer.
        if (batches == 0 || m == 0 || n == 0 || k == 0) return result;

        var sb = Shapes.BroadcastStrides(batchB, b2._strides[..^2], batch, op);

        // A 2-D right operand shared by every batch: fold the batch into the rows of one big GEMM when a's rows allow it.
        if (batch.Length > 0 && IsZero(sb) && Shapes.Numel(batchA, op) == batches && FoldRows(a2, m, k) is { } folded)
        {
            var bop = OperandOf(ref b2, k, n);
            Gemm.Sgemm(false, bop.Trans, batches * m, n, k, a2.Storage.Floats.AsSpan(a2._offset), folded,
                b2.Storage.Floats.AsSpan(b2._offset), bop.Ld, result.Storage.Floats, n);
            return result;
        }

        var aop = OperandOf(ref a2, m, k);
        var bop2 = OperandOf(ref b2, k, n);
        // Batch strides after OperandOf, which may have replaced an operand by a copy (0 on broadcast batch dims).
        var sa = Shapes.BroadcastStrides(batchA, a2._strides[..^2], batch, op);
        sb = Shapes.BroadcastStrides(batchB, b2._strides[..^2], batch, op);
        var fa = a2.Storage.Floats!;
        var fb = b2.Storage.Floats!;
        var fc = result.Storage.Floats!;
        int aOff = a2._offset, bOff = b2._offset, mn = m * n;

        void Product(int i)
        {
            int oa = aOff, ob = bOff, rem = i;
            for (int d = batch.Length - 1; d >= 0; d--)
            {
                int idx = rem % batch[d];
                rem /= batch[d];
                oa += idx * sa[d];
                ob += idx * sb[d];
            }
            Gemm.Sgemm(aop.Trans, bop2.Trans, m, n, k, fa.AsSpan(oa), aop.Ld, fb.AsSpan(ob), bop2.Ld, fc.AsSpan(i * mn, mn), n);
        }

        // Each product writes its own slice of C with GEMM's fixed arithmetic, so the batch split cannot change any bit.
        if (batches > 1 && (long)m * n * k < BatchParallelWork)
            Threading.ForRange(batches, (int)Math.Max(1, BatchParallelWork / Math.Max(1L, (long)m * n * k) / 16), (i0, i1) =>
            {
                for (int i = i0; i < i1; i++) Product(i);
            });
        else
            for (int i = 0; i < batches; i++) Product(i);
        return result;
    }

    static bool IsZero(int[] strides)
    {
        foreach (int s in strides) if (s != 0) return false;
        return true;
    }

    /// <summary>
    /// If a (shape [batch..., m, k], read untransposed) stores all its rows as one strided [batches*m, k] matrix, that
    /// matrix's row stride; otherwise null.
    /// </summary>
    static int? FoldRows(Tensor a, int m, int k)
    {
        if (k > 1 && a._strides[^1] != 1) return null;
        int rowStride = m > 1 ? a._strides[^2] : -1;
        long expected = m > 1 ? (long)rowStride * m : -1;
        for (int d = a.Dim - 3; d >= 0; d--)
        {
            if (a._shape[d] == 1) continue;
            if (expected < 0) // every dim so far had size 1: this one fixes the row stride
            {
                rowStride = a._strides[d];
                expected = (long)rowStride * a._shape[d];
                continue;
            }
            if (a._strides[d] != expected) return null;
            expected *= a._shape[d];
        }
        if (rowStride < 0) rowStride = Math.Max(k, 1); // a single row
        return rowStride >= Math.Max(k, 1) ? rowStride : null;
    }

    /// <summary>
    /// The GEMM reading of t's last two dims. When none exists, t is replaced by a copy whose matrices are contiguous;
    /// batch dims expanded with stride 0 stay expanded (only the distinct matrices are copied).
    /// </summary>
    static GemmOperand OperandOf(ref Tensor t, int rows, int cols)
    {
        if (AsGemmOperand(rows, cols, t._strides[^2], t._strides[^1]) is { } g) return g;
        var shape = t.Shape;
        var distinct = (int[])shape.Clone();
        for (int d = 0; d < t.Dim - 2; d++)
            if (t._strides[d] == 0) distinct[d] = 1;
        var copy = t.AsStrided(distinct, t.Strides, t._offset).CopyContiguous();
        t = copy.AsStrided(shape, Shapes.BroadcastStrides(distinct, copy._strides, shape, "MatMul"), 0);
        return new GemmOperand(false, Math.Max(cols, 1));
    }
}
