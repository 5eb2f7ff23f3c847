using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>Inputs shared by the pooling, normalisation, padding and upsampling tests.</summary>
internal static class LayerInputs
{
    /// <summary>Standard-normal values of the given shape; when nonContiguous, a transposed view (last two dims swapped in memory) with the same logical shape.</summary>
    public static Tensor Randn(int seed, int[] shape, bool nonContiguous = false, bool requiresGrad = false)
    {
        Tensor t;
        if (nonContiguous && shape.Length >= 2)
        {
            var sw = (int[])shape.Clone();
            (sw[^1], sw[^2]) = (sw[^2], sw[^1]);
            t = Tensor.Randn(sw, new Generator(seed)).Transpose(-1, -2).Detach();
        }
        else t = Tensor.Randn(shape, new Generator(seed));
        return requiresGrad ? t.RequiresGradInPlace() : t;
    }

    /// <summary>Distinct values 0.1 apart in random order (no ties, so max pooling's choice is stable under finite differences).</summary>
    public static Tensor Distinct(int seed, int[] shape, bool nonContiguous = false)
    {
        int n = Reference.Numel(shape);
        var perm = Tensor.RandPerm(n, new Generator(seed)).Float();
        var sh = (int[])shape.Clone();
        if (nonContiguous && sh.Length >= 2) (sh[^1], sh[^2]) = (sh[^2], sh[^1]);
        var t = ((perm - n / 2) * 0.1f + 0.037f).Reshape(sh).Contiguous().Detach();
        if (nonContiguous && sh.Length >= 2) t = t.Transpose(-1, -2).Detach();
        return t.RequiresGradInPlace();
    }

    /// <summary>A sum of the output weighted by fixed random values, so Backward gets a non-uniform gradient.</summary>
    public static Tensor WeightedSum(Tensor y, int seed = 7) => (y * Tensor.Randn(y.Shape, new Generator(seed))).Sum();
}

/// <summary>Pooling layers against naive nested-loop references written from PyTorch's definitions, plus gradient checks.</summary>
public sealed class PoolTests
{
    // ---- references ----

    static int RefOut(int size, int k, int s, int p, int d, bool ceil)
    {
        double span = size + 2 * p - d * (k - 1) - 1;
        int o = (int)(ceil ? Math.Ceiling(span / s) : Math.Floor(span / s)) + 1;
        if (ceil && (o - 1) * s >= size + p) o--;
        return o;
    }

    static (float[] Y, int[] Idx) RefMax(float[] x, int planes, int h, int w, int k, int s, int p, int d, int oh, int ow)
    {
        var y = new float[planes * oh * ow];
        var idx = new int[y.Length];
        for (int pl = 0; pl < planes; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    float best = float.NegativeInfinity;
                    int bi = -1;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                        {
                            int ih = i * s - p + a * d, iw = j * s - p + b * d;
                            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                            float v = x[pl * h * w + ih * w + iw];
                            if (bi < 0 || v > best) { best = v; bi = ih * w + iw; }
                        }
                    y[(pl * oh + i) * ow + j] = best;
                    idx[(pl * oh + i) * ow + j] = bi;
                }
        return (y, idx);
    }

    static float[] RefAvg(float[] x, int planes, int h, int w, int k, int s, int p, int oh, int ow, bool countIncludePad, int? divisor)
    {
        var y = new float[planes * oh * ow];
        for (int pl = 0; pl < planes; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    double sum = 0;
                    int inPadded = 0, valid = 0;
                    for (int a = 0; a < k; a++)
                        for (int b = 0; b < k; b++)
                        {
                            int ih = i * s - p + a, iw = j * s - p + b;
                            if (ih >= h + p || iw >= w + p) continue; // past the right/bottom padding: not part of the window
                            inPadded++;
                            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                            valid++;
                            sum += x[pl * h * w + ih * w + iw];
                        }
                    y[(pl * oh + i) * ow + j] = (float)(sum / (divisor ?? (countIncludePad ? inPadded : valid)));
                }
        return y;
    }

