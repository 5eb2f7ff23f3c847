using Kiln.Kernels;

namespace Kiln;

public sealed partial class Tensor
{
    // ---- the two drivers: every elementwise op goes through one of them ----

    /// <summary>Broadcasting binary op. Int op int stays int when the op is closed over ints; otherwise float. into: in-place target.</summary>
    static Tensor Binary<TOp>(Tensor a, Tensor b, string op, Tensor? into = null) where TOp : IBinaryOp
    {
        var shape = Shapes.Broadcast(a._shape, b._shape, op);
        bool intResult = a.DType.IsIntegral() && b.DType.IsIntegral() && TOp.IntClosed;
        Tensor d;
        if (into != null)
        {
            if (!Shapes.Equal(shape, into._shape))
                throw new ArgumentException($"{op}: in-place result of shape {Shapes.Str(shape)} (from {Shapes.Str(a._shape)} and {Shapes.Str(b._shape)}) does not fit the target of shape {Shapes.Str(into._shape)}");
            if (into.DType == DType.Bool)
                throw new InvalidOperationException($"{op}: arithmetic in place into a bool mask is not allowed (it would store values other than 0 and 1); convert with .Int() or .Float() first");
            if (into.DType.IsIntegral() && !intResult)
                throw new InvalidOperationException($"{op}: cannot write a float result in place into a {into.DType.Name()} tensor");
            for (int k = 0; k < into.Dim; k++)
                if (into._strides[k] == 0 && into._shape[k] > 1)
                    throw new InvalidOperationException($"{op}: cannot write in place into an expanded tensor of shape {Shapes.Str(into._shape)} with strides {Shapes.Str(into._strides)} (several elements share one memory location); Clone() it first");
            // An operand viewing the target's storage through another layout would read elements already overwritten.
            if (a != into && a.Storage == into.Storage) a = a.CopyContiguous();
            if (b != into && b.Storage == into.Storage) b = b.CopyContiguous();
            d = into;
            into.BumpVersion();
        }
        else d = Unfilled(shape, intResult ? DType.Int32 : DType.Float32);
        var sa = Shapes.BroadcastStrides(a._shape, a._strides, shape, op);
        var sb = Shapes.BroadcastStrides(b._shape, b._strides, shape, op);
        int[][] strides = [sa, sb, d._strides];
        int[] offs = [a._offset, b._offset, d._offset];
        if (intResult)
        {
            Strided.ForEachRow(shape, strides, offs, new ElementwiseKernels.BinaryInt<TOp> { X = a.Storage.Ints!, Y = b.Storage.Ints!, D = d.Storage.Ints! });
            return d;
        }
        // Operands that alias the target need no conversion; int operands are converted to float first.
        var fa = a.DType == DType.Float32 ? a : a.Float();
        var fb = b.DType == DType.Float32 ? b : b.Float();
        if (fa != a) { sa = Shapes.BroadcastStrides(fa._shape, fa._strides, shape, op); offs[0] = fa._offset; strides[0] = sa; }
        if (fb != b) { sb = Shapes.BroadcastStrides(fb._shape, fb._strides, shape, op); offs[1] = fb._offset; strides[1] = sb; }
        Strided.ForEachRow(shape, strides, offs, new ElementwiseKernels.Binary<TOp> { X = fa.Storage.Floats!, Y = fb.Storage.Floats!, D = d.Storage.Floats! });
        return d;
    }

    /// <summary>Unary float op (ints are converted to float). into: in-place target (this tensor).</summary>
    Tensor Unary<TOp>(string op, Tensor? into = null) where TOp : IUnaryOp
    {
        var x = DType == DType.Float32 ? this : Float();
        if (into != null)
        {
            if (into.DType != DType.Float32) throw new InvalidOperationException($"{op}: in-place op needs a float32 tensor, got {into.DType.Name()}");
            into.BumpVersion();
        }
        var d = into ?? Unfilled(_shape);
        Strided.ForEachRow(_shape, [x._strides, d._strides], [x._offset, d._offset], new ElementwiseKernels.Unary<TOp> { X = x.Storage.Floats!, D = d.Storage.Floats! });
        return d;
    }

