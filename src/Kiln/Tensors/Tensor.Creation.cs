namespace Kiln;

public sealed partial class Tensor
{
    /// <summary>Seeds the default generator (like torch.manual_seed).</summary>
    public static void ManualSeed(long seed) => Generator.Default.ManualSeed(seed);

    /// <summary>Tensor of zeros with the given shape.</summary>
    public static Tensor Zeros(params int[] shape) => Empty(shape);

    /// <summary>Tensor of zeros with the given shape and dtype.</summary>
    public static Tensor Zeros(int[] shape, DType dtype) => Empty(shape, dtype);

    /// <summary>Tensor of ones with the given shape.</summary>
    public static Tensor Ones(params int[] shape) => Full(shape, 1f);

    /// <summary>Tensor of ones with the given shape and dtype.</summary>
    public static Tensor Ones(int[] shape, DType dtype) => Full(shape, 1f, dtype);

    /// <summary>Tensor filled with value.</summary>
    public static Tensor Full(int[] shape, float value, DType dtype = DType.Float32)
    {
        var t = Empty(shape, dtype);
        if (dtype == DType.Float32) t.Storage.Floats.AsSpan().Fill(value);
        else t.Storage.Ints.AsSpan().Fill(dtype == DType.Bool ? (value != 0 ? 1 : 0) : (int)value);
        return t;
    }

    /// <summary>Zeros shaped like t (same dtype).</summary>
    public static Tensor ZerosLike(Tensor t) => Empty(t._shape, t.DType);

    /// <summary>Ones shaped like t (same dtype).</summary>
    public static Tensor OnesLike(Tensor t) => Full(t._shape, 1f, t.DType);

    /// <summary>Tensor filled with value, shaped like t.</summary>
    public static Tensor FullLike(Tensor t, float value) => Full(t._shape, value, t.DType);

    /// <summary>A 0-d float tensor holding value.</summary>
    public static Tensor Scalar(float value) => new(new Storage(new[] { value }), [], [], 0, DType.Float32);

    /// <summary>Integers start, start+step, ... below end (Int32), like torch.arange with integer arguments.</summary>
    public static Tensor Arange(int end) => Arange(0, end, 1);

    /// <summary>Integers in [start, end) stepping by step (Int32).</summary>
    public static Tensor Arange(int start, int end, int step = 1)
    {
        if (step == 0) throw new ArgumentException("Arange: step must be non-zero");
        int n = Math.Max(0, (int)Math.Ceiling((end - (double)start) / step));
        var d = new int[n];
        for (int i = 0; i < n; i++) d[i] = start + i * step;
        return Wrap(d, [n]);
    }

    /// <summary>Floats in [start, end) stepping by step, like torch.arange with float arguments.</summary>
    public static Tensor Arange(float start, float end, float step = 1f)
    {
        if (step == 0 || float.IsNaN(step)) throw new ArgumentException($"Arange: step must be non-zero, got {step}");
        int n = Math.Max(0, (int)Math.Ceiling((end - (double)start) / step));
        var d = new float[n];
        for (int i = 0; i < n; i++) d[i] = (float)(start + (double)i * step);
        return Wrap(d, n);
    }

    /// <summary>steps evenly spaced floats from start to end inclusive.</summary>
    public static Tensor Linspace(float start, float end, int steps)
    {
        if (steps < 0) throw new ArgumentException($"Linspace: steps must be >= 0, got {steps}");
        var d = new float[steps];
        double step = steps > 1 ? (end - (double)start) / (steps - 1) : 0;
        for (int i = 0; i < steps; i++) d[i] = (float)(start + i * step);
        if (steps > 1) d[steps - 1] = end;
        return Wrap(d, steps);
    }

    /// <summary>n x m identity matrix (m defaults to n).</summary>
    public static Tensor Eye(int n, int? m = null)
    {
        int cols = m ?? n;
        var t = Empty([n, cols]);
        var d = t.Storage.Floats!;
        for (int i = 0; i < Math.Min(n, cols); i++) d[i * cols + i] = 1f;
        return t;
    }