    static (float[] Avg, float[] Max) RefAdaptive(float[] x, int planes, int h, int w, int oh, int ow)
    {
        var avg = new float[planes * oh * ow];
        var max = new float[avg.Length];
        for (int pl = 0; pl < planes; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int h0 = (int)Math.Floor(i * h / (double)oh), h1 = (int)Math.Ceiling((i + 1) * h / (double)oh);
                    int w0 = (int)Math.Floor(j * w / (double)ow), w1 = (int)Math.Ceiling((j + 1) * w / (double)ow);
                    double sum = 0;
                    float m = float.NegativeInfinity;
                    for (int a = h0; a < h1; a++)
                        for (int b = w0; b < w1; b++)
                        {
                            float v = x[pl * h * w + a * w + b];
                            sum += v;
                            m = Math.Max(m, v);
                        }
                    avg[(pl * oh + i) * ow + j] = (float)(sum / ((h1 - h0) * (w1 - w0)));
                    max[(pl * oh + i) * ow + j] = m;
                }
        return (avg, max);
    }

    // ---- output sizes and the lesson's example ----

    [Theory]
    [InlineData(112, 3, 2, 1, 1, false, 56)]   // ResNet stem max pool
    [InlineData(7, 2, 2, 0, 1, true, 4)]       // lesson 18: AvgPool2d(2, ceil_mode=True) on 7x7
    [InlineData(7, 2, 2, 0, 1, false, 3)]
    [InlineData(5, 3, 2, 1, 1, true, 3)]       // the ceil-mode window starting in the right padding is dropped
    [InlineData(6, 3, 2, 1, 1, true, 4)]
    [InlineData(10, 3, 1, 0, 2, false, 6)]     // dilation 2: effective kernel 5
    public void OutputSizeMatchesPyTorch(int size, int k, int s, int p, int d, bool ceil, int expected)
    {
        var x = Tensor.Zeros(1, 1, size, size);
        Assert.Equal(expected, F.MaxPool2d(x, k, s, p, d, ceil).Size(-1));
        if (d == 1) Assert.Equal(expected, F.AvgPool2d(x, k, s, p, ceil).Size(-1));
    }

    [Fact]
    public void AvgPoolCeilModeOn7x7AveragesOnlyValidCells()
    {
        var x = Tensor.Arange(49).Float().Reshape(1, 1, 7, 7);
        var y = new AvgPool2d(2, ceilMode: true).Call(x);
        Assert.Equal(new[] { 1, 1, 4, 4 }, y.Shape);
        // full window (0,0): (0+1+7+8)/4; last column (1,3): rows 2-3, column 6 only: (20+27)/2; corner: just x[6,6] = 48
        Assert.Equal(4f, y[0, 0, 0, 0].Item());
        Assert.Equal((20f + 27f) / 2f, y[0, 0, 1, 3].Item());
        Assert.Equal((42f + 43f) / 2f, y[0, 0, 3, 0].Item());
        Assert.Equal(48f, y[0, 0, 3, 3].Item());
    }

    [Fact]
    public void AvgPoolCountIncludePadCountsPaddingButNotPastIt()
    {
        var x = Tensor.Ones(1, 1, 3, 3);
        var inc = F.AvgPool2d(x, 2, stride: 2, padding: 1, countIncludePad: true);
        var exc = F.AvgPool2d(x, 2, stride: 2, padding: 1, countIncludePad: false);
        Assert.Equal(new[] { 0.25f, 0.5f, 0.5f, 1f }, inc.ToArray());
        Assert.Equal(new[] { 1f, 1f, 1f, 1f }, exc.ToArray());
        Assert.Equal(new[] { 1f / 3, 2f / 3, 2f / 3, 4f / 3 }, F.AvgPool2d(x, 2, 2, 1, divisorOverride: 3).ToArray());
    }

    // ---- random configurations against the references ----