    static Tensor Compare(Tensor a, Tensor b, int kind, string op)
    {
        var shape = Shapes.Broadcast(a._shape, b._shape, op);
        var d = Empty(shape, DType.Bool);
        if (a.DType.IsIntegral() && b.DType.IsIntegral())
        {
            Strided.ForEachRow(shape, [Shapes.BroadcastStrides(a._shape, a._strides, shape, op), Shapes.BroadcastStrides(b._shape, b._strides, shape, op), d._strides],
                [a._offset, b._offset, 0], new ElementwiseKernels.CompareInt { X = a.Storage.Ints!, Y = b.Storage.Ints!, D = d.Storage.Ints!, Kind = kind });
            return d;
        }
        var fa = a.Float();
        var fb = b.Float();
        Strided.ForEachRow(shape, [Shapes.BroadcastStrides(fa._shape, fa._strides, shape, op), Shapes.BroadcastStrides(fb._shape, fb._strides, shape, op), d._strides],
            [fa._offset, fb._offset, 0], new ElementwiseKernels.Compare { X = fa.Storage.Floats!, Y = fb.Storage.Floats!, D = d.Storage.Ints!, Kind = kind });
        return d;
    }

    // ---- arithmetic ----

    // Each op: forward through a kernel driver, then its backward formula beside it (inputs' gradients from g, the output's).

    /// <summary>Elementwise sum with broadcasting.</summary>
    public Tensor Add(Tensor other) => Record(Binary<Ops.Add>(this, other, "Add"), "Add", [this, other],
        g => [SumTo(g, _shape), SumTo(g, other._shape)]);

    /// <summary>this + alpha * other (PyTorch's add with alpha).</summary>
    public Tensor Add(Tensor other, float alpha) => alpha == 1f ? Add(other) : Add(other * alpha);

    /// <summary>Elementwise difference with broadcasting.</summary>
    public Tensor Sub(Tensor other) => Record(Binary<Ops.Sub>(this, other, "Sub"), "Sub", [this, other],
        g => [SumTo(g, _shape), SumTo(-g, other._shape)]);

    /// <summary>Elementwise product with broadcasting.</summary>
    public Tensor Mul(Tensor other) => Record(Binary<Ops.Mul>(this, other, "Mul"), "Mul", [this, other],
        g => [_requiresGrad ? SumTo(g * other, _shape) : null, other._requiresGrad ? SumTo(g * this, other._shape) : null], this, other);

    /// <summary>Elementwise true division with broadcasting (ints give floats).</summary>
    public Tensor Div(Tensor other)
    {
        var r = Binary<Ops.Div>(this, other, "Div");
        return Record(r, "Div", [this, other],
            g => [_requiresGrad ? SumTo(g / other, _shape) : null, other._requiresGrad ? SumTo(-g * r / other, other._shape) : null], other, r);
    }

    /// <summary>Elementwise power with broadcasting. d/dx = y·x^(y-1) (0 where y = 0); d/dy = x^y·ln x (0 where x = 0 and y &gt;= 0), as PyTorch.</summary>
    public Tensor Pow(Tensor exponent)
    {
        var r = Binary<Ops.Pow>(this, exponent, "Pow");
        return Record(r, "Pow", [this, exponent], g => [
            _requiresGrad ? SumTo(Where(exponent.Eq(0f), 0f, g * exponent * Binary<Ops.Pow>(this, exponent - 1f, "Pow")), _shape) : null,
            exponent._requiresGrad ? SumTo(Where(Eq(0f) & (exponent >= 0f), 0f, g * r * Log()), exponent._shape) : null], this, exponent, r);
    }

    /// <summary>Elementwise power by a scalar exponent.</summary>
    public Tensor Pow(float exponent) => Record(Binary<Ops.Pow>(this, Scalar(exponent), "Pow"), "Pow", this,
        g => exponent == 0f ? ZerosLike(g) : g * exponent * Binary<Ops.Pow>(this, Scalar(exponent - 1f), "Pow"), this);

    /// <summary>Elementwise maximum with broadcasting (NaN propagates). Ties split the gradient evenly, as PyTorch.</summary>
    public Tensor Maximum(Tensor other) => Record(Binary<Ops.Maximum>(this, other, "Maximum"), "Maximum", [this, other],
        g => SplitBetween(g, Gt(other), Eq(other), other), this, other);

    /// <summary>Elementwise minimum with broadcasting (NaN propagates). Ties split the gradient evenly, as PyTorch.</summary>
    public Tensor Minimum(Tensor other) => Record(Binary<Ops.Minimum>(this, other, "Minimum"), "Minimum", [this, other],
        g => SplitBetween(g, Lt(other), Eq(other), other), this, other);

