namespace Kiln.Lessons;

/// <summary>
/// Lesson 8, section 4: the same matrix product [m,k]·[k,n] written five ways, each faster than the last
/// (the course times them on 5x784 MNIST images against a 784x10 weight matrix and checks each against the triple loop).
/// All take two 2-D float tensors and return a new [m,n] tensor.
/// </summary>
public static class MatMulVariants
{
    /// <summary>
    /// Variant 1: three nested loops, c[i,j] = Σ_k a[i,k]·b[k,j], one scalar multiply-add at a time. Reads the inputs
    /// once into flat row-major arrays, so the loops are plain C# over floats: the baseline every other variant must match.
    /// </summary>
    public static Tensor TripleLoop(Tensor a, Tensor b)
    {
        var (m, k, n) = Check(a, b, nameof(TripleLoop));
        float[] x = a.ToArray(), y = b.ToArray(), c = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int p = 0; p < k; p++) s += x[i * k + p] * y[p * n + j];
                c[i * n + j] = s;
            }
        return Tensor.FromArray(c, m, n);
    }

    /// <summary>
    /// Variant 2: the innermost loop becomes one elementwise tensor op: c[i,j] = (a[i,:] * b[:,j]).Sum(). Row i of a and
    /// column j of b are views (no copy); the multiply and the sum run in the library's vector kernels.
    /// </summary>
    public static Tensor RowColumnSum(Tensor a, Tensor b)
    {
        var (m, _, n) = Check(a, b, nameof(RowColumnSum));
        var c = new float[m * n];
        for (int i = 0; i < m; i++)
        {
            var row = a.Select(0, i);
            for (int j = 0; j < n; j++) c[i * n + j] = (row * b.Select(1, j)).Sum().Item();
        }
        return Tensor.FromArray(c, m, n);
    }

    /// <summary>
    /// Variant 3: broadcasting removes the j loop too: a[i] is [k]; a[i].Unsqueeze(-1) is [k,1], which broadcasts against
    /// b [k,n] (stride 0 along n, no copy) to give every product a[i,p]·b[p,j]; summing over dim 0 gives row i of c.
    /// </summary>
    public static Tensor Broadcasting(Tensor a, Tensor b)
    {
        var (m, _, n) = Check(a, b, nameof(Broadcasting));
        var c = Tensor.Zeros(m, n);
        for (int i = 0; i < m; i++)
            c.Select(0, i).CopyFrom((a.Select(0, i).Unsqueeze(-1) * b).Sum(0));
        return c;
    }

    /// <summary>
    /// Variant 4: Einstein summation "ik,kj->ij": k appears in both inputs and not in the output, so it is summed; the
    /// whole product is one call (here it lowers to the GEMM, so it is close to <see cref="Fast"/>).
    /// </summary>
    public static Tensor Einsum(Tensor a, Tensor b)
    {
        Check(a, b, nameof(Einsum));
        return Tensor.Einsum("ik,kj->ij", a, b);
    }

    /// <summary>
    /// Variant 5: the library matmul: a GEMM that packs cache-sized panels, runs a register-blocked SIMD micro-kernel and
    /// splits the output across cores. Allowed now that the product has been built from scratch above.
    /// </summary>
    public static Tensor Fast(Tensor a, Tensor b)
    {
        Check(a, b, nameof(Fast));
        return a.MatMul(b);
    }

    /// <summary>The five variants in lesson order, slowest first, by name (for timing tables and tests).</summary>
    public static IReadOnlyList<(string Name, Func<Tensor, Tensor, Tensor> Run)> All { get; } =
    [
        (nameof(TripleLoop), TripleLoop),
        (nameof(RowColumnSum), RowColumnSum),
        (nameof(Broadcasting), Broadcasting),
        (nameof(Einsum), Einsum),
        (nameof(Fast), Fast),
    ];

    /// <summary>Validates two float matrices with matching inner dims and returns (m, k, n).</summary>
    static (int m, int k, int n) Check(Tensor a, Tensor b, string op)
    {
        if (a.Dim != 2 || b.Dim != 2)
            throw new ArgumentException($"MatMulVariants.{op}: expected two 2-D matrices, got {Shapes.Str(a.Shape)} and {Shapes.Str(b.Shape)}");
        if (a.DType != DType.Float32 || b.DType != DType.Float32)
            throw new ArgumentException($"MatMulVariants.{op}: expected float32 matrices, got {a.DType.Name()} and {b.DType.Name()}");
        if (a.Size(1) != b.Size(0))
            throw new ArgumentException($"MatMulVariants.{op}: cannot multiply {Shapes.Str(a.Shape)} by {Shapes.Str(b.Shape)} (inner dimensions {a.Size(1)} and {b.Size(0)} differ)");
        return (a.Size(0), a.Size(1), b.Size(1));
    }
}
