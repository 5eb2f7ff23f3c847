namespace Kiln.Tests;

/// <summary>One elementwise op under test: the Kiln call, the scalar reference, and the input domain it needs.</summary>
internal sealed record UnaryCase(string Name, Func<Tensor, Tensor> Op, Func<float, float> Ref, Func<float, float>? Domain = null, double Rtol = 1e-5);

internal sealed record BinaryCase(string Name, Func<Tensor, Tensor, Tensor> Op, Func<float, float, float> Ref, Func<float, float>? DomainA = null, double Rtol = 1e-5);

public sealed class ElementwiseTests
{
    static float Positive(float v) => MathF.Abs(v) + 0.1f;

    internal static readonly UnaryCase[] Unary =
    [
        new("Neg", x => -x, v => -v),
        new("Exp", x => x.Exp(), v => (float)Math.Exp(v)),
        new("Log", x => x.Log(), v => (float)Math.Log(v), Positive),
        new("Sqrt", x => x.Sqrt(), v => (float)Math.Sqrt(v), MathF.Abs),
        new("Abs", x => x.Abs(), MathF.Abs),
        new("Sign", x => x.Sign(), v => v > 0 ? 1 : v < 0 ? -1 : v),
        new("Sigmoid", x => x.Sigmoid(), v => (float)(1 / (1 + Math.Exp(-v))), v => 4 * v),
        new("Tanh", x => x.Tanh(), v => (float)Math.Tanh(v), v => 2 * v),
        new("Relu", x => x.Relu(), v => v > 0 ? v : 0),
        new("LeakyRelu", x => x.LeakyRelu(0.1f), v => v >= 0 ? v : 0.1f * v),
        new("LeakyReluDefault", x => x.LeakyRelu(), v => v >= 0 ? v : 0.01f * v),
        new("Square", x => x.Square(), v => v * v),
        new("Reciprocal", x => x.Reciprocal(), v => 1 / v),
        new("Clamp", x => x.Clamp(-0.5f, 0.7f), v => v < -0.5f ? -0.5f : v > 0.7f ? 0.7f : v),
        new("ClampMin", x => x.ClampMin(0.2f), v => v < 0.2f ? 0.2f : v),
        new("ClampMax", x => x.ClampMax(-0.1f), v => v > -0.1f ? -0.1f : v),
        new("Pow2", x => x.Pow(2), v => v * v),
        new("Pow3", x => x.Pow(3), v => (float)Math.Pow(v, 3)),
        new("Pow0.5", x => x.Pow(0.5f), v => (float)Math.Sqrt(v), MathF.Abs),
        new("Pow-1.5", x => x.Pow(-1.5f), v => (float)Math.Pow(v, -1.5), Positive),
        new("AddScalar", x => x + 2.5f, v => v + 2.5f),
        new("ScalarAdd", x => 2.5f + x, v => 2.5f + v),
        new("SubScalar", x => x - 1.5f, v => v - 1.5f),
        new("ScalarSub", x => 1.5f - x, v => 1.5f - v),
        new("MulScalar", x => x * 3f, v => v * 3f),
        new("ScalarMul", x => -3f * x, v => -3f * v),
        new("DivScalar", x => x / 4f, v => v / 4f),
        new("ScalarDiv", x => 2f / x, v => 2f / v),
    ];

    internal static readonly BinaryCase[] Binary =
    [
        new("Add", (a, b) => a + b, (a, b) => a + b),
        new("Sub", (a, b) => a - b, (a, b) => a - b),
        new("Mul", (a, b) => a * b, (a, b) => a * b),
        new("Div", (a, b) => a / b, (a, b) => a / b),
        new("Pow", (a, b) => a.Pow(b), (a, b) => (float)Math.Pow(a, b), Positive),
        new("Maximum", (a, b) => a.Maximum(b), MathF.Max),
        new("Minimum", (a, b) => a.Minimum(b), MathF.Min),
        new("AddAlpha", (a, b) => a.Add(b, -0.5f), (a, b) => a + -0.5f * b),
    ];

