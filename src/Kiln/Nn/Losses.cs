using System.Numerics.Tensors;
using Kiln.Kernels;

namespace Kiln.Nn;

/// <summary>How a loss combines its per-element values.</summary>
public enum Reduction
{
    /// <summary>No reduction: one loss per element (per sample for class losses).</summary>
    None,
    /// <summary>The mean (over non-ignored samples for class losses).</summary>
    Mean,
    /// <summary>The sum.</summary>
    Sum,
}

public static partial class F
{
    static Tensor Reduce(Tensor loss, Reduction reduction) => reduction switch
    {
        Reduction.Mean => loss.Mean(),
        Reduction.Sum => loss.Sum(),
        Reduction.None => loss,
        _ => throw new ArgumentOutOfRangeException(nameof(reduction), reduction, "unknown Reduction"),
    };

    /// <summary>Refuses mismatched shapes: broadcasting [N,1] predictions against [N] targets would silently compare all pairs.</summary>
    static void SameShape(Tensor input, Tensor target, string op)
    {
        if (!Shapes.Equal(input._shape, target._shape))
            throw new ArgumentException($"{op}: input {Shapes.Str(input._shape)} and target {Shapes.Str(target._shape)} must have the same shape (reshape one of them; broadcasting would compare every prediction with every target)");
    }