    public static IEnumerable<object[]> Configs()
    {
        var rng = new Random(123);
        for (int t = 0; t < 60; t++)
        {
            int k = rng.Next(1, 5), s = rng.Next(1, 4), p = rng.Next(0, k / 2 + 1), d = rng.Next(1, 3);
            int[] sizes = [1, 2, 3, 5, 7, 8, 9, 13, 28];
            yield return [t, rng.Next(1, 4), rng.Next(1, 4), sizes[rng.Next(sizes.Length)], sizes[rng.Next(sizes.Length)], k, s, p, d, rng.Next(2) == 1, t % 3 == 0];
        }
        // the 2x2 stride-2 fast paths: even, odd, and vector-width sizes (8 outputs per vector)
        int i = 100;
        foreach (int hw in new[] { 2, 4, 7, 8, 14, 16, 17, 28, 33, 65 })
            yield return [i++, 2, 3, hw, hw + 2, 2, 2, 0, 1, hw % 2 == 1, hw % 4 == 0];
        // wide rows for the general max-pool path's gathered row pass (ResNet stem 3x3/2/1, dilation, ceil mode)
        yield return [i++, 2, 2, 56, 57, 3, 2, 1, 1, false, false];
        yield return [i++, 1, 3, 40, 33, 3, 1, 1, 2, true, true];
        yield return [i++, 1, 2, 65, 65, 4, 3, 2, 1, true, false];
        yield return [i++, 3, 1, 9, 70, 2, 1, 0, 3, false, true];
        // tiny planes (1, 2, 4 or 8 outputs each: a gathered path across planes) and their leftovers
        foreach (var (n, c, h, w) in new[] { (3, 5, 2, 2), (2, 3, 4, 4), (1, 3, 2, 8), (5, 1, 4, 8), (1, 1, 2, 2), (4, 4, 4, 2), (3, 3, 6, 2),
                     (5, 7, 7, 7), (3, 11, 3, 3), (2, 9, 9, 9), (4, 5, 5, 7), (3, 3, 6, 15), (2, 17, 14, 14) })
            yield return [i++, n, c, h, w, 2, 2, 0, 1, false, n % 2 == 1];
        // ceil mode on odd sizes (lesson 18's 7x7 to 4x4): the last row or column of windows is one cell high or wide
        foreach (var (n, c, h, w) in new[] { (5, 7, 7, 7), (3, 11, 3, 3), (2, 9, 9, 9), (4, 5, 5, 8), (3, 3, 6, 13), (2, 3, 1, 5), (3, 5, 15, 15) })
            yield return [i++, n, c, h, w, 2, 2, 0, 1, true, n % 2 == 1];
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void MaxAndAvgPoolMatchNaiveReference(int seed, int n, int c, int h, int w, int k, int s, int p, int d, bool ceil, bool nonContiguous)
    {
        var x = LayerInputs.Randn(seed, [n, c, h, w], nonContiguous);
        int oh = RefOut(h, k, s, p, d, ceil), ow = RefOut(w, k, s, p, d, ceil);
        if (oh < 1 || ow < 1)
        {
            var e = Assert.Throws<ArgumentException>(() => F.MaxPool2d(x, k, s, p, d, ceil));
            Assert.Contains("MaxPool2d", e.Message);
            return;
        }
        var xs = x.ToArray();
        var (ry, ridx) = RefMax(xs, n * c, h, w, k, s, p, d, oh, ow);
        var (y, idx) = F.MaxPool2dWithIndices(x, (k, k), (s, s), (p, p), (d, d), ceil);
        Assert.Equal(new[] { n, c, oh, ow }, y.Shape);
        Assert.Equal(ry, y.ToArray());
        Assert.Equal(ridx, idx.ToIntArray());

        int aoh = RefOut(h, k, s, p, 1, ceil), aow = RefOut(w, k, s, p, 1, ceil);
        if (aoh < 1 || aow < 1) return;
        foreach (bool cip in new[] { true, false })
        {
            var ay = F.AvgPool2d(x, k, s, p, ceil, cip);
            Assert.Equal(new[] { n, c, aoh, aow }, ay.Shape);
            Reference.AllClose(RefAvg(xs, n * c, h, w, k, s, p, aoh, aow, cip, null), ay.ToArray(), 1e-5, 1e-6, $"AvgPool2d cip={cip}");
        }
    }

    [Theory]
    [InlineData(1, 1, 7, 7, 3, 3)]
    [InlineData(2, 3, 13, 9, 4, 5)]
    [InlineData(1, 2, 5, 5, 7, 8)]     // output larger than input: bins overlap
    [InlineData(3, 2, 28, 28, 1, 1)]   // global
    [InlineData(2, 5, 65, 1, 6, 1)]
    public void AdaptivePoolingMatchesPyTorchBins(int n, int c, int h, int w, int oh, int ow)
    {
        foreach (bool nc in new[] { false, true })
        {
            var x = LayerInputs.Randn(n * 100 + h, [n, c, h, w], nc);
            var (avg, max) = RefAdaptive(x.ToArray(), n * c, h, w, oh, ow);
            Reference.AllClose(avg, F.AdaptiveAvgPool2d(x, (oh, ow)).ToArray(), 1e-5, 1e-6, "AdaptiveAvgPool2d");
            Assert.Equal(max, F.AdaptiveMaxPool2d(x, (oh, ow)).ToArray());
        }
    }

    [Fact]
    public void GlobalPoolingAveragesAndMaximisesEachChannel()
    {
        var x = LayerInputs.Randn(5, [3, 4, 5, 6]);
        Reference.AllClose(x.Mean([2, 3], keepDim: true).ToArray(), F.GlobalAvgPool2d(x).ToArray(), 1e-5, 1e-6, "global avg");
        Assert.Equal(x.Flatten(2).Max(2, keepDim: true).Values.ToArray(), F.GlobalMaxPool2d(x).ToArray());
        Assert.Equal(new[] { 3, 4 }, new GlobalAvgPool2d(flatten: true).Call(x).Shape);
        Assert.Equal(new[] { 3, 4, 1, 1 }, new GlobalMaxPool2d().Call(x).Shape);
    }

    [Fact]
    public void LayersGuideExampleRunsWithTheStatedShapes()
    {
        // the example at the top of docs/LAYERS.md
        var model = new Sequential(
            new Linear(784, 16 * 7 * 7), new Lambda(x => x.View(-1, 16, 7, 7)),
            new BatchNorm2d(16), new ReLU(),
            new AvgPool2d(2, ceilMode: true),
            new Upsample(2, UpsampleMode.Bilinear),
            new GlobalAvgPool2d(flatten: true));
        var input = Tensor.Randn(5, 784);
        Assert.Equal(new[] { 5, 16 }, model.Call(input).Shape);
        Assert.Equal(new[] { 5, 16, 4, 4 }, model[4].Call(Tensor.Zeros(5, 16, 7, 7)).Shape);
        model.Eval();
        Assert.Equal(new[] { 5, 16 }, model.Call(input).Shape);
    }

    [Fact]
    public void UnbatchedInputKeepsThreeDims()
    {
        var x = LayerInputs.Randn(3, [2, 6, 6]);
        var y = new MaxPool2d(2).Call(x);
        Assert.Equal(new[] { 2, 3, 3 }, y.Shape);
        Assert.Equal(F.MaxPool2d(x.Unsqueeze(0), 2).ToArray(), y.ToArray());
    }

    [Fact]
    public void ErrorsNameTheOpAndShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => F.MaxPool2d(Tensor.Zeros(2, 3), 2));
        Assert.Contains("MaxPool2d", e.Message);
        Assert.Contains("[2,3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.AvgPool2d(Tensor.Zeros(1, 1, 4, 4), 2, padding: 2));
        Assert.Contains("padding", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.MaxPool2d(Tensor.Zeros(1, 1, 2, 2), 3));
        Assert.Contains("[1,1,2,2]", e.Message);
    }