    [Fact]
    public void Unary_ops_match_the_reference_on_every_shape_and_layout()
    {
        var rng = new Random(11);
        foreach (var op in Unary)
            foreach (var shape in Reference.TestShapes)
                foreach (var layout in Reference.Layouts)
                {
                    var x = Reference.Random(rng, shape, layout, map: op.Domain);
                    var before = x.ToArray();
                    var y = op.Op(x);
                    Reference.AllClose(Reference.Unary(Arr.Of(x), op.Ref), y, op.Rtol, 1e-6, $"{op.Name} {Reference.Str(shape)} {layout}");
                    Assert.Equal(DType.Float32, y.DType);
                    Assert.Equal(before, x.ToArray()); // inputs are not modified
                }
    }

    [Fact]
    public void Binary_ops_match_the_reference_on_every_shape_and_layout_pair()
    {
        var rng = new Random(12);
        foreach (var op in Binary)
            foreach (var shape in Reference.TestShapes)
                foreach (var la in Reference.Layouts)
                    foreach (var lb in Reference.Layouts)
                    {
                        if (la != Layout.Contiguous && lb != Layout.Contiguous && la != lb) continue;
                        var a = Reference.Random(rng, shape, la, map: op.DomainA);
                        var b = Reference.Random(rng, shape, lb);
                        Reference.AllClose(Reference.Binary(Arr.Of(a), Arr.Of(b), op.Ref), op.Op(a, b), op.Rtol, 1e-6,
                            $"{op.Name} {Reference.Str(shape)} {la}/{lb}");
                    }
    }

    [Fact]
    public void Ops_on_big_tensors_match_the_reference()
    {
        var rng = new Random(13);
        foreach (var (shape, layout) in BigInputs)
        {
            var x = Reference.Random(rng, shape, layout, map: Positive);
            var y = Reference.Random(rng, shape, Layout.Contiguous);
            foreach (var op in Unary)
                Reference.AllClose(Reference.Unary(Arr.Of(x), op.Ref), op.Op(x), op.Rtol, 1e-6, $"{op.Name} {Reference.Str(shape)} {layout}");
            foreach (var op in Binary)
                Reference.AllClose(Reference.Binary(Arr.Of(x), Arr.Of(y), op.Ref), op.Op(x, y), op.Rtol, 1e-6, $"{op.Name} {Reference.Str(shape)} {layout}");
        }
    }

    /// <summary>Inputs above the 32768-element threshold, so the threaded paths run: one long row, many rows, strided rows.</summary>
    internal static readonly (int[] Shape, Layout Layout)[] BigInputs =
    [
        ([40_003], Layout.Contiguous),
        ([300, 129], Layout.Contiguous),
        ([300, 129], Layout.Transposed),
        ([3, 130, 97], Layout.Stepped),
        ([64, 1031], Layout.Expanded),
    ];

    // ---- NaN and special values ----