    /// <summary>Float tensor from a flat array and a shape (copied). With no shape, a 1-d tensor.</summary>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        if (shape.Length == 0) shape = [data.Length];
        return Wrap((float[])data.Clone(), shape);
    }

    /// <summary>Int32 tensor from a flat array and a shape (copied). With no shape, a 1-d tensor.</summary>
    public static Tensor FromArray(int[] data, params int[] shape)
    {
        if (shape.Length == 0) shape = [data.Length];
        return Wrap((int[])data.Clone(), shape);
    }

    /// <summary>Bool tensor from a flat array and a shape. With no shape, a 1-d tensor.</summary>
    public static Tensor FromArray(bool[] data, params int[] shape)
    {
        if (shape.Length == 0) shape = [data.Length];
        return Wrap(Array.ConvertAll(data, b => b ? 1 : 0), shape, DType.Bool);
    }

    /// <summary>Tensor from a .NET array of any rank (float[,], int[,,], double[,], bool[], ...), keeping its shape.</summary>
    public static Tensor FromArray(Array data)
    {
        var shape = new int[data.Rank];
        for (int d = 0; d < data.Rank; d++) shape[d] = data.GetLength(d);
        var et = data.GetType().GetElementType()!;
        int n = data.Length, i = 0;
        if (et == typeof(float) || et == typeof(double))
        {
            var f = new float[n];
            foreach (var v in data) f[i++] = Convert.ToSingle(v);
            return Wrap(f, shape);
        }
        if (et == typeof(int) || et == typeof(long) || et == typeof(short) || et == typeof(byte) || et == typeof(bool))
        {
            var a = new int[n];
            foreach (var v in data) a[i++] = Convert.ToInt32(v);
            return Wrap(a, shape, et == typeof(bool) ? DType.Bool : DType.Int32);
        }
        throw new ArgumentException($"FromArray: unsupported element type {et.Name} (use float, double, int, long, short, byte or bool)");
    }

    /// <summary>1-d float tensor from values.</summary>
    public static Tensor Of(params float[] values) => FromArray(values);

    /// <summary>Standard-normal samples of the given shape from the default generator.</summary>
    public static Tensor Randn(params int[] shape) => Randn(shape, null);

    /// <summary>Standard-normal samples of the given shape from generator (default generator when null).</summary>
    public static Tensor Randn(int[] shape, Generator? generator)
    {
        var g = generator ?? Generator.Default;
        var t = Empty(shape);
        var d = t.Storage.Floats!;
        lock (g) for (int i = 0; i < d.Length; i++) d[i] = (float)g.NextNormal();
        return t;
    }

    /// <summary>Uniform samples in [0, 1) of the given shape from the default generator.</summary>
    public static Tensor Rand(params int[] shape) => Rand(shape, null);

    /// <summary>Uniform samples in [0, 1) of the given shape from generator (default generator when null).</summary>
    public static Tensor Rand(int[] shape, Generator? generator)
    {
        var g = generator ?? Generator.Default;
        var t = Empty(shape);
        var d = t.Storage.Floats!;
        lock (g) for (int i = 0; i < d.Length; i++) d[i] = g.NextFloat();
        return t;
    }

    /// <summary>Uniform integers in [low, high) (Int32) of the given shape.</summary>
    public static Tensor RandInt(int low, int high, int[] shape, Generator? generator = null)
    {
        if (high <= low) throw new ArgumentException($"RandInt: empty range [{low}, {high})");
        var g = generator ?? Generator.Default;
        var t = Empty(shape, DType.Int32);
        var d = t.Storage.Ints!;
        lock (g) for (int i = 0; i < d.Length; i++) d[i] = g.NextInt(low, high);
        return t;
    }

    /// <summary>A random permutation of 0..n-1 (Int32).</summary>
    public static Tensor RandPerm(int n, Generator? generator = null)
    {
        var g = generator ?? Generator.Default;
        var d = new int[n];
        for (int i = 0; i < n; i++) d[i] = i;
        lock (g)
            for (int i = n - 1; i > 0; i--)
            {
                int j = g.NextInt(0, i + 1);
                (d[i], d[j]) = (d[j], d[i]);
            }
        return Wrap(d, [n]);
    }
}
