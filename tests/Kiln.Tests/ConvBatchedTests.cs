using Kiln.Kernels;

namespace Kiln.Tests;

/// <summary>
/// The image-inner convolution path for small images (<see cref="ConvBatched"/>), called directly (not through the
/// dispatcher) against the nested-loop definitions: forward with bias, input gradient (the transposed convolution), weight
/// and bias gradient. Cases cover partial chunks (batch not a multiple of 32 or 64), column blocks of 12 and 4, strides,
/// rectangular kernels, dilation and kernels wider than the image.
/// </summary>
public unsafe class ConvBatchedTests
{
    public static TheoryData<ConvCase> Cases() => new()
    {
        new ConvCase(70, 32, 36, 7, 7, 3, 3, 1, 1, 1, 1),
        new ConvCase(33, 40, 64, 4, 4, 3, 3, 2, 2, 1, 1),
        new ConvCase(5, 36, 32, 5, 6, 3, 3, 1, 1, 2, 2, 2, 2),
        new ConvCase(1, 32, 32, 7, 7, 2, 2, 2, 2),
        new ConvCase(65, 44, 96, 3, 5, 3, 1, 1, 2, 1, 0),
        new ConvCase(7, 32, 40, 3, 3, 5, 5, 1, 1, 2, 2),
        new ConvCase(129, 64, 128, 4, 4, 3, 3, 1, 1, 1, 1),
        // Few channels (lesson 18's baseline CNN: 8->16 on 14x14, 16->32 on 7x7) and counts that are not multiples of 8.
        new ConvCase(9, 8, 16, 14, 14, 3, 3, 2, 2, 1, 1),
        new ConvCase(37, 16, 32, 7, 7, 3, 3, 2, 2, 1, 1),
        new ConvCase(3, 12, 20, 5, 7, 3, 3, 1, 1, 1, 1),
        // Stride 2 on 28x28 (issue 4's (b), model4's 1b) and an odd-sized plane.
        new ConvCase(5, 16, 32, 28, 28, 3, 3, 2, 2, 1, 1),
        new ConvCase(3, 8, 12, 15, 17, 3, 3, 2, 2, 1, 1),
    };

