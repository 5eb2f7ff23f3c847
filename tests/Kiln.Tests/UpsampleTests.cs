using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>Nearest and bilinear upsampling and pixel (un)shuffle against PyTorch's numbers and naive references, plus gradient checks.</summary>
public sealed class UpsampleTests
{
    static float[] RefBilinear(float[] x, int planes, int h, int w, int oh, int ow, bool alignCorners, double? sf)
    {
        double Src(int o, int inS, int outS, double? f) => alignCorners
            ? (outS > 1 ? o * (inS - 1.0) / (outS - 1) : 0)
            : Math.Max((o + 0.5) * (f is double v ? 1 / v : inS / (double)outS) - 0.5, 0);
        var y = new float[planes * oh * ow];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    double sh = Src(i, h, oh, sf), sw = Src(j, w, ow, sf);
                    int h0 = (int)sh, w0 = (int)sw, h1 = Math.Min(h0 + 1, h - 1), w1 = Math.Min(w0 + 1, w - 1);
                    double lh = sh - h0, lw = sw - w0;
                    double V(int a, int b) => x[(p * h + a) * w + b];
                    y[(p * oh + i) * ow + j] = (float)((1 - lh) * ((1 - lw) * V(h0, w0) + lw * V(h0, w1)) + lh * ((1 - lw) * V(h1, w0) + lw * V(h1, w1)));
                }
        return y;
    }

    static float[] RefNearest(float[] x, int planes, int h, int w, int oh, int ow, double? sf)
    {
        // PyTorch computes the source index in float: floor(o * scale) with scale = (float)(1 / factor) or (float)in / out
        float sh = sf is double f ? (float)(1 / f) : (float)h / oh, sw = sf is double g ? (float)(1 / g) : (float)w / ow;
        var y = new float[planes * oh * ow];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                    y[(p * oh + i) * ow + j] = x[(p * h + Math.Min((int)MathF.Floor(i * sh), h - 1)) * w + Math.Min((int)MathF.Floor(j * sw), w - 1)];
        return y;
    }

    [Fact]
    public void BilinearMatchesPyTorchOn2x2()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        Reference.AllClose(new float[] { 1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4 },
            new Upsample(2, UpsampleMode.Bilinear).Call(x).ToArray(), 1e-6, 1e-6, "align_corners=False");
        float a = 4f / 3, b = 5f / 3, c = 7f / 3, d = 8f / 3, e = 10f / 3, f = 11f / 3;
        Reference.AllClose(new float[] { 1, a, b, 2, b, 2, c, d, c, d, 3, e, 3, e, f, 4 },
            new UpsamplingBilinear2d(2).Call(x).ToArray(), 1e-6, 1e-6, "align_corners=True");
    }

    [Fact]
    public void NearestRepeatsCellsAndFollowsPyTorchForFractionalFactors()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 1, 1, 2, 2);
        Assert.Equal(new float[] { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 }, new UpsamplingNearest2d(2).Call(x).ToArray());
        // 4 -> 6 with factor 1.5: sources floor(o * 0.6666667f) = 0 0 1 2 2 3 (float rounding makes o = 3 give 2)
        var row = F.Interpolate(Tensor.Arange(4).Float().Reshape(1, 1, 1, 4), scaleFactor: (1, 1.5));
        Assert.Equal(new float[] { 0, 0, 1, 2, 2, 3 }, row.ToArray());
    }

    public static IEnumerable<object[]> Configs()
    {
        var rng = new Random(11);
        for (int i = 0; i < 24; i++)
        {
            int h = rng.Next(1, 9), w = rng.Next(1, 9);
            bool bySize = i % 3 == 0;
            double sf = new[] { 2.0, 3.0, 1.5, 0.5, 2.5 }[rng.Next(5)];
            yield return [i, rng.Next(1, 3), rng.Next(1, 3), h, w, bySize, bySize ? rng.Next(1, 12) : 0, bySize ? rng.Next(1, 12) : 0, sf, i % 2 == 1];
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void InterpolateMatchesNaiveReference(int seed, int n, int c, int h, int w, bool bySize, int oh, int ow, double sf, bool nonContiguous)
    {
        var x = LayerInputs.Randn(seed, [n, c, h, w], nonContiguous);
        if (!bySize) { oh = (int)Math.Floor(h * sf); ow = (int)Math.Floor(w * sf); }
        if (oh < 1 || ow < 1)
        {
            Assert.Throws<ArgumentException>(() => F.Interpolate(x, scaleFactor: (sf, sf)));
            return;
        }
        (int, int)? size = bySize ? (oh, ow) : null;
        (double, double)? factor = bySize ? null : (sf, sf);
        double? f = bySize ? null : sf;
        var xs = x.ToArray();
        var y = F.Interpolate(x, size, factor);
        Assert.Equal(new[] { n, c, oh, ow }, y.Shape);
        Assert.Equal(RefNearest(xs, n * c, h, w, oh, ow, f), y.ToArray());
        foreach (bool ac in new[] { false, true })
            Reference.AllClose(RefBilinear(xs, n * c, h, w, oh, ow, ac, f), F.Interpolate(x, size, factor, UpsampleMode.Bilinear, ac).ToArray(), 1e-5, 1e-5, $"bilinear ac={ac}");
    }

    [Theory]
    [InlineData(UpsampleMode.Nearest, false, 2.0)]
    [InlineData(UpsampleMode.Nearest, false, 1.5)]
    [InlineData(UpsampleMode.Bilinear, false, 2.0)]
    [InlineData(UpsampleMode.Bilinear, true, 2.5)]
    [InlineData(UpsampleMode.Bilinear, false, 0.5)]
    public void InterpolateGradientsMatchFiniteDifferences(UpsampleMode mode, bool alignCorners, double sf)
    {
        var x = LayerInputs.Randn(3, [2, 2, 4, 5], nonContiguous: true, requiresGrad: true);
        GradCheck.Assert(t => F.Interpolate(t[0], scaleFactor: (sf, sf), mode: mode, alignCorners: alignCorners), x);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1)]
    [InlineData(2, 3, 2, 3, 5)]
    [InlineData(1, 2, 3, 4, 1)]
    public void PixelShuffleMatchesNaiveReferenceAndUnshuffleInvertsIt(int n, int c, int r, int h, int w)
    {
        var x = LayerInputs.Randn(r, [n, c * r * r, h, w], nonContiguous: true, requiresGrad: true);
        var xs = x.ToArray();
        var y = new PixelShuffle(r).Call(x);
        Assert.Equal(new[] { n, c, h * r, w * r }, y.Shape);
        var ys = y.ToArray();
        for (int a = 0; a < n; a++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < h * r; i++)
                    for (int j = 0; j < w * r; j++)
                        Assert.Equal(xs[((a * c * r * r + ch * r * r + i % r * r + j % r) * h + i / r) * w + j / r], ys[((a * c + ch) * h * r + i) * w * r + j]);
        Assert.Equal(xs, new PixelUnshuffle(r).Call(y).ToArray());
        GradCheck.Assert(t => F.PixelShuffle(t[0], r), x);
        var e = Assert.Throws<ArgumentException>(() => F.PixelShuffle(Tensor.Zeros(1, 3, 2, 2), 2));
        Assert.Contains("[1,3,2,2]", e.Message);
    }
}
