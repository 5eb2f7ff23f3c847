using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>BatchNorm, LayerNorm, GroupNorm and Dropout2d against their formulas (computed in double), hand-worked running statistics, and gradient checks.</summary>
public sealed class NormTests
{
    // ---- references ----

    /// <summary>Per channel of [N, C, S...]: biased mean/var over N and S.</summary>
    static (double[] Mean, double[] Var) RefChannelStats(float[] x, int n, int c, int s)
    {
        var mean = new double[c];
        var var = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) sum += x[(i * c + ch) * s + j];
            double mu = sum / (n * s), sq = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < s; j++) sq += Math.Pow(x[(i * c + ch) * s + j] - mu, 2);
            mean[ch] = mu;
            var[ch] = sq / (n * s);
        }
        return (mean, var);
    }

    static float[] RefBatchNorm(float[] x, int n, int c, int s, double[] mean, double[] var, float[]? w, float[]? b, double eps)
    {
        var y = new float[x.Length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < s; j++)
                {
                    int at = (i * c + ch) * s + j;
                    y[at] = (float)((x[at] - mean[ch]) / Math.Sqrt(var[ch] + eps) * (w?[ch] ?? 1) + (b?[ch] ?? 0));
                }
        return y;
    }

    /// <summary>Group norm of [N, C, S] in double: stats per (sample, group), affine per channel. Layer norm is G = 1 with elementwise affine.</summary>
    static float[] RefGroupNorm(float[] x, int n, int c, int s, int groups, float[]? w, float[]? b, double eps)
    {
        var y = new float[x.Length];
        int cg = c / groups, len = cg * s;
        for (int i = 0; i < n; i++)
            for (int g = 0; g < groups; g++)
            {
                int start = (i * c + g * cg) * s;
                double sum = 0, sq = 0;
                for (int j = 0; j < len; j++) sum += x[start + j];
                double mu = sum / len;
                for (int j = 0; j < len; j++) sq += Math.Pow(x[start + j] - mu, 2);
                double rstd = 1 / Math.Sqrt(sq / len + eps);
                for (int j = 0; j < len; j++)
                {
                    int ch = g * cg + j / s;
                    y[start + j] = (float)((x[start + j] - mu) * rstd * (w?[ch] ?? 1) + (b?[ch] ?? 0));
                }
            }
        return y;
    }

    static int Spatial(int[] shape)
    {
        int s = 1;
        for (int d = 2; d < shape.Length; d++) s *= shape[d];
        return s;
    }

    public static IEnumerable<object[]> BatchShapes() =>
    [
        [new[] { 5, 3 }, false], [new[] { 64, 7 }, true], [new[] { 2, 4, 9 }, true], [new[] { 1, 3, 65 }, false],
        [new[] { 3, 2, 5, 7 }, true], [new[] { 1, 4, 3, 3 }, false], [new[] { 7, 1, 1, 1 }, false], [new[] { 9, 16, 4, 4 }, true],
        [new[] { 40, 32, 2, 2 }, false], [new[] { 33, 17, 7, 7 }, true],   // big enough for the threaded path
    ];

    // ---- BatchNorm ----

    [Theory]
    [MemberData(nameof(BatchShapes))]
    public void BatchNormTrainingMatchesFormula(int[] shape, bool nonContiguous)
    {
        var x = LayerInputs.Randn(shape.Sum(), shape, nonContiguous) * 2f + 0.5f;
        int n = shape[0], c = shape[1], s = Spatial(shape);
        var w = Tensor.Randn([c], new Generator(1));
        var b = Tensor.Randn([c], new Generator(2));
        var xs = x.ToArray();
        var (mean, var) = RefChannelStats(xs, n, c, s);
        var y = F.BatchNorm(x, null, null, w, b, training: true);
        Assert.Equal(shape, y.Shape);
        Reference.AllClose(RefBatchNorm(xs, n, c, s, mean, var, w.ToArray(), b.ToArray(), 1e-5), y.ToArray(), 1e-4, 2e-5, "BatchNorm train");
    }

    [Theory]
    [InlineData(5)]    // per-position accumulators
    [InlineData(6)]    // per-segment accumulators (spatial size >= 32)
    public void BatchNormStatisticsSurviveALargeOffset(int hw)
    {
        // values 1000 + N(0, 1): a naive E[x²] - E[x]² in float would lose the variance entirely
        var x = Tensor.Randn([256, 4, hw, hw], new Generator(3)) + 1000f;
        var xs = x.ToArray();
        var (mean, var) = RefChannelStats(xs, 256, 4, hw * hw);
        var rm = Tensor.Zeros(4);
        var rv = Tensor.Zeros(4);
        F.BatchNorm(x, rm, rv, training: true, momentum: 1f);
        var m = (double)256 * hw * hw;
        for (int c = 0; c < 4; c++)
        {
            Assert.Equal(mean[c], rm[c].Item(), 1e-3);
            Assert.Equal(var[c] * m / (m - 1), rv[c].Item(), 2e-3);
        }
    }

    [Fact]
    public void BatchNormRunningStatisticsAndEvalMatchHandComputedNumbers()
    {
        // one channel, values 1..4: mean 2.5, biased var 1.25 (used to normalise), unbiased var 5/3 (kept as running var)
        var bn = new BatchNorm1d(1);
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 4, 1);
        var y = bn.Call(x);
        float sd = MathF.Sqrt(1.25f + 1e-5f);
        Reference.AllClose(new[] { -1.5f / sd, -0.5f / sd, 0.5f / sd, 1.5f / sd }, y.ToArray(), 1e-6, 1e-6, "train output");
        Assert.Equal(0.25f, bn.RunningMean!.Item(), 6);                          // 0.9*0 + 0.1*2.5
        Assert.Equal(0.9f + 0.1f * 5f / 3f, bn.RunningVar!.Item(), 6);            // 0.9*1 + 0.1*5/3
        Assert.Equal(1, bn.NumBatchesTracked!.Item<int>());
        bn.Call(x);
        Assert.Equal(0.25f * 0.9f + 0.25f, bn.RunningMean!.Item(), 6);
        Assert.Equal(2, bn.NumBatchesTracked!.Item<int>());

        // eval: running statistics, no update
        bn.Eval();
        using (Autograd.NoGrad())
        {
            bn.Weight!.CopyFrom(Tensor.Of(2f));
            bn.Bias!.CopyFrom(Tensor.Of(-1f));
        }
        float rmv = bn.RunningMean!.Item(), rvv = bn.RunningVar!.Item();
        var ye = bn.Call(Tensor.FromArray(new float[] { 0, 10 }, 2, 1));
        Reference.AllClose(new[] { (0 - rmv) / MathF.Sqrt(rvv + 1e-5f) * 2 - 1, (10 - rmv) / MathF.Sqrt(rvv + 1e-5f) * 2 - 1 }, ye.ToArray(), 1e-6, 1e-6, "eval output");
        Assert.Equal(rmv, bn.RunningMean!.Item());
        Assert.Equal(2, bn.NumBatchesTracked!.Item<int>());
    }

    [Fact]
    public void BatchNormWithoutMomentumKeepsTheCumulativeAverage()
    {
        var bn = new BatchNorm2d(2, momentum: null);
        var a = LayerInputs.Randn(1, [3, 2, 4, 5]);
        var b = LayerInputs.Randn(2, [3, 2, 4, 5]) * 3f + 1f;
        bn.Call(a);
        bn.Call(b);
        var (ma, _) = RefChannelStats(a.ToArray(), 3, 2, 20);
        var (mb, _) = RefChannelStats(b.ToArray(), 3, 2, 20);
        for (int c = 0; c < 2; c++) Assert.Equal((ma[c] + mb[c]) / 2, bn.RunningMean![c].Item(), 1e-5);
    }

    [Fact]
    public void BatchNormBuffersAreInTheStateDictAndLoad()
    {
        var bn = new BatchNorm2d(3);
        Assert.Equal(new[] { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" }, bn.StateDict().Keys.ToArray());
        Assert.Equal(6, bn.NumParameters());
        bn.Call(LayerInputs.Randn(4, [2, 3, 3, 3]));
        var fresh = new BatchNorm2d(3);
        fresh.LoadStateDict(bn.StateDict());
        Assert.Equal(bn.RunningVar!.ToArray(), fresh.RunningVar!.ToArray());
        Assert.Equal(1, fresh.NumBatchesTracked!.Item<int>());
        var noTrack = new BatchNorm2d(3, affine: false, trackRunningStats: false);
        Assert.Empty(noTrack.StateDict());
        // without running statistics, evaluation still normalises with the batch
        noTrack.Eval();
        var x = LayerInputs.Randn(5, [4, 3, 2, 2]);
        Reference.AllClose(F.BatchNorm(x, null, null, training: true).ToArray(), noTrack.Call(x).ToArray(), 1e-6, 1e-6, "no tracking");
    }

    [Fact]
    public void BatchNormRejectsOneValuePerChannelInTrainingAndWrongShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => new BatchNorm1d(3).Call(Tensor.Zeros(1, 3)));
        Assert.Contains("more than 1 value per channel", e.Message);
        e = Assert.Throws<ArgumentException>(() => new BatchNorm2d(3).Call(Tensor.Zeros(2, 4, 2, 2)));
        Assert.Contains("[2,4,2,2]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new BatchNorm2d(3).Call(Tensor.Zeros(2, 3)));
        Assert.Contains("BatchNorm2d", e.Message);
        var bn = new BatchNorm1d(3);
        bn.Eval();
        Assert.Equal(new[] { 1, 3 }, bn.Call(Tensor.Zeros(1, 3)).Shape); // eval with one sample is fine
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void BatchNormGradientsMatchFiniteDifferences(bool training, bool nonContiguous)
    {
        var x = LayerInputs.Randn(11, [3, 2, 3, 4], nonContiguous, requiresGrad: true);
        var w = (Tensor.Rand([2], new Generator(12)) + 0.5f).RequiresGradInPlace();
        var b = Tensor.Randn([2], new Generator(13)).RequiresGradInPlace();
        var rm = Tensor.Of(0.2f, -0.3f);
        var rv = Tensor.Of(0.8f, 1.5f);
        GradCheck.Assert(t => F.BatchNorm(t[0], training ? null : rm, training ? null : rv, t[1], t[2], training), x, w, b);
        var x2 = LayerInputs.Randn(14, [6, 3], requiresGrad: true);
        GradCheck.Assert(t => F.BatchNorm(t[0], null, null, null, null, true), x2);
    }

    [Theory]
    [InlineData(33, 17, 7, 7)]   // threaded chunks
    [InlineData(256, 8, 2, 2)]
    [InlineData(5, 3, 1, 1)]
    public void BatchNormGradientsMatchComposedOpsOnLargeInputs(int n, int c, int h, int w)
    {
        var x = LayerInputs.Randn(n + c, [n, c, h, w], requiresGrad: true);
        var wt = (Tensor.Rand([c], new Generator(1)) + 0.5f).RequiresGradInPlace();
        var bt = Tensor.Randn([c], new Generator(2)).RequiresGradInPlace();
        LayerInputs.WeightedSum(F.BatchNorm(x, null, null, wt, bt, training: true)).Backward();
        var (gx, gw, gb) = (x.Grad!.ToArray(), wt.Grad!.ToArray(), bt.Grad!.ToArray());
        x.ZeroGrad(); wt.ZeroGrad(); bt.ZeroGrad();
        // the same function from Kiln's elementary ops and their own autograd
        var mean = x.Mean([0, 2, 3], keepDim: true);
        var var = x.Var([0, 2, 3], unbiased: false, keepDim: true);
        var y = (x - mean) / (var + 1e-5f).Sqrt() * wt.Reshape(1, c, 1, 1) + bt.Reshape(1, c, 1, 1);
        LayerInputs.WeightedSum(y).Backward();
        Reference.AllClose(x.Grad!.ToArray(), gx, 2e-3, 2e-4, "dx");
        Reference.AllClose(wt.Grad!.ToArray(), gw, 2e-3, 2e-3, "dweight");
        Reference.AllClose(bt.Grad!.ToArray(), gb, 2e-3, 2e-3, "dbias");
    }

    [Fact]
    public void GroupAndLayerNormGradientsMatchComposedOpsOnLargeInputs()
    {
        var x = LayerInputs.Randn(3, [8, 32, 9, 9], requiresGrad: true);
        var wt = (Tensor.Rand([32], new Generator(1)) + 0.5f).RequiresGradInPlace();
        var bt = Tensor.Randn([32], new Generator(2)).RequiresGradInPlace();
        LayerInputs.WeightedSum(F.GroupNorm(x, 8, wt, bt)).Backward();
        var (gx, gw, gb) = (x.Grad!.ToArray(), wt.Grad!.ToArray(), bt.Grad!.ToArray());
        x.ZeroGrad(); wt.ZeroGrad(); bt.ZeroGrad();
        var xg = x.Reshape(8, 8, -1);
        var xn = ((xg - xg.Mean(2, keepDim: true)) / (xg.Var(2, unbiased: false, keepDim: true) + 1e-5f).Sqrt()).Reshape(8, 32, 9, 9);
        LayerInputs.WeightedSum(xn * wt.Reshape(1, 32, 1, 1) + bt.Reshape(1, 32, 1, 1)).Backward();
        Reference.AllClose(x.Grad!.ToArray(), gx, 2e-3, 2e-4, "GroupNorm dx");
        Reference.AllClose(wt.Grad!.ToArray(), gw, 2e-3, 2e-3, "GroupNorm dweight");
        Reference.AllClose(bt.Grad!.ToArray(), gb, 2e-3, 2e-3, "GroupNorm dbias");

        var xl = LayerInputs.Randn(4, [128, 257], requiresGrad: true);
        var wl = (Tensor.Rand([257], new Generator(5)) + 0.5f).RequiresGradInPlace();
        LayerInputs.WeightedSum(F.LayerNorm(xl, [257], wl)).Backward();
        var (lx, lw) = (xl.Grad!.ToArray(), wl.Grad!.ToArray());
        xl.ZeroGrad(); wl.ZeroGrad();
        LayerInputs.WeightedSum((xl - xl.Mean(1, keepDim: true)) / (xl.Var(1, unbiased: false, keepDim: true) + 1e-5f).Sqrt() * wl).Backward();
        Reference.AllClose(xl.Grad!.ToArray(), lx, 2e-3, 2e-4, "LayerNorm dx");
        Reference.AllClose(wl.Grad!.ToArray(), lw, 2e-3, 2e-3, "LayerNorm dweight");
    }

    // ---- LayerNorm and GroupNorm ----

    [Theory]
    [InlineData(new[] { 4, 7 }, 1, false)]
    [InlineData(new[] { 3, 5, 65 }, 1, true)]
    [InlineData(new[] { 2, 3, 4, 5 }, 3, true)]
    [InlineData(new[] { 1, 1 }, 1, false)]
    [InlineData(new[] { 128, 257 }, 1, false)]   // threaded
    public void LayerNormMatchesFormula(int[] shape, int normDims, bool nonContiguous)
    {
        var x = LayerInputs.Randn(shape.Sum(), shape, nonContiguous) * 3f - 1f;
        var ns = shape[^normDims..];
        var w = Tensor.Randn(ns, new Generator(1));
        var b = Tensor.Randn(ns, new Generator(2));
        int len = Reference.Numel(ns), rows = x.Numel / len;
        // layer norm = group norm of [rows, len, 1] with one group and per-"channel" (= element) affine
        var expected = RefGroupNorm(x.ToArray(), rows, len, 1, 1, w.ToArray(), b.ToArray(), 1e-5);
        Reference.AllClose(expected, F.LayerNorm(x, ns, w, b).ToArray(), 1e-4, 2e-5, "LayerNorm");
        var plain = RefGroupNorm(x.ToArray(), rows, len, 1, 1, null, null, 1e-5);
        Reference.AllClose(plain, new LayerNorm(ns).Call(x).ToArray(), 1e-4, 2e-5, "LayerNorm module");
    }

    [Theory]
    [InlineData(new[] { 2, 6, 5, 3 }, 3, false)]
    [InlineData(new[] { 1, 4, 7 }, 1, true)]
    [InlineData(new[] { 3, 4, 2, 2 }, 4, true)]
    [InlineData(new[] { 2, 5 }, 5, false)]
    [InlineData(new[] { 8, 32, 9, 9 }, 8, true)]   // threaded
    public void GroupNormMatchesFormula(int[] shape, int groups, bool nonContiguous)
    {
        var x = LayerInputs.Randn(shape.Sum(), shape, nonContiguous) * 2f + 3f;
        int n = shape[0], c = shape[1], s = Spatial(shape);
        var w = Tensor.Randn([c], new Generator(1));
        var b = Tensor.Randn([c], new Generator(2));
        Reference.AllClose(RefGroupNorm(x.ToArray(), n, c, s, groups, w.ToArray(), b.ToArray(), 1e-5), F.GroupNorm(x, groups, w, b).ToArray(), 1e-4, 2e-5, "GroupNorm");
        Reference.AllClose(RefGroupNorm(x.ToArray(), n, c, s, groups, null, null, 1e-5), new GroupNorm(groups, c).Call(x).ToArray(), 1e-4, 2e-5, "GroupNorm module");
    }

    [Fact]
    public void LayerAndGroupNormGradientsMatchFiniteDifferences()
    {
        var x = LayerInputs.Randn(1, [3, 4, 5], nonContiguous: true, requiresGrad: true);
        var w = (Tensor.Rand([4, 5], new Generator(2)) + 0.5f).RequiresGradInPlace();
        var b = Tensor.Randn([4, 5], new Generator(3)).RequiresGradInPlace();
        GradCheck.Assert(t => F.LayerNorm(t[0], [4, 5], t[1], t[2]), x, w, b);
        GradCheck.Assert(t => F.LayerNorm(t[0], [5]), x);

        var xg = LayerInputs.Randn(4, [2, 6, 3, 2], nonContiguous: true, requiresGrad: true);
        var wg = (Tensor.Rand([6], new Generator(5)) + 0.5f).RequiresGradInPlace();
        var bg = Tensor.Randn([6], new Generator(6)).RequiresGradInPlace();
        GradCheck.Assert(t => F.GroupNorm(t[0], 3, t[1], t[2]), xg, wg, bg);
        GradCheck.Assert(t => F.GroupNorm(t[0], 6), xg);
    }

    [Fact]
    public void NormErrorsNameShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => F.LayerNorm(Tensor.Zeros(2, 3), [4]));
        Assert.Contains("[2,3]", e.Message);
        Assert.Contains("[4]", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.GroupNorm(Tensor.Zeros(2, 6, 3), 4));
        Assert.Contains("GroupNorm", e.Message);
        Assert.Throws<ArgumentException>(() => new GroupNorm(4, 6));
    }

    // ---- Dropout2d ----

    [Fact]
    public void Dropout2dZeroesWholeChannelsAndScalesTheRest()
    {
        var x = Tensor.Ones(8, 16, 3, 3).RequiresGradInPlace();
        var y = F.Dropout2d(x, 0.25f, training: true, new Generator(42));
        var v = y.ToArray();
        int zeroed = 0;
        for (int ch = 0; ch < 8 * 16; ch++)
        {
            var plane = v.AsSpan(ch * 9, 9).ToArray();
            Assert.True(plane.All(p => p == 0f) || plane.All(p => Math.Abs(p - 1f / 0.75f) < 1e-6), $"channel {ch} is not uniform: {string.Join(",", plane)}");
            if (plane[0] == 0f) zeroed++;
        }
        Assert.InRange(zeroed, 16, 50); // 128 channels at p = 0.25: 32 expected
        // the same seed gives the same mask; the gradient is the mask
        Assert.Equal(v, F.Dropout2d(x, 0.25f, true, new Generator(42)).ToArray());
        y.Sum().Backward();
        Assert.Equal(v, x.Grad!.ToArray());
        var m = new Dropout2d(0.5f);
        m.Eval();
        Assert.Same(x, m.Call(x));
        Assert.Throws<ArgumentException>(() => F.Dropout2d(Tensor.Ones(3, 4), 0.5f));
    }
}
