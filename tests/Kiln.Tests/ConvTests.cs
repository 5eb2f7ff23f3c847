using Kiln.Kernels;
using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>One convolution configuration: batch, channels, image size, kernel, stride, padding, dilation, groups.</summary>
public sealed record ConvCase(int N, int Cin, int Cout, int H, int W, int Kh, int Kw, int Sh = 1, int Sw = 1, int Ph = 0, int Pw = 0, int Dh = 1, int Dw = 1, int G = 1)
{
    public int Oh => (H + 2 * Ph - Dh * (Kh - 1) - 1) / Sh + 1;
    public int Ow => (W + 2 * Pw - Dw * (Kw - 1) - 1) / Sw + 1;
    public override string ToString() => $"N{N} {Cin}->{Cout} {H}x{W} k{Kh}x{Kw} s{Sh},{Sw} p{Ph},{Pw} d{Dh},{Dw} g{G}";
}

/// <summary>Straightforward nested-loop definitions of the convolution ops, in double, on flat row-major arrays.</summary>
internal static class ConvRef
{
    public static float[] Conv2d(float[] x, float[] w, float[]? b, ConvCase c)
    {
        int cig = c.Cin / c.G, cog = c.Cout / c.G;
        var y = new float[c.N * c.Cout * c.Oh * c.Ow];
        for (int n = 0; n < c.N; n++)
            for (int co = 0; co < c.Cout; co++)
            {
                int g = co / cog;
                for (int oy = 0; oy < c.Oh; oy++)
                    for (int ox = 0; ox < c.Ow; ox++)
                    {
                        double sum = b == null ? 0 : b[co];
                        for (int ci = 0; ci < cig; ci++)
                            for (int i = 0; i < c.Kh; i++)
                                for (int j = 0; j < c.Kw; j++)
                                {
                                    int iy = oy * c.Sh - c.Ph + i * c.Dh, ix = ox * c.Sw - c.Pw + j * c.Dw;
                                    if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                                    sum += (double)x[((n * c.Cin + g * cig + ci) * c.H + iy) * c.W + ix] * w[((co * cig + ci) * c.Kh + i) * c.Kw + j];
                                }
                        y[((n * c.Cout + co) * c.Oh + oy) * c.Ow + ox] = (float)sum;
                    }
            }
        return y;
    }

    /// <summary>
    /// The transposed convolution in its scatter form: every input pixel x[n, ci, iy, ix] adds x * w[ci, co, i, j] at output
    /// (iy*s - p + i*d, ix*s - p + j*d). Here c describes the transposed op: Cin/Cout are its input/output channels, H/W its
    /// input size; oh/ow its output size.
    /// </summary>
    public static float[] ConvTranspose2d(float[] x, float[] w, float[]? b, ConvCase c, int oh, int ow)
    {
        int cig = c.Cin / c.G, cog = c.Cout / c.G;
        var y = new double[c.N * c.Cout * oh * ow];
        for (int n = 0; n < c.N; n++)
            for (int ci = 0; ci < c.Cin; ci++)
            {
                int g = ci / cig;
                for (int iy = 0; iy < c.H; iy++)
                    for (int ix = 0; ix < c.W; ix++)
                    {
                        double v = x[((n * c.Cin + ci) * c.H + iy) * c.W + ix];
                        for (int col = 0; col < cog; col++)
                            for (int i = 0; i < c.Kh; i++)
                                for (int j = 0; j < c.Kw; j++)
                                {
                                    int oy = iy * c.Sh - c.Ph + i * c.Dh, ox = ix * c.Sw - c.Pw + j * c.Dw;
                                    if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                                    y[((n * c.Cout + g * cog + col) * oh + oy) * ow + ox] += v * w[((ci * cog + col) * c.Kh + i) * c.Kw + j];
                                }
                    }
            }
        var r = new float[y.Length];
        for (int i = 0; i < y.Length; i++)
            r[i] = (float)(y[i] + (b == null ? 0 : b[i / (oh * ow) % c.Cout]));
        return r;
    }

