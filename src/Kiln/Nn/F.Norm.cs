using Kiln.Kernels;

namespace Kiln.Nn;

public static partial class F
{
    static float[]? Floats(Tensor? t) => t?.ToArray();

    static void CheckParam(string op, string name, Tensor? p, int[] expected)
    {
        if (p == null) return;
        if (p.DType != DType.Float32) throw new ArgumentException($"{op}: {name} must be float32, got {p.DType.Name()}");
        if (!Shapes.Equal(p._shape, expected))
            throw new ArgumentException($"{op}: {name} has shape {Shapes.Str(p._shape)}, expected {Shapes.Str(expected)}");
    }

    /// <summary>
    /// Batch normalisation of x [N, C] or [N, C, *] over every dim but the channel dim 1 (PyTorch's batch_norm). In
    /// training (or without running statistics) it normalises with the batch mean and biased variance and, when running
    /// statistics are given, updates them in place: mean ← (1-momentum)·mean + momentum·batch mean, var likewise with the
    /// unbiased batch variance. Otherwise it normalises with the running statistics. weight/bias [C] are optional.
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null, Tensor? bias = null,
        bool training = false, float momentum = 0.1f, float eps = 1e-5f)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.DType != DType.Float32) throw new ArgumentException($"BatchNorm: expects a float32 input, got {x.DType.Name()}");
        if (x.Dim < 2) throw new ArgumentException($"BatchNorm: expects an input of shape [N, C] or [N, C, *], got {Shapes.Str(x._shape)}");
        int n = x._shape[0], c = x._shape[1], s = 1;
        for (int d = 2; d < x.Dim; d++) s *= x._shape[d];
        CheckParam("BatchNorm", "weight", weight, [c]);
        CheckParam("BatchNorm", "bias", bias, [c]);
        CheckParam("BatchNorm", "running_mean", runningMean, [c]);
        CheckParam("BatchNorm", "running_var", runningVar, [c]);
        if ((runningMean == null) != (runningVar == null))
            throw new ArgumentException("BatchNorm: pass both running_mean and running_var, or neither");
        bool useBatch = training || runningMean == null;
        long m = (long)n * s;
        if (useBatch && m <= 1)
            throw new ArgumentException($"BatchNorm: expected more than 1 value per channel when training, got input of shape {Shapes.Str(x._shape)}");

        var xc = x.Contiguous();
        var xs = xc.Storage.Floats!;
        int xo = xc._offset;
        var mean = new float[c];
        var invstd = new float[c];
        if (useBatch)
        {
            var dm = new double[c];
            var dv = new double[c];
            if (m > 0) Norm.BatchStats(xs, xo, n, c, s, dm, dv);
            for (int ch = 0; ch < c; ch++)
            {
                mean[ch] = (float)dm[ch];
                invstd[ch] = (float)(1.0 / Math.Sqrt(dv[ch] + eps));
            }
            if (training && runningMean != null)
                using (Autograd.NoGrad())
                {
                    var rm = runningMean.ToArray();
                    var rv = runningVar!.ToArray();
                    for (int ch = 0; ch < c; ch++)
                    {
                        rm[ch] = (float)((1 - momentum) * rm[ch] + momentum * dm[ch]);
                        rv[ch] = (float)((1 - momentum) * rv[ch] + momentum * dv[ch] * m / (m - 1));
                    }
                    runningMean.CopyFrom(Tensor.Wrap(rm, c));
                    runningVar.CopyFrom(Tensor.Wrap(rv, c));
                }
        }
        else
        {
            var rm = runningMean!.ToArray();
            var rv = runningVar!.ToArray();
            for (int ch = 0; ch < c; ch++)
            {
                mean[ch] = rm[ch];
                invstd[ch] = (float)(1.0 / Math.Sqrt((double)rv[ch] + eps));
            }
        }
        var w = Floats(weight);
        var b = Floats(bias);
        var scale = new float[c];
        var shift = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            scale[ch] = (w != null ? w[ch] : 1f) * invstd[ch];
            shift[ch] = (b != null ? b[ch] : 0f) - mean[ch] * scale[ch];
        }
        var y = TensorMemory.NewFloats(n * c * s, zeroed: false);
        if (y.Length > 0) Norm.BatchApply(xs, xo, y, n, c, s, scale, shift);
        var yt = Tensor.Wrap(y, x._shape);

        var inputs = new List<Tensor> { xc };
        if (weight != null) inputs.Add(weight);
        if (bias != null) inputs.Add(bias);
        Tensor[] saved = weight != null ? [xc, weight] : [xc];
        return Tensor.Record(yt, "BatchNorm", inputs.ToArray(), g =>
        {
            var gc = g.Contiguous();
            var sumG = new double[c];
            var sumGx = new double[c];
            if (m > 0) Norm.BatchBackwardReduce(gc.Storage.Floats!, gc._offset, xs, xo, n, c, s, mean, sumG, sumGx);
            Tensor? gx = null;
            if (xc.RequiresGrad)
            {
                var a = new float[c];
                var bb = new float[c];
                var d = new float[c];
                for (int ch = 0; ch < c; ch++)
                {
                    double ac = (w != null ? w[ch] : 1.0) * invstd[ch];
                    a[ch] = (float)ac;
                    if (useBatch)
                    {
                        double bc = -ac * invstd[ch] * invstd[ch] * sumGx[ch] / m;
                        bb[ch] = (float)bc;
                        d[ch] = (float)(-ac * sumG[ch] / m - bc * mean[ch]);
                    }
                }
                var dx = TensorMemory.NewFloats(n * c * s, zeroed: false);
                if (dx.Length > 0) Norm.BatchBackwardApply(gc.Storage.Floats!, gc._offset, xs, xo, dx, n, c, s, a, bb, d);
                gx = Tensor.Wrap(dx, x._shape);
            }
            var grads = new Tensor?[inputs.Count];
            grads[0] = gx;
            int i = 1;
            if (weight != null)
            {
                var gw = new float[c];
                for (int ch = 0; ch < c; ch++) gw[ch] = (float)(sumGx[ch] * invstd[ch]);
                grads[i++] = Tensor.Wrap(gw, c);
            }
            if (bias != null)
            {
                var gb = new float[c];
                for (int ch = 0; ch < c; ch++) gb[ch] = (float)sumG[ch];
                grads[i] = Tensor.Wrap(gb, c);
            }
            return grads;
        }, saved);
    }

    /// <summary>Shared forward/backward of layer and group norm over rows (see <see cref="Norm.RowGeom"/>).</summary>
    static Tensor RowNorm(string op, Tensor x, Norm.RowGeom geom, Tensor? weight, Tensor? bias, float eps)
    {
        var xc = x.Contiguous();
        var xs = xc.Storage.Floats!;
        int xo = xc._offset;
        var w = Floats(weight);
        var b = Floats(bias);
        var mean = new float[geom.Rows];
        var rstd = new float[geom.Rows];
        var y = TensorMemory.NewFloats(xc.Numel, zeroed: false);
        if (y.Length > 0) Norm.RowsForward(xs, xo, y, geom, w, b, eps, mean, rstd);
        var yt = Tensor.Wrap(y, x._shape);
        var inputs = new List<Tensor> { xc };
        if (weight != null) inputs.Add(weight);
        if (bias != null) inputs.Add(bias);
        Tensor[] saved = weight != null ? [xc, weight] : [xc];
        return Tensor.Record(yt, op, inputs.ToArray(), g =>
        {
            var gc = g.Contiguous();
            var dx = xc.RequiresGrad ? TensorMemory.NewFloats(xc.Numel, zeroed: false) : null;
            var dw = weight != null && weight.RequiresGrad ? new float[geom.Params] : null;
            var db = bias != null && bias.RequiresGrad ? new float[geom.Params] : null;
            if (xc.Numel > 0) Norm.RowsBackward(gc.Storage.Floats!, gc._offset, xs, xo, geom, w, mean, rstd, dx, dw, db);
            var grads = new Tensor?[inputs.Count];
            grads[0] = dx == null ? null : Tensor.Wrap(dx, x._shape);
            int i = 1;
            if (weight != null) grads[i++] = dw == null ? null : Tensor.Wrap(dw, weight._shape);
            if (bias != null) grads[i] = db == null ? null : Tensor.Wrap(db, bias._shape);
            return grads;
        }, saved);
    }

    /// <summary>
    /// Layer normalisation over the trailing dims given by normalizedShape: each such slice is normalised with its own
    /// mean and biased variance, (x - mean) / sqrt(var + eps), then scaled by weight and shifted by bias (both
    /// normalizedShape, optional).
    /// </summary>
    public static Tensor LayerNorm(Tensor x, int[] normalizedShape, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (x.DType != DType.Float32) throw new ArgumentException($"LayerNorm: expects a float32 input, got {x.DType.Name()}");
        int k = normalizedShape.Length;
        if (k == 0 || x.Dim < k || !Shapes.Equal(x._shape.AsSpan(x.Dim - k), normalizedShape))
            throw new ArgumentException($"LayerNorm: input shape {Shapes.Str(x._shape)} does not end in normalized shape {Shapes.Str(normalizedShape)}");
        CheckParam("LayerNorm", "weight", weight, normalizedShape);
        CheckParam("LayerNorm", "bias", bias, normalizedShape);
        int len = Shapes.Numel(normalizedShape, "LayerNorm");
        int rows = len == 0 ? 0 : x.Numel / len;
        return RowNorm("LayerNorm", x, new Norm.RowGeom(rows, 1, len, 1), weight, bias, eps);
    }

    /// <summary>
    /// Group normalisation of x [N, C, *]: the C channels are split into numGroups groups, and each sample's group is
    /// normalised with its own mean and biased variance; weight/bias [C] (optional) then scale and shift each channel.
    /// </summary>
    public static Tensor GroupNorm(Tensor x, int numGroups, Tensor? weight = null, Tensor? bias = null, float eps = 1e-5f)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.DType != DType.Float32) throw new ArgumentException($"GroupNorm: expects a float32 input, got {x.DType.Name()}");
        if (x.Dim < 2) throw new ArgumentException($"GroupNorm: expects an input of shape [N, C, *], got {Shapes.Str(x._shape)}");
        int n = x._shape[0], c = x._shape[1], s = 1;
        for (int d = 2; d < x.Dim; d++) s *= x._shape[d];
        if (numGroups <= 0 || c % numGroups != 0)
            throw new ArgumentException($"GroupNorm: {c} channels (input {Shapes.Str(x._shape)}) cannot be split into {numGroups} groups");
        CheckParam("GroupNorm", "weight", weight, [c]);
        CheckParam("GroupNorm", "bias", bias, [c]);
        return RowNorm("GroupNorm", x, new Norm.RowGeom(n * numGroups, numGroups, c / numGroups, s), weight, bias, eps);
    }

    /// <summary>
    /// Channel dropout for [N, C, H, W] (or unbatched [C, H, W]): when training, zeroes whole channels with probability p
    /// (masks from generator, default generator when null) and scales the others by 1/(1-p); otherwise returns x.
    /// </summary>
    public static Tensor Dropout2d(Tensor x, float p = 0.5f, bool training = true, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckDropoutP(p, "Dropout2d");
        if (x.Dim != 3 && x.Dim != 4)
            throw new ArgumentException($"Dropout2d: expects a 4-d [N, C, H, W] or 3-d [C, H, W] input, got shape {Shapes.Str(x._shape)}");
        if (!training || p == 0f) return x;
        var maskShape = (int[])x._shape.Clone();
        maskShape[^1] = 1;
        maskShape[^2] = 1;
        var mask = Tensor.Rand(maskShape, generator);
        float scale = p == 1f ? 0f : 1f / (1f - p);
        var mv = mask.Storage.Floats!;
        for (int i = 0; i < mv.Length; i++) mv[i] = mv[i] >= p ? scale : 0f;
        return x * mask;
    }
}
