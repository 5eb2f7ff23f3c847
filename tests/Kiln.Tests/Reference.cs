using System.Globalization;
using Kiln.Kernels;

namespace Kiln.Tests;

/// <summary>A flat row-major array with its shape: the plain form every reference result is computed in.</summary>
internal sealed record Arr(float[] Data, int[] Shape)
{
    public static Arr Of(Tensor t) => new(t.ToArray(), t.Shape);
    public int Numel => Data.Length;
}

/// <summary>How a test input is laid out in memory: the same logical values reached through different strides.</summary>
public enum Layout
{
    Contiguous,
    /// <summary>All strides reversed (a permuted view); 1-d: a column of a matrix (stride 3).</summary>
    Transposed,
    /// <summary>Last dim sliced with step 2 from a wider base, at a non-zero offset.</summary>
    Stepped,
    /// <summary>Dim 0 expanded from size 1 (stride 0): values repeat along dim 0.</summary>
    Expanded,
}

/// <summary>
/// A deliberately naive reference: every result computed element by element from Tensor.ToArray() and the shape with
/// explicit index loops (in double where it matters), plus an AllClose check that reports the first mismatch.
/// </summary>
internal static class Reference
{
    public static readonly int[][] TestShapes =
    [
        [1], [7], [65], [257], [3, 5], [1, 1], [4, 1, 6], [2, 3, 4], [2, 65], [3, 2, 1, 5],
    ];

    public static readonly Layout[] Layouts = [Layout.Contiguous, Layout.Transposed, Layout.Stepped, Layout.Expanded];

    // ---- index arithmetic ----

    public static int Numel(int[] shape)
    {
        int n = 1;
        foreach (int s in shape) n *= s;
        return n;
    }

    public static int[] Unravel(int flat, int[] shape)
    {
        var idx = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return idx;
    }

    public static int Ravel(int[] idx, int[] shape)
    {
        int flat = 0;
        for (int d = 0; d < shape.Length; d++) flat = flat * shape[d] + idx[d];
        return flat;
    }

    public static string Str(int[] shape) => "[" + string.Join(",", shape) + "]";

    /// <summary>NumPy broadcast of two shapes, written out longhand; null when incompatible.</summary>
    public static int[]? BroadcastShape(int[] a, int[] b)
    {
        int n = Math.Max(a.Length, b.Length);
        var r = new int[n];
        for (int i = 1; i <= n; i++)
        {
            int da = i <= a.Length ? a[^i] : 1, db = i <= b.Length ? b[^i] : 1;
            if (da == db) r[^i] = da;
            else if (da == 1) r[^i] = db;
            else if (db == 1) r[^i] = da;
            else return null;
        }
        return r;
    }

    /// <summary>The element of x that output index idx (of a broadcast shape) reads.</summary>
    public static float At(Arr x, int[] idx)
    {
        int lead = idx.Length - x.Shape.Length;
        var own = new int[x.Shape.Length];
        for (int d = 0; d < own.Length; d++) own[d] = x.Shape[d] == 1 ? 0 : idx[d + lead];
        return x.Data[Ravel(own, x.Shape)];
    }

    // ---- elementwise ----

    public static Arr Unary(Arr x, Func<float, float> f) => new(Array.ConvertAll(x.Data, v => f(v)), x.Shape);

    public static Arr Binary(Arr a, Arr b, Func<float, float, float> f)
    {
        var shape = BroadcastShape(a.Shape, b.Shape) ?? throw new ArgumentException("reference: shapes do not broadcast");
        var r = new float[Numel(shape)];
        for (int i = 0; i < r.Length; i++)
        {
            var idx = Unravel(i, shape);
            r[i] = f(At(a, idx), At(b, idx));
        }
        return new(r, shape);
    }

    public static Arr Ternary(Arr c, Arr a, Arr b, Func<float, float, float, float> f)
    {
        var shape = BroadcastShape(BroadcastShape(c.Shape, a.Shape)!, b.Shape)!;
        var r = new float[Numel(shape)];
        for (int i = 0; i < r.Length; i++)
        {
            var idx = Unravel(i, shape);
            r[i] = f(At(c, idx), At(a, idx), At(b, idx));
        }
        return new(r, shape);
    }

    // ---- reductions ----

