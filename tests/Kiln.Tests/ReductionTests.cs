namespace Kiln.Tests;

/// <summary>A reduction under test: Kiln's call for (dims or null for all, keepDim) and the reference fold over one group.</summary>
internal sealed record ReduceCase(string Name, Func<Tensor, int[]?, bool, Tensor> Op, Func<double[], double> Ref, double Rtol = 1e-5, double Atol = 1e-5);

public sealed class ReductionTests
{
    static Tensor Dims(Tensor x, int[]? dims, bool keepDim, Func<Tensor> all, Func<int, bool, Tensor> one, Func<int[], bool, Tensor> many) =>
        dims == null ? all() : dims.Length == 1 ? one(dims[0], keepDim) : many(dims, keepDim);

    internal static readonly ReduceCase[] Cases =
    [
        new("Sum", (x, d, k) => Dims(x, d, k, x.Sum, (i, kk) => x.Sum(i, kk), (a, kk) => x.Sum(a, kk)), Reference.Sum, 1e-5, 1e-4),
        new("Mean", (x, d, k) => Dims(x, d, k, x.Mean, (i, kk) => x.Mean(i, kk), (a, kk) => x.Mean(a, kk)), Reference.Mean),
        new("Var", (x, d, k) => Dims(x, d, k, () => x.Var(), (i, kk) => x.Var(i, keepDim: kk), (a, kk) => x.Var(a, keepDim: kk)), v => Reference.Var(v, true)),
        new("VarBiased", (x, d, k) => Dims(x, d, k, () => x.Var(false), (i, kk) => x.Var(i, false, kk), (a, kk) => x.Var(a, false, kk)), v => Reference.Var(v, false)),
        new("Std", (x, d, k) => Dims(x, d, k, () => x.Std(), (i, kk) => x.Std(i, keepDim: kk), (a, kk) => x.Std(a, keepDim: kk)), v => Math.Sqrt(Reference.Var(v, true))),
        new("StdBiased", (x, d, k) => Dims(x, d, k, () => x.Std(false), (i, kk) => x.Std(i, false, kk), (a, kk) => x.Std(a, false, kk)), v => Math.Sqrt(Reference.Var(v, false))),
        new("LogSumExp", (x, d, k) => Dims(x, d, k, () => x.LogSumExp(Enumerable.Range(0, x.Dim).ToArray()), (i, kk) => x.LogSumExp(i, kk), (a, kk) => x.LogSumExp(a, kk)), Reference.LogSumExp),
        new("Max", (x, d, k) => Dims(x, d, k, x.Max, (i, kk) => x.Max(i, kk).Values, (a, kk) => throw new NotSupportedException()), Reference.Max, 0, 0),
        new("Min", (x, d, k) => Dims(x, d, k, x.Min, (i, kk) => x.Min(i, kk).Values, (a, kk) => throw new NotSupportedException()), Reference.Min, 0, 0),
        new("ArgMax", (x, d, k) => Dims(x, d, k, x.ArgMax, (i, kk) => x.ArgMax(i, kk), (a, kk) => throw new NotSupportedException()), Reference.ArgMax, 0, 0),
        new("ArgMin", (x, d, k) => Dims(x, d, k, x.ArgMin, (i, kk) => x.ArgMin(i, kk), (a, kk) => throw new NotSupportedException()), Reference.ArgMin, 0, 0),
        new("MaxIndices", (x, d, k) => Dims(x, d, k, x.ArgMax, (i, kk) => x.Max(i, kk).Indices, (a, kk) => throw new NotSupportedException()), Reference.ArgMax, 0, 0),
        new("MinIndices", (x, d, k) => Dims(x, d, k, x.ArgMin, (i, kk) => x.Min(i, kk).Indices, (a, kk) => throw new NotSupportedException()), Reference.ArgMin, 0, 0),
    ];

    static bool SingleDimOnly(ReduceCase c) => c.Name.StartsWith("Max") || c.Name.StartsWith("Min") || c.Name.StartsWith("Arg");

