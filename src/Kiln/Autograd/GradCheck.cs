namespace Kiln;

/// <summary>The worst disagreement GradCheck found for one input.</summary>
/// <param name="Input">Index of the input in the list passed to GradCheck.</param>
/// <param name="Element">Flat (row-major) index of the worst element.</param>
/// <param name="Analytic">Autograd's gradient there.</param>
/// <param name="Numeric">The central-difference estimate there.</param>
/// <param name="Passed">Whether every element of this input was within tolerance.</param>
public sealed record GradCheckReport(int Input, int Element, double Analytic, double Numeric, bool Passed);

/// <summary>
/// Finite-difference gradient checking: compares autograd's gradients of a function with central differences
/// (f(x+eps) - f(x-eps)) / 2eps, with tolerances that suit float32.
/// </summary>
public static class GradCheck
{
    /// <summary>
    /// Checks d/dx of sum(w * f(inputs)) for every input with RequiresGrad, where w is a fixed random weighting (so every
    /// output element matters). Returns one report per checked input.
    /// </summary>
    public static IReadOnlyList<GradCheckReport> Run(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-2, double atol = 2e-3, double rtol = 2e-2, int seed = 0)
    {
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            if (!t.RequiresGrad) continue;
            if (!t.IsLeaf) throw new ArgumentException($"GradCheck: input {i} must be a leaf tensor");
            for (int d = 0; d < t.Dim; d++)
                if (t._strides[d] == 0 && t._shape[d] > 1)
                    throw new ArgumentException($"GradCheck: input {i} of shape {Shapes.Str(t._shape)} is an expanded view; pass a tensor whose elements do not overlap");
        }
        foreach (var t in inputs) t.Grad = null;

        var output = f(inputs);
        if (output.DType != DType.Float32) throw new ArgumentException($"GradCheck: the function must return a float32 tensor, got {output.DType.Name()}");
        var w = Tensor.Rand(output._shape, new Generator(seed)) + 0.5f;
        var wv = w.ToArray();
        if (!output.RequiresGrad) throw new ArgumentException("GradCheck: the output does not require grad (no input with RequiresGrad reaches it)");
        output.Backward(w);

        var reports = new List<GradCheckReport>();
        for (int i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i];
            if (!x.RequiresGrad) continue;
            var analytic = x.Grad?.ToArray() ?? new float[x.Numel];
            var data = x.Storage.Floats!;
            int worst = -1;
            double worstExcess = double.NegativeInfinity, worstA = 0, worstN = 0;
            bool passed = true;
            for (int e = 0; e < x.Numel; e++)
            {
                int at = x.StorageIndex(e);
                float orig = data[at];
                data[at] = orig + (float)eps;
                double plus = Weighted(f, inputs, wv);
                data[at] = orig - (float)eps;
                double minus = Weighted(f, inputs, wv);
                data[at] = orig;
                double numeric = (plus - minus) / (2 * eps);
                double a = analytic[e];
                double excess = Math.Abs(a - numeric) - (atol + rtol * Math.Abs(numeric));
                if (double.IsNaN(a) != double.IsNaN(numeric)) excess = double.PositiveInfinity;
                if (excess > 0) passed = false;
                if (excess > worstExcess) { worstExcess = excess; worst = e; worstA = a; worstN = numeric; }
            }
            reports.Add(new GradCheckReport(i, worst, worstA, worstN, passed));
        }
        return reports;
    }

    /// <summary>Runs the check and throws an exception describing the worst element when any gradient disagrees.</summary>
    public static void Assert(Func<Tensor[], Tensor> f, params Tensor[] inputs) => Assert(f, inputs, 1e-2, 2e-3, 2e-2);

    /// <summary>Runs the check with explicit step and tolerances and throws when any gradient disagrees.</summary>
    public static void Assert(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps, double atol, double rtol)
    {
        var reports = Run(f, inputs, eps, atol, rtol);
        if (reports.Count == 0) throw new ArgumentException("GradCheck: no input has RequiresGrad set, so nothing was checked");
        foreach (var r in reports)
            if (!r.Passed)
                throw new InvalidOperationException(
                    $"GradCheck: gradient of input {r.Input} (shape {Shapes.Str(inputs[r.Input]._shape)}) disagrees at element {r.Element}: autograd {r.Analytic:G6}, finite differences {r.Numeric:G6}");
    }

    static double Weighted(Func<Tensor[], Tensor> f, Tensor[] inputs, float[] w)
    {
        using var _ = Autograd.NoGrad();
        var y = f(inputs).ToArray();
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += (double)w[i] * y[i];
        return s;
    }
}
