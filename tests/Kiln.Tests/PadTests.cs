using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>ZeroPad2d (including negative, cropping padding) and ReplicationPad2d against naive references, plus gradient checks.</summary>
public sealed class PadTests
{
    static float[] RefPad(float[] x, int planes, int h, int w, int l, int r, int t, int b, bool replicate)
    {
        int oh = h + t + b, ow = w + l + r;
        var y = new float[planes * oh * ow];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int ih = i - t, iw = j - l;
                    if (replicate) { ih = Math.Clamp(ih, 0, h - 1); iw = Math.Clamp(iw, 0, w - 1); }
                    y[(p * oh + i) * ow + j] = ih >= 0 && ih < h && iw >= 0 && iw < w ? x[(p * h + ih) * w + iw] : 0f;
                }
        return y;
    }

    public static IEnumerable<object[]> Configs()
    {
        var rng = new Random(7);
        for (int i = 0; i < 30; i++)
        {
            int h = rng.Next(1, 10), w = rng.Next(1, 10);
            int l = rng.Next(-w + 1, 4), r = rng.Next(-(w + l) + 1, 4), t = rng.Next(-h + 1, 4), b = rng.Next(-(h + t) + 1, 4);
            yield return [i, rng.Next(1, 3), rng.Next(1, 4), h, w, l, r, t, b, i % 2 == 0];
        }
        yield return [99, 1, 1, 65, 33, 2, -3, 1, 0, true];
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void PaddingMatchesNaiveReference(int seed, int n, int c, int h, int w, int l, int r, int t, int b, bool nonContiguous)
    {
        var x = LayerInputs.Randn(seed, [n, c, h, w], nonContiguous);
        var xs = x.ToArray();
        var z = F.ZeroPad2d(x, (l, r, t, b));
        Assert.Equal(new[] { n, c, h + t + b, w + l + r }, z.Shape);
        Assert.Equal(RefPad(xs, n * c, h, w, l, r, t, b, false), z.ToArray());
        Assert.Equal(RefPad(xs, n * c, h, w, l, r, t, b, true), F.ReplicationPad2d(x, (l, r, t, b)).ToArray());
    }

    [Fact]
    public void NegativeZeroPaddingCrops()
    {
        var x = Tensor.Arange(16).Float().Reshape(1, 1, 4, 4);
        var y = new ZeroPad2d((-1, 0, -2, 1)).Call(x);
        Assert.Equal(new[] { 1, 1, 3, 3 }, y.Shape);
        Assert.Equal(new[] { 9f, 10, 11, 13, 14, 15, 0, 0, 0 }, y.ToArray());
        Assert.Equal(new[] { 3, 8, 8 }, new ReplicationPad2d(2).Call(Tensor.Zeros(3, 4, 4)).Shape);
        var e = Assert.Throws<ArgumentException>(() => F.ZeroPad2d(x, (-2, -2, 0, 0)));
        Assert.Contains("[1,1,4,4]", e.Message);
    }

    [Theory]
    [InlineData(1, 2, 0, 1, false)]
    [InlineData(-1, 2, 1, -2, true)]
    [InlineData(2, 2, 2, 2, true)]
    public void PaddingGradientsMatchFiniteDifferences(int l, int r, int t, int b, bool nonContiguous)
    {
        var x = LayerInputs.Randn(l + 10 * r, [2, 2, 4, 5], nonContiguous, requiresGrad: true);
        GradCheck.Assert(u => F.ZeroPad2d(u[0], (l, r, t, b)), x);
        GradCheck.Assert(u => F.ReplicationPad2d(u[0], (l, r, t, b)), x);
    }
}