    /// <summary>Every way to reduce a tensor of this rank: all, each dim (as given and negative), each pair, all dims as a list.</summary>
    static IEnumerable<int[]?> DimChoices(int rank)
    {
        yield return null;
        for (int d = 0; d < rank; d++)
        {
            yield return [d];
            yield return [d - rank];
        }
        for (int a = 0; a < rank; a++)
            for (int b = a + 1; b < rank; b++)
                yield return [b, a - rank];
        if (rank > 2) yield return Enumerable.Range(0, rank).ToArray();
    }

    [Fact]
    public void Reductions_match_the_reference_for_every_dim_choice_shape_and_layout()
    {
        var rng = new Random(21);
        foreach (var shape in Reference.TestShapes)
            foreach (var layout in Reference.Layouts)
            {
                // values rounded to halves so that ties (and first-index rules) actually occur
                var x = Reference.Random(rng, shape, layout, scale: 2, map: v => MathF.Round(v * 2) / 2);
                var ax = Arr.Of(x);
                foreach (var c in Cases)
                    foreach (var dims in DimChoices(shape.Length))
                        foreach (bool keep in new[] { false, true })
                        {
                            if (dims == null && keep) continue;
                            if (dims != null && dims.Length > 1 && SingleDimOnly(c)) continue;
                            string what = $"{c.Name} {Reference.Str(shape)} {layout} dims {(dims == null ? "all" : Reference.Str(dims))} keepDim {keep}";
                            var r = c.Op(x, dims, keep);
                            Reference.AllClose(Reference.Reduce(ax, dims, keep, c.Ref), r, c.Rtol, c.Atol, what);
                            bool isIndex = c.Name.StartsWith("Arg") || c.Name.EndsWith("Indices");
                            Assert.True(r.DType == (isIndex ? DType.Int32 : DType.Float32), $"{what}: dtype {r.DType}");
                        }
            }
    }

    [Fact]
    public void Reductions_of_continuous_values_match_the_reference()
    {
        var rng = new Random(22);
        foreach (var shape in new[] { new[] { 1000 }, [33, 70], [5, 4, 129] })
            foreach (var layout in Reference.Layouts)
            {
                var x = Reference.Random(rng, shape, layout, scale: 3);
                var ax = Arr.Of(x);
                foreach (var c in Cases)
                    foreach (var dims in DimChoices(shape.Length))
                    {
                        if (dims != null && dims.Length > 1 && SingleDimOnly(c)) continue;
                        Reference.AllClose(Reference.Reduce(ax, dims, false, c.Ref), c.Op(x, dims, false), c.Rtol, c.Name == "Sum" ? 5e-4 : c.Atol,
                            $"{c.Name} {Reference.Str(shape)} {layout} {(dims == null ? "all" : Reference.Str(dims))}");
                    }
            }
    }

    [Fact]
    public void LogSumExp_over_everything_equals_the_reference_and_the_all_dims_form()
    {
        var x = Reference.Random(new Random(5), [7, 65], Layout.Contiguous, scale: 3);
        var all = x.LogSumExp();
        Assert.Equal(0, all.Dim);
        Reference.AllClose(Reference.Reduce(Arr.Of(x), null, false, Reference.LogSumExp), all, 1e-5, 1e-5, "LogSumExp()");
        Assert.Equal(x.LogSumExp([0, 1]).Item(), all.Item(), 4);
    }

