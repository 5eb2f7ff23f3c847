using Kiln.Data;

namespace Kiln.Tests;

public class TransformTests
{
    /// <summary>A batch [n,c,h,w] of distinct values (so any moved pixel is detectable).</summary>
    static Tensor Distinct(int n, int c, int h, int w) => (Tensor.Arange(n * c * h * w).Float() + 1f).View(n, c, h, w);

    static float At(float[] d, int c, int h, int w, int i, int ch, int y, int x) => d[((i * c + ch) * h + y) * w + x];

    [Fact]
    public void NormalizeUsesPerChannelStatisticsAndDecodeUndoesIt()
    {
        var x = Tensor.Randn([4, 3, 5, 5], new Generator(1)) * 2f + 7f;
        var norm = new Normalize([1f, 2f, 3f], [2f, 4f, 0.5f]);
        var y = norm.Apply(x, 0);
        var xd = x.ToArray();
        var yd = y.ToArray();
        for (int k = 0; k < xd.Length; k++)
        {
            int c = k / 25 % 3;
            Assert.Equal((xd[k] - norm.Mean[c]) / norm.Std[c], yd[k], 4);
        }
        var back = norm.Decode(y).ToArray();
        for (int k = 0; k < xd.Length; k++) Assert.Equal(xd[k], back[k], 4);
        Assert.Contains("3 channel statistics do not fit", Assert.Throws<ArgumentException>(() => norm.Apply(Tensor.Zeros(4, 2, 5, 5), 0)).Message);
        Assert.Throws<ArgumentException>(() => new Normalize([0f], [0f]));
    }

    [Fact]
    public void NormalizeFromDataGivesZeroMeanUnitStdPerChannel()
    {
        var g = new Generator(3);
        var x = Tensor.Cat([Tensor.Rand([50, 1, 8, 8], g) * 3f, Tensor.Randn([50, 1, 8, 8], g) - 5f], dim: 1);
        var norm = Normalize.FromData(x);
        Assert.Equal(2, norm.Mean.Length);
        Assert.Equal(1.5f, norm.Mean[0], 1);
        Assert.Equal(-5f, norm.Mean[1], 1);
        var y = norm.Apply(x, 0);
        var m = y.Mean([0, 2, 3]).ToArray();
        var s = y.Std([0, 2, 3]).ToArray();
        Assert.All(m, v => Assert.Equal(0f, v, 4));
        Assert.All(s, v => Assert.Equal(1f, v, 4));
        // Lesson 18's Fashion-MNIST constants.
        var fm = Normalize.FromData(FashionMnist.Train.X);
        Assert.Single(fm.Mean);
        Assert.Equal(0.286f, fm.Mean[0], 3);
        Assert.Equal(0.353f, fm.Std[0], 3);
    }

    /// <summary>The (dy, dx) with out[i] = in[i] shifted (zeros outside), found by trying every shift.</summary>
    static (int, int) FindShift(float[] src, float[] dst, int i, int c, int h, int w, int oh, int ow, int pad)
    {
        for (int dy = -pad; dy <= h + pad - oh; dy++)
            for (int dx = -pad; dx <= w + pad - ow; dx++)
            {
                bool ok = true;
                for (int ch = 0; ch < c && ok; ch++)
                    for (int y = 0; y < oh && ok; y++)
                        for (int x = 0; x < ow && ok; x++)
                        {
                            int sy = y + dy, sx = x + dx;
                            float expect = sy >= 0 && sy < h && sx >= 0 && sx < w ? At(src, c, h, w, i, ch, sy, sx) : 0f;
                            ok = At(dst, c, oh, ow, i, ch, y, x) == expect;
                        }
                if (ok) return (dy, dx);
            }
        throw new Xunit.Sdk.XunitException($"item {i} is not a zero-padded shift of its input");
    }

    [Fact]
    public void RandomCropWithPaddingShiftsTheWholeBatchOrEachItem()
    {
        var x = Distinct(32, 2, 6, 6);
        var src = x.ToArray();
        var batch = new RandomCrop(6, padding: 2).Apply(x, 5);
        Assert.Equal([32, 2, 6, 6], batch.Shape);
        var shifts = Enumerable.Range(0, 32).Select(i => FindShift(src, batch.ToArray(), i, 2, 6, 6, 6, 6, 2)).Distinct().ToList();
        Assert.Single(shifts);

        var perItem = Transforms.RandPad(padding: 2, size: 6).Apply(x, 5);
        var itemShifts = Enumerable.Range(0, 32).Select(i => FindShift(src, perItem.ToArray(), i, 2, 6, 6, 6, 6, 2)).ToList();
        Assert.True(itemShifts.Distinct().Count() > 5);
        Assert.Contains(itemShifts, s => s.Item1 != 0 || s.Item2 != 0);

        var smaller = new RandomCrop(4, 3, padding: 0, perItem: false).Apply(x, 9);
        Assert.Equal([32, 2, 4, 3], smaller.Shape);
        FindShift(src, smaller.ToArray(), 7, 2, 6, 6, 4, 3, 0);
        Assert.Equal(src, x.ToArray()); // input untouched
        Assert.Contains("cannot crop 9x9 from 6x6 padded by 1", Assert.Throws<ArgumentException>(() => new RandomCrop(9, 1).Apply(x, 0)).Message);
    }

