namespace Kiln.Tests;

public sealed class CreationTests
{
    // ---- constant fills ----

    [Fact]
    public void Zeros_Ones_and_Full_have_the_shape_dtype_and_value_asked_for()
    {
        var z = Tensor.Zeros(2, 3);
        Assert.Equal([2, 3], z.Shape);
        Assert.Equal(DType.Float32, z.DType);
        Assert.All(z.ToArray(), v => Assert.Equal(0f, v));
        Assert.All(Tensor.Ones(4).ToArray(), v => Assert.Equal(1f, v));
        var f = Tensor.Full([2, 2], 3.5f);
        Reference.Equal([3.5f, 3.5f, 3.5f, 3.5f], f, [2, 2]);
        var fi = Tensor.Full([3], 7.9f, DType.Int32);
        Assert.Equal(DType.Int32, fi.DType);
        Assert.Equal([7, 7, 7], fi.ToIntArray());
        var fb = Tensor.Full([2], 0.5f, DType.Bool);
        Assert.Equal([true, true], fb.ToBoolArray());
        Assert.Equal(DType.Int32, Tensor.Ones([2], DType.Int32).DType);
        Assert.Equal([1, 1], Tensor.Ones([2], DType.Int32).ToIntArray());
        var s = Tensor.Zeros();
        Assert.Empty(s.Shape);
        Assert.Equal(1, s.Numel);
        Assert.Equal(0, Tensor.Zeros(3, 0).Numel);
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(2, -1));
        var like = Tensor.FullLike(fi, 2);
        Assert.Equal(DType.Int32, like.DType);
        Assert.Equal([2, 2, 2], like.ToIntArray());
        var zl = Tensor.ZerosLike(Tensor.Of(1, 2).Expand(3, 2));
        Assert.True(zl.IsContiguous);
        Reference.Equal([0, 0, 0, 0, 0, 0], zl, [3, 2]);
    }

    // ---- ranges ----

    [Fact]
    public void Arange_with_ints_gives_int32_values_in_the_half_open_range()
    {
        var a = Tensor.Arange(5);
        Assert.Equal(DType.Int32, a.DType);
        Assert.Equal([0, 1, 2, 3, 4], a.ToIntArray());
        Assert.Equal([2, 5, 8], Tensor.Arange(2, 11, 3).ToIntArray());
        Assert.Equal([2, 5, 8, 11], Tensor.Arange(2, 12, 3).ToIntArray());
        Assert.Equal([5, 3, 1], Tensor.Arange(5, 0, -2).ToIntArray());
        Assert.Empty(Tensor.Arange(3, 3).ToIntArray());
        Assert.Empty(Tensor.Arange(5, 0).ToIntArray());
        Assert.Throws<ArgumentException>(() => Tensor.Arange(0, 5, 0));
    }

    [Fact]
    public void Arange_with_floats_gives_float32_values_and_the_torch_length()
    {
        var a = Tensor.Arange(0f, 1f, 0.25f);
        Assert.Equal(DType.Float32, a.DType);
        Reference.Equal([0, 0.25f, 0.5f, 0.75f], a, [4]);
        var t = Tensor.Arange(0f, 1f, 0.1f);
        Assert.Equal([10], t.Shape); // torch.arange(0, 1, 0.1) has 10 elements
        Reference.AllClose(Enumerable.Range(0, 10).Select(i => i * 0.1f).ToArray(), t.ToArray(), 1e-6, 1e-7);
        Reference.Equal([1.5f, 1f, 0.5f], Tensor.Arange(1.5f, 0f, -0.5f), [3]);
        Assert.Throws<ArgumentException>(() => Tensor.Arange(0f, 1f, 0f));
    }

    [Fact]
    public void Linspace_includes_both_ends()
    {
        Reference.Equal([0, 0.25f, 0.5f, 0.75f, 1], Tensor.Linspace(0, 1, 5), [5]);
        Reference.Equal([-1], Tensor.Linspace(-1, 1, 1), [1]);
        Assert.Equal([0], Tensor.Linspace(2, 3, 0).Shape);
        var l = Tensor.Linspace(-3, 7, 101).ToArray();
        Assert.Equal(-3f, l[0]);
        Assert.Equal(7f, l[^1]);
        Reference.AllClose(Enumerable.Range(0, 101).Select(i => -3f + i * 0.1f).ToArray(), l, 1e-6, 1e-6);
        Assert.Throws<ArgumentException>(() => Tensor.Linspace(0, 1, -1));
    }

    [Fact]
    public void Eye_has_ones_on_the_diagonal_only()
    {
        Reference.Equal([1, 0, 0, 0, 1, 0, 0, 0, 1], Tensor.Eye(3), [3, 3]);
        Reference.Equal([1, 0, 0, 0, 0, 1, 0, 0], Tensor.Eye(2, 4), [2, 4]);
        Reference.Equal([1, 0, 0, 1, 0, 0], Tensor.Eye(3, 2), [3, 2]);
    }

    // ---- arrays in and out ----

    [Fact]
    public void FromArray_with_a_shape_copies_the_data()
    {
        var data = new float[] { 1, 2, 3, 4, 5, 6 };
        var t = Tensor.FromArray(data, 2, 3);
        data[0] = 100;
        Reference.Equal([1, 2, 3, 4, 5, 6], t, [2, 3]);
        Assert.Equal([6], Tensor.FromArray(data).Shape);
        var e = Assert.Throws<ArgumentException>(() => Tensor.FromArray(data, 4, 2));
        Assert.Contains("[4,2]", e.Message);
        var i = Tensor.FromArray(new[] { 4, -5, 6 }, 3, 1);
        Assert.Equal(DType.Int32, i.DType);
        Assert.Equal([3, 1], i.Shape);
        Assert.Equal([4, -5, 6], i.ToIntArray());
        var b = Tensor.FromArray(new[] { true, false, true });
        Assert.Equal(DType.Bool, b.DType);
        Assert.Equal([true, false, true], b.ToBoolArray());
        Assert.Equal([1f, 0f, 1f], b.ToArray());
    }

    [Fact]
    public void FromArray_keeps_the_shape_of_multi_dimensional_arrays()
    {
        var f = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        Assert.Equal(DType.Float32, f.DType);
        Reference.Equal([1, 2, 3, 4, 5, 6], f, [2, 3]);

        var src = new int[2, 3, 2];
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++)
                for (int c = 0; c < 2; c++) src[a, b, c] = a * 100 + b * 10 + c;
        var i = Tensor.FromArray(src);
        Assert.Equal(DType.Int32, i.DType);
        Assert.Equal([2, 3, 2], i.Shape);
        Assert.Equal(121, i.Select(0, 1).Select(0, 2).Select(0, 1).Item<int>());
        Assert.Equal([0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121], i.ToIntArray());

        var d = Tensor.FromArray(new double[,] { { 0.5, -1.25 }, { 3, 1e-3 } });
        Assert.Equal(DType.Float32, d.DType);
        Reference.Equal([0.5f, -1.25f, 3f, 1e-3f], d, [2, 2]);

        var bo = Tensor.FromArray((Array)new bool[] { false, true });
        Assert.Equal(DType.Bool, bo.DType);
        Assert.Equal([false, true], bo.ToBoolArray());
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new string[] { "a" }));
    }

    [Fact]
    public void ToMultiArray_round_trips_through_FromArray_including_views()
    {
        var src = new float[,] { { 1, 2, 3 }, { 4, 5, 6 } };
        var t = Tensor.FromArray(src);
        var back = (float[,])t.ToMultiArray();
        Assert.Equal(src, back);
        var tt = (float[,])t.T.ToMultiArray();
        Assert.Equal(3, tt.GetLength(0));
        Assert.Equal(2, tt.GetLength(1));
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 2; c++) Assert.Equal(src[c, r], tt[r, c]);
        var three = (float[,,])Tensor.FromArray(new int[2, 1, 3]).ToMultiArray();
        Assert.Equal(6, three.Length);
        Assert.Throws<InvalidOperationException>(() => Tensor.Scalar(1).ToMultiArray());
    }

    [Fact]
    public void Item_reads_one_element_tensors_and_rejects_others()
    {
        Assert.Equal(2.5f, Tensor.Scalar(2.5f).Item());
        Assert.Equal(2.5f, Tensor.Of(2.5f).Item());
        Assert.Equal(5f, Tensor.Of(1, 5, 9).Select(0, 1).Item());
        Assert.Equal(2.5, Tensor.Scalar(2.5f).Item<double>());
        Assert.Equal(-2, Tensor.Scalar(-2.7f).Item<int>());
        Assert.Equal(16777217, Tensor.FromArray(new[] { 16777217 }).Item<int>()); // not representable as float
        Assert.Equal(16777217L, Tensor.FromArray(new[] { 16777217 }).Item<long>());
        Assert.True(Tensor.Scalar(0.5f).Item<bool>());
        Assert.False(Tensor.FromArray(new[] { false }).Item<bool>());
        var e = Assert.Throws<InvalidOperationException>(() => Tensor.Of(1, 2).Item());
        Assert.Contains("[2]", e.Message);
        Assert.Throws<NotSupportedException>(() => Tensor.Scalar(1).Item<decimal>());
    }

    [Fact]
    public void Float_to_Bool_treats_every_non_zero_value_as_true()
    {
        var x = Tensor.Of(0, 0.5f, -0.25f, 2, float.NaN, -0f);
        Assert.Equal([false, true, true, true, true, false], x.Bool().ToBoolArray());
        Assert.Equal([0, 0, 0, 2], x.Narrow(0, 0, 4).Int().ToIntArray()); // int conversion truncates
    }

    // ---- random ----

    [Fact]
    public void An_explicit_generator_with_the_same_seed_gives_the_same_numbers()
    {
        var a = Tensor.Randn([3, 4], new Generator(42));
        var b = Tensor.Randn([3, 4], new Generator(42));
        Reference.BitIdentical(a, b, "Randn");
        Reference.BitIdentical(Tensor.Rand([50], new Generator(7)), Tensor.Rand([50], new Generator(7)), "Rand");
        Assert.Equal(Tensor.RandInt(0, 10, [50], new Generator(7)).ToIntArray(), Tensor.RandInt(0, 10, [50], new Generator(7)).ToIntArray());
        Assert.Equal(Tensor.RandPerm(50, new Generator(7)).ToIntArray(), Tensor.RandPerm(50, new Generator(7)).ToIntArray());
        // re-seeding an existing generator restarts its stream, including the cached Box-Muller spare
        var g = new Generator(42);
        Tensor.Randn([5], g);
        g.ManualSeed(42);
        Reference.BitIdentical(a, Tensor.Randn([3, 4], g), "reseeded");
        // the stream continues: a second draw differs from the first
        Assert.NotEqual(a.ToArray(), Tensor.Randn([3, 4], g).ToArray());
    }

    [Fact]
    public void Different_seeds_give_different_numbers()
    {
        Assert.NotEqual(Tensor.Randn([20], new Generator(1)).ToArray(), Tensor.Randn([20], new Generator(2)).ToArray());
        Assert.NotEqual(Tensor.Rand([20], new Generator(1)).ToArray(), Tensor.Rand([20], new Generator(2)).ToArray());
        Assert.NotEqual(Tensor.RandInt(0, 1000, [20], new Generator(1)).ToIntArray(), Tensor.RandInt(0, 1000, [20], new Generator(2)).ToIntArray());
        Assert.NotEqual(Tensor.RandPerm(20, new Generator(1)).ToIntArray(), Tensor.RandPerm(20, new Generator(2)).ToIntArray());
    }

    [Fact]
    public void Randn_has_mean_zero_and_std_one()
    {
        var x = Tensor.Randn([100_000], new Generator(3)).ToArray();
        double mean = x.Average(v => (double)v);
        double std = Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / (x.Length - 1));
        Assert.InRange(mean, -0.015, 0.015); // 5 sigma of the sample mean is 0.016
        Assert.InRange(std, 0.985, 1.015);
        double within1 = x.Count(v => Math.Abs(v) < 1) / (double)x.Length;
        Assert.InRange(within1, 0.6827 - 0.01, 0.6827 + 0.01);
        Assert.True(x.Max() > 3.5 && x.Min() < -3.5, "the tails are reached");
    }

    [Fact]
    public void Rand_is_uniform_in_zero_one()
    {
        var x = Tensor.Rand([100_000], new Generator(4)).ToArray();
        Assert.All(x, v => Assert.True(v >= 0f && v < 1f, $"{v} outside [0,1)"));
        Assert.InRange(x.Average(v => (double)v), 0.495, 0.505);
        Assert.True(x.Min() < 1e-3 && x.Max() > 1 - 1e-3);
        for (int bin = 0; bin < 10; bin++)
        {
            int count = x.Count(v => (int)(v * 10) == bin);
            Assert.InRange(count, 9500, 10500);
        }
    }

    [Fact]
    public void RandInt_stays_in_range_and_hits_every_value()
    {
        var x = Tensor.RandInt(-3, 4, [10_000], new Generator(5));
        Assert.Equal(DType.Int32, x.DType);
        Assert.Equal([10_000], x.Shape);
        var v = x.ToIntArray();
        Assert.All(v, i => Assert.InRange(i, -3, 3));
        for (int k = -3; k <= 3; k++) Assert.InRange(v.Count(i => i == k), 1300, 1550);
        Assert.Throws<ArgumentException>(() => Tensor.RandInt(2, 2, [3]));
    }

    [Fact]
    public void RandPerm_is_a_permutation()
    {
        var p = Tensor.RandPerm(100, new Generator(6)).ToIntArray();
        Assert.Equal(Enumerable.Range(0, 100), p.Order());
        Assert.NotEqual(Enumerable.Range(0, 100), p);
        Assert.Empty(Tensor.RandPerm(0).ToIntArray());
    }
}