    [Fact]
    public void Maximum_and_Minimum_propagate_NaN_from_either_side_on_every_path()
    {
        var a = Tensor.Of(1, float.NaN, 3, float.NaN, -2, 5, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        var b = Tensor.Of(float.NaN, 2, 1, float.NaN, -3, 6, -0.5f, 7, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9);
        var mx = Reference.Binary(Arr.Of(a), Arr.Of(b), (x, y) => float.IsNaN(x) || float.IsNaN(y) ? float.NaN : Math.Max(x, y));
        var mn = Reference.Binary(Arr.Of(a), Arr.Of(b), (x, y) => float.IsNaN(x) || float.IsNaN(y) ? float.NaN : Math.Min(x, y));
        Reference.AllClose(mx, a.Maximum(b), 0, 0, "Maximum contiguous");
        Reference.AllClose(mn, a.Minimum(b), 0, 0, "Minimum contiguous");
        // strided path: the same values reached through a step-2 view
        var a2 = Tensor.Zeros(36);
        a2.Slice(0, 0, null, 2).CopyFrom(a);
        var b2 = Tensor.Zeros(36);
        b2.Slice(0, 1, null, 2).CopyFrom(b);
        Reference.AllClose(mx, a2.Slice(0, 0, null, 2).Maximum(b2.Slice(0, 1, null, 2)), 0, 0, "Maximum strided");
        Reference.AllClose(mn, a2.Slice(0, 0, null, 2).Minimum(b2.Slice(0, 1, null, 2)), 0, 0, "Minimum strided");
        // scalar-broadcast paths
        Assert.True(float.IsNaN(a.Maximum(Tensor.Scalar(float.NaN)).ToArray()[0]));
        Assert.True(float.IsNaN(Tensor.Scalar(float.NaN).Minimum(a).ToArray()[5]));
        Assert.True(float.IsNaN(a.Relu().ToArray()[1]));
        Assert.True(float.IsNaN(a.Clamp(0, 1).ToArray()[1]));
        Assert.True(float.IsNaN(a.Sign().ToArray()[1]));
    }

    [Fact]
    public void Special_values_follow_ieee_rules()
    {
        var x = Tensor.Of(0, -1, float.PositiveInfinity, float.NegativeInfinity, 1000, -1000);
        Reference.AllClose([float.NegativeInfinity, float.NaN, float.PositiveInfinity, float.NaN, MathF.Log(1000), float.NaN], x.Log().ToArray(), 1e-6, 0, "Log");
        Reference.AllClose([1, MathF.Exp(-1), float.PositiveInfinity, 0, float.PositiveInfinity, 0], x.Exp().ToArray(), 1e-6, 0, "Exp");
        Reference.AllClose([0.5f, 1 / (1 + MathF.E), 1, 0, 1, 0], x.Sigmoid().ToArray(), 1e-6, 0, "Sigmoid");
        Reference.AllClose([0, -1, 1, -1, 1, -1], x.Sign().ToArray(), 0, 0, "Sign");
        Reference.AllClose([float.PositiveInfinity, -1, 0, -0f, 1e-3f, -1e-3f], x.Reciprocal().ToArray(), 1e-6, 0, "Reciprocal");
    }

    // ---- comparisons and masks ----

    [Fact]
    public void Comparisons_give_bool_masks_matching_the_reference()
    {
        var rng = new Random(14);
        (string, Func<Tensor, Tensor, Tensor>, Func<float, float, bool>)[] ops =
        [
            ("<", (a, b) => a < b, (a, b) => a < b),
            (">", (a, b) => a > b, (a, b) => a > b),
            ("<=", (a, b) => a <= b, (a, b) => a <= b),
            (">=", (a, b) => a >= b, (a, b) => a >= b),
            ("Eq", (a, b) => a.Eq(b), (a, b) => a == b),
            ("Ne", (a, b) => a.Ne(b), (a, b) => a != b),
        ];
        foreach (var (name, op, f) in ops)
            foreach (var shape in Reference.TestShapes)
                foreach (var layout in Reference.Layouts)
                {
                    // small integers so equal values are common; one NaN to check it compares false (and != true)
                    var a = Reference.Random(rng, shape, layout, map: v => MathF.Round(v));
                    var b = Reference.Random(rng, shape, Layout.Contiguous, map: v => MathF.Round(v));
                    if (shape[0] > 3) b.Select(0, 2).FillInPlace(float.NaN);
                    var m = op(a, b);
                    Assert.Equal(DType.Bool, m.DType);
                    var expected = Reference.Binary(Arr.Of(a), Arr.Of(b), (x, y) => f(x, y) ? 1 : 0);
                    Reference.AllClose(expected, m.Float(), 0, 0, $"{name} {Reference.Str(shape)} {layout}");
                    Reference.AllClose(expected, m, 0, 0, $"{name} mask values");
                }
        var s = Tensor.Of(1, 2, 3);
        Assert.Equal([false, false, true], (s > 2f).ToBoolArray());
        Assert.Equal([true, true, false], (s <= 2f).ToBoolArray());
        Assert.Equal([false, true, false], s.Eq(2f).ToBoolArray());
        Assert.Equal([true, false, true], s.Ne(2f).ToBoolArray());
        Assert.Equal([true, false, false], (s < 1.5f).ToBoolArray());
        Assert.Equal([false, true, true], (s >= 1.5f).ToBoolArray());
    }

    [Fact]
    public void Masks_work_with_Float_and_Where()
    {
        var rng = new Random(15);
        foreach (var shape in Reference.TestShapes)
            foreach (var layout in Reference.Layouts)
            {
                var x = Reference.Random(rng, shape, layout);
                var y = Reference.Random(rng, shape, Layout.Contiguous);
                var w = Tensor.Where(x > y, x, y);
                Reference.AllClose(Reference.Binary(Arr.Of(x), Arr.Of(y), (a, b) => a > b ? a : b), w, 0, 0, $"Where {Reference.Str(shape)} {layout}");
                var w2 = Tensor.Where(x < 0f, 0f, x);
                Reference.AllClose(Reference.Unary(Arr.Of(x), a => a < 0 ? 0 : a), w2, 0, 0, "Where scalar x");
                var w3 = Tensor.Where(x < 0f, x, -1f);
                Reference.AllClose(Reference.Unary(Arr.Of(x), a => a < 0 ? a : -1), w3, 0, 0, "Where scalar y");
                Reference.AllClose(Reference.Unary(Arr.Of(x), a => a > 0 ? 1 : 0), (x > 0f).Float(), 0, 0, "Float of mask");
            }
        // Where broadcasts all three and keeps ints int
        var cond = Tensor.FromArray(new[] { true, false, true });
        var wi = Tensor.Where(cond.Unsqueeze(1), Tensor.Arange(2), Tensor.FromArray(new[] { -1 }));
        Assert.Equal(DType.Int32, wi.DType);
        Assert.Equal([3, 2], wi.Shape);
        Assert.Equal([0, 1, -1, -1, 0, 1], wi.ToIntArray());
        var e = Assert.Throws<ArgumentException>(() => Tensor.Where(Tensor.Of(1, 0), Tensor.Of(1, 2), Tensor.Of(3, 4)));
        Assert.Contains("Where", e.Message);
    }

    [Fact]
    public void Logical_and_or_not_combine_masks()
    {
        var rng = new Random(16);
        foreach (var shape in Reference.TestShapes)
            foreach (var layout in Reference.Layouts)
            {
                var x = Reference.Random(rng, shape, layout);
                var y = Reference.Random(rng, shape, Layout.Contiguous);
                var p = x > 0f;
                var q = y < 0.5f;
                var and = p & q;
                var or = p | q;
                var not = !p;
                Assert.Equal(DType.Bool, and.DType);
                Assert.Equal(DType.Bool, or.DType);
                Assert.Equal(DType.Bool, not.DType);
                var ax = Arr.Of(x);
                var ay = Arr.Of(y);
                Reference.AllClose(Reference.Binary(ax, ay, (a, b) => a > 0 && b < 0.5f ? 1 : 0), and, 0, 0, "&");
                Reference.AllClose(Reference.Binary(ax, ay, (a, b) => a > 0 || b < 0.5f ? 1 : 0), or, 0, 0, "|");
                Reference.AllClose(Reference.Unary(ax, a => a > 0 ? 0 : 1), not, 0, 0, "!");
            }
        var m = Tensor.FromArray(new[] { true, false });
        Assert.Equal([false, true], (!m).ToBoolArray());
        Assert.Equal([true, false], (!!m).ToBoolArray());
        Assert.Equal([true, true], (m | !m).ToBoolArray());
        Assert.Equal([false, false], (m & !m).ToBoolArray());
    }

    // ---- integer arithmetic and promotion ----

    [Fact]
    public void Int_arithmetic_stays_int_and_mixing_with_floats_promotes()
    {
        var i = Tensor.FromArray(new[] { 7, -3, 0, 12 });
        var j = Tensor.FromArray(new[] { 2, 4, -5, 5 });
        void IsInt(Tensor t, int[] expected, string what)
        {
            Assert.True(t.DType == DType.Int32, $"{what}: dtype {t.DType}");
            Assert.Equal(expected, t.ToIntArray());
        }
        IsInt(i + j, [9, 1, -5, 17], "+");
        IsInt(i - j, [5, -7, 5, 7], "-");
        IsInt(i * j, [14, -12, 0, 60], "*");
        IsInt(-i, [-7, 3, 0, -12], "neg");
        IsInt(i.Abs(), [7, 3, 0, 12], "abs");
        IsInt(i.Maximum(j), [7, 4, 0, 12], "max");
        IsInt(i.Minimum(j), [2, -3, -5, 5], "min");
        IsInt(i + 2f, [9, -1, 2, 14], "+ 2");
        IsInt(10f - i, [3, 13, 10, -2], "10 -");
        IsInt(i * 3f, [21, -9, 0, 36], "* 3");
        IsInt(i.T + j, [9, 1, -5, 17], "1-d T");
        IsInt(i.Unsqueeze(1) + j, [9, 11, 2, 12, -1, 1, -8, 2, 2, 4, -5, 5, 14, 16, 7, 17], "broadcast");

        void IsFloat(Tensor t, float[] expected, string what)
        {
            Assert.True(t.DType == DType.Float32, $"{what}: dtype {t.DType}");
            Reference.AllClose(expected, t.ToArray(), 1e-6, 0, what);
        }
        IsFloat(i / j, [3.5f, -0.75f, -0f, 2.4f], "int / int is true division");
        IsFloat(i / 2f, [3.5f, -1.5f, 0, 6], "int / 2");
        IsFloat(i * 0.5f, [3.5f, -1.5f, 0, 6], "int * 0.5");
        IsFloat(i + 0.5f, [7.5f, -2.5f, 0.5f, 12.5f], "int + 0.5");
        IsFloat(i + Tensor.Of(0.5f), [7.5f, -2.5f, 0.5f, 12.5f], "int + float tensor");
        IsFloat(Tensor.Of(0.5f) * i, [3.5f, -1.5f, 0, 6], "float tensor * int");
        IsFloat(i.Pow(2), [49, 9, 0, 144], "int pow");
        IsFloat(i.Abs().Sqrt().Square(), [7, 3, 0, 12], "int sqrt");
        Assert.Equal([false, true, false, false], (i < j).ToBoolArray());
        Assert.Equal([true, false, false, true], (i > 2.5f).ToBoolArray());
        Assert.Equal([false, false, true, false], i.Eq(0f).ToBoolArray());
        Assert.Equal(DType.Float32, (i.Float() + j).DType);
    }

    // ---- lesson 8 worked numbers ----

    [Fact]
    public void Lesson8_elementwise_worked_numbers()
    {
        var a = Tensor.Of(10, 6, -4);
        var b = Tensor.Of(2, 8, 7);
        Reference.Equal([12, 14, 3], a + b, [3]);
        Assert.Equal(0.6667f, (a < b).Float().Mean().Item(), 4);
        var m = Tensor.Arange(1f, 10f).Reshape(3, 3);
        Assert.Equal(16.8819f, (m * m).Sum().Sqrt().Item(), 4);
    }

    // ---- in place ----

    [Fact]
    public void In_place_ops_write_through_non_contiguous_views_and_leave_the_rest()
    {
        var rng = new Random(17);
        var baseT = Reference.Random(rng, [4, 5]);
        var orig = Arr.Of(baseT);
        var other = Reference.Random(rng, [5, 4]);
        baseT.T.AddInPlace(other);
        var expected = Reference.Binary(orig, Arr.Of(other.T), (x, y) => x + y);
        Reference.AllClose(expected, baseT, 0, 0, "AddInPlace into transposed view");

        var s = Tensor.Arange(1f, 22f).Reshape(3, 7);
        s.Slice(1, 0, null, 2).MulInPlace(Tensor.Of(1, 10, 100, 1000)); // broadcast over rows, columns 0,2,4,6
        Reference.Equal([1, 2, 30, 4, 500, 6, 7000, 8, 9, 100, 11, 1200, 13, 14000, 15, 16, 170, 18, 1900, 20, 21000], s, [3, 7]);

        var f = Tensor.Ones(3, 4);
        f.Select(1, 2).FillInPlace(5);
        f.Narrow(0, 2, 1).ZeroInPlace();
        f.T.Select(0, 0).MulInPlace(-2f);
        Reference.Equal([-2, 1, 5, 1, -2, 1, 5, 1, 0, 0, 0, 0], f, [3, 4]);

        var c = Tensor.Zeros(2, 6);
        c.Slice(1, 1, null, 2).CopyFrom(Tensor.FromArray(new[] { 1, 2, 3 })); // broadcast and int -> float
        Reference.Equal([0, 1, 0, 2, 0, 3, 0, 1, 0, 2, 0, 3], c, [2, 6]);
        c.AddInPlace(Tensor.Ones(6), 0.5f);
        c.SubInPlace(Tensor.Scalar(1));
        c.DivInPlace(Tensor.Of(2, 2, 2, 2, 2, 0.5f));
        Reference.AllClose([-0.25f, 0.25f, -0.25f, 0.75f, -0.25f, 5f, -0.25f, 0.25f, -0.25f, 0.75f, -0.25f, 5f], c.ToArray(), 0, 0, "Add/Sub/Div in place");
    }

    [Fact]
    public void In_place_ops_bump_the_storage_version_and_out_of_place_ops_do_not()
    {
        var x = Tensor.Ones(2, 3);
        var view = x.T;
        int v0 = x.UntypedStorage.Version;
        _ = x + 1f;
        _ = x.Exp();
        _ = x.Sum();
        Assert.Equal(v0, x.UntypedStorage.Version);
        view.AddInPlace(Tensor.Ones(3, 2));
        Assert.Equal(v0 + 1, x.UntypedStorage.Version);
        x.MulInPlace(2f);
        x.FillInPlace(3);
        x.ZeroInPlace();
        x.CopyFrom(Tensor.Ones(3));
        x.SubInPlace(Tensor.Ones(3));
        x.DivInPlace(Tensor.Ones(3));
        x.ClampInPlace(0, 1);
        Assert.True(x.UntypedStorage.Version >= v0 + 8, $"version {x.UntypedStorage.Version}");
        Assert.Equal(x.UntypedStorage.Version, view.UntypedStorage.Version);
    }

    [Fact]
    public void In_place_ops_check_shape_and_dtype()
    {
        var x = Tensor.Zeros(3);
        var e = Assert.Throws<ArgumentException>(() => x.AddInPlace(Tensor.Ones(2, 3)));
        Assert.Contains("AddInPlace", e.Message);
        Assert.Contains("[2,3]", e.Message);
        var i = Tensor.FromArray(new[] { 1, 2, 3 });
        Assert.Throws<InvalidOperationException>(() => i.MulInPlace(0.5f));
        Assert.Throws<InvalidOperationException>(() => i.AddInPlace(Tensor.Of(1, 2, 3)));
        i.AddInPlace(Tensor.FromArray(new[] { 10, 20, 30 }));
        i.MulInPlace(2f);
        Assert.Equal(DType.Int32, i.DType);
        Assert.Equal([22, 44, 66], i.ToIntArray());
        x.CopyFrom(Tensor.Of(0.5f, 1.5f, -2.5f));
        i.CopyFrom(x); // float -> int truncates
        Assert.Equal([0, 1, -2], i.ToIntArray());
        var b = Tensor.FromArray(new[] { false, false, false });
        b.CopyFrom(x); // to bool: non-zero is true
        Assert.Equal([true, true, true], b.ToBoolArray());
    }

    [Fact]
    public void In_place_op_reading_an_overlapping_view_of_its_target_uses_the_old_values()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 3, 3);
        var expected = Reference.Binary(Arr.Of(x), Arr.Of(x.T), (a, b) => a + b);
        x.AddInPlace(x.T);
        Reference.AllClose(expected, x, 0, 0, "x += x.T");
        var y = Tensor.Arange(1f, 9f);
        var shifted = Reference.Binary(Arr.Of(y.Narrow(0, 1, 7)), Arr.Of(y.Narrow(0, 0, 7)), (a, b) => a * b);
        y.Narrow(0, 1, 7).MulInPlace(y.Narrow(0, 0, 7));
        Reference.AllClose(shifted, y.Narrow(0, 1, 7), 0, 0, "y[1:] *= y[:-1]");
    }

    [Fact]
    public void In_place_arithmetic_into_an_expanded_view_is_rejected()
    {
        var c = Tensor.Of(1, 2, 3);
        var e = Assert.Throws<InvalidOperationException>(() => c.Expand(4, 3).AddInPlace(Tensor.Ones(4, 3)));
        Assert.Contains("AddInPlace", e.Message);
        Assert.Equal([1f, 2f, 3f], c.ToArray());
        c.Expand(1, 3).AddInPlace(Tensor.Ones(1, 3)); // a size-1 expanded dim is harmless
        Assert.Equal([2f, 3f, 4f], c.ToArray());
    }
}