    // ---- gradients ----

    [Theory]
    [InlineData(2, 2, 0, 1, false, false)]
    [InlineData(3, 2, 1, 1, true, true)]
    [InlineData(3, 1, 1, 2, false, false)]
    [InlineData(2, 2, 1, 1, true, true)]
    public void MaxPoolGradientMatchesFiniteDifferences(int k, int s, int p, int d, bool ceil, bool nonContiguous)
    {
        var x = LayerInputs.Distinct(k * 10 + s, [2, 2, 7, 6], nonContiguous);
        GradCheck.Assert(t => F.MaxPool2d(t[0], k, s, p, d, ceil), x);
    }

    [Theory]
    [InlineData(2, 2, 0, true, true)]
    [InlineData(3, 2, 1, true, false)]
    [InlineData(3, 2, 1, false, true)]
    [InlineData(2, 2, 0, false, false)]
    [InlineData(3, 1, 0, false, true)]
    public void AvgPoolGradientMatchesFiniteDifferences(int k, int s, int p, bool ceil, bool cip)
    {
        var x = LayerInputs.Randn(k * 10 + s, [2, 2, 7, 8], nonContiguous: ceil, requiresGrad: true);
        GradCheck.Assert(t => F.AvgPool2d(t[0], k, s, p, ceil, cip), x);
    }

