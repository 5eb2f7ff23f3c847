namespace Kiln;

/// <summary>Shape arithmetic shared by all ops: strides, broadcasting, dimension normalisation, formatting.</summary>
internal static class Shapes
{
    public static string Str(ReadOnlySpan<int> shape) => "[" + string.Join(",", shape.ToArray()) + "]";

    public static int Numel(ReadOnlySpan<int> shape, string op)
    {
        long n = 1;
        foreach (int s in shape)
        {
            if (s < 0) throw new ArgumentException($"{op}: negative dimension {s} in shape {Str(shape)}");
            n *= s;
            if (n > int.MaxValue) throw new ArgumentException($"{op}: shape {Str(shape)} has more than {int.MaxValue} elements");
        }
        return (int)n;
    }

    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var st = new int[shape.Length];
        int acc = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            st[d] = acc;
            acc *= Math.Max(shape[d], 1);
        }
        return st;
    }

    /// <summary>Normalises a possibly negative dim into [0, rank).</summary>
    public static int NormDim(int dim, int rank, string op)
    {
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= rank)
            throw new ArgumentOutOfRangeException(nameof(dim), $"{op}: dimension {dim} is out of range for a tensor with {rank} dimension(s) (expected {-rank}..{rank - 1})");
        return d;
    }

    /// <summary>NumPy broadcasting of two shapes; throws naming the op and both shapes when incompatible.</summary>
    public static int[] Broadcast(int[] a, int[] b, string op)
    {
        int n = Math.Max(a.Length, b.Length);
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int da = i < n - a.Length ? 1 : a[i - (n - a.Length)];
            int db = i < n - b.Length ? 1 : b[i - (n - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Str(a)} and {Str(b)} cannot be broadcast (dimension {i}: {da} vs {db})");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>Strides that read a tensor of (shape, strides) as the larger broadcast shape: 0 on expanded dims.</summary>
    public static int[] BroadcastStrides(int[] shape, int[] strides, int[] target, string op)
    {
        int n = target.Length, k = shape.Length;
        if (k > n) throw new ArgumentException($"{op}: cannot broadcast shape {Str(shape)} to {Str(target)}");
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int j = i - (n - k);
            if (j < 0) { r[i] = 0; continue; }
            if (shape[j] == target[i]) r[i] = target[i] == 1 ? 0 : strides[j];
            else if (shape[j] == 1) r[i] = 0;
            else throw new ArgumentException($"{op}: cannot broadcast shape {Str(shape)} to {Str(target)}");
        }
        return r;
    }

    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);
}