    /// <summary>Mean squared error: (input - target)², reduced.</summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        SameShape(input, target, "MseLoss");
        return Reduce((input - target).Square(), reduction);
    }

    /// <summary>Mean absolute error: |input - target|, reduced.</summary>
    public static Tensor L1Loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        SameShape(input, target, "L1Loss");
        return Reduce((input - target).Abs(), reduction);
    }

    // ---- class-index losses ----

    /// <summary>
    /// The [rows, C] view of class scores and the matching int targets: [C] with a 0-d target, [N, C] with [N], or
    /// [N, C, d1, ...] with [N, d1, ...] (classes moved last). outShape is the shape of the unreduced loss.
    /// </summary>
    static (Tensor Rows, Tensor? Targets, int[] OutShape) ClassRows(Tensor input, Tensor targets, bool probTargets, string op)
    {
        if (input.DType != DType.Float32)
            throw new ArgumentException($"{op}: scores must be float32, got {input.DType.Name()} {Shapes.Str(input._shape)}");
        if (input.Dim == 0)
            throw new ArgumentException($"{op}: scores need a class dimension, got a 0-d tensor");
        int[] outShape = input.Dim == 1 ? [] : [input._shape[0], .. input._shape[2..]];
        int[] expected = probTargets ? input._shape : outShape;
        if (!Shapes.Equal(targets._shape, expected))
            throw new ArgumentException(probTargets
                ? $"{op}: logits {Shapes.Str(input._shape)} vs probability targets {Shapes.Str(targets._shape)} (float targets must have the logits' shape; for class indices pass an int32 tensor of shape {Shapes.Str(outShape)})"
                : $"{op}: logits {Shapes.Str(input._shape)} vs targets {Shapes.Str(targets._shape)} (expected int class indices of shape {Shapes.Str(outShape)})");
        int c = input.Dim == 1 ? input._shape[0] : input._shape[1];
        Tensor rows = input, t = targets;
        if (input.Dim > 2)
        {
            var perm = new int[input.Dim];
            for (int d = 0, k = 0; d < input.Dim; d++) if (d != 1) perm[k++] = d;
            perm[^1] = 1;
            rows = input.Permute(perm);
            if (probTargets) t = targets.Permute(perm);
        }
        rows = rows.Reshape(-1, c);
        t = probTargets ? t.Reshape(-1, c) : t.Reshape(-1);
        return (rows, t, outShape);
    }

    /// <summary>Checks every label is in [0, C) or equals ignoreIndex; returns how many are not ignored.</summary>
    static int CheckLabels(ReadOnlySpan<int> labels, int classes, int ignoreIndex, string op)
    {
        int valid = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            int t = labels[i];
            if (t == ignoreIndex) continue;
            if ((uint)t >= (uint)classes)
                throw new ArgumentException($"{op}: target {t} at position {i} is out of range for {classes} classes (labels must be 0..{classes - 1}, or ignoreIndex {ignoreIndex} to skip a sample)");
            valid++;
        }
        return valid;
    }

    /// <summary>
    /// Negative log likelihood: -logProbs[i, targets[i]] (no log inside: pass log-probabilities, e.g. from LogSoftmax).
    /// logProbs [N, C] with int targets [N] (or [C] with a 0-d target, or [N, C, d...] with [N, d...]); samples whose
    /// target equals ignoreIndex contribute nothing and are left out of the mean.
    /// </summary>
    public static Tensor NllLoss(Tensor logProbs, Tensor targets, Reduction reduction = Reduction.Mean, int ignoreIndex = -100)
    {
        const string op = "NllLoss";
        if (targets.DType != DType.Int32)
            throw new ArgumentException($"{op}: targets must be int32 class indices, got {targets.DType.Name()} {Shapes.Str(targets._shape)} (for probability targets use CrossEntropy)");
        var (rows, t, outShape) = ClassRows(logProbs, targets, false, op);
        var labels = t!.Contiguous();
        int n = labels.Numel, c = rows._shape[1];
        var span = labels.Storage.Ints.AsSpan(labels._offset, n);
        int valid = CheckLabels(span, c, ignoreIndex, op);
        Tensor loss;
        if (valid == n) loss = -rows.Gather(1, labels.Unsqueeze(1)).Squeeze(1);
        else
        {
            var safe = new int[n];
            var keep = new float[n];
            for (int i = 0; i < n; i++) (safe[i], keep[i]) = span[i] == ignoreIndex ? (0, 0f) : (span[i], 1f);
            loss = -rows.Gather(1, Tensor.Wrap(safe, [n, 1])).Squeeze(1) * Tensor.Wrap(keep, n);
        }
        return reduction switch
        {
            Reduction.Mean => valid == n ? loss.Mean() : loss.Sum() / valid,
            Reduction.None => loss.Reshape(outShape),
            _ => Reduce(loss, reduction),
        };
    }

    /// <summary>
    /// Cross-entropy of logits against int class targets (log-softmax + NLL fused into one stable op with backward
    /// (softmax - q)/N, where q is the one-hot target smoothed by labelSmoothing as in PyTorch: (1-ε)·onehot + ε/C).
    /// Shapes as <see cref="NllLoss"/>. float targets of the logits' shape are class probabilities instead (soft labels).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, Reduction reduction = Reduction.Mean, float labelSmoothing = 0f, int ignoreIndex = -100)
    {
        const string op = "CrossEntropy";
        if (!(labelSmoothing >= 0f && labelSmoothing <= 1f))
            throw new ArgumentException($"{op}: labelSmoothing must be in [0, 1], got {labelSmoothing}");
        if (targets.DType == DType.Bool)
            throw new ArgumentException($"{op}: targets must be int32 class indices or float32 probabilities, got bool {Shapes.Str(targets._shape)}");
        bool soft = targets.DType == DType.Float32;
        Tensor x, t;
        int[] outShape;
        using (Autograd.NoGrad())
        {
            var (rows, tt, os) = ClassRows(logits, targets, soft, op);
            x = rows.Contiguous();
            t = tt!.Contiguous();
            outShape = os;
        }
        int n = x._shape[0], c = x._shape[1];
        float eps = labelSmoothing, off = c > 0 ? eps / c : 0f;
        // Views of the inputs (or contiguous copies of them); logits and targets are saved, so an in-place change to them
        // before Backward is reported rather than read.
        var xs = new ArraySegment<float>(x.Storage.Floats!, x._offset, n * c);
        ArraySegment<int> labels = soft ? default : new ArraySegment<int>(t.Storage.Ints!, t._offset, n);
        ArraySegment<float> q = soft ? new ArraySegment<float>(t.Storage.Floats!, t._offset, n * c) : default;
        int valid = soft ? n : CheckLabels(labels, c, ignoreIndex, op);
        if (c == 0 && n > 0 && valid > 0) throw new ArgumentException($"{op}: logits {Shapes.Str(logits._shape)} have no classes");

        // Forward: lse_i = m + log Σ exp(x - m); loss_i = Σ_c q_ic (lse_i - x_ic).
        var rowMax = new float[n];
        var logSum = new float[n];
        var loss = new float[n];
        Threading.ForRange(n, Math.Max(1, 8192 / Math.Max(c, 1)), (r0, r1) =>
        {
            var tmp = new float[c];
            for (int i = r0; i < r1; i++)
            {
                var row = xs.AsSpan(i * c, c);
                if (!soft && labels[i] == ignoreIndex) continue;
                float m = TensorPrimitives.Max(row), logS = 0f;
                if (float.IsFinite(m))
                {
                    TensorPrimitives.Subtract(row, m, tmp);
                    TensorPrimitives.Exp(tmp, tmp);
                    logS = MathF.Log(TensorPrimitives.Sum(tmp));
                }
                rowMax[i] = m;
                logSum[i] = logS;
                // Written around the maximum, (m - x) + log S, so large logits keep the small loss's precision.
                if (!soft)
                    loss[i] = logS + (1f - eps) * (m - row[labels[i]]) + (eps > 0 ? eps * (m - TensorPrimitives.Sum(row) / c) : 0f);
                else
                {
                    var qi = q.AsSpan(i * c, c);
                    float qsum = 0, qmx = 0;
                    for (int k = 0; k < c; k++)
                    {
                        float qk = (1f - eps) * qi[k] + off;
                        qsum += qk;
                        qmx += qk * (m - row[k]);
                    }
                    loss[i] = logS * qsum + qmx;
                }
            }
        });

        Tensor result;
        if (reduction == Reduction.None) result = Tensor.Wrap(loss, outShape);
        else
        {
            double s = 0;
            foreach (float v in loss) s += v;
            if (reduction == Reduction.Mean) s /= valid;
            result = Tensor.Scalar((float)s);
        }

        // Backward: d loss_i / d x_ic = softmax_ic · Σq_i - q_ic; d loss_i / d q_ic = (1-ε)(lse_i - x_ic) for soft targets.
        return Tensor.Record(result, op, [logits, targets], g =>
        {
            var gv = g.Contiguous().ToArray();
            float scale = reduction == Reduction.Mean ? 1f / valid : 1f;
            var gx = TensorMemory.NewFloats(n * c, zeroed: true);
            float[]? gq = targets.RequiresGrad ? TensorMemory.NewFloats(n * c, zeroed: true) : null;
            Threading.ForRange(n, Math.Max(1, 8192 / Math.Max(c, 1)), (r0, r1) =>
            {
                for (int i = r0; i < r1; i++)
                {
                    if (!soft && labels[i] == ignoreIndex) continue;
                    float gi = (reduction == Reduction.None ? gv[i] : gv[0]) * scale;
                    var row = xs.AsSpan(i * c, c);
                    var d = gx.AsSpan(i * c, c);
                    // softmax = exp((x - m) - log S): subtracting the two parts separately keeps large logits precise.
                    TensorPrimitives.Subtract(row, rowMax[i], d);
                    TensorPrimitives.Subtract(d, logSum[i], d);
                    TensorPrimitives.Exp(d, d);
                    if (!soft)
                    {
                        TensorPrimitives.Subtract(d, off, d);
                        d[labels[i]] -= 1f - eps;
                        TensorPrimitives.Multiply(d, gi, d);
                    }
                    else
                    {
                        var qi = q.AsSpan(i * c, c);
                        float qsum = 0;
                        for (int k = 0; k < c; k++) qsum += (1f - eps) * qi[k] + off;
                        for (int k = 0; k < c; k++) d[k] = gi * (d[k] * qsum - ((1f - eps) * qi[k] + off));
                        if (gq != null)
                            for (int k = 0; k < c; k++) gq[i * c + k] = gi * (1f - eps) * (rowMax[i] - row[k] + logSum[i]);
                    }
                }
            });
            return [ToInputLayout(gx, logits), gq == null ? null : ToInputLayout(gq, targets)];
        }, logits, targets);
    }

    /// <summary>Maps a [rows, C] gradient back to the layout ClassRows read: [C], [N, C] or [N, C, d...] (a permuted view).</summary>
    static Tensor ToInputLayout(float[] g, Tensor input)
    {
        if (input.Dim <= 2) return Tensor.Wrap(g, input._shape);
        var s = input._shape;
        int[] moved = [s[0], .. s[2..], s[1]];
        var perm = new int[s.Length];
        perm[0] = 0;
        perm[1] = s.Length - 1;
        for (int d = 2; d < s.Length; d++) perm[d] = d - 1;
        return Tensor.Wrap(g, moved).Permute(perm);
    }

    // ---- binary losses ----

    /// <summary>
    /// Binary cross-entropy of probabilities in [0, 1]: -(t·log p + (1-t)·log(1-p)), each log clamped at -100 as in PyTorch
    /// so p = 0 or 1 gives a finite loss. Use <see cref="BinaryCrossEntropyWithLogits"/> on raw scores (more stable).
    /// </summary>
    public static Tensor BinaryCrossEntropy(Tensor probs, Tensor target, Reduction reduction = Reduction.Mean)
    {
        const string op = "BinaryCrossEntropy";
        SameShape(probs, target, op);
        Tensor logP, log1mP, loss;
        using (Autograd.NoGrad())
        {
            if (probs.Numel > 0)
            {
                float lo = probs.Min().Item(), hi = probs.Max().Item();
                if (!(lo >= 0f && hi <= 1f))
                    throw new ArgumentException($"{op}: inputs must be probabilities in [0, 1], got values from {lo} to {hi} (apply Sigmoid first, or use BinaryCrossEntropyWithLogits on raw scores)");
            }
            logP = probs.Log().ClampMin(-100f);
            log1mP = (1f - probs).Log().ClampMin(-100f);
            loss = -(target * logP + (1f - target) * log1mP);
        }
        // PyTorch's formula: dividing by max(p(1-p), 1e-12) keeps the gradient finite at p = 0 and 1.
        loss = Tensor.Record(loss, op, [probs, target], g => [
            probs.RequiresGrad ? g * (probs - target) / (probs * (1f - probs)).ClampMin(1e-12f) : null,
            target.RequiresGrad ? g * (log1mP - logP) : null], probs, target);
        return Reduce(loss, reduction);
    }

    /// <summary>
    /// Binary cross-entropy on raw scores (sigmoid inside), computed stably as max(x, 0) - x·t + log(1 + e^-|x|);
    /// its gradient is sigmoid(x) - t.
    /// </summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor logits, Tensor target, Reduction reduction = Reduction.Mean)
    {
        const string op = "BinaryCrossEntropyWithLogits";
        SameShape(logits, target, op);
        Tensor loss;
        using (Autograd.NoGrad())
            loss = logits.ClampMin(0f) - logits * target + (1f + (-logits.Abs()).Exp()).Log();
        // The explicit backward is exact at x = 0, where the composed form's subgradients (of |x| and max) would be wrong.
        loss = Tensor.Record(loss, op, [logits, target], g => [
            logits.RequiresGrad ? g * (logits.Sigmoid() - target) : null,
            target.RequiresGrad ? -g * logits : null], logits, target);
        return Reduce(loss, reduction);
    }
}