    [Theory]
    [InlineData(5, 7)]
    [InlineData(7, 4)]
    [InlineData(1, 3)]
    public void AvgPoolTwoByTwoCeilGradientMatchesFiniteDifferences(int h, int w)
    {
        // 2x2 stride 2 in ceil mode on odd sizes: the windows tile the plane and the gradient is written, not added
        var x = LayerInputs.Randn(h * 10 + w, [2, 3, h, w], nonContiguous: h % 2 == 1, requiresGrad: true);
        GradCheck.Assert(t => F.AvgPool2d(t[0], 2, 2, 0, ceilMode: true), x);
    }

    [Fact]
    public void AdaptivePoolGradientsMatchFiniteDifferences()
    {
        var x = LayerInputs.Randn(1, [2, 3, 7, 5], nonContiguous: true, requiresGrad: true);
        GradCheck.Assert(t => F.AdaptiveAvgPool2d(t[0], (3, 4)), x);
        GradCheck.Assert(t => F.AdaptiveAvgPool2d(t[0], 1), x);
        var xd = LayerInputs.Distinct(2, [2, 3, 7, 5]);
        GradCheck.Assert(t => F.AdaptiveMaxPool2d(t[0], (3, 4)), xd);
        GradCheck.Assert(t => F.GlobalMaxPool2d(t[0]), xd);
    }

    [Theory]
    [InlineData(16, 18, false)]
    [InlineData(28, 34, true)]
    [InlineData(6, 66, false)]
    [InlineData(2, 2, true)]
    [InlineData(4, 4, false)]
    [InlineData(14, 14, true)]
    public void MaxPoolTwoByTwoGradientIsTheOutputGradientAtTheIndices(int h, int w, bool nonContiguous)
    {
        var x = LayerInputs.Distinct(h + w, [2, 3, h, w], nonContiguous);
        var (y, idx) = F.MaxPool2dWithIndices(x, (2, 2), null, (0, 0), (1, 1));
        var g = Tensor.Randn(y.Shape, new Generator(9));
        y.Backward(g);
        var expected = new float[x.Numel];
        var gi = idx.ToIntArray();
        var gv = g.ToArray();
        for (int o = 0; o < gi.Length; o++) expected[o / (y.Size(2) * y.Size(3)) * h * w + gi[o]] += gv[o];
        Assert.Equal(expected, x.Grad!.ToArray());
    }

    [Theory]
    [InlineData(16, 18, false)]
    [InlineData(28, 34, true)]
    [InlineData(14, 14, false)]
    [InlineData(8, 10, true)]
    [InlineData(2, 2, false)]
    [InlineData(4, 6, false)]
    public void AvgPoolTwoByTwoGradientSpreadsAQuarterOverEachTile(int h, int w, bool nonContiguous)
    {
        var x = LayerInputs.Randn(h * w, [2, 3, h, w], nonContiguous, requiresGrad: true);
        var y = F.AvgPool2d(x, 2);
        var g = Tensor.Randn(y.Shape, new Generator(9));
        y.Backward(g);
        var gv = g.ToArray();
        var expected = new float[x.Numel];
        for (int p = 0; p < 6; p++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) expected[(p * h + i) * w + j] = gv[(p * (h / 2) + i / 2) * (w / 2) + j / 2] * 0.25f;
        Assert.Equal(expected, x.Grad!.ToArray());
    }