    /// <summary>The weight gradient dW[co, ci, i, j] = Σ dy · x at the tap (per group) and the bias gradient db[co] = Σ dy, in double.</summary>
    public static (double[] Dw, double[] Db) WeightGrad(float[] x, float[] dy, ConvCase c)
    {
        int cig = c.Cin / c.G, cog = c.Cout / c.G;
        var dw = new double[c.Cout * cig * c.Kh * c.Kw];
        var db = new double[c.Cout];
        for (int n = 0; n < c.N; n++)
            for (int co = 0; co < c.Cout; co++)
                for (int oy = 0; oy < c.Oh; oy++)
                    for (int ox = 0; ox < c.Ow; ox++)
                    {
                        double g = dy[((n * c.Cout + co) * c.Oh + oy) * c.Ow + ox];
                        db[co] += g;
                        for (int ci = 0; ci < cig; ci++)
                            for (int i = 0; i < c.Kh; i++)
                                for (int j = 0; j < c.Kw; j++)
                                {
                                    int iy = oy * c.Sh - c.Ph + i * c.Dh, ix = ox * c.Sw - c.Pw + j * c.Dw;
                                    if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                                    dw[((co * cig + ci) * c.Kh + i) * c.Kw + j] += g * x[((n * c.Cin + co / cog * cig + ci) * c.H + iy) * c.W + ix];
                                }
                    }
        return (dw, db);
    }

    public static float[] Unfold(float[] x, ConvCase c)
    {
        int k = c.Cin * c.Kh * c.Kw, l = c.Oh * c.Ow;
        var y = new float[c.N * k * l];
        for (int n = 0; n < c.N; n++)
            for (int ci = 0; ci < c.Cin; ci++)
                for (int i = 0; i < c.Kh; i++)
                    for (int j = 0; j < c.Kw; j++)
                        for (int oy = 0; oy < c.Oh; oy++)
                            for (int ox = 0; ox < c.Ow; ox++)
                            {
                                int iy = oy * c.Sh - c.Ph + i * c.Dh, ix = ox * c.Sw - c.Pw + j * c.Dw;
                                int row = (ci * c.Kh + i) * c.Kw + j;
                                y[(n * k + row) * l + oy * c.Ow + ox] =
                                    iy < 0 || iy >= c.H || ix < 0 || ix >= c.W ? 0f : x[((n * c.Cin + ci) * c.H + iy) * c.W + ix];
                            }
        return y;
    }

    public static float[] Fold(float[] cols, ConvCase c)
    {
        int k = c.Cin * c.Kh * c.Kw, l = c.Oh * c.Ow;
        var y = new double[c.N * c.Cin * c.H * c.W];
        for (int n = 0; n < c.N; n++)
            for (int ci = 0; ci < c.Cin; ci++)
                for (int i = 0; i < c.Kh; i++)
                    for (int j = 0; j < c.Kw; j++)
                        for (int oy = 0; oy < c.Oh; oy++)
                            for (int ox = 0; ox < c.Ow; ox++)
                            {
                                int iy = oy * c.Sh - c.Ph + i * c.Dh, ix = ox * c.Sw - c.Pw + j * c.Dw;
                                if (iy < 0 || iy >= c.H || ix < 0 || ix >= c.W) continue;
                                y[((n * c.Cin + ci) * c.H + iy) * c.W + ix] += cols[(n * k + (ci * c.Kh + i) * c.Kw + j) * l + oy * c.Ow + ox];
                            }
        return Array.ConvertAll(y, v => (float)v);
    }

