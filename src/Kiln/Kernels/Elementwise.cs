using System.Numerics;
using System.Numerics.Tensors;

namespace Kiln.Kernels;

/// <summary>A binary float operation: a scalar form plus span forms (vectorised through TensorPrimitives).</summary>
internal interface IBinaryOp
{
    static abstract float Invoke(float x, float y);
    static abstract void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d);
    static abstract void Invoke(ReadOnlySpan<float> x, float y, Span<float> d);
    static abstract void Invoke(float x, ReadOnlySpan<float> y, Span<float> d);
    /// <summary>True when int op int stays int (add, sub, mul, max, min); otherwise ints are promoted to float.</summary>
    static virtual bool IntClosed => false;
    static virtual int InvokeInt(int x, int y) => throw new InvalidOperationException("not an integer operation");
}

/// <summary>A unary float operation with scalar and span forms.</summary>
internal interface IUnaryOp
{
    static abstract float Invoke(float x);
    static abstract void Invoke(ReadOnlySpan<float> x, Span<float> d);
}

/// <summary>The elementwise operators. Each is one struct: its math, once.</summary>
internal static class Ops
{
    public struct Add : IBinaryOp
    {
        public static float Invoke(float x, float y) => x + y;
        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Add(x, y, d);
        public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Add(x, y, d);
        public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Add(y, x, d);
        public static bool IntClosed => true;
        public static int InvokeInt(int x, int y) => x + y;
    }

    public struct Sub : IBinaryOp
    {
        public static float Invoke(float x, float y) => x - y;
        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
        public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
        public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Subtract(x, y, d);
        public static bool IntClosed => true;
        public static int InvokeInt(int x, int y) => x - y;
    }

    public struct Mul : IBinaryOp
    {
        public static float Invoke(float x, float y) => x * y;
        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Multiply(x, y, d);
        public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Multiply(x, y, d);
        public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Multiply(y, x, d);
        public static bool IntClosed => true;
        public static int InvokeInt(int x, int y) => x * y;
    }

    public struct Div : IBinaryOp
    {
        public static float Invoke(float x, float y) => x / y;
        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
        public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
        public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Divide(x, y, d);
    }

    public struct Pow : IBinaryOp
    {
        public static float Invoke(float x, float y) => MathF.Pow(x, y);
        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Pow(x, y, d);
        public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d)
        {
            // Exact fast paths for the powers training code uses most; MathF.Pow semantics otherwise.
            if (y == 2f) TensorPrimitives.Multiply(x, x, d);
            else if (y == 1f) x.CopyTo(d);
            else if (y == 0.5f) TensorPrimitives.Sqrt(x, d);
            else TensorPrimitives.Pow(x, y, d);
        }
        public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Pow(x, y, d);
    }

    public struct Maximum : IBinaryOp
    {
        public static float Invoke(float x, float y) => float.IsNaN(x) || float.IsNaN(y) ? float.NaN : Math.Max(x, y);
        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Max(x, y, d);
        public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Max(x, y, d);
        public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Max(y, x, d);
        public static bool IntClosed => true;
        public static int InvokeInt(int x, int y) => Math.Max(x, y);
    }

    public struct Minimum : IBinaryOp
    {
        public static float Invoke(float x, float y) => float.IsNaN(x) || float.IsNaN(y) ? float.NaN : Math.Min(x, y);
        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Min(x, y, d);
        public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d) => TensorPrimitives.Min(x, y, d);
        public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d) => TensorPrimitives.Min(y, x, d);
        public static bool IntClosed => true;
        public static int InvokeInt(int x, int y) => Math.Min(x, y);
    }

    /// <summary>ReLU's backward in one pass: x is the incoming gradient, y the ReLU output; passes x where y &gt; 0.</summary>
    public struct ReluBackward : IBinaryOp
    {
        public static float Invoke(float x, float y) => y > 0f ? x : 0f;
        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d)
        {
            // Branch-free: the signs of a ReLU's outputs are random, so a branch per element mispredicts half the time.
            int i = 0, w = Vector<float>.Count;
            for (; i <= d.Length - w; i += w)
            {
                var keep = Vector.GreaterThan(new Vector<float>(y[i..]), Vector<float>.Zero);
                Vector.ConditionalSelect(keep, new Vector<float>(x[i..]), Vector<float>.Zero).CopyTo(d[i..]);
            }
            for (; i < d.Length; i++) d[i] = y[i] > 0f ? x[i] : 0f;
        }
        public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d)
        {
            if (y > 0f) x.CopyTo(d);
            else d.Clear();
        }
        public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d)
        {
            for (int i = 0; i < d.Length; i++) d[i] = y[i] > 0f ? x : 0f;
        }
    }

    public struct Neg : IUnaryOp
    {
        public static float Invoke(float x) => -x;
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Negate(x, d);
    }

    public struct Exp : IUnaryOp
    {
        public static float Invoke(float x) => MathF.Exp(x);
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Exp(x, d);
    }

    public struct Log : IUnaryOp
    {
        public static float Invoke(float x) => MathF.Log(x);
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Log(x, d);
    }

    public struct Sqrt : IUnaryOp
    {
        public static float Invoke(float x) => MathF.Sqrt(x);
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Sqrt(x, d);
    }

    public struct Abs : IUnaryOp
    {
        public static float Invoke(float x) => MathF.Abs(x);
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Abs(x, d);
    }

    public struct Sign : IUnaryOp
    {
        public static float Invoke(float x) => x > 0 ? 1f : x < 0 ? -1f : x;
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d)
        {
            for (int i = 0; i < x.Length; i++) d[i] = Invoke(x[i]);
        }
    }

    public struct Sigmoid : IUnaryOp
    {
        public static float Invoke(float x) => 1f / (1f + MathF.Exp(-x));
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Sigmoid(x, d);
    }

    public struct Tanh : IUnaryOp
    {
        public static float Invoke(float x) => MathF.Tanh(x);
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Tanh(x, d);
    }

    public struct Relu : IUnaryOp
    {
        public static float Invoke(float x) => float.IsNaN(x) ? x : Math.Max(x, 0f);
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Max(x, 0f, d);
    }

    public struct Square : IUnaryOp
    {
        public static float Invoke(float x) => x * x;
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Multiply(x, x, d);
    }

    public struct Reciprocal : IUnaryOp
    {
        public static float Invoke(float x) => 1f / x;
        public static void Invoke(ReadOnlySpan<float> x, Span<float> d) => TensorPrimitives.Divide(1f, x, d);
    }
}