    [Fact]
    public void MaxPoolPropagatesNaNAndPointsAtIt()
    {
        var x = Tensor.Randn([1, 1, 4, 32], new Generator(3));
        var xv = x.ToArray();
        xv[1 * 32 + 5] = float.NaN;   // window (0, 2)
        xv[2 * 32 + 30] = float.NaN;  // window (1, 15)
        x = Tensor.FromArray(xv, 1, 1, 4, 32);
        foreach (int k in new[] { 2, 3 })
        {
            var (y, idx) = F.MaxPool2dWithIndices(x, (k, k), (2, 2), (0, 0), (1, 1));
            Assert.True(float.IsNaN(y[0, 0, 0, 2].Item()), $"k={k}");
            Assert.Equal(37, idx[0, 0, 0, 2].Item<int>());
            if (k == 2) Assert.Equal(94, idx[0, 0, 1, 15].Item<int>());
            Assert.Equal(2, y.ToArray().Count(float.IsNaN)); // k = 3: windows (0, 2) and (0, 14)
        }
        // tiny planes: 2x2 planes, NaN in the third of four cells of plane 5
        var t = Tensor.Randn([3, 4, 2, 2], new Generator(4)).ToArray();
        t[5 * 4 + 2] = float.NaN;
        var (ty, ti) = F.MaxPool2dWithIndices(Tensor.FromArray(t, 3, 4, 2, 2), (2, 2), null, (0, 0), (1, 1));
        Assert.True(float.IsNaN(ty.ToArray()[5]));
        Assert.Equal(2, ti.ToIntArray()[5]);
        Assert.Equal(1, ty.ToArray().Count(float.IsNaN));
        // 7x7 planes (3x3 outputs, blocks of 8 planes): NaN at row 3, column 2 of plane 10 (window (1, 1)), and in the
        // dropped last row of plane 4
        var u = Tensor.Randn([3, 4, 7, 7], new Generator(5)).ToArray();
        u[10 * 49 + 3 * 7 + 2] = float.NaN;
        u[4 * 49 + 6 * 7 + 1] = float.NaN;
        var (uy, ui) = F.MaxPool2dWithIndices(Tensor.FromArray(u, 3, 4, 7, 7), (2, 2), null, (0, 0), (1, 1));
        Assert.True(float.IsNaN(uy.ToArray()[10 * 9 + 4]));
        Assert.Equal(3 * 7 + 2, ui.ToIntArray()[10 * 9 + 4]);
        Assert.Equal(1, uy.ToArray().Count(float.IsNaN));
        // ceil mode (4x4 outputs): the dropped row's NaN now falls in window (3, 0), alone in a one-row window with
        // another NaN before it at (6, 0): the last NaN wins
        u[4 * 49 + 6 * 7 + 0] = float.NaN;
        var (cy, ci) = F.MaxPool2dWithIndices(Tensor.FromArray(u, 3, 4, 7, 7), (2, 2), null, (0, 0), (1, 1), ceilMode: true);
        Assert.True(float.IsNaN(cy.ToArray()[4 * 16 + 12]));
        Assert.Equal(6 * 7 + 1, ci.ToIntArray()[4 * 16 + 12]);
        Assert.True(float.IsNaN(cy.ToArray()[10 * 16 + 5]));
        Assert.Equal(2, cy.ToArray().Count(float.IsNaN));
    }

    [Fact]
    public void MaxPoolGradientGoesToTheChosenElementAndAccumulatesOverlaps()
    {
        // 1x1x3x3 with the maximum in the centre; 2x2 windows with stride 1 all choose it: its gradient is the sum.
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 9, 5, 6, 7, 8 }, 1, 1, 3, 3).RequiresGradInPlace();
        var y = F.MaxPool2d(x, 2, stride: 1);
        Assert.Equal(new[] { 9f, 9f, 9f, 9f }, y.ToArray());
        y.Backward(Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2));
        Assert.Equal(new[] { 0f, 0, 0, 0, 10, 0, 0, 0, 0 }, x.Grad!.ToArray());
    }
}
