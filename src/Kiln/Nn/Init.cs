namespace Kiln.Nn;

/// <summary>Which fan Kaiming initialisation scales by: fan-in preserves the forward pass's variance, fan-out the backward pass's.</summary>
public enum FanMode
{
    /// <summary>Number of inputs per output unit (weight.size(1) × receptive field).</summary>
    FanIn,
    /// <summary>Number of outputs per input unit (weight.size(0) × receptive field).</summary>
    FanOut,
}

/// <summary>
/// Weight initialisation schemes (torch.nn.init): each fills the tensor in place without recording a gradient and returns
/// it. Fans follow PyTorch's layout conventions: Linear weights are [out, in], conv weights [out, in, kh, kw].
/// </summary>
public static class Init
{
    /// <summary>(fanIn, fanOut) of a weight: size(1) and size(0), each times the receptive field (product of dims after the second).</summary>
    public static (int FanIn, int FanOut) CalculateFanInAndFanOut(Tensor t)
    {
        if (t.Dim < 2)
            throw new ArgumentException($"Init: fan in and fan out need a tensor with at least 2 dimensions, got shape {Shapes.Str(t._shape)}");
        int receptive = 1;
        for (int d = 2; d < t.Dim; d++) receptive *= t._shape[d];
        return (t._shape[1] * receptive, t._shape[0] * receptive);
    }

    /// <summary>
    /// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain): linear/conv*/sigmoid 1, tanh 5/3, relu √2,
    /// leaky_relu √(2/(1+slope²)) with slope param (default 0.01), selu 3/4.
    /// </summary>
    public static float CalculateGain(string nonlinearity, float? param = null)
    {
        switch (nonlinearity)
        {
            case "linear" or "conv1d" or "conv2d" or "conv3d" or "conv_transpose1d" or "conv_transpose2d" or "conv_transpose3d" or "sigmoid":
                return 1f;
            case "tanh": return 5f / 3f;
            case "relu": return MathF.Sqrt(2f);
            case "leaky_relu":
                float slope = param ?? 0.01f;
                return MathF.Sqrt(2f / (1f + slope * slope));
            case "selu": return 0.75f;
            default:
                throw new ArgumentException($"CalculateGain: unknown nonlinearity \"{nonlinearity}\" (expected linear, conv1d, conv2d, conv3d, sigmoid, tanh, relu, leaky_relu or selu)");
        }
    }

    /// <summary>Kaiming (He) normal: N(0, std²) with std = gain / √fan, gain = CalculateGain(nonlinearity, a).</summary>
    public static Tensor KaimingNormal(Tensor t, float a = 0, FanMode mode = FanMode.FanIn, string nonlinearity = "leaky_relu", Generator? generator = null)
        => Normal(t, 0f, KaimingStd(t, a, mode, nonlinearity, "KaimingNormal"), generator);

    /// <summary>Kaiming (He) uniform: U(-bound, bound) with bound = gain × √(3 / fan), gain = CalculateGain(nonlinearity, a).</summary>
    public static Tensor KaimingUniform(Tensor t, float a = 0, FanMode mode = FanMode.FanIn, string nonlinearity = "leaky_relu", Generator? generator = null)
    {
        float bound = MathF.Sqrt(3f) * KaimingStd(t, a, mode, nonlinearity, "KaimingUniform");
        return Uniform(t, -bound, bound, generator);
    }

    static float KaimingStd(Tensor t, float a, FanMode mode, string nonlinearity, string op)
    {
        var (fanIn, fanOut) = CalculateFanInAndFanOut(t);
        int fan = mode == FanMode.FanIn ? fanIn : fanOut;
        if (fan == 0) throw new ArgumentException($"{op}: the {mode} of a tensor of shape {Shapes.Str(t._shape)} is zero");
        return CalculateGain(nonlinearity, a) / MathF.Sqrt(fan);
    }

    /// <summary>Xavier (Glorot) normal: N(0, std²) with std = gain × √(2 / (fanIn + fanOut)).</summary>
    public static Tensor XavierNormal(Tensor t, float gain = 1f, Generator? generator = null)
    {
        var (fanIn, fanOut) = CalculateFanInAndFanOut(t);
        return Normal(t, 0f, gain * MathF.Sqrt(2f / (fanIn + fanOut)), generator);
    }

    /// <summary>Xavier (Glorot) uniform: U(-bound, bound) with bound = gain × √(6 / (fanIn + fanOut)).</summary>
    public static Tensor XavierUniform(Tensor t, float gain = 1f, Generator? generator = null)
    {
        var (fanIn, fanOut) = CalculateFanInAndFanOut(t);
        float bound = gain * MathF.Sqrt(6f / (fanIn + fanOut));
        return Uniform(t, -bound, bound, generator);
    }

    /// <summary>Fills t with samples of N(mean, std²).</summary>
    public static Tensor Normal(Tensor t, float mean = 0f, float std = 1f, Generator? generator = null)
    {
        if (!(std >= 0)) throw new ArgumentException($"Init.Normal: std must be non-negative, got {std}");
        var r = Tensor.Randn(t._shape, generator);
        TensorPrimitivesFma(r, std, mean);
        return Fill(t, r, "Init.Normal");
    }

    /// <summary>Fills t with samples of U(low, high).</summary>
    public static Tensor Uniform(Tensor t, float low = 0f, float high = 1f, Generator? generator = null)
    {
        if (!(low <= high)) throw new ArgumentException($"Init.Uniform: low {low} must not exceed high {high}");
        var r = Tensor.Rand(t._shape, generator);
        TensorPrimitivesFma(r, high - low, low);
        return Fill(t, r, "Init.Uniform");
    }

    /// <summary>Fills t with zeros.</summary>
    public static Tensor Zeros(Tensor t) => Constant(t, 0f);

    /// <summary>Fills t with ones.</summary>
    public static Tensor Ones(Tensor t) => Constant(t, 1f);

    /// <summary>Fills t with value.</summary>
    public static Tensor Constant(Tensor t, float value)
    {
        using (Autograd.NoGrad()) t.FillInPlace(value);
        return t;
    }

    /// <summary>r = r * scale + shift on a fresh contiguous float tensor (no autograd involved).</summary>
    static void TensorPrimitivesFma(Tensor r, float scale, float shift)
    {
        var d = r.Storage.Floats!.AsSpan(r._offset, r.Numel);
        System.Numerics.Tensors.TensorPrimitives.Multiply(d, scale, d);
        System.Numerics.Tensors.TensorPrimitives.Add(d, shift, d);
    }

    static Tensor Fill(Tensor t, Tensor values, string op)
    {
        if (t.DType != DType.Float32) throw new ArgumentException($"{op}: needs a float32 tensor, got {t.DType.Name()}");
        using (Autograd.NoGrad()) t.CopyFrom(values);
        return t;
    }
}