    static bool IsFlipped(float[] a, float[] b, int i, int c, int h, int w)
    {
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    if (At(b, c, h, w, i, ch, y, x) != At(a, c, h, w, i, ch, y, w - 1 - x)) return false;
        return true;
    }

    [Fact]
    public void HorizontalFlipsMirrorRowsForTheBatchOrPerItem()
    {
        var x = Distinct(40, 3, 4, 5);
        var a = x.ToArray();
        var det = new HorizontalFlip();
        var f = det.Apply(x, 0).ToArray();
        Assert.All(Enumerable.Range(0, 40), i => Assert.True(IsFlipped(a, f, i, 3, 4, 5)));
        Assert.Equal(a, det.Apply(det.Apply(x, 0), 0).ToArray());

        var outcomes = new HashSet<bool>();
        for (int seed = 0; seed < 20; seed++)
        {
            var r = new RandomHorizontalFlip().Apply(x, seed).ToArray();
            bool first = IsFlipped(a, r, 0, 3, 4, 5);
            Assert.All(Enumerable.Range(0, 40), i => Assert.Equal(first, IsFlipped(a, r, i, 3, 4, 5)));
            if (!first) Assert.Equal(a, r);
            outcomes.Add(first);
        }
        Assert.Equal(2, outcomes.Count);

        var p = new RandomHorizontalFlip(perItem: true).Apply(x, 1).ToArray();
        int flipped = Enumerable.Range(0, 40).Count(i => IsFlipped(a, p, i, 3, 4, 5));
        Assert.InRange(flipped, 8, 32);
        Assert.Equal(a, new RandomHorizontalFlip(p: 0).Apply(x, 1).ToArray());
    }

    [Fact]
    public void ResizeMatchesPyTorchBilinearWithoutAlignCorners()
    {
        var x = Tensor.FromArray(new float[] { 0, 1, 2, 3 }, 1, 1, 2, 2);
        // torch.nn.functional.interpolate(x, size=4, mode='bilinear', align_corners=False)
        float[] expected = [0f, .25f, .75f, 1f, .5f, .75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2f, 2.25f, 2.75f, 3f];
        Assert.Equal(expected, new Resize(4).Apply(x, 0).ToArray());
        var img = Distinct(1, 2, 7, 9);
        Assert.Equal(img.ToArray(), new Resize(7, 9).Apply(img, 0).ToArray());
        Assert.Equal([2, 3, 3], new Resize(3).Apply(img[0], 0).Shape);
    }

    [Fact]
    public void RandomResizedCropPicksValidCropsAndIsIdentityAtFullScale()
    {
        var x = Distinct(3, 1, 12, 12);
        var full = new RandomResizedCrop(12, 12, minScale: 1, maxScale: 1, minRatio: 1, maxRatio: 1);
        Assert.Equal(x.ToArray(), full.Apply(x, 4).ToArray());
        var rrc = new RandomResizedCrop(8, minScale: 0.25);
        var g = new Generator(2);
        for (int k = 0; k < 200; k++)
        {
            var (top, left, h, w) = rrc.Sample(12, 20, g);
            Assert.InRange(h, 1, 12);
            Assert.InRange(w, 1, 20);
            Assert.InRange(top, 0, 12 - h);
            Assert.InRange(left, 0, 20 - w);
            Assert.InRange(h * w, 0.25 * 240 * 0.8, 240);
        }
        var y = new RandomResizedCrop(8, minScale: 0.3, perItem: true).Apply(Tensor.Full([5, 2, 16, 16], 0.75f), 3);
        Assert.Equal([5, 2, 8, 8], y.Shape);
        Assert.All(y.ToArray(), v => Assert.Equal(0.75f, v, 6));
        Assert.Equal(new RandomResizedCrop(8).Apply(x, 11).ToArray(), new RandomResizedCrop(8).Apply(x, 11).ToArray());
    }