    public static void AssertClose(float[] expected, float[] actual, string what, float tol = 1e-4f, float scaleTol = 0f)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = scaleTol == 0 ? 0 : scaleTol * expected.Max(v => Math.Abs(v));
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (!(Math.Abs(e - a) <= tol * (1 + Math.Abs(e)) + scale))
                Assert.Fail($"{what}: element {i} is {a}, expected {e}");
        }
    }

    /// <summary>
    /// The extra bound for a case that runs on the Winograd path (<see cref="ConvWinograd"/>), as a fraction of the largest
    /// expected magnitude: its rounding error follows the size of the whole output, not of each element (relative RMS error
    /// 1e-6 to 3e-6, see ConvWinogradTests). Zero for every other path.
    /// </summary>
    public static float WinogradTol(ConvCase c) =>
        ConvWinograd.Applies(new ConvShape(c.Cin, c.H, c.W, c.Cout, c.Kh, c.Kw, c.Sh, c.Sw, c.Ph, c.Pw, c.Dh, c.Dw, c.Oh, c.Ow, c.G)) ? 2e-5f : 0f;

    /// <summary>Random configurations (seeded): odd sizes, batch 1, stride/padding/dilation/groups combinations; each valid.</summary>
    public static IEnumerable<ConvCase> RandomCases(int count, int seed)
    {
        var rng = new Random(seed);
        int made = 0;
        while (made < count)
        {
            int g = rng.Next(4) == 0 ? rng.Next(2, 4) : 1;
            var c = new ConvCase(
                N: rng.Next(3) == 0 ? 1 : rng.Next(2, 6),
                Cin: g * rng.Next(1, 5), Cout: g * rng.Next(1, 6),
                H: rng.Next(1, 12), W: rng.Next(1, 12),
                Kh: rng.Next(1, 5), Kw: rng.Next(1, 5),
                Sh: rng.Next(1, 4), Sw: rng.Next(1, 4),
                Ph: rng.Next(0, 3), Pw: rng.Next(0, 3),
                Dh: rng.Next(3) == 0 ? 2 : 1, Dw: rng.Next(3) == 0 ? 3 : 1, G: g);
            if (c.H + 2 * c.Ph - c.Dh * (c.Kh - 1) - 1 < 0 || c.W + 2 * c.Pw - c.Dw * (c.Kw - 1) - 1 < 0) continue;
            made++;
            yield return c;
        }
    }
}