    /// <summary>Gradients of a two-way choice: all of g to this where wins, half to each where tied, the rest to other.</summary>
    Tensor?[] SplitBetween(Tensor g, Tensor wins, Tensor ties, Tensor other)
    {
        var share = wins.Float() + ties.Float() * 0.5f;
        return [SumTo(g * share, _shape), SumTo(g * (1f - share), other._shape)];
    }

    /// <summary>Elementwise negation.</summary>
    public Tensor Neg() => DType == DType.Int32
        ? Binary<Ops.Sub>(ScalarLike(0), this, "Neg")
        : Record(Unary<Ops.Neg>("Neg"), "Neg", this, g => -g);

    /// <summary>e^x.</summary>
    public Tensor Exp()
    {
        var r = Unary<Ops.Exp>("Exp");
        return Record(r, "Exp", this, g => g * r, r);
    }

    /// <summary>Natural logarithm.</summary>
    public Tensor Log() => Record(Unary<Ops.Log>("Log"), "Log", this, g => g / this, this);

    /// <summary>Square root.</summary>
    public Tensor Sqrt()
    {
        var r = Unary<Ops.Sqrt>("Sqrt");
        return Record(r, "Sqrt", this, g => g / (r * 2f), r);
    }

    /// <summary>Absolute value (gradient sign(x), 0 at 0).</summary>
    public Tensor Abs() => DType == DType.Int32
        ? Maximum(Neg())
        : Record(Unary<Ops.Abs>("Abs"), "Abs", this, g => g * Sign(), this);

    /// <summary>-1, 0 or 1 by sign (0 stays 0, NaN stays NaN); its gradient is zero.</summary>
    public Tensor Sign() => Record(Unary<Ops.Sign>("Sign"), "Sign", this, ZerosLike);

    /// <summary>Logistic sigmoid 1/(1+e^-x).</summary>
    public Tensor Sigmoid()
    {
        var r = Unary<Ops.Sigmoid>("Sigmoid");
        return Record(r, "Sigmoid", this, g => g * r * (1f - r), r);
    }

    /// <summary>Hyperbolic tangent.</summary>
    public Tensor Tanh()
    {
        var r = Unary<Ops.Tanh>("Tanh");
        return Record(r, "Tanh", this, g => g * (1f - r.Square()), r);
    }

    /// <summary>max(x, 0) (gradient 0 at 0, as PyTorch).</summary>
    public Tensor Relu()
    {
        var r = Unary<Ops.Relu>("Relu");
        return Record(r, "Relu", this, g => Binary<Ops.ReluBackward>(g, r, "Relu"), r);
    }

    /// <summary>x * x.</summary>
    public Tensor Square() => Record(Unary<Ops.Square>("Square"), "Square", this, g => g * this * 2f, this);

    /// <summary>1 / x.</summary>
    public Tensor Reciprocal()
    {
        var r = Unary<Ops.Reciprocal>("Reciprocal");
        return Record(r, "Reciprocal", this, g => -g * r.Square(), r);
    }

    /// <summary>x where x &gt; 0, slope * x elsewhere (so the gradient at 0 is the slope, as PyTorch).</summary>
    public Tensor LeakyRelu(float negativeSlope = 0.01f) => LeakyReluShifted(negativeSlope, 0f);

    /// <summary>
    /// (x &gt; 0 ? x : slope*x) - shift in one pass (LeakyRelu, and lesson 18's GeneralRelu with its sub); backward
    /// g * (x &gt; 0 ? 1 : slope) in one pass from the saved input (PyTorch's rule at 0: the slope).
    /// </summary>
    internal Tensor LeakyReluShifted(float slope, float shift)
    {
        var xc = (DType == DType.Float32 ? this : Float()).Contiguous();
        var y = Unfilled(xc._shape);
        Activations.LeakySub(xc.Storage.Floats!, xc._offset, y.Storage.Floats!, y.Numel, slope, shift);
        return Record(y, "LeakyRelu", this, g =>
        {
            var gc = g.Contiguous();
            var d = Unfilled(gc._shape);
            Activations.LeakyGrad(gc.Storage.Floats!, gc._offset, xc.Storage.Floats!, xc._offset, d.Storage.Floats!, d.Numel, slope);
            return d;
        }, xc);
    }