/// <summary>Elementwise results must not depend on the thread count (runs alone: it changes the global thread count).</summary>
[Collection("Threading")]
public sealed class ThreadedElementwiseTests
{
    [Fact]
    public void Elementwise_results_are_bit_identical_with_one_and_two_threads()
    {
        var rng = new Random(18);
        foreach (var (shape, layout) in ElementwiseTests.BigInputs)
        {
            var x = Reference.Random(rng, shape, layout, map: v => MathF.Abs(v) + 0.1f);
            var y = Reference.Random(rng, shape, Layout.Transposed);
            foreach (var op in ElementwiseTests.Unary)
            {
                var one = Reference.WithThreads(1, () => op.Op(x));
                var two = Reference.WithThreads(2, () => op.Op(x));
                Reference.BitIdentical(one, two, $"{op.Name} {Reference.Str(shape)} {layout}");
            }
            foreach (var op in ElementwiseTests.Binary)
            {
                var one = Reference.WithThreads(1, () => op.Op(x, y));
                var two = Reference.WithThreads(2, () => op.Op(x, y));
                Reference.BitIdentical(one, two, $"{op.Name} {Reference.Str(shape)} {layout}");
            }
            var m1 = Reference.WithThreads(1, () => Tensor.Where(x > y, x, y).Add((x <= y).Float()));
            var m2 = Reference.WithThreads(2, () => Tensor.Where(x > y, x, y).Add((x <= y).Float()));
            Reference.BitIdentical(m1, m2, "Where/compare");
            var c1 = Reference.WithThreads(1, () => x.Contiguous().Clone().AddInPlace(y));
            var c2 = Reference.WithThreads(2, () => x.Contiguous().Clone().AddInPlace(y));
            Reference.BitIdentical(c1, c2, "AddInPlace");
        }
    }
}

/// <summary>Masks stay masks: in-place arithmetic cannot store values other than 0 and 1 in a Bool tensor.</summary>
public sealed class MaskInPlaceTests
{
    [Fact]
    public void In_place_arithmetic_into_a_bool_mask_throws_naming_the_op()
    {
        var mask = Tensor.Of(1, -2, 3) > 0f;
        var e = Assert.Throws<InvalidOperationException>(() => mask.AddInPlace(mask));
        Assert.Contains("AddInPlace", e.Message);
        Assert.Equal(new[] { 1f, 0f, 1f }, mask.ToArray());
    }
}