/// <summary>Conv2d, Conv1d, ConvTranspose2d, Unfold and Fold against the nested-loop definitions.</summary>
public sealed class ConvTests
{
    static Tensor R(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed));

    public static TheoryData<ConvCase> Cases()
    {
        var d = new TheoryData<ConvCase>
        {
            new(1, 1, 1, 1, 1, 1, 1),
            new(2, 3, 4, 7, 7, 3, 3, Ph: 1, Pw: 1),
            new(1, 7, 5, 9, 6, 3, 2, Sh: 2, Sw: 1, Ph: 1, Pw: 0),
            new(3, 4, 6, 8, 8, 3, 3, Sh: 2, Sw: 2, Ph: 1, Pw: 1, G: 2),
            new(2, 6, 6, 5, 5, 3, 3, Ph: 1, Pw: 1, G: 6),                  // depthwise
            new(2, 2, 3, 9, 10, 3, 3, Dh: 2, Dw: 2, Ph: 2, Pw: 2),          // dilation
            new(1, 65, 7, 5, 5, 1, 1),                                     // 1x1
            new(5, 3, 9, 11, 13, 5, 5, Sh: 3, Sw: 2, Ph: 2, Pw: 2),
            new(2, 1, 16, 28, 28, 5, 5, Ph: 2, Pw: 2),                      // the bench's layer (a), small batch
            new(9, 8, 16, 7, 7, 3, 3, Sh: 2, Sw: 2, Ph: 1, Pw: 1),           // several images per GEMM chunk
            new(40, 4, 8, 4, 4, 3, 3, Sh: 2, Sw: 2, Ph: 1, Pw: 1),           // many chunks and weight-gradient slots
            // stride 1, >= 4 input channels, rows >= 12 wide: the direct kernel (forward and input gradient)
            new(2, 5, 11, 13, 20, 3, 3, Ph: 1, Pw: 1),
            new(2, 16, 16, 28, 28, 5, 5, Ph: 2, Pw: 2),                     // the bench's layer (d), small batch
            new(2, 4, 3, 10, 14, 3, 3, Ph: 2, Pw: 2, Dh: 2, Dw: 2),
            new(1, 4, 9, 5, 40, 3, 5, Pw: 2),                              // two 32-wide strips, one partial
            // output rows as wide as the input's: AVX-512's strips cross row ends (lanes masked per kernel column)
            new(2, 4, 8, 5, 3, 3, 3, Ph: 1, Pw: 1),                          // 3 wide: a strip spans 10 rows
            new(1, 5, 9, 6, 1, 3, 1, Ph: 1),                               // 1 wide
            new(3, 6, 12, 9, 7, 3, 3, Ph: 2, Pw: 2, Dh: 2, Dw: 2),           // dilation, 7 wide
            new(2, 4, 8, 5, 10, 2, 5, Ph: 0, Pw: 2),                         // no row padding, 40 outputs: one full strip and a partial one
            new(1, 8, 16, 11, 9, 5, 3, Ph: 2, Pw: 1),                        // tall kernel: strips skip the taps above and below the image
            new(2, 4, 8, 6, 20, 3, 3),                                     // rows narrower than the input's (18 of 20): the last positions of each row dropped
            new(1, 5, 16, 9, 24, 3, 3, Ph: 1, Pw: 1, Dh: 2, Dw: 2),          // ... with dilation (22 of 24)
            new(3, 6, 4, 6, 15, 2, 3),                                     // no padding: input gradient padded by k-1
            new(1, 8, 8, 7, 14, 3, 3, Ph: 3, Pw: 3),                        // padding beyond d(k-1): the input gradient falls back
            new(5, 4, 32, 9, 17, 3, 2, Ph: 1, Dw: 2),                       // direct weight gradient: four 8-channel blocks, 15 wide
            new(3, 5, 20, 7, 18, 3, 3, Ph: 1, Pw: 1),                       // 20 channels: AVX2's direct weight gradient (blocks of 4; AVX-512's needs 16s)
            new(2, 6, 8, 12, 13, 2, 2, Ph: 1, Dh: 2),                       // 4 taps: AVX2's tap blocks of 3 end with a single tap
            new(20, 4, 8, 14, 14, 3, 3, Ph: 1, Pw: 1),                      // AVX2's weight gradient sums groups of 4 images (5 per slot: 4 + 1)
            // stride 2 both ways, >= 4 input channels, rows >= 7 wide: AVX2's direct kernel on the four phase planes
            new(3, 5, 12, 15, 16, 3, 3, Sh: 2, Sw: 2, Ph: 1, Pw: 1),
            new(2, 4, 8, 17, 18, 3, 3, Sh: 2, Sw: 2, Ph: 2, Pw: 2, Dh: 2, Dw: 2),   // even padding, dilation
            new(2, 6, 8, 16, 17, 2, 2, Sh: 2, Sw: 2),                               // no padding, odd width
            new(2, 4, 16, 20, 21, 5, 5, Sh: 2, Sw: 2, Ph: 2, Pw: 1),                 // 5x5, mixed padding
            // >= 8 big-side channels, not stride 1 with wide rows: the channels-last (im2row) path
            new(3, 12, 5, 9, 11, 3, 2, Sh: 3, Sw: 2, Ph: 2, Pw: 1, Dh: 2),
            new(7, 16, 24, 8, 8, 3, 3, Sh: 2, Sw: 2, Ph: 1, Pw: 1),
            new(3, 40, 6, 6, 6, 3, 3, Sh: 2, Sw: 2, Ph: 1, Pw: 1),            // ... its forward too (>= 32 channels)
            new(2, 3, 4, 9, 40, 3, 3, Sw: 2, Ph: 1, Pw: 1),                 // stride-2 im2col by permutes: 20 windows = 16 + 4 (masked)
            new(1, 2, 2, 5, 33, 2, 3, Sh: 2, Sw: 2, Dw: 2),                 // ... without padding (the copy is made anyway)
        };
        foreach (var c in ConvRef.RandomCases(30, 15)) d.Add(c);
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Conv2d_MatchesNestedLoops(ConvCase c)
    {
        var x = R(1, c.N, c.Cin, c.H, c.W);
        var w = R(2, c.Cout, c.Cin / c.G, c.Kh, c.Kw);
        var b = R(3, c.Cout);
        var y = F.Conv2d(x, w, b, (c.Sh, c.Sw), (c.Ph, c.Pw), (c.Dh, c.Dw), c.G);
        Assert.Equal(new[] { c.N, c.Cout, c.Oh, c.Ow }, y.Shape);
        ConvRef.AssertClose(ConvRef.Conv2d(x.ToArray(), w.ToArray(), b.ToArray(), c), y.ToArray(), c.ToString(), scaleTol: ConvRef.WinogradTol(c));
        var y0 = F.Conv2d(x, w, null, (c.Sh, c.Sw), (c.Ph, c.Pw), (c.Dh, c.Dw), c.G);
        ConvRef.AssertClose(ConvRef.Conv2d(x.ToArray(), w.ToArray(), null, c), y0.ToArray(), c + " without bias", scaleTol: ConvRef.WinogradTol(c));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Conv2dBackward_MatchesTheNestedLoopGradients(ConvCase c)
    {
        // dX is the transposed convolution of dY (scatter form), dW[co,ci,i,j] = Σ dY·x at the tap, db = Σ dY.
        var x = R(4, c.N, c.Cin, c.H, c.W).RequiresGradInPlace();
        var w = R(5, c.Cout, c.Cin / c.G, c.Kh, c.Kw).RequiresGradInPlace();
        var b = R(6, c.Cout).RequiresGradInPlace();
        var gy = R(7, c.N, c.Cout, c.Oh, c.Ow);
        F.Conv2d(x, w, b, (c.Sh, c.Sw), (c.Ph, c.Pw), (c.Dh, c.Dw), c.G).Backward(gy);

        var g = gy.ToArray();
        var xs = x.ToArray();
        // The transposed op maps Cout -> Cin over the output grid: its weight [Cout, Cin/G, kh, kw] is w itself.
        var tc = c with { Cin = c.Cout, Cout = c.Cin, H = c.Oh, W = c.Ow };
        ConvRef.AssertClose(ConvRef.ConvTranspose2d(g, w.ToArray(), null, tc, c.H, c.W), x.Grad!.ToArray(), c + " dX", scaleTol: ConvRef.WinogradTol(c));

        var (dw, db) = ConvRef.WeightGrad(xs, g, c);
        ConvRef.AssertClose(Array.ConvertAll(dw, v => (float)v), w.Grad!.ToArray(), c + " dW", 2e-4f, ConvRef.WinogradTol(c));
        ConvRef.AssertClose(Array.ConvertAll(db, v => (float)v), b.Grad!.ToArray(), c + " db", 2e-4f);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ConvTranspose2d_MatchesTheScatterDefinition(ConvCase c)
    {
        // Reuse the case as the transposed op's: input [N, Cin, H, W], weight [Cin, Cout/G, kh, kw]; output padding where allowed.
        int oph = Math.Max(c.Sh, c.Dh) - 1, opw = Math.Max(c.Sw, c.Dw) - 1;   // the largest allowed
        int oh = (c.H - 1) * c.Sh - 2 * c.Ph + c.Dh * (c.Kh - 1) + oph + 1, ow = (c.W - 1) * c.Sw - 2 * c.Pw + c.Dw * (c.Kw - 1) + opw + 1;
        if (oh < 1 || ow < 1) return;
        var x = R(8, c.N, c.Cin, c.H, c.W);
        var w = R(9, c.Cin, c.Cout / c.G, c.Kh, c.Kw);
        var b = R(10, c.Cout);
        var y = F.ConvTranspose2d(x, w, b, (c.Sh, c.Sw), (c.Ph, c.Pw), (oph, opw), c.G, (c.Dh, c.Dw));
        Assert.Equal(new[] { c.N, c.Cout, oh, ow }, y.Shape);
        ConvRef.AssertClose(ConvRef.ConvTranspose2d(x.ToArray(), w.ToArray(), b.ToArray(), c, oh, ow), y.ToArray(), c.ToString(), scaleTol: ConvRef.WinogradTol(c));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void UnfoldAndFold_MatchNestedLoops(ConvCase c)
    {
        var x = R(11, c.N, c.Cin, c.H, c.W);
        var cols = F.Unfold(x, (c.Kh, c.Kw), (c.Dh, c.Dw), (c.Ph, c.Pw), (c.Sh, c.Sw));
        Assert.Equal(new[] { c.N, c.Cin * c.Kh * c.Kw, c.Oh * c.Ow }, cols.Shape);
        ConvRef.AssertClose(ConvRef.Unfold(x.ToArray(), c), cols.ToArray(), c + " unfold", 0f);
        var r = R(12, c.N, c.Cin * c.Kh * c.Kw, c.Oh * c.Ow);
        var img = F.Fold(r, (c.H, c.W), (c.Kh, c.Kw), (c.Dh, c.Dw), (c.Ph, c.Pw), (c.Sh, c.Sw));
        Assert.Equal(new[] { c.N, c.Cin, c.H, c.W }, img.Shape);
        ConvRef.AssertClose(ConvRef.Fold(r.ToArray(), c), img.ToArray(), c + " fold");
    }

    [Fact]
    public void Conv2d_ReadsNonContiguousInputsAndWeights()
    {
        var c = new ConvCase(3, 5, 4, 9, 7, 3, 3, Sh: 2, Sw: 1, Ph: 1, Pw: 1);
        var x = R(13, c.N, c.H, c.Cin, c.W).Permute(0, 2, 1, 3);                     // NHCW storage viewed as NCHW
        var w = R(14, c.Cout, c.Cin, c.Kh, 2 * c.Kw).Slice(3, null, null, 2);        // every other column
        var b = R(15, 2 * c.Cout).Slice(0, null, null, 2);
        Assert.False(x.IsContiguous);
        Assert.False(w.IsContiguous);
        var y = F.Conv2d(x, w, b, (2, 1), 1);
        ConvRef.AssertClose(ConvRef.Conv2d(x.ToArray(), w.ToArray(), b.ToArray(), c), y.ToArray(), "non-contiguous");
    }

    [Fact]
    public void Conv2d_AcceptsAnUnbatchedImage()
    {
        var x = R(16, 3, 6, 6);
        var w = R(17, 2, 3, 3, 3);
        var y = F.Conv2d(x, w, padding: 1);
        Assert.Equal(new[] { 2, 6, 6 }, y.Shape);
        ConvRef.AssertClose(F.Conv2d(x.Unsqueeze(0), w, padding: 1)[0].ToArray(), y.ToArray(), "unbatched", 0f);
    }

    [Fact]
    public void Conv2d_IsTheSameForOneImageAndForABatch()
    {
        // Chunking groups several images into one GEMM; image 5 alone must get the same values.
        var x = R(18, 32, 8, 7, 7);
        var w = R(19, 16, 8, 3, 3);
        var all = F.Conv2d(x, w, stride: 2, padding: 1);
        var one = F.Conv2d(x[5..6], w, stride: 2, padding: 1);
        ConvRef.AssertClose(all[5..6].ToArray(), one.ToArray(), "image 5", 1e-5f);
    }

    [Theory]
    [InlineData(2, 3, 4, 11, 3, 1, 0, 1, 1)]
    [InlineData(1, 4, 6, 20, 5, 2, 2, 1, 2)]
    [InlineData(3, 2, 2, 9, 3, 1, 2, 2, 1)]
    [InlineData(1, 1, 1, 1, 1, 1, 0, 1, 1)]
    public void Conv1d_MatchesNestedLoops(int n, int cin, int cout, int len, int k, int stride, int padding, int dilation, int groups)
    {
        var x = R(20, n, cin, len);
        var w = R(21, cout, cin / groups, k);
        var b = R(22, cout);
        var y = F.Conv1d(x, w, b, stride, padding, dilation, groups);
        var c = new ConvCase(n, cin, cout, 1, len, 1, k, Sw: stride, Pw: padding, Dw: dilation, G: groups);
        Assert.Equal(new[] { n, cout, c.Ow }, y.Shape);
        ConvRef.AssertClose(ConvRef.Conv2d(x.ToArray(), w.ToArray(), b.ToArray(), c), y.ToArray(), "conv1d");
        Assert.Equal(new[] { cout, c.Ow }, F.Conv1d(x[0], w, b, stride, padding, dilation, groups).Shape);
    }

    [Fact]
    public void ConvTranspose2d_IsTheInputGradientOfConv2d()
    {
        // y = conv(x, w) with stride 2: d(Σ y·g)/dx = convT(g, w, stride 2, output padding chosen to restore x's size).
        var x = R(23, 2, 3, 8, 9).RequiresGradInPlace();
        var w = R(24, 5, 3, 3, 3);
        var y = F.Conv2d(x, w, stride: 2, padding: 1);
        var g = R(25, y.Shape);
        y.Backward(g);
        int opH = 8 - ((y.Size(2) - 1) * 2 - 2 + 3), opW = 9 - ((y.Size(3) - 1) * 2 - 2 + 3);
        var t = F.ConvTranspose2d(g, w, stride: 2, padding: 1, outputPadding: (opH, opW));
        Assert.Equal(x.Shape, t.Shape);
        ConvRef.AssertClose(x.Grad!.ToArray(), t.ToArray(), "convT vs dX", 1e-5f);
    }

    [Fact]
    public void UnfoldThenMatMul_IsConv2d()
    {
        var x = R(26, 2, 3, 10, 10);
        var w = R(27, 4, 3, 3, 3);
        var cols = F.Unfold(x, 3, padding: 1, stride: 2);                 // [2, 27, 25]
        var y = w.View(4, -1).MatMul(cols).View(2, 4, 5, 5);
        ConvRef.AssertClose(F.Conv2d(x, w, stride: 2, padding: 1).ToArray(), y.ToArray(), "unfold+matmul");
    }

    [Fact]
    public void FoldOfUnfold_CountsHowManyBlocksCoverEachPixel()
    {
        var ones = Tensor.Ones(1, 1, 4, 4);
        var counts = F.Fold(F.Unfold(ones, 3, padding: 1), (4, 4), 3, padding: 1);
        var expected = new float[] { 4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4 };
        Assert.Equal(expected, counts.ToArray());
    }

    [Fact]
    public void Errors_NameTheOpAndTheShapes()
    {
        var x = Tensor.Zeros(2, 3, 5, 5);
        var e = Assert.Throws<ArgumentException>(() => F.Conv2d(x, Tensor.Zeros(4, 2, 3, 3)));
        Assert.Contains("Conv2d", e.Message);
        Assert.Contains("[2,3,5,5]", e.Message);
        Assert.Contains("[4,2,3,3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Conv2d(x, Tensor.Zeros(4, 3, 7, 7)));
        Assert.Contains("kernel 7x7 is larger than the padded input 5x5", e.Message);
        Assert.Contains("Conv2d", F.Conv2d(x, Tensor.Zeros(4, 3, 7, 7).RequiresGradInPlace(), padding: 1).GradFn!.Name);
        e = Assert.Throws<ArgumentException>(() => F.Conv2d(x, Tensor.Zeros(4, 1, 3, 3), groups: 2));
        Assert.Contains("not divisible by groups 2", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Conv2d(Tensor.Zeros(5, 5), Tensor.Zeros(1, 1, 3, 3)));
        Assert.Contains("4-d input", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Conv2d(x, Tensor.Zeros(4, 3, 3, 3), Tensor.Zeros(3)));
        Assert.Contains("bias [3] must be [4]", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Conv2d(x, Tensor.Zeros(4, 3, 3, 3), stride: 0));
        Assert.Contains("stride must be positive", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Conv1d(Tensor.Zeros(1, 2, 4), Tensor.Zeros(3, 2, 6)));
        Assert.Contains("Conv1d: kernel size 6", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Conv1d(Tensor.Zeros(1, 2, 4), Tensor.Zeros(3, 1, 3)));
        Assert.Contains("Conv1d: input [1,2,4] has 2 channels", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.ConvTranspose2d(x, Tensor.Zeros(4, 2, 3, 3)));
        Assert.Contains("ConvTranspose2d: input [2,3,5,5] has 3 channels but weight [4,2,3,3] expects 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.ConvTranspose2d(x, Tensor.Zeros(3, 2, 3, 3), stride: 2, outputPadding: 2));
        Assert.Contains("outputPadding 2 must be", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Fold(Tensor.Zeros(1, 9, 10), (5, 5), 3));
        Assert.Contains("Fold: input [1,9,10] has 10 blocks", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Fold(Tensor.Zeros(1, 8, 9), (5, 5), 3));
        Assert.Contains("divisible by the kernel size product", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Unfold(Tensor.Zeros(1, 1, 2, 2), 3));
        Assert.Contains("Unfold: kernel 3x3 is larger than the padded input 2x2", e.Message);
    }

    [Fact]
    public void EmptyBatch_GivesEmptyResultsAndZeroWeightGradients()
    {
        var x = Tensor.Zeros(0, 2, 5, 5).RequiresGradInPlace();
        var w = Tensor.Ones(3, 2, 3, 3).RequiresGradInPlace();
        var b = Tensor.Ones(3).RequiresGradInPlace();
        var y = F.Conv2d(x, w, b);
        Assert.Equal(new[] { 0, 3, 3, 3 }, y.Shape);
        y.Sum().Backward();
        Assert.All(w.Grad!.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(b.Grad!.ToArray(), v => Assert.Equal(0f, v));
    }
}
