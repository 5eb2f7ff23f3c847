using System.Runtime.Intrinsics;
using Kiln.Kernels;
using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>
/// The Winograd F(4x4, 3x3) and F(4x4, 5x5) path (<see cref="ConvWinograd"/>): its transforms against the definition of
/// correlation in double precision, the forward and input-gradient kernels against the nested-loop definitions (odd sizes,
/// partial tiles, padding 0 to k-1, batch 1), the dispatcher's choice, and finite-difference gradient checks through
/// F.Conv2d. Kernel tests run each width this machine has: Vector512 (16 channels per vector) and Vector256 (8, the AVX2
/// hosts' kernels, which AVX-512 machines run too).
/// </summary>
public unsafe class ConvWinogradTests
{
    static float[] Rand(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void Transform_Computes4OutputsOfA1dCorrelation(int k)
    {
        var tr = ConvWinograd.For(k);
        Assert.Equal(4 + k - 1, tr.A);
        var rng = new Random(k);
        for (int trial = 0; trial < 20; trial++)
        {
            var g = Enumerable.Range(0, k).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            var d = Enumerable.Range(0, tr.A).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            var prod = new double[tr.A];
            for (int j = 0; j < tr.A; j++)
            {
                double gg = 0, dd = 0;
                for (int l = 0; l < k; l++) gg += tr.G[j, l] * g[l];
                for (int l = 0; l < tr.A; l++) dd += tr.BT[j, l] * d[l];
                prod[j] = gg * dd;
            }
            for (int i = 0; i < 4; i++)
            {
                double y = 0, expected = 0;
                for (int j = 0; j < tr.A; j++) y += tr.AT[i, j] * prod[j];
                for (int l = 0; l < k; l++) expected += g[l] * d[i + l];
                Assert.Equal(expected, y, 1e-10);
            }
        }
    }

    /// <summary>The widths this machine runs: Vector512 (false) where accelerated, Vector256 "narrow" (true) with AVX2.</summary>
    static bool[] Widths() =>
        [.. new[] { false, true }.Where(n => n ? Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported : Vector512.IsHardwareAccelerated)];

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void WeightGradientTransform_ComputesKOutputsOfA1dCorrelationWithA4TapFilter(int k)
    {
        // F(k, 4): the 4 output-gradient values of a tile act as the filter, the k outputs are the weight's taps
        var tr = ConvWinograd.For(k);
        var rng = new Random(10 + k);
        for (int trial = 0; trial < 20; trial++)
        {
            var e = Enumerable.Range(0, 4).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            var d = Enumerable.Range(0, tr.A).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            for (int i = 0; i < k; i++)
            {
                double y = 0, expected = 0;
                for (int j = 0; j < tr.A; j++)
                {
                    double ee = 0, dd = 0;
                    for (int l = 0; l < 4; l++) ee += tr.GD[j, l] * e[l];
                    for (int l = 0; l < tr.A; l++) dd += tr.BT[j, l] * d[l];
                    y += tr.ATW[i, j] * ee * dd;
                }
                for (int l = 0; l < 4; l++) expected += e[l] * d[i + l];
                Assert.Equal(expected, y, 1e-10);
            }
        }
    }

    public static TheoryData<ConvCase> Cases() => new()
    {
        new ConvCase(3, 16, 16, 28, 28, 5, 5, Ph: 2, Pw: 2),   // lesson 15's layer (d)
        new ConvCase(2, 16, 32, 13, 11, 3, 3, Ph: 1, Pw: 1),   // partial tiles on both sides
        new ConvCase(1, 32, 16, 12, 15, 5, 5),                 // no padding: 8x11 outputs
        new ConvCase(2, 16, 16, 9, 8, 3, 3, Ph: 2, Pw: 2),     // padding k-1: 11x10 outputs
        new ConvCase(1, 48, 16, 14, 14, 3, 3, Ph: 1, Pw: 0),   // different padding per side
        new ConvCase(2, 16, 48, 10, 17, 5, 5, Ph: 3, Pw: 1),
        new ConvCase(11, 16, 32, 8, 8, 3, 3, Ph: 1, Pw: 1),    // 4 tiles per image: groups of 8 images, the last one partial
        new ConvCase(2, 8, 24, 11, 9, 5, 5, Ph: 2, Pw: 2),     // multiples of 8 only: the Vector256 kernels alone
        new ConvCase(1, 24, 8, 10, 12, 3, 3, Ph: 1, Pw: 1),
    };

    /// <summary>Whether the case runs at this width (16 lanes need channel counts in multiples of 16).</summary>
    static bool Fits(ConvCase c, bool narrow) => c.Cin % (narrow ? 8 : 16) == 0 && c.Cout % (narrow ? 8 : 16) == 0;

    static ConvShape Shape(ConvCase c) => new(c.Cin, c.H, c.W, c.Cout, c.Kh, c.Kw, c.Sh, c.Sw, c.Ph, c.Pw, c.Dh, c.Dw, c.Oh, c.Ow, 1);

    /// <summary>Relative RMS error of actual against expected, and a per-element bound of tol · (1 + |e|).</summary>
    static void AssertClose(float[] expected, float[] actual, string what, double rms, float tol)
    {
        ConvRef.AssertClose(expected, actual, what, tol);
        double se = 0, sv = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            se += Math.Pow(expected[i] - actual[i], 2);
            sv += Math.Pow(expected[i], 2);
        }
        Assert.True(Math.Sqrt(se / sv) <= rms, $"{what}: relative RMS error {Math.Sqrt(se / sv):E2} above {rms:E0}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_MatchesNestedLoops(ConvCase c)
    {
        var s = Shape(c);
        float[] x = Rand(c.N * s.BigSize, 1), w = Rand(s.Cs * s.K, 2), b = Rand(s.Cs, 3);
        var expected = ConvRef.Conv2d(x, w, b, c);
        foreach (bool narrow in Widths().Where(n => Fits(c, n)))
        {
            var y = Rand(c.N * s.SmallSize, 4);   // garbage that must be overwritten
            fixed (float* px = x, pw = w, pb = b, py = y)
                ConvWinograd.Forward(s, c.N, px, ConvWinograd.PackWeights(s, pw, flip: false), pb, py, narrow);
            AssertClose(expected, y, $"forward {c}, narrow {narrow}", c.Kh == 3 ? 3e-6 : 1e-5, 2e-4f);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InputGradient_MatchesTheScatterDefinition(ConvCase c)
    {
        var s = Shape(c);
        float[] dy = Rand(c.N * s.SmallSize, 5), w = Rand(s.Cs * s.K, 6);
        var t = new ConvCase(c.N, c.Cout, c.Cin, c.Oh, c.Ow, c.Kh, c.Kw, c.Sh, c.Sw, c.Ph, c.Pw, c.Dh, c.Dw);
        var expected = ConvRef.ConvTranspose2d(dy, w, null, t, c.H, c.W);
        // through the dispatcher (this machine's width, where the shape applies; another path otherwise)
        var dx = Rand(c.N * s.BigSize, 7);
        fixed (float* pdy = dy, pw = w, pdx = dx) Conv.Transposed(s, c.N, pdy, pw, null, pdx);
        AssertClose(expected, dx, $"input gradient {c}", c.Kh == 3 ? 3e-6 : 1e-5, 2e-4f);
        // the kernel at each width: a stride-1 convolution of dy padded by k-1-p with the weight turned 180°
        var ts = new ConvShape(s.Cs, s.Oh, s.Ow, s.Cb, s.Kh, s.Kw, 1, 1, s.Kh - 1 - s.Ph, s.Kw - 1 - s.Pw, 1, 1, s.H, s.W, 1);
        foreach (bool narrow in Widths().Where(n => Fits(c, n)))
        {
            var dx2 = Rand(c.N * s.BigSize, 8);
            fixed (float* pdy = dy, pw = w, pdx = dx2)
                ConvWinograd.Forward(ts, c.N, pdy, ConvWinograd.PackWeights(ts, pw, flip: true), null, pdx, narrow);
            AssertClose(expected, dx2, $"input gradient {c}, narrow {narrow}", c.Kh == 3 ? 3e-6 : 1e-5, 2e-4f);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void WeightGradient_MatchesNestedLoops(ConvCase c)
    {
        var s = Shape(c);
        float[] x = Rand(c.N * s.BigSize, 8), dy = Rand(c.N * s.SmallSize, 9);
        var (ew, eb) = ConvRef.WeightGrad(x, dy, c);
        foreach (bool narrow in Widths().Where(n => Fits(c, n)))
        {
            float[] dw = Rand(s.Cs * s.K, 10), db = Rand(s.Cs, 11);   // garbage that must be overwritten
            fixed (float* px = x, pdy = dy, pdw = dw, pdb = db) ConvWinograd.WeightGrad(s, c.N, pdy, px, pdw, pdb, narrow);
            AssertClose(Array.ConvertAll(ew, e => (float)e), dw, $"weight gradient {c}, narrow {narrow}", c.Kh == 3 ? 3e-6 : 1e-5, 1e-3f);
            ConvRef.AssertClose(Array.ConvertAll(eb, e => (float)e), db, $"bias gradient {c}, narrow {narrow}", 1e-4f);
            // without a bias gradient, and the same weight gradient bit for bit
            var dw2 = Rand(s.Cs * s.K, 12);
            fixed (float* px = x, pdy = dy, pdw = dw2) ConvWinograd.WeightGrad(s, c.N, pdy, px, pdw, null, narrow);
            Assert.Equal(dw, dw2);
        }
    }

    [Fact]
    public void Dispatcher_UsesItOnlyForStride1SquareKernelsOver16ChannelMultiples()
    {
        static ConvShape S(int cin, int cout, int hw, int k, int stride = 1, int dil = 1, int groups = 1, int kw = 0) =>
            new(cin, hw, hw, cout, k, kw == 0 ? k : kw, stride, stride, k / 2, (kw == 0 ? k : kw) / 2, dil, dil,
                ConvShape.OutSize(hw, k, stride, k / 2, dil), ConvShape.OutSize(hw, kw == 0 ? k : kw, stride, (kw == 0 ? k : kw) / 2, dil), groups);
        bool wide = Vector512.IsHardwareAccelerated, any = wide || (Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported);
        Assert.Equal(any, ConvWinograd.Applies(S(16, 16, 28, 5)));
        Assert.Equal(any, ConvWinograd.Applies(S(64, 32, 14, 3)));
        Assert.Equal(any && !wide, ConvWinograd.Applies(S(8, 24, 28, 3)));   // multiples of 8: Vector256 hosts only
        Assert.False(ConvWinograd.Applies(S(16, 16, 28, 5, stride: 2)));
        Assert.False(ConvWinograd.Applies(S(4, 16, 28, 3)));
        Assert.False(ConvWinograd.Applies(S(16, 12, 28, 3)));
        Assert.False(ConvWinograd.Applies(S(16, 16, 28, 3, dil: 2)));
        Assert.False(ConvWinograd.Applies(S(32, 32, 28, 3, groups: 2)));
        Assert.False(ConvWinograd.Applies(S(16, 16, 28, 7)));
        Assert.False(ConvWinograd.Applies(S(16, 16, 28, 3, kw: 5)));
        Assert.False(ConvWinograd.Applies(S(16, 16, 7, 3)));
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(5, 2)]
    public void Conv2d_MatchesFiniteDifferencesOnTheWinogradPath(int k, int pad)
    {
        Assert.Equal(Widths().Length > 0, ConvWinograd.Applies(new ConvShape(16, 9, 8, 16, k, k, 1, 1, pad, pad, 1, 1, 9, 8, 1)));
        static Tensor Leaf(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed)).RequiresGradInPlace();
        // The convolution is linear in each input, so central differences are exact at any step; a step of 1 keeps the
        // Winograd forward's rounding (relative 1e-6 to 1e-5 of outputs near 20) from swamping the difference quotient.
        GradCheck.Assert(t => F.Conv2d(t[0], t[1], t[2], 1, pad), [Leaf(1, 1, 16, 9, 8), Leaf(2, 16, 16, k, k), Leaf(3, 16)], eps: 1, atol: 2e-3, rtol: 2e-2);
    }
}