    /// <summary>Clamps into [min, max]; either bound may be null. The gradient passes where min &lt;= x &lt;= max.</summary>
    public Tensor Clamp(float? min = null, float? max = null)
    {
        if (min is null && max is null) throw new ArgumentException("Clamp: at least one of min and max must be given");
        if (min > max) throw new ArgumentException($"Clamp: min {min} is greater than max {max}");
        var r = this;
        if (min is float lo) r = Binary<Ops.Maximum>(r, ScalarLike(lo), "Clamp");
        if (max is float hi) r = Binary<Ops.Minimum>(r, ScalarLike(hi), "Clamp");
        if (r == this) r = Clone();
        return Record(r, "Clamp", this, g =>
        {
            var pass = min is float a ? this >= a : null;
            if (max is float b) pass = pass == null ? this <= b : pass & (this <= b);
            return g * pass!.Float();
        }, this);
    }

    /// <summary>max(x, min).</summary>
    public Tensor ClampMin(float min) => Clamp(min: min);
    /// <summary>min(x, max).</summary>
    public Tensor ClampMax(float max) => Clamp(max: max);

    /// <summary>A 0-d tensor of this tensor's kind (int when this is integral and value is whole) for scalar ops.</summary>
    Tensor ScalarLike(float value) => DType.IsIntegral() && value == MathF.Round(value)
        ? new Tensor(new Storage(new[] { (int)value }), [], [], 0, DType.Int32)
        : Scalar(value);

    /// <summary>Elementwise choice: x where cond is true, y elsewhere (all three broadcast together).</summary>
    public static Tensor Where(Tensor cond, Tensor x, Tensor y)
    {
        const string op = "Where";
        if (cond.DType == DType.Float32) throw new ArgumentException($"Where: condition must be a bool tensor, got {cond.DType.Name()} of shape {Shapes.Str(cond._shape)}");
        var shape = Shapes.Broadcast(Shapes.Broadcast(cond._shape, x._shape, op), y._shape, op);
        bool ints = x.DType.IsIntegral() && y.DType.IsIntegral();
        var xx = ints || x.DType == DType.Float32 ? x : x.Float();
        var yy = ints || y.DType == DType.Float32 ? y : y.Float();
        var d = Unfilled(shape, ints ? DType.Int32 : DType.Float32);
        int[][] st = [Shapes.BroadcastStrides(cond._shape, cond._strides, shape, op), Shapes.BroadcastStrides(xx._shape, xx._strides, shape, op),
            Shapes.BroadcastStrides(yy._shape, yy._strides, shape, op), d._strides];
        int[] offs = [cond._offset, xx._offset, yy._offset, 0];
        if (ints) Strided.ForEachRow(shape, st, offs, new ElementwiseKernels.Where<int> { C = cond.Storage.Ints!, X = xx.Storage.Ints!, Y = yy.Storage.Ints!, D = d.Storage.Ints! });
        else Strided.ForEachRow(shape, st, offs, new ElementwiseKernels.Where<float> { C = cond.Storage.Ints!, X = xx.Storage.Floats!, Y = yy.Storage.Floats!, D = d.Storage.Floats! });
        return Record(d, "Where", [x, y], g => [
            x._requiresGrad ? SumTo(Where(cond, g, 0f), x._shape) : null,
            y._requiresGrad ? SumTo(Where(cond, 0f, g), y._shape) : null], cond);
    }

    /// <summary>x where cond is true, the scalar y elsewhere.</summary>
    public static Tensor Where(Tensor cond, Tensor x, float y) => Where(cond, x, Scalar(y));
    /// <summary>The scalar x where cond is true, y elsewhere.</summary>
    public static Tensor Where(Tensor cond, float x, Tensor y) => Where(cond, Scalar(x), y);

    // ---- comparisons (results are Bool masks; .Float() turns them into 0/1) ----

