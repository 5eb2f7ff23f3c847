namespace Kiln.Tests;

public sealed class BroadcastingTests
{
    public static TheoryData<int[], int[], int[]> CompatibleShapes => new()
    {
        { [3, 1], [1, 4], [3, 4] },
        { [2, 1, 5], [4, 1], [2, 4, 5] },
        { [5], [3, 5], [3, 5] },
        { [3, 5], [5], [3, 5] },
        { [3, 5], [1], [3, 5] },
        { [], [2, 3], [2, 3] },
        { [2, 3], [], [2, 3] },
        { [], [], [] },
        { [1], [1], [1] },
        { [1, 1], [7], [1, 7] },
        { [4, 1, 3, 1], [2, 1, 5], [4, 2, 3, 5] },
        { [65, 1], [1, 257], [65, 257] },
        { [0, 3], [1, 3], [0, 3] },
    };

    [Theory]
    [MemberData(nameof(CompatibleShapes))]
    public void Broadcast_results_have_the_broadcast_shape_and_reference_values(int[] sa, int[] sb, int[] expected)
    {
        Assert.Equal(expected, Reference.BroadcastShape(sa, sb)); // the reference agrees with the table
        var rng = new Random(sa.Sum() * 31 + sb.Sum());
        foreach (var la in Reference.Layouts)
        {
            var a = Reference.Random(rng, sa, la, map: v => MathF.Abs(v) + 0.1f);
            var b = Reference.Random(rng, sb, Layout.Transposed);
            var A = Arr.Of(a);
            var B = Arr.Of(b);
            Reference.AllClose(Reference.Binary(A, B, (x, y) => x + y), a + b, 0, 0, $"Add {la}");
            Reference.AllClose(Reference.Binary(A, B, (x, y) => x - y), a - b, 0, 0, $"Sub {la}");
            Reference.AllClose(Reference.Binary(A, B, (x, y) => y - x), b - a, 0, 0, $"Sub reversed {la}");
            Reference.AllClose(Reference.Binary(A, B, (x, y) => x * y), a * b, 0, 0, $"Mul {la}");
            Reference.AllClose(Reference.Binary(A, B, (x, y) => y / x), b / a, 1e-6, 0, $"Div {la}");
            Reference.AllClose(Reference.Binary(A, B, (x, y) => (float)Math.Pow(x, y)), a.Pow(b), 1e-5, 1e-6, $"Pow {la}");
            Reference.AllClose(Reference.Binary(A, B, MathF.Max), a.Maximum(b), 0, 0, $"Maximum {la}");
            Reference.AllClose(Reference.Binary(A, B, (x, y) => x < y ? 1 : 0), a < b, 0, 0, $"Lt {la}");
            Reference.AllClose(Reference.Ternary(Reference.Binary(A, B, (x, y) => x > y ? 1 : 0), A, B, (c, x, y) => c != 0 ? x : y),
                Tensor.Where(a > b, a, b), 0, 0, $"Where {la}");
        }
    }

    public static TheoryData<int[], int[]> IncompatibleShapes => new()
    {
        { [2, 3], [4] },
        { [2, 3], [3, 2] },
        { [4, 1, 3], [2, 2] },
        { [0], [2] },
    };

    [Theory]
    [MemberData(nameof(IncompatibleShapes))]
    public void Incompatible_shapes_throw_naming_the_op_and_both_shapes(int[] sa, int[] sb)
    {
        Assert.Null(Reference.BroadcastShape(sa, sb));
        var a = Tensor.Zeros(sa);
        var b = Tensor.Zeros(sb);
        (string, Action)[] ops =
        [
            ("Add", () => _ = a + b),
            ("Sub", () => _ = a - b),
            ("Mul", () => _ = a * b),
            ("Div", () => _ = a / b),
            ("Pow", () => _ = a.Pow(b)),
            ("Maximum", () => _ = a.Maximum(b)),
            ("Minimum", () => _ = a.Minimum(b)),
            ("Lt", () => _ = a < b),
            ("Gt", () => _ = a > b),
            ("Le", () => _ = a <= b),
            ("Ge", () => _ = a >= b),
            ("Eq", () => _ = a.Eq(b)),
            ("Ne", () => _ = a.Ne(b)),
            ("Where", () => _ = Tensor.Where(a > 0f, a, b)),
            ("LogicalAnd", () => _ = (a > 0f) & (b > 0f)),
            ("LogicalOr", () => _ = (a > 0f) | (b > 0f)),
        ];
        string sA = Reference.Str(sa), sB = Reference.Str(sb);
        foreach (var (name, act) in ops)
        {
            var e = Assert.Throws<ArgumentException>(act);
            Assert.True(e.Message.Contains(name) && e.Message.Contains(sA) && e.Message.Contains(sB),
                $"{name}: message \"{e.Message}\" should name {name}, {sA} and {sB}");
        }
    }

    [Fact]
    public void The_brief_example_message_names_Add_and_both_shapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, 3) + Tensor.Zeros(4));
        Assert.Contains("Add", e.Message);
        Assert.Contains("[2,3]", e.Message);
        Assert.Contains("[4]", e.Message);
    }

    [Fact]
    public void Lesson8_row_and_column_broadcasting_and_outer_product()
    {
        var m = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } });
        var c = Tensor.Of(10, 20, 30);
        Reference.Equal([11, 22, 33, 14, 25, 36, 17, 28, 39], m + c, [3, 3]);
        Reference.Equal([11, 12, 13, 24, 25, 26, 37, 38, 39], m + c.Unsqueeze(1), [3, 3]);
        Reference.Equal([11, 22, 33, 14, 25, 36, 17, 28, 39], c + m, [3, 3]);
        Reference.Equal([100, 200, 300, 200, 400, 600, 300, 600, 900], c.Unsqueeze(0) * c.Unsqueeze(1), [3, 3]);
        // the expanded operand was never materialised
        Assert.Equal(3, c.ExpandAs(m).UntypedStorage.Length);
        Reference.Equal([11, 22, 33, 14, 25, 36, 17, 28, 39], m + c.ExpandAs(m), [3, 3]);
    }

    [Fact]
    public void Zero_dim_scalars_broadcast_against_anything()
    {
        var s = Tensor.Scalar(2);
        var x = Tensor.Arange(1f, 7f).Reshape(2, 3);
        Reference.Equal([3, 4, 5, 6, 7, 8], x + s, [2, 3]);
        Reference.Equal([1, 0, -1, -2, -3, -4], s - x, [2, 3]);
        var ss = s * Tensor.Scalar(4);
        Assert.Empty(ss.Shape);
        Assert.Equal(8f, ss.Item());
        Reference.Equal([2, 4, 6], Tensor.Of(1, 2, 3) * s, [3]);
        Reference.Equal([2], Tensor.Of(0) + s, [1]); // [1] + [] -> [1]
        Assert.Equal([2, 3], (x.T.T > s).Shape);
    }

    [Fact]
    public void In_place_ops_broadcast_the_operand_into_the_target_but_never_grow_the_target()
    {
        var x = Tensor.Zeros(2, 3);
        x.AddInPlace(Tensor.Of(1, 2, 3));
        x.AddInPlace(Tensor.Of(10, 20).Unsqueeze(1));
        x.MulInPlace(Tensor.Scalar(2));
        Reference.Equal([22, 24, 26, 42, 44, 46], x, [2, 3]);
        var row = Tensor.Zeros(3);
        var e = Assert.Throws<ArgumentException>(() => row.AddInPlace(x));
        Assert.Contains("[2,3]", e.Message);
        Assert.Contains("[3]", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(1, 3).MulInPlace(x));
    }
}