    [Fact]
    public void Reductions_reject_bad_dims_naming_the_op()
    {
        var x = Tensor.Zeros(2, 3);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => x.Sum(2));
        Assert.Contains("Sum", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Mean(-3));
        var dup = Assert.Throws<ArgumentException>(() => x.Sum([1, -1]));
        Assert.Contains("Sum", dup.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.ArgMax(5));
    }

    [Fact]
    public void Max_over_a_dim_returns_values_and_the_first_index_of_ties()
    {
        var x = Tensor.FromArray(new float[,] { { 1, 5, 5, 2 }, { 7, 7, 7, 7 }, { -1, -3, -1, -3 } });
        var (v, i) = x.Max(1);
        Reference.Equal([5, 7, -1], v, [3]);
        Assert.Equal(DType.Int32, i.DType);
        Assert.Equal([1, 0, 0], i.ToIntArray());
        var (mv, mi) = x.Min(1, keepDim: true);
        Reference.Equal([1, 7, -3], mv, [3, 1]);
        Assert.Equal([0, 0, 1], mi.ToIntArray());
        var (cv, ci) = x.Max(0);
        Reference.Equal([7, 7, 7, 7], cv, [4]);
        Assert.Equal([1, 1, 1, 1], ci.ToIntArray());
        var (tv, ti) = x.T.Max(-1); // the same through a transposed view
        Reference.Equal([7, 7, 7, 7], tv, [4]);
        Assert.Equal([1, 1, 1, 1], ti.ToIntArray());
        Assert.Equal(1, Tensor.Of(3, 9, 9, 1).ArgMax().Item<int>());
        Assert.Equal(3, Tensor.Of(3, 9, 9, 1).ArgMin().Item<int>());
        Assert.Equal(9f, Tensor.Of(3, 9, 9, 1).Max().Item());
    }

    [Fact]
    public void NaN_propagates_through_max_min_and_sums()
    {
        var x = Tensor.FromArray(new float[,] { { 1, float.NaN, 3 }, { 4, 5, 6 } });
        Assert.True(float.IsNaN(x.Max().Item()));
        Assert.True(float.IsNaN(x.Min().Item()));
        Assert.True(float.IsNaN(x.Sum().Item()));
        var (v, i) = x.Max(1);
        Assert.True(float.IsNaN(v.ToArray()[0]));
        Assert.Equal(6f, v.ToArray()[1]);
        Assert.Equal([1, 2], i.ToIntArray());
        Assert.Equal([1, 0], x.ArgMin(1).ToIntArray());
    }

    [Fact]
    public void Int_tensors_and_masks_sum_to_int_counts()
    {
        var a = Tensor.Arange(10);
        var s = a.Sum();
        Assert.Equal(DType.Int32, s.DType);
        Assert.Empty(s.Shape);
        Assert.Equal(45, s.Item<int>());
        var m = Tensor.Arange(12).Reshape(3, 4);
        var s1 = m.Sum(1);
        Assert.Equal(DType.Int32, s1.DType);
        Assert.Equal([6, 22, 38], s1.ToIntArray());
        Assert.Equal([12, 15, 18, 21], m.Sum(0).ToIntArray());
        Assert.Equal([3, 1], m.Sum(1, keepDim: true).Shape);
        Assert.Equal([12, 15, 18, 21], m.T.Sum(1).ToIntArray());
        Assert.Equal(66, m.Sum([0, 1]).Item<int>());
        Assert.Equal(16777217 + 16777217, Tensor.FromArray(new[] { 16777217, 16777217 }).Sum().Item<int>()); // exact, no float on the way

        var rng = new Random(23);
        var x = Reference.Random(rng, [50, 40], Layout.Transposed);
        var mask = x > 0.5f;
        var count = mask.Sum();
        Assert.Equal(DType.Int32, count.DType);
        Assert.Equal(x.ToArray().Count(v => v > 0.5f), count.Item<int>());
        var perRow = mask.Sum(1).ToIntArray();
        var xs = x.ToArray();
        for (int r = 0; r < 50; r++)
            Assert.Equal(Enumerable.Range(0, 40).Count(c => xs[r * 40 + c] > 0.5f), perRow[r]);
        Assert.Equal(mask.Float().Mean().Item(), count.Item<int>() / 2000f, 6);

        var mean = m.Mean(1);
        Assert.Equal(DType.Float32, mean.DType);
        Reference.Equal([1.5f, 5.5f, 9.5f], mean, [3]);
        Assert.Equal(11, m.Max().Item<int>());
        Assert.Equal(DType.Int32, m.Max().DType);
        Assert.Equal(0, m.Min().Item<int>());
        Assert.Equal(11, m.T.Max().Item<int>());
        Assert.Equal(10, m.Narrow(1, 0, 3).T.Max().Item<int>()); // a strided int view reads its own element
        var (iv, ii) = m.Max(0);
        Assert.Equal(DType.Int32, iv.DType);
        Assert.Equal([8, 9, 10, 11], iv.ToIntArray());
        Assert.Equal([2, 2, 2, 2], ii.ToIntArray());
    }

    [Fact]
    public void Empty_reductions_follow_torch()
    {
        Reference.Equal([0, 0, 0], Tensor.Zeros(3, 0).Sum(1), [3]);
        Reference.Equal([0, 0, 0], Tensor.Zeros(0, 3).Sum(0), [3]);
        Assert.True(Tensor.Zeros(3, 0).Mean(1).ToArray().All(float.IsNaN));
        Assert.Equal(0, Tensor.Zeros([0], DType.Int32).Sum().Item<int>());
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(3, 0).Max(1));
        Assert.Contains("Max", e.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Zeros(0).Max());
        Assert.Equal([0], Tensor.Zeros(0, 3).Max(1).Values.Shape);
    }

    [Fact]
    public void Zero_dim_tensors_reduce_to_themselves()
    {
        var s = Tensor.Scalar(3);
        Assert.Equal(3f, s.Sum().Item());
        Assert.Equal(3f, s.Mean().Item());
        Assert.Equal(3f, s.Max().Item());
        Assert.Equal(0, s.ArgMax().Item<int>());
        Assert.Equal(0f, s.Var(false).Item());
    }

    // ---- softmax ----

    [Fact]
    public void Softmax_and_LogSoftmax_match_the_reference_along_every_dim()
    {
        var rng = new Random(24);
        foreach (var shape in Reference.TestShapes)
            foreach (var layout in Reference.Layouts)
            {
                var x = Reference.Random(rng, shape, layout, scale: 3);
                var ax = Arr.Of(x);
                for (int d = -shape.Length; d < shape.Length; d++)
                {
                    string what = $"{Reference.Str(shape)} {layout} dim {d}";
                    var sm = x.Softmax(d);
                    Reference.AllClose(Reference.Softmax(ax, d, false), sm, 1e-5, 1e-7, "Softmax " + what);
                    Reference.AllClose(Reference.Softmax(ax, d, true), x.LogSoftmax(d), 1e-5, 1e-5, "LogSoftmax " + what);
                    var ones = Reference.Unary(Reference.Reduce(Arr.Of(sm), [d], false, Reference.Sum), _ => 1);
                    Reference.AllClose(ones, sm.Sum(d), 1e-5, 1e-5, "rows sum to 1 " + what);
                    Reference.AllClose(Arr.Of(sm.Log()), x.LogSoftmax(d), 1e-4, 1e-4, "LogSoftmax = Log(Softmax) " + what);
                }
            }
    }

    [Fact]
    public void Softmax_is_stable_for_huge_inputs()
    {
        var x = Tensor.FromArray(new float[,] { { 1000, 1000 }, { -1000, 0 }, { 1000, -1000 }, { -1000, -1000 } });
        var sm = x.Softmax(1);
        Reference.AllClose([0.5f, 0.5f, 0, 1, 1, 0, 0.5f, 0.5f], sm.ToArray(), 1e-6, 1e-30, "Softmax");
        var ls = x.LogSoftmax(1);
        Reference.AllClose([-MathF.Log(2), -MathF.Log(2), -1000, 0, 0, -2000, -MathF.Log(2), -MathF.Log(2)], ls.ToArray(), 1e-6, 1e-6, "LogSoftmax");
        Reference.AllClose([1000 + MathF.Log(2), 0, 1000, -1000 + MathF.Log(2)], x.LogSumExp(1).ToArray(), 1e-6, 1e-6, "LogSumExp");
        Assert.All(x.Softmax(0).ToArray(), v => Assert.False(float.IsNaN(v)));
    }

    [Fact]
    public void Lesson4_softmax_worked_numbers()
    {
        // bear example: activations 0.02, -2.49, 1.25 -> softmax ~0.22, 0.02, 0.76
        var sm = Tensor.Of(0.02f, -2.49f, 1.25f).Softmax(0).ToArray();
        Assert.Equal(0.22f, sm[0], 2);
        Assert.Equal(0.02f, sm[1], 2);
        Assert.Equal(0.76f, sm[2], 2);
        // 2-column softmax equals sigmoid of the difference: acts (0.6734, 0.2576) -> 0.6025 / 0.3975
        var acts = Tensor.FromArray(new float[] { 0.6734f, 0.2576f }, 1, 2);
        var two = acts.Softmax(1).ToArray();
        Assert.Equal(0.6025f, two[0], 4);
        Assert.Equal(0.3975f, two[1], 4);
        var diff = (acts.Select(1, 0) - acts.Select(1, 1)).Sigmoid().Item();
        Assert.Equal(two[0], diff, 6);
    }

    // ---- gather ----

    [Fact]
    public void Gather_picks_along_a_dim_like_the_index_formula()
    {
        var rng = new Random(25);
        foreach (var layout in Reference.Layouts)
        {
            var x = Reference.Random(rng, [4, 5, 3], layout);
            var xs = Arr.Of(x);
            for (int d = 0; d < 3; d++)
            {
                int[] ishape = [3, 4, 2];
                ishape[d] = 6;
                var idx = new int[Reference.Numel(ishape)];
                for (int i = 0; i < idx.Length; i++) idx[i] = rng.Next(-x.Size(d), x.Size(d));
                var g = x.Gather(d - 3, Tensor.FromArray(idx, ishape));
                var expected = new float[idx.Length];
                for (int i = 0; i < idx.Length; i++)
                {
                    var pos = Reference.Unravel(i, ishape);
                    int j = idx[i];
                    pos[d] = j < 0 ? j + x.Size(d) : j;
                    expected[i] = xs.Data[Reference.Ravel(pos, xs.Shape)];
                }
                Reference.Equal(expected, g, ishape, $"Gather dim {d} {layout}");
            }
        }
    }

    [Fact]
    public void Gather_picks_the_target_column_per_row_and_validates_its_index()
    {
        // nll-style picking: x[range(n), targ]
        var x = Tensor.FromArray(new float[,] { { 0.1f, 0.2f, 0.7f }, { 0.5f, 0.3f, 0.2f } });
        var targ = Tensor.FromArray(new[] { 2, 0 });
        Reference.Equal([0.7f, 0.5f], x.Gather(1, targ.Unsqueeze(1)).Squeeze(1), [2]);
        var gi = Tensor.Arange(6).Reshape(2, 3).Gather(1, Tensor.FromArray(new[] { 2, 2, 0 }, 1, 3));
        Assert.Equal(DType.Int32, gi.DType);
        Assert.Equal([2, 2, 0], gi.ToIntArray());
        Assert.Throws<IndexOutOfRangeException>(() => x.Gather(1, Tensor.FromArray(new[] { 3, 0 }, 2, 1)));
        Assert.Throws<ArgumentException>(() => x.Gather(1, Tensor.Of(1, 0).Unsqueeze(1)));
        Assert.Throws<ArgumentException>(() => x.Gather(1, targ));
        Assert.Throws<ArgumentException>(() => x.Gather(1, Tensor.FromArray(new[] { 0, 0, 0 }, 3, 1)));
    }
}