/// <summary>Row kernels that drive the operator structs over strided operands.</summary>
internal static class ElementwiseKernels
{
    /// <summary>d = op(x, y) where operands 0, 1, 2 are x, y, d.</summary>
    public struct Binary<TOp> : IRowKernel where TOp : IBinaryOp
    {
        public float[] X, Y, D;
        public void Row(int[] o, int n, int[] s)
        {
            int ox = o[0], oy = o[1], od = o[2], sx = s[0], sy = s[1], sd = s[2];
            if (sd == 1)
            {
                var d = D.AsSpan(od, n);
                if (sx == 1 && sy == 1) { TOp.Invoke(X.AsSpan(ox, n), Y.AsSpan(oy, n), d); return; }
                if (sx == 0 && sy == 1) { TOp.Invoke(X[ox], Y.AsSpan(oy, n), d); return; }
                if (sx == 1 && sy == 0) { TOp.Invoke(X.AsSpan(ox, n), Y[oy], d); return; }
            }
            for (int i = 0; i < n; i++, ox += sx, oy += sy, od += sd) D[od] = TOp.Invoke(X[ox], Y[oy]);
        }
    }

    /// <summary>Integer form of a binary op that is closed over ints.</summary>
    public struct BinaryInt<TOp> : IRowKernel where TOp : IBinaryOp
    {
        public int[] X, Y, D;
        public void Row(int[] o, int n, int[] s)
        {
            int ox = o[0], oy = o[1], od = o[2], sx = s[0], sy = s[1], sd = s[2];
            for (int i = 0; i < n; i++, ox += sx, oy += sy, od += sd) D[od] = TOp.InvokeInt(X[ox], Y[oy]);
        }
    }

    /// <summary>d = op(x); operands 0 and 1 are x and d.</summary>
    public struct Unary<TOp> : IRowKernel where TOp : IUnaryOp
    {
        public float[] X, D;
        public void Row(int[] o, int n, int[] s)
        {
            int ox = o[0], od = o[1], sx = s[0], sd = s[1];
            if (sx == 1 && sd == 1) { TOp.Invoke(X.AsSpan(ox, n), D.AsSpan(od, n)); return; }
            for (int i = 0; i < n; i++, ox += sx, od += sd) D[od] = TOp.Invoke(X[ox]);
        }
    }

    /// <summary>Float comparison writing 0/1 ints: kind 0 ==, 1 !=, 2 &lt;, 3 &lt;=, 4 &gt;, 5 &gt;=.</summary>
    public struct Compare : IRowKernel
    {
        public float[] X, Y;
        public int[] D;
        public int Kind;
        public void Row(int[] o, int n, int[] s)
        {
            int ox = o[0], oy = o[1], od = o[2], sx = s[0], sy = s[1], sd = s[2];
            for (int i = 0; i < n; i++, ox += sx, oy += sy, od += sd)
            {
                float a = X[ox], b = Y[oy];
                bool r = Kind switch { 0 => a == b, 1 => a != b, 2 => a < b, 3 => a <= b, 4 => a > b, _ => a >= b };
                D[od] = r ? 1 : 0;
            }
        }
    }

    /// <summary>Integer comparison writing 0/1 ints (same kinds as <see cref="Compare"/>).</summary>
    public struct CompareInt : IRowKernel
    {
        public int[] X, Y, D;
        public int Kind;
        public void Row(int[] o, int n, int[] s)
        {
            int ox = o[0], oy = o[1], od = o[2], sx = s[0], sy = s[1], sd = s[2];
            for (int i = 0; i < n; i++, ox += sx, oy += sy, od += sd)
            {
                int a = X[ox], b = Y[oy];
                bool r = Kind switch { 0 => a == b, 1 => a != b, 2 => a < b, 3 => a <= b, 4 => a > b, _ => a >= b };
                D[od] = r ? 1 : 0;
            }
        }
    }

    /// <summary>d = cond ? x : y; operands cond, x, y, d.</summary>
    public struct Where<T> : IRowKernel
    {
        public int[] C;
        public T[] X, Y, D;
        public void Row(int[] o, int n, int[] s)
        {
            int oc = o[0], ox = o[1], oy = o[2], od = o[3];
            for (int i = 0; i < n; i++, oc += s[0], ox += s[1], oy += s[2], od += s[3]) D[od] = C[oc] != 0 ? X[ox] : Y[oy];
        }
    }
}