/// <summary>Tests of the process-wide default generator and of the thread count: they run alone, never alongside other tests.</summary>
[Collection("Threading")]
public sealed class DefaultGeneratorCreationTests
{
    [Fact]
    public void ManualSeed_makes_the_default_generator_repeat()
    {
        Tensor.ManualSeed(123);
        var a = Tensor.Randn(4, 5);
        var r = Tensor.Rand(6);
        var i = Tensor.RandInt(0, 100, [6]);
        var p = Tensor.RandPerm(10);
        Tensor.ManualSeed(123);
        Reference.BitIdentical(a, Tensor.Randn(4, 5), "Randn");
        Reference.BitIdentical(r, Tensor.Rand(6), "Rand");
        Assert.Equal(i.ToIntArray(), Tensor.RandInt(0, 100, [6]).ToIntArray());
        Assert.Equal(p.ToIntArray(), Tensor.RandPerm(10).ToIntArray());
        Tensor.ManualSeed(124);
        Assert.NotEqual(a.ToArray(), Tensor.Randn(4, 5).ToArray());
        // ManualSeed(s) and new Generator(s) produce the same stream
        Tensor.ManualSeed(9);
        Reference.BitIdentical(Tensor.Randn([7], new Generator(9)), Tensor.Randn(7), "default vs explicit");
    }