    static bool InBlocks((int Top, int Left, int Height, int Width)[] blocks, int y, int x) =>
        blocks.Any(b => y >= b.Top && y < b.Top + b.Height && x >= b.Left && x < b.Left + b.Width);

    [Fact]
    public void RandEraseFillsLessonSizedBlocksWithClampedNormalNoiseOfTheBatchStatistics()
    {
        var g = new Generator(8);
        var x = Tensor.Rand([64, 1, 28, 28], g) * 6f; // mean 3, std 1.73, range [0, 6)
        var xa = x.ToArray();
        float mn = xa.Min(), mx = xa.Max();
        var counts = new int[5];
        var erased = new List<float>();
        var re = new RandErase();
        for (int seed = 0; seed < 60; seed++)
        {
            var blocks = re.Blocks(28, 28, new Generator(seed));
            counts[blocks.Length]++;
            Assert.All(blocks, b => { Assert.Equal(5, b.Height); Assert.Equal(5, b.Width); Assert.InRange(b.Top, 0, 22); });
            var y = re.Apply(x, new Generator(seed)).ToArray();
            for (int k = 0; k < xa.Length; k++)
            {
                int yy = k / 28 % 28, xx = k % 28;
                if (InBlocks(blocks, yy, xx)) { Assert.InRange(y[k], mn, mx); erased.Add(y[k]); }
                else Assert.Equal(xa[k], y[k]);
            }
        }
        Assert.All(counts, c => Assert.True(c > 0, $"block counts 0..4 should all occur: [{string.Join(",", counts)}]"));
        double mean = erased.Average();
        double std = Math.Sqrt(erased.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, 2.9, 3.1);
        Assert.InRange(std, 1.45, 1.8);
        Assert.Equal(xa, x.ToArray());
    }

    [Fact]
    public void RandEraseClampsToTheBatchsOriginalRange()
    {
        // Two values only: the noise (std ~0.5 around 0.5) spills outside [0,1] often, so clamping must show.
        var x = Tensor.FromArray(Enumerable.Range(0, 200).Select(i => (float)(i % 2)).ToArray(), 2, 1, 10, 10);
        var re = new RandErase(0.5, 4);
        int seed = Enumerable.Range(0, 50).First(s => re.Blocks(10, 10, new Generator(s)).Length > 0);
        var y = re.Apply(x, new Generator(seed)).ToArray();
        Assert.All(y, v => Assert.InRange(v, 0f, 1f));
        Assert.Contains(y, v => v == 0f || v == 1f);
        Assert.Contains(y, v => v > 0f && v < 1f);
    }

    [Fact]
    public void RandCopyCopiesPatchesThroughABufferExactlyAsPlanned()
    {
        var x = Distinct(3, 2, 10, 10);
        var rc = new RandCopy(0.4, 4);
        int overlapping = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            var copies = rc.Copies(10, 10, new Generator(seed));
            var expect = x.ToArray();
            foreach (var (dt, dl, st, sl, h, w) in copies)
            {
                Assert.Equal(4, h);
                if (Math.Abs(dt - st) < h && Math.Abs(dl - sl) < w && (dt, dl) != (st, sl)) overlapping++;
                var patch = new float[3 * 2 * h * w];
                for (int p = 0; p < 6; p++)
                    for (int y = 0; y < h; y++)
                        for (int q = 0; q < w; q++) patch[(p * h + y) * w + q] = expect[p * 100 + (st + y) * 10 + sl + q];
                for (int p = 0; p < 6; p++)
                    for (int y = 0; y < h; y++)
                        for (int q = 0; q < w; q++) expect[p * 100 + (dt + y) * 10 + dl + q] = patch[(p * h + y) * w + q];
            }
            Assert.Equal(expect, rc.Apply(x, new Generator(seed)).ToArray());
        }
        Assert.True(overlapping > 0, "some copies should overlap their source");
    }

    [Fact]
    public void ComposedTransformsAreReproducibleFromTheSeed()
    {
        var x = Distinct(8, 1, 28, 28) / 6272f;
        var aug = Transforms.Compose(new RandomCrop(28, 1), new RandomHorizontalFlip(), new Normalize(0.28f, 0.35f), new RandErase(), new RandCopy());
        var a = aug.Apply(x, 123).ToArray();
        Assert.Equal(a, aug.Apply(x, 123).ToArray());
        Assert.NotEqual(a, aug.Apply(x, 124).ToArray());
        Assert.Equal(5, ((Compose)aug).Steps.Count);
    }
}