/// <summary>Base of the loss modules: Forward(input, target), called as <c>loss.Call(input, target)</c>.</summary>
public abstract class Loss(Reduction reduction) : Module
{
    /// <summary>How per-element losses are combined.</summary>
    public Reduction Reduction { get; } = reduction;

    /// <summary>The loss of input against target.</summary>
    public abstract Tensor Forward(Tensor input, Tensor target);

    /// <summary>Not available: a loss needs an input and a target.</summary>
    public sealed override Tensor Forward(Tensor x) => throw new ArgumentException($"{GetType().Name}: takes (input, target); call Forward(input, target) or Call(input, target)");

    /// <summary>Forward(inputs[0], inputs[1]).</summary>
    public sealed override Tensor Forward(Tensor[] inputs) => inputs.Length == 2
        ? Forward(inputs[0], inputs[1])
        : throw new ArgumentException($"{GetType().Name}: takes (input, target), got {inputs.Length} tensors");

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"reduction: {Reduction}";
}

/// <summary>Mean squared error loss (<see cref="F.MseLoss"/>).</summary>
public sealed class MSELoss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => F.MseLoss(input, target, Reduction);
}

/// <summary>Mean absolute error loss (<see cref="F.L1Loss"/>).</summary>
public sealed class L1Loss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => F.L1Loss(input, target, Reduction);
}