    [Fact]
    public void Explicit_generators_do_not_disturb_the_default_one()
    {
        Tensor.ManualSeed(77);
        var a1 = Tensor.Randn(3); // leaves a cached normal behind
        var a2 = Tensor.Rand(3);
        Tensor.ManualSeed(77);
        var b1 = Tensor.Randn(3);
        var g = new Generator(77);
        Tensor.Randn([11], g);
        Tensor.Rand([5], g);
        Tensor.RandInt(0, 9, [5], g);
        Tensor.RandPerm(9, g);
        var b2 = Tensor.Rand(3);
        Reference.BitIdentical(a1, b1, "first draw");
        Reference.BitIdentical(a2, b2, "draw after explicit-generator use");
    }

    [Fact]
    public void Random_tensors_do_not_depend_on_the_thread_count()
    {
        var one = Reference.WithThreads(1, () => (Tensor.Randn([50_000], new Generator(8)), Tensor.Rand([50_000], new Generator(8)),
            Tensor.RandInt(0, 7, [50_000], new Generator(8)), Tensor.RandPerm(50_000, new Generator(8))));
        var two = Reference.WithThreads(2, () => (Tensor.Randn([50_000], new Generator(8)), Tensor.Rand([50_000], new Generator(8)),
            Tensor.RandInt(0, 7, [50_000], new Generator(8)), Tensor.RandPerm(50_000, new Generator(8))));
        Reference.BitIdentical(one.Item1, two.Item1, "Randn");
        Reference.BitIdentical(one.Item2, two.Item2, "Rand");
        Assert.Equal(one.Item3.ToIntArray(), two.Item3.ToIntArray());
        Assert.Equal(one.Item4.ToIntArray(), two.Item4.ToIntArray());
        Tensor.ManualSeed(5);
        var d1 = Reference.WithThreads(1, () => Tensor.Randn(40_000));
        Tensor.ManualSeed(5);
        var d2 = Reference.WithThreads(2, () => Tensor.Randn(40_000));
        Reference.BitIdentical(d1, d2, "default generator");
    }
}