    static float[] Rand(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>Both kernel widths: Vector512 (software-emulated where the machine lacks AVX-512) and AVX2's Vector256.</summary>
    static readonly ConvBatched.Width[] Widths = [new(narrow: false), new(narrow: true)];

    static ConvShape Shape(ConvCase c) => new(c.Cin, c.H, c.W, c.Cout, c.Kh, c.Kw, c.Sh, c.Sw, c.Ph, c.Pw, c.Dh, c.Dw, c.Oh, c.Ow, 1);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_MatchesNestedLoops(ConvCase c)
    {
        var s = Shape(c);
        Assert.True(ConvBatched.Applies(s) || !ConvBatched.Enabled);
        float[] x = Rand(c.N * s.BigSize, 1), w = Rand(s.Cs * s.K, 2), b = Rand(s.Cs, 3);
        var expected = ConvRef.Conv2d(x, w, b, c);
        foreach (var v in Widths)
        {
            var y = new float[c.N * s.SmallSize];
            fixed (float* px = x, pw = w, pb = b, py = y) ConvBatched.Forward(s, c.N, px, pw, pb, py, v);
            ConvRef.AssertClose(expected, y, $"forward {c}, lanes {v.Lanes}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InputGradient_MatchesTheScatterDefinition(ConvCase c)
    {
        var s = Shape(c);
        float[] dy = Rand(c.N * s.SmallSize, 4), w = Rand(s.Cs * s.K, 5);
        // The input gradient is the transposed convolution of dy: its input channels are the conv's outputs.
        var t = new ConvCase(c.N, c.Cout, c.Cin, c.Oh, c.Ow, c.Kh, c.Kw, c.Sh, c.Sw, c.Ph, c.Pw, c.Dh, c.Dw);
        var expected = ConvRef.ConvTranspose2d(dy, w, null, t, c.H, c.W);
        foreach (var v in Widths)
        {
            var dx = Rand(c.N * s.BigSize, 6); // garbage that must be overwritten
            fixed (float* pdy = dy, pw = w, pdx = dx) ConvBatched.Transposed(s, c.N, pdy, pw, null, pdx, v);
            ConvRef.AssertClose(expected, dx, $"input gradient {c}, lanes {v.Lanes}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void WeightGradient_MatchesNestedLoops(ConvCase c)
    {
        var s = Shape(c);
        float[] x = Rand(c.N * s.BigSize, 7), dy = Rand(c.N * s.SmallSize, 8);
        var (ew, eb) = ConvRef.WeightGrad(x, dy, c);
        int ran = 0;
        foreach (var v in Widths)
        {
            if (c.Cout % v.Lanes != 0) continue;
            float[] dw = Rand(s.Cs * s.K, 9), db = Rand(s.Cs, 10); // garbage that must be overwritten
            fixed (float* px = x, pdy = dy, pdw = dw, pdb = db) ConvBatched.WeightGrad(s, c.N, pdy, px, pdw, pdb, v);
            ConvRef.AssertClose(Array.ConvertAll(ew, e => (float)e), dw, $"weight gradient {c}, lanes {v.Lanes}", 1e-3f);
            ConvRef.AssertClose(Array.ConvertAll(eb, e => (float)e), db, $"bias gradient {c}, lanes {v.Lanes}", 1e-3f);
            ran++;
        }
        Assert.True(ran > 0 || c.Cout % 16 != 0);
        {
            float[] dw = Rand(s.Cs * s.K, 9), db = Rand(s.Cs, 10);
            fixed (float* px = x, pdy = dy, pdw = dw, pdb = db) ConvBatched.WeightGradByPairs(s, c.N, pdy, px, pdw, pdb);
            ConvRef.AssertClose(Array.ConvertAll(ew, e => (float)e), dw, $"weight gradient by pairs {c}", 1e-3f);
            ConvRef.AssertClose(Array.ConvertAll(eb, e => (float)e), db, $"bias gradient by pairs {c}", 1e-3f);
        }
    }

    [Fact]
    public void Model4SmallLayers_TakeThePath_AndAreTheSameAtAnyThreadCount()
    {
        if (!ConvBatched.Enabled) return;
        // model4's 7x7 and 4x4 layers (3a, 3b, 4a, 4b) and lesson 15's layers (c) and (e).
        var shapes = new[]
        {
            Shape(new ConvCase(1, 64, 128, 7, 7, 3, 3, 1, 1, 1, 1)), Shape(new ConvCase(1, 128, 128, 7, 7, 3, 3, 2, 2, 1, 1)),
            Shape(new ConvCase(1, 128, 256, 4, 4, 3, 3, 1, 1, 1, 1)), Shape(new ConvCase(1, 256, 256, 4, 4, 3, 3, 2, 2, 1, 1)),
            Shape(new ConvCase(1, 64, 128, 7, 7, 3, 3, 2, 2, 1, 1)), Shape(new ConvCase(1, 128, 256, 4, 4, 3, 3, 2, 2, 1, 1)),
        };
        foreach (var s in shapes) Assert.True(ConvBatched.WeightGradApplies(s), $"{s}");
        // Lesson 18's baseline CNN's second and third convolutions take it too (the second's weight gradient, with 16
        // output channels, only where the kernels are AVX2's 16 lanes).
        Assert.True(ConvBatched.Applies(Shape(new ConvCase(1, 8, 16, 14, 14, 3, 3, 2, 2, 1, 1))));
        Assert.True(ConvBatched.WeightGradApplies(Shape(new ConvCase(1, 16, 32, 7, 7, 3, 3, 2, 2, 1, 1))));

        var sh = shapes[1];
        int n = 100;
        float[] x = Rand(n * sh.BigSize, 11), w = Rand(sh.Cs * sh.K, 12), dy = Rand(n * sh.SmallSize, 13);
        float[] Run(int threads)
        {
            int saved = Threading.Threads;
            Threading.Threads = threads;
            try
            {
                var y = new float[n * sh.SmallSize];
                var dx = new float[n * sh.BigSize];
                var dw = new float[sh.Cs * sh.K];
                fixed (float* px = x, pw = w, pdy = dy, py = y, pdx = dx, pdw = dw)
                {
                    ConvBatched.Forward(sh, n, px, pw, null, py);
                    ConvBatched.Transposed(sh, n, pdy, pw, null, pdx);
                    ConvBatched.WeightGrad(sh, n, pdy, px, pdw, null);
                }
                return [.. y, .. dx, .. dw];
            }
            finally { Threading.Threads = saved; }
        }
        Assert.Equal(Run(1), Run(3));
    }
}