    /// <summary>Groups the elements of x by their index with dims removed (row-major order inside each group) and folds each group with f.</summary>
    public static Arr Reduce(Arr x, int[]? dims, bool keepDim, Func<double[], double> f)
    {
        int rank = x.Shape.Length;
        var reduced = new bool[rank];
        if (dims == null) Array.Fill(reduced, true);
        else foreach (int d in dims) reduced[d < 0 ? d + rank : d] = true;
        var outShape = new List<int>();
        var keptShape = new List<int>();
        for (int d = 0; d < rank; d++)
        {
            if (!reduced[d]) { outShape.Add(x.Shape[d]); keptShape.Add(x.Shape[d]); }
            else if (keepDim) outShape.Add(1);
        }
        var kept = keptShape.ToArray();
        var groups = new List<double>[Numel(kept)];
        for (int g = 0; g < groups.Length; g++) groups[g] = [];
        for (int i = 0; i < x.Numel; i++)
        {
            var idx = Unravel(i, x.Shape);
            var k = new List<int>();
            for (int d = 0; d < rank; d++) if (!reduced[d]) k.Add(idx[d]);
            groups[Ravel(k.ToArray(), kept)].Add(x.Data[i]);
        }
        var r = new float[groups.Length];
        for (int g = 0; g < r.Length; g++) r[g] = (float)f(groups[g].ToArray());
        return new(r, outShape.ToArray());
    }

    public static double Sum(double[] v) { double s = 0; foreach (var x in v) s += x; return s; }
    public static double Mean(double[] v) => v.Length == 0 ? double.NaN : Sum(v) / v.Length;

    public static double Var(double[] v, bool unbiased)
    {
        int n = v.Length, ddof = unbiased ? 1 : 0;
        if (n - ddof <= 0) return double.NaN;
        double m = Mean(v), ss = 0;
        foreach (var x in v) ss += (x - m) * (x - m);
        return ss / (n - ddof);
    }

    public static double Max(double[] v)
    {
        double m = double.NegativeInfinity;
        foreach (var x in v) { if (double.IsNaN(x)) return x; if (x > m) m = x; }
        return m;
    }

    public static double Min(double[] v)
    {
        double m = double.PositiveInfinity;
        foreach (var x in v) { if (double.IsNaN(x)) return x; if (x < m) m = x; }
        return m;
    }

    public static double ArgMax(double[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    public static double ArgMin(double[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] < v[best]) best = i;
        return best;
    }

    public static double LogSumExp(double[] v)
    {
        double s = 0;
        foreach (var x in v) s += Math.Exp(x);
        return Math.Log(s);
    }

    /// <summary>Softmax (or log-softmax) of x along dim, in double, from the textbook formula exp(x)/sum(exp(x)) shifted by the max.</summary>
    public static Arr Softmax(Arr x, int dim, bool log)
    {
        int rank = x.Shape.Length, d = dim < 0 ? dim + rank : dim, n = x.Shape[d];
        var r = new float[x.Numel];
        for (int i = 0; i < x.Numel; i++)
        {
            var idx = Unravel(i, x.Shape);
            var row = new double[n];
            for (int k = 0; k < n; k++)
            {
                var j = (int[])idx.Clone();
                j[d] = k;
                row[k] = x.Data[Ravel(j, x.Shape)];
            }
            double m = Max(row), s = 0;
            foreach (var v in row) s += Math.Exp(v - m);
            double xi = x.Data[i] - m;
            r[i] = (float)(log ? xi - Math.Log(s) : Math.Exp(xi) / s);
        }
        return new(r, x.Shape);
    }

    // ---- inputs ----

    /// <summary>Normal-ish values from System.Random (independent of Kiln's generator).</summary>
    public static float[] RandomValues(Random rng, int n, float scale = 1f, Func<float, float>? map = null)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            v[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            if (map != null) v[i] = map(v[i]);
        }
        return v;
    }

