namespace Kiln.Nn;

/// <summary>
/// The functional API (torch.nn.functional): stateless activations, layers and losses that modules are built from.
/// Everything here is differentiable.
/// </summary>
public static partial class F
{
    /// <summary>max(x, 0).</summary>
    public static Tensor Relu(Tensor x) => x.Relu();

    /// <summary>x where x &gt;= 0, negativeSlope * x elsewhere.</summary>
    public static Tensor LeakyRelu(Tensor x, float negativeSlope = 0.01f) => x.LeakyRelu(negativeSlope);

    /// <summary>Lesson 18's GeneralRelu: leaky ReLU (plain ReLU when leak is null), minus sub, clamped above at maxv (each optional).</summary>
    public static Tensor GeneralRelu(Tensor x, float? leak = null, float? sub = null, float? maxv = null)
    {
        // Lesson 18's form (a leak, no clamp) as one fused pass forward and one backward: it runs on every activation of
        // the lesson's models, where the two-op form cost two full passes and an extra tensor each way.
        if (leak is float lk && maxv is null) return x.LeakyReluShifted(lk, sub ?? 0f);
        var y = leak is float l ? x.LeakyRelu(l) : x.Relu();
        if (sub is float s) y = y - s;
        if (maxv is float m) y = y.ClampMax(m);
        return y;
    }

    /// <summary>Logistic sigmoid.</summary>
    public static Tensor Sigmoid(Tensor x) => x.Sigmoid();

    /// <summary>Hyperbolic tangent.</summary>
    public static Tensor Tanh(Tensor x) => x.Tanh();

    /// <summary>Softmax along dim.</summary>
    public static Tensor Softmax(Tensor x, int dim) => x.Softmax(dim);

    /// <summary>Log-softmax along dim (stable; prefer it to Log(Softmax)).</summary>
    public static Tensor LogSoftmax(Tensor x, int dim) => x.LogSoftmax(dim);

    /// <summary>x Wᵀ + b: x [..., in], weight [out, in], bias [out] or null; result [..., out].</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (weight.Dim != 2)
            throw new ArgumentException($"Linear: weight must be 2-d [out, in], got {Shapes.Str(weight._shape)}");
        if (x.Dim == 0 || x._shape[^1] != weight._shape[1])
            throw new ArgumentException($"Linear: input {Shapes.Str(x._shape)} does not end in the weight's {weight._shape[1]} input features (weight {Shapes.Str(weight._shape)})");
        if (bias != null && (bias.Dim != 1 || bias._shape[0] != weight._shape[0]))
            throw new ArgumentException($"Linear: bias {Shapes.Str(bias._shape)} must be [{weight._shape[0]}] to match weight {Shapes.Str(weight._shape)}");
        // One recorded op rather than MatMul + transpose view + add: the backward then produces each gradient directly in
        // its parameter's own layout (dW = gᵀ·x is [out, in], contiguous and fresh, so it becomes W.Grad without a copy).
        Tensor y;
        using (Autograd.NoGrad())
        {
            // MatMul reads the transposed view in place, so Wᵀ costs no copy; y is fresh, so the bias goes in without a temporary.
            y = x.MatMul(weight.T);
            if (bias != null) y.AddInPlace(bias);
        }
        Tensor[] inputs = bias == null ? [x, weight] : [x, weight, bias];
        return Tensor.Record(y, "Linear", inputs, g =>
        {
            int outF = weight._shape[0], inF = weight._shape[1];
            var g2 = g.Reshape(-1, outF);
            var gx = x.RequiresGrad ? g.MatMul(weight) : null;
            // dW goes into the buffer of the weight's previous gradient when ZeroGrad took it back (Tensor.TakeSpareGrad):
            // warm in cache, where a fresh one would be written to cold memory.
            var gw = weight.RequiresGrad ? Tensor.MatMulInto(g2.T, x.Reshape(-1, inF), weight.TakeSpareGrad()) : null;
            var gb = bias != null && bias.RequiresGrad ? g2.Sum(0) : null;
            return bias == null ? [gx, gw] : [gx, gw, gb];
        }, x, weight);
    }

    /// <summary>
    /// Inverted dropout: when training, zeroes each element with probability p (masks from generator, default generator
    /// when null) and scales the survivors by 1/(1-p); otherwise returns x.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p = 0.5f, bool training = true, Generator? generator = null)
    {
        CheckDropoutP(p, "Dropout");
        if (!training || p == 0f) return x;
        if (p == 1f) return x * 0f;
        var mask = Tensor.Rand(x._shape, generator);
        float scale = 1f / (1f - p);
        var m = mask.Storage.Floats!;
        for (int i = 0; i < m.Length; i++) m[i] = m[i] >= p ? scale : 0f;
        return x * mask;
    }

    internal static void CheckDropoutP(float p, string op)
    {
        if (!(p >= 0f && p <= 1f)) throw new ArgumentException($"{op}: probability p must be in [0, 1], got {p}");
    }
}