    /// <summary>Elementwise ==.</summary>
    public Tensor Eq(Tensor other) => Compare(this, other, 0, "Eq");
    /// <summary>Elementwise == scalar.</summary>
    public Tensor Eq(float other) => Compare(this, ScalarLike(other), 0, "Eq");
    /// <summary>Elementwise !=.</summary>
    public Tensor Ne(Tensor other) => Compare(this, other, 1, "Ne");
    /// <summary>Elementwise != scalar.</summary>
    public Tensor Ne(float other) => Compare(this, ScalarLike(other), 1, "Ne");
    /// <summary>Elementwise &lt;.</summary>
    public Tensor Lt(Tensor other) => Compare(this, other, 2, "Lt");
    /// <summary>Elementwise &lt;=.</summary>
    public Tensor Le(Tensor other) => Compare(this, other, 3, "Le");
    /// <summary>Elementwise &gt;.</summary>
    public Tensor Gt(Tensor other) => Compare(this, other, 4, "Gt");
    /// <summary>Elementwise &gt;=.</summary>
    public Tensor Ge(Tensor other) => Compare(this, other, 5, "Ge");

    /// <summary>Logical and of two masks.</summary>
    public Tensor LogicalAnd(Tensor other) => Binary<Ops.Mul>(this.Bool(), other.Bool(), "LogicalAnd").To(DType.Bool);
    /// <summary>Logical or of two masks.</summary>
    public Tensor LogicalOr(Tensor other) => Binary<Ops.Maximum>(this.Bool(), other.Bool(), "LogicalOr").To(DType.Bool);
    /// <summary>Logical not of a mask.</summary>
    public Tensor LogicalNot() => Eq(0f);

    // ---- operators ----

    /// <summary>Elementwise sum.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    /// <summary>Elementwise difference.</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    /// <summary>Elementwise product.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    /// <summary>Elementwise division.</summary>
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    /// <summary>Negation.</summary>
    public static Tensor operator -(Tensor a) => a.Neg();
    /// <summary>Tensor + scalar.</summary>
    public static Tensor operator +(Tensor a, float b) => a.Add(a.ScalarLike(b));
    /// <summary>Scalar + tensor.</summary>
    public static Tensor operator +(float a, Tensor b) => b.ScalarLike(a).Add(b);
    /// <summary>Tensor - scalar.</summary>
    public static Tensor operator -(Tensor a, float b) => a.Sub(a.ScalarLike(b));
    /// <summary>Scalar - tensor.</summary>
    public static Tensor operator -(float a, Tensor b) => b.ScalarLike(a).Sub(b);
    /// <summary>Tensor * scalar.</summary>
    public static Tensor operator *(Tensor a, float b) => a.Mul(a.ScalarLike(b));
    /// <summary>Scalar * tensor.</summary>
    public static Tensor operator *(float a, Tensor b) => b.ScalarLike(a).Mul(b);
    /// <summary>Tensor / scalar.</summary>
    public static Tensor operator /(Tensor a, float b) => a.Div(Scalar(b));
    /// <summary>Scalar / tensor.</summary>
    public static Tensor operator /(float a, Tensor b) => Scalar(a).Div(b);
    /// <summary>Elementwise &lt; (Bool mask).</summary>
    public static Tensor operator <(Tensor a, Tensor b) => a.Lt(b);
    /// <summary>Elementwise &gt; (Bool mask).</summary>
    public static Tensor operator >(Tensor a, Tensor b) => a.Gt(b);
    /// <summary>Elementwise &lt;= (Bool mask).</summary>
    public static Tensor operator <=(Tensor a, Tensor b) => a.Le(b);
    /// <summary>Elementwise &gt;= (Bool mask).</summary>
    public static Tensor operator >=(Tensor a, Tensor b) => a.Ge(b);
    /// <summary>Elementwise &lt; scalar.</summary>
    public static Tensor operator <(Tensor a, float b) => a.Lt(a.ScalarLike(b));
    /// <summary>Elementwise &gt; scalar.</summary>
    public static Tensor operator >(Tensor a, float b) => a.Gt(a.ScalarLike(b));
    /// <summary>Elementwise &lt;= scalar.</summary>
    public static Tensor operator <=(Tensor a, float b) => a.Le(a.ScalarLike(b));
    /// <summary>Elementwise &gt;= scalar.</summary>
    public static Tensor operator >=(Tensor a, float b) => a.Ge(a.ScalarLike(b));
    /// <summary>Logical and of masks.</summary>
    public static Tensor operator &(Tensor a, Tensor b) => a.LogicalAnd(b);
    /// <summary>Logical or of masks.</summary>
    public static Tensor operator |(Tensor a, Tensor b) => a.LogicalOr(b);
    /// <summary>Logical not of a mask.</summary>
    public static Tensor operator !(Tensor a) => a.LogicalNot();

    // ---- in place (PyTorch's trailing-underscore ops) ----