/// <summary>Negative log likelihood of log-probabilities (<see cref="F.NllLoss"/>).</summary>
public sealed class NLLLoss(Reduction reduction = Reduction.Mean, int ignoreIndex = -100) : Loss(reduction)
{
    /// <summary>Target value whose samples are skipped.</summary>
    public int IgnoreIndex { get; } = ignoreIndex;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => F.NllLoss(input, target, Reduction, IgnoreIndex);
}

/// <summary>Cross-entropy of logits, log-softmax and NLL fused (<see cref="F.CrossEntropy"/>).</summary>
public sealed class CrossEntropyLoss(Reduction reduction = Reduction.Mean, float labelSmoothing = 0f, int ignoreIndex = -100) : Loss(reduction)
{
    /// <summary>Label smoothing ε in [0, 1].</summary>
    public float LabelSmoothing { get; } = labelSmoothing;

    /// <summary>Target value whose samples are skipped.</summary>
    public int IgnoreIndex { get; } = ignoreIndex;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => F.CrossEntropy(input, target, Reduction, LabelSmoothing, IgnoreIndex);

    /// <inheritdoc/>
    protected override string ExtraRepr() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"reduction: {Reduction}, labelSmoothing: {LabelSmoothing}");
}

/// <summary>Binary cross-entropy of probabilities (<see cref="F.BinaryCrossEntropy"/>).</summary>
public sealed class BCELoss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => F.BinaryCrossEntropy(input, target, Reduction);
}

/// <summary>Binary cross-entropy on raw scores (<see cref="F.BinaryCrossEntropyWithLogits"/>).</summary>
public sealed class BCEWithLogitsLoss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => F.BinaryCrossEntropyWithLogits(input, target, Reduction);
}