    /// <summary>A tensor of the given logical shape with random values, laid out as asked.</summary>
    public static Tensor Random(Random rng, int[] shape, Layout layout = Layout.Contiguous, float scale = 1f, Func<float, float>? map = null)
    {
        int rank = shape.Length;
        if (rank == 0) return Tensor.Scalar(RandomValues(rng, 1, scale, map)[0]);
        switch (layout)
        {
            case Layout.Transposed when rank == 1:
                return Tensor.FromArray(RandomValues(rng, shape[0] * 3, scale, map), shape[0], 3).Select(1, 1);
            case Layout.Transposed when rank >= 2:
            {
                var rev = shape.Reverse().ToArray();
                var perm = Enumerable.Range(0, rank).Reverse().ToArray();
                return Tensor.FromArray(RandomValues(rng, Numel(rev), scale, map), rev).Permute(perm);
            }
            case Layout.Stepped when rank >= 1:
            {
                var wide = (int[])shape.Clone();
                wide[^1] = 2 * shape[^1] + 1;
                return Tensor.FromArray(RandomValues(rng, Numel(wide), scale, map), wide).Slice(-1, 1, null, 2);
            }
            case Layout.Expanded when rank >= 1:
            {
                var one = (int[])shape.Clone();
                one[0] = 1;
                return Tensor.FromArray(RandomValues(rng, Numel(one), scale, map), one).Expand(shape);
            }
            default:
                return Tensor.FromArray(RandomValues(rng, Numel(shape), scale, map), shape);
        }
    }

    /// <summary>Runs f with <see cref="Threading.Threads"/> set to n, restoring the old value. Callers must be in the "Threading" collection.</summary>
    public static T WithThreads<T>(int n, Func<T> f)
    {
        int old = Threading.Threads;
        try
        {
            Threading.Threads = n;
            return f();
        }
        finally
        {
            Threading.Threads = old;
        }
    }

    // ---- assertions ----

    /// <summary>Asserts equal shapes and |expected - actual| &lt;= atol + rtol*|expected| everywhere (NaN matches NaN, infinities must match exactly).</summary>
    public static void AllClose(Arr expected, Tensor actual, double rtol = 1e-5, double atol = 1e-6, string what = "")
    {
        Assert.True(expected.Shape.SequenceEqual(actual.Shape),
            $"{what}: shape {Str(actual.Shape)}, expected {Str(expected.Shape)}");
        AllClose(expected.Data, actual.ToArray(), rtol, atol, what, expected.Shape);
    }

    public static void AllClose(float[] expected, float[] actual, double rtol = 1e-5, double atol = 1e-6, string what = "", int[]? shape = null)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} elements, expected {expected.Length}");
        int bad = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) || double.IsInfinity(a) ? e == a
                : Math.Abs(e - a) <= atol + rtol * Math.Abs(e);
            if (!ok && bad++ == 0) first = i;
        }
        if (bad > 0)
        {
            string where = shape != null ? Str(Unravel(first, shape)) : first.ToString(CultureInfo.InvariantCulture);
            Assert.Fail($"{what}: {bad} of {expected.Length} elements differ; first at {where} (flat {first}): " +
                $"expected {expected[first].ToString("R", CultureInfo.InvariantCulture)}, got {actual[first].ToString("R", CultureInfo.InvariantCulture)} (rtol {rtol}, atol {atol})");
        }
    }

    /// <summary>Exact equality against literal values, with the same mismatch report.</summary>
    public static void Equal(float[] expected, Tensor actual, int[] shape, string what = "")
    {
        Assert.True(shape.SequenceEqual(actual.Shape), $"{what}: shape {Str(actual.Shape)}, expected {Str(shape)}");
        AllClose(expected, actual.ToArray(), 0, 0, what, shape);
    }

    /// <summary>Asserts two tensors hold bit-identical floats and the same shape.</summary>
    public static void BitIdentical(Tensor expected, Tensor actual, string what = "")
    {
        Assert.True(expected.Shape.SequenceEqual(actual.Shape), $"{what}: shape {Str(actual.Shape)}, expected {Str(expected.Shape)}");
        var e = expected.ToArray();
        var a = actual.ToArray();
        for (int i = 0; i < e.Length; i++)
            if (BitConverter.SingleToInt32Bits(e[i]) != BitConverter.SingleToInt32Bits(a[i]))
                Assert.Fail($"{what}: element {i} differs: {e[i].ToString("R", CultureInfo.InvariantCulture)} vs {a[i].ToString("R", CultureInfo.InvariantCulture)}");
    }
}