    // In-place ops check autograd first (see CheckInPlace), write, then record the write when a gradient must flow through it.

    /// <summary>this += other (broadcast into this tensor's shape), in place.</summary>
    public Tensor AddInPlace(Tensor other)
    {
        CheckInPlace("AddInPlace", other);
        Binary<Ops.Add>(this, other, "AddInPlace", this);
        RecordInPlace("AddInPlace", other, g => [g, SumTo(g, other._shape)]);
        return this;
    }

    /// <summary>this += alpha * other, in place.</summary>
    public Tensor AddInPlace(Tensor other, float alpha)
    {
        if (alpha == 1f) return AddInPlace(other);
        // The optimizer's update (p += -lr * g): one fused pass, no temporary, when nothing is recorded.
        if (!NeedsGrad(this, other) && DType == DType.Float32 && other.DType == DType.Float32 && Shapes.Equal(_shape, other._shape)
            && IsContiguous && other.IsContiguous && other.Storage != Storage && _base == null)
        {
            CheckInPlace("AddInPlace", other);
            BumpVersion();
            var d = FloatSpan;
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(other.FloatSpan, alpha, d, d);
            return this;
        }
        return AddInPlace(other * alpha);
    }

    /// <summary>this -= other, in place.</summary>
    public Tensor SubInPlace(Tensor other)
    {
        CheckInPlace("SubInPlace", other);
        Binary<Ops.Sub>(this, other, "SubInPlace", this);
        RecordInPlace("SubInPlace", other, g => [g, SumTo(-g, other._shape)]);
        return this;
    }

    /// <summary>this *= other, in place (other must not require grad: the old values are overwritten).</summary>
    public Tensor MulInPlace(Tensor other)
    {
        CheckScaleInPlace("MulInPlace", other);
        Binary<Ops.Mul>(this, other, "MulInPlace", this);
        RecordInPlace("MulInPlace", null, g => [g * other], other);
        return this;
    }

    /// <summary>this *= scalar, in place.</summary>
    public Tensor MulInPlace(float value) => MulInPlace(ScalarLike(value));

    /// <summary>this /= other, in place (other must not require grad: the old values are overwritten).</summary>
    public Tensor DivInPlace(Tensor other)
    {
        CheckScaleInPlace("DivInPlace", other);
        Binary<Ops.Div>(this, other, "DivInPlace", this);
        RecordInPlace("DivInPlace", null, g => [g / other], other);
        return this;
    }

    void CheckScaleInPlace(string op, Tensor other)
    {
        CheckInPlace(op, other);
        if (other._requiresGrad && Autograd.IsGradEnabled)
            throw new NotSupportedException($"{op}: the gradient for a factor that requires grad needs this tensor's old values, which an in-place write destroys; use the out-of-place form");
    }

    /// <summary>Clamps in place.</summary>
    // Clamp saves its input for the gradient, and the write would overwrite it: clamp a copy when the graph needs one.
    public Tensor ClampInPlace(float? min = null, float? max = null) => CopyFrom(NeedsGrad(this) ? Clone().Clamp(min, max) : Clamp(min, max));

    /// <summary>Fills every element with value, in place.</summary>
    public Tensor FillInPlace(float value)
    {
        CheckInPlace("FillInPlace", null);
        BumpVersion();
        var src = DType == DType.Float32 ? Scalar(value) : Full([], value, DType);
        CopyStrided(src.BroadcastTo(_shape), this);
        RecordInPlace("FillInPlace", null, g => [null]);
        return this;
    }

    /// <summary>Sets every element to zero, in place.</summary>
    public Tensor ZeroInPlace() => FillInPlace(0f);

    /// <summary>Copies src (broadcast to this shape, converted to this dtype) into this tensor, in place.</summary>
    public Tensor CopyFrom(Tensor src)
    {
        CheckInPlace("CopyFrom", src);
        if (DType == DType.Bool && src.DType != DType.Bool) src = src.Ne(0f);
        var b = src.BroadcastTo(_shape);
        // A source that overlaps this tensor's storage is copied out first so the write cannot read its own output.
        if (src.Storage == Storage) b = b.CopyContiguous();
        BumpVersion();
        CopyStrided(b, this);
        var srcShape = src._shape;
        RecordInPlace("CopyFrom", src, g => [null, SumTo(g, srcShape)]);
        return this;
    }
}