/// <summary>Reduction results must not depend on the thread count (runs alone: it changes the global thread count).</summary>
[Collection("Threading")]
public sealed class ThreadedReductionTests
{
    [Fact]
    public void Reductions_and_softmax_are_bit_identical_with_one_and_two_threads()
    {
        var rng = new Random(26);
        foreach (var (shape, layout) in ElementwiseTests.BigInputs)
        {
            var x = Reference.Random(rng, shape, layout);
            foreach (var c in ReductionTests.Cases)
                for (int d = -1; d < shape.Length; d++)
                {
                    int[]? dims = d < 0 ? null : [d];
                    var one = Reference.WithThreads(1, () => c.Op(x, dims, false));
                    var two = Reference.WithThreads(2, () => c.Op(x, dims, false));
                    Reference.BitIdentical(one, two, $"{c.Name} {Reference.Str(shape)} {layout} dim {d}");
                }
            for (int d = 0; d < shape.Length; d++)
            {
                Reference.BitIdentical(Reference.WithThreads(1, () => x.Softmax(d)), Reference.WithThreads(2, () => x.Softmax(d)), $"Softmax dim {d}");
                Reference.BitIdentical(Reference.WithThreads(1, () => x.LogSoftmax(d)), Reference.WithThreads(2, () => x.LogSoftmax(d)), $"LogSoftmax dim {d}");
            }
        }
    }
}
