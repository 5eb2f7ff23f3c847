namespace Kiln.Tests;

public sealed class ViewTests
{
    static float[] Seq(int n) => Enumerable.Range(0, n).Select(i => (float)i).ToArray();

    static Tensor Arange(params int[] shape) => Tensor.FromArray(Seq(Reference.Numel(shape)), shape);

    // ---- Reshape / View ----

    [Fact]
    public void Reshape_infers_the_minus_one_dimension_and_shares_storage()
    {
        var x = Arange(24);
        var r = x.Reshape(2, -1, 4);
        Assert.Equal([2, 3, 4], r.Shape);
        Assert.Same(x.UntypedStorage, r.UntypedStorage);
        Reference.Equal(Seq(24), r, [2, 3, 4]);
        Assert.Equal([6, 4], x.View(-1, 4).Shape);
        Assert.Equal([24], r.View(-1).Shape);
    }

    [Fact]
    public void Reshape_rejects_two_minus_ones_and_wrong_sizes_naming_the_shapes()
    {
        var x = Arange(2, 3);
        Assert.Throws<ArgumentException>(() => x.Reshape(-1, -1));
        var e = Assert.Throws<ArgumentException>(() => x.Reshape(4, 2));
        Assert.Contains("Reshape", e.Message);
        Assert.Contains("[4,2]", e.Message);
        Assert.Contains("[2,3]", e.Message);
        Assert.Throws<ArgumentException>(() => x.Reshape(4, -1));
        Assert.Throws<ArgumentException>(() => x.View(7));
    }

    [Fact]
    public void View_of_a_transposed_matrix_fails_with_a_message_pointing_to_Reshape()
    {
        var t = Arange(2, 3).T;
        var e = Assert.Throws<InvalidOperationException>(() => t.View(6));
        Assert.Contains("View", e.Message);
        Assert.Contains("[3,2]", e.Message);
        Assert.Contains("Reshape", e.Message);
    }

    [Fact]
    public void Reshape_of_a_transposed_matrix_copies_in_logical_order()
    {
        var x = Arange(2, 3);
        var r = x.T.Reshape(6);
        Reference.Equal([0, 3, 1, 4, 2, 5], r, [6]);
        Assert.NotSame(x.UntypedStorage, r.UntypedStorage);
        Assert.True(r.IsContiguous);
    }

    [Fact]
    public void View_works_on_non_contiguous_layouts_that_allow_it()
    {
        var x = Arange(4, 6);
        var s = x.Narrow(1, 1, 4); // [4,4] with row stride 6
        Assert.False(s.IsContiguous);
        var v = s.View(4, 2, 2);
        Assert.Same(x.UntypedStorage, v.UntypedStorage);
        Assert.Equal([6, 2, 1], v.Strides);
        Reference.Equal(s.ToArray(), v, [4, 2, 2]);
        Assert.Throws<InvalidOperationException>(() => s.View(16));
        // a transposed 3-d tensor can still merge its untouched trailing dims
        var p = Arange(2, 3, 4).Transpose(0, 1); // [3,2,4]
        var pv = p.View(3, 2, 2, 2);
        Assert.Same(p.UntypedStorage, pv.UntypedStorage);
        Reference.Equal(p.ToArray(), pv, [3, 2, 2, 2]);
        Assert.Throws<InvalidOperationException>(() => p.View(3, 8));
        Assert.Throws<InvalidOperationException>(() => p.View(6, 4));
        Reference.Equal(p.ToArray(), p.Reshape(6, 4), [6, 4]);
    }

    // ---- Transpose / T / MT / Permute ----

    [Fact]
    public void Transpose_swaps_shape_and_strides_without_copying()
    {
        var x = Arange(2, 3, 4);
        var t = x.Transpose(0, -1);
        Assert.Equal([4, 3, 2], t.Shape);
        Assert.Equal([1, 4, 12], t.Strides);
        Assert.Same(x.UntypedStorage, t.UntypedStorage);
        var xs = x.ToArray();
        var ts = t.ToArray();
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++)
                    Assert.Equal(xs[(i * 3 + j) * 4 + k], ts[(k * 3 + j) * 2 + i]);
    }

    [Fact]
    public void T_reverses_dims_and_MT_swaps_the_last_two()
    {
        var m = Arange(2, 3);
        Reference.Equal([0, 3, 1, 4, 2, 5], m.T, [3, 2]);
        var v = Arange(4);
        Assert.Same(v, v.T);
        Assert.Equal([4, 3, 2], Arange(2, 3, 4).T.Shape);
        var b = Arange(2, 3, 4).MT;
        Assert.Equal([2, 4, 3], b.Shape);
        Assert.Equal(13f, b.Select(0, 1).Select(0, 1).Select(0, 0).Item()); // x[1,0,1] = 12 + 1
        var e = Assert.Throws<InvalidOperationException>(() => v.MT);
        Assert.Contains("MT", e.Message);
    }

    [Fact]
    public void Permute_reorders_dims_like_the_index_formula()
    {
        var x = Arange(2, 3, 4);
        var p = x.Permute(2, 0, -2); // result[k,i,j] = x[i,j,k]
        Assert.Equal([4, 2, 3], p.Shape);
        var xs = x.ToArray();
        var ps = p.ToArray();
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++)
                    Assert.Equal(xs[(i * 3 + j) * 4 + k], ps[(k * 2 + i) * 3 + j]);
        Assert.Throws<ArgumentException>(() => x.Permute(0, 0, 1));
        Assert.Throws<ArgumentException>(() => x.Permute(0, 1));
    }

    // ---- Expand ----

    [Fact]
    public void ExpandAs_uses_stride_zero_and_keeps_three_elements_of_storage()
    {
        // lesson 8: c = [10,20,30] expanded to 3x3 still holds 3 elements, stride (0,1)
        var c = Tensor.Of(10, 20, 30);
        var m = Tensor.Zeros(3, 3);
        var e = c.ExpandAs(m);
        Assert.Equal([3, 3], e.Shape);
        Assert.Equal([0, 1], e.Strides);
        Assert.Equal(3, e.UntypedStorage.Length);
        Reference.Equal([10, 20, 30, 10, 20, 30, 10, 20, 30], e, [3, 3]);
        var col = c.Unsqueeze(1).Expand(3, 3);
        Assert.Equal([1, 0], col.Strides);
        Reference.Equal([10, 10, 10, 20, 20, 20, 30, 30, 30], col, [3, 3]);
    }

    [Fact]
    public void Expand_keeps_minus_one_adds_leading_dims_and_rejects_non_unit_dims()
    {
        var x = Arange(3, 1);
        var e = x.Expand(2, -1, 4);
        Assert.Equal([2, 3, 4], e.Shape);
        Assert.Equal([0, 1, 0], e.Strides);
        Assert.Equal(2f, e.Select(0, 1).Select(0, 2).Select(0, 3).Item());
        var ex = Assert.Throws<ArgumentException>(() => x.Expand(4, 4));
        Assert.Contains("Expand", ex.Message);
        Assert.Contains("[3,1]", ex.Message);
        Assert.Throws<ArgumentException>(() => x.Expand(4));
        Assert.Throws<ArgumentException>(() => x.Expand(-1, 3, 4));
    }

    [Fact]
    public void Expand_rejects_negative_sizes_other_than_minus_one()
    {
        var x = Arange(3, 1);
        Assert.Throws<ArgumentException>(() => x.Expand(3, -2));
        Assert.Throws<ArgumentException>(() => x.Expand(-3, 3, 1));
    }

    // ---- Squeeze / Unsqueeze ----

    [Fact]
    public void Squeeze_removes_unit_dims_all_or_one_with_negative_dims()
    {
        var x = Arange(1, 3, 1, 2);
        Assert.Equal([3, 2], x.Squeeze().Shape);
        Assert.Equal([1, 3, 2], x.Squeeze(-2).Shape);
        Assert.Equal([3, 1, 2], x.Squeeze(0).Shape);
        Assert.Equal([1, 3, 1, 2], x.Squeeze(1).Shape); // size 3: unchanged
        Assert.Empty(Arange(1, 1).Squeeze().Shape);
        Reference.Equal(Seq(6), x.Squeeze(), [3, 2]);
        Assert.Same(x.UntypedStorage, x.Squeeze().UntypedStorage);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Squeeze(4));
    }

    [Fact]
    public void Unsqueeze_inserts_a_unit_dim_counting_negative_dims_from_the_result()
    {
        var x = Arange(2, 3);
        Assert.Equal([1, 2, 3], x.Unsqueeze(0).Shape);
        Assert.Equal([2, 1, 3], x.Unsqueeze(1).Shape);
        Assert.Equal([2, 3, 1], x.Unsqueeze(-1).Shape);
        Assert.Equal([2, 3, 1], x.Unsqueeze(2).Shape);
        Assert.Equal([1, 2, 3], x.Unsqueeze(-3).Shape);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Unsqueeze(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Unsqueeze(-4));
        // c[:,None] and c[None] from lesson 8
        var c = Tensor.Of(10, 20, 30);
        Assert.Equal([3, 1], c.Unsqueeze(1).Shape);
        Assert.Equal([1, 3], c.Unsqueeze(0).Shape);
        Assert.True(x.T.Unsqueeze(1).Squeeze(1).ToArray().SequenceEqual(x.T.ToArray()));
    }

    // ---- Narrow / Slice / Select ----

    [Fact]
    public void Narrow_views_a_window_at_an_offset()
    {
        var x = Arange(10);
        var n = x.Narrow(0, 2, 3);
        Reference.Equal([2, 3, 4], n, [3]);
        Assert.Equal(2, n.Offset);
        Reference.Equal([7, 8, 9], x.Narrow(0, -3, 3), [3]);
        Reference.Equal([1, 2, 5, 6, 9, 10], Arange(3, 4).Narrow(1, 1, 2), [3, 2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Narrow(0, 8, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => x.Narrow(0, 0, -1));
    }

    /// <summary>Python's range(n)[start:end:step] for a positive step, written from the language rules.</summary>
    static float[] PySlice(int n, int? start, int? end, int step)
    {
        static int Fix(int? v, int n, int dflt)
        {
            if (v is not int i) return dflt;
            if (i < 0) i += n;
            return Math.Clamp(i, 0, n);
        }
        int s = Fix(start, n, 0), e = Fix(end, n, n);
        var r = new List<float>();
        for (int i = s; i < e; i += step) r.Add(i);
        return r.ToArray();
    }

    [Fact]
    public void Slice_with_steps_follows_python_slicing_and_clamping()
    {
        Reference.Equal([1, 4, 7], Arange(10).Slice(0, 1, 8, 3), [3]);
        Reference.Equal([7, 8, 9], Arange(10).Slice(0, -3), [3]);
        Reference.Equal([5, 6, 7, 8, 9], Arange(10).Slice(0, 5, 100), [5]);
        Reference.Equal([], Arange(10).Slice(0, 8, 2), [0]);
        int?[] bounds = [null, -100, -11, -10, -3, -1, 0, 1, 3, 9, 10, 11, 100];
        for (int step = 1; step <= 4; step++)
            foreach (var s in bounds)
                foreach (var e in bounds)
                {
                    var expected = PySlice(10, s, e, step);
                    Reference.Equal(expected, Arange(10).Slice(0, s, e, step), [expected.Length], $"[{s}:{e}:{step}]");
                }
        Assert.Throws<ArgumentException>(() => Arange(10).Slice(0, 0, 5, 0));
        Assert.Throws<ArgumentException>(() => Arange(10).Slice(0, 0, 5, -1));
    }

    [Fact]
    public void Slice_of_a_matrix_column_range_with_step_is_a_strided_view()
    {
        var x = Arange(3, 5);
        var s = x.Slice(-1, 0, null, 2);
        Assert.Equal([3, 3], s.Shape);
        Assert.Equal([5, 2], s.Strides);
        Reference.Equal([0, 2, 4, 5, 7, 9, 10, 12, 14], s, [3, 3]);
        // slicing a slice composes the steps and offsets
        var ss = s.Slice(1, 1, null, 2).Slice(0, 1);
        Reference.Equal([7, 12], ss, [2, 1]);
    }

    [Fact]
    public void Select_removes_the_dim_and_accepts_negative_indices()
    {
        var x = Arange(3, 4);
        Reference.Equal([3, 7, 11], x.Select(1, -1), [3]);
        Reference.Equal([4, 5, 6, 7], x.Select(0, 1), [4]);
        Assert.Equal(6f, x.Select(0, 1).Select(0, 2).Item());
        Assert.Empty(x.Select(0, 1).Select(0, 2).Shape);
        Assert.Throws<IndexOutOfRangeException>(() => x.Select(0, 3));
        Assert.Throws<IndexOutOfRangeException>(() => x.Select(1, -5));
    }

    // ---- Flatten / Unflatten ----

    [Fact]
    public void Flatten_and_Unflatten_round_trip()
    {
        var x = Arange(2, 3, 4);
        Assert.Equal([24], x.Flatten().Shape);
        Assert.Equal([2, 12], x.Flatten(1).Shape);
        Assert.Equal([6, 4], x.Flatten(0, 1).Shape);
        Assert.Equal([2, 12], x.Flatten(-2, -1).Shape);
        Assert.Same(x.UntypedStorage, x.Flatten().UntypedStorage);
        var u = x.Flatten(1).Unflatten(1, 3, -1);
        Assert.Equal([2, 3, 4], u.Shape);
        Reference.Equal(Seq(24), u, [2, 3, 4]);
        Assert.Equal([2, 3, 2, 2], x.Unflatten(-1, 2, 2).Unflatten(1, 1, 3).Squeeze(1).Shape);
        Assert.Throws<ArgumentException>(() => x.Flatten(2, 1));
        Assert.Throws<ArgumentException>(() => x.Unflatten(1, 2, 2));
        Reference.Equal(x.T.ToArray(), x.T.Flatten(), [24]);
        Assert.Equal([1], Tensor.Scalar(5).Flatten().Shape);
    }

    // ---- sharing and contiguity ----

    [Fact]
    public void Writes_through_views_are_seen_in_the_base()
    {
        var x = Tensor.Zeros(3, 4);
        x.Select(1, 2).FillInPlace(7);
        x.T.Select(0, 0).FillInPlace(1); // column 0
        x.Slice(1, 1, null, 2).Select(0, 2).CopyFrom(Tensor.Of(5, 6)); // x[2, 1] and x[2, 3]
        x.Narrow(0, 1, 1).View(4).Select(0, 3).FillInPlace(-1);
        Reference.Equal([1, 0, 7, 0, 1, 0, 7, -1, 1, 5, 7, 6], x, [3, 4]);
        var flat = x.Reshape(12);
        flat.Select(0, 1).FillInPlace(9);
        Assert.Equal(9f, x.Select(0, 0).Select(0, 1).Item());
    }

    [Fact]
    public void Contiguous_returns_the_same_object_when_already_contiguous_and_copies_otherwise()
    {
        var x = Arange(3, 4);
        Assert.Same(x, x.Contiguous());
        var n = x.Narrow(0, 1, 2);
        Assert.Same(n, n.Contiguous());
        var t = x.T;
        var c = t.Contiguous();
        Assert.NotSame(t, c);
        Assert.NotSame(x.UntypedStorage, c.UntypedStorage);
        Assert.True(c.IsContiguous);
        Assert.Equal([3, 1], c.Strides);
        Reference.Equal(t.ToArray(), c, [4, 3]);
        c.FillInPlace(0);
        Assert.Equal(11f, x.Select(0, 2).Select(0, 3).Item()); // the copy is independent
    }

    [Fact]
    public void IsContiguous_matches_the_layout()
    {
        var x = Arange(3, 4);
        Assert.True(x.IsContiguous);
        Assert.False(x.T.IsContiguous);
        Assert.True(x.T.T.IsContiguous);
        Assert.True(x.Narrow(0, 1, 2).IsContiguous);
        Assert.False(x.Narrow(1, 1, 2).IsContiguous);
        Assert.False(x.Slice(0, 0, null, 2).IsContiguous);
        Assert.True(x.Select(0, 1).IsContiguous);
        Assert.False(x.Select(1, 1).IsContiguous);
        Assert.True(x.Unsqueeze(1).IsContiguous);
        Assert.False(Tensor.Of(1, 2, 3).Expand(2, 3).IsContiguous);
        Assert.True(Tensor.Of(1, 2, 3).Expand(1, 3).IsContiguous);
        Assert.True(Tensor.Zeros(1, 4).T.IsContiguous); // [4,1] with strides [1,4]: size-1 dims do not matter
        Assert.True(Tensor.Scalar(1).IsContiguous);
        Assert.True(x.Select(0, 0).Select(0, 0).IsContiguous);
    }

    [Fact]
    public void Empty_tensors_are_contiguous()
    {
        Assert.True(Tensor.Zeros(3, 0).IsContiguous);
        Assert.True(Tensor.Zeros(0, 3).IsContiguous);
        var z = Tensor.Zeros(2, 0, 3);
        Assert.Same(z, z.Contiguous());
        Assert.Empty(z.ToArray());
        // an empty view can start past the end of its (empty) storage; reading it must still work
        var e = Tensor.Zeros(0, 7).Slice(1, 1, null, 2);
        Assert.Equal([0, 3], e.Shape);
        Assert.Empty(e.ToArray());
        Assert.Equal(0, e.FloatSpan.Length);
        Assert.Empty(Tensor.Zeros([0, 7], DType.Int32).Slice(1, 1, null, 2).ToIntArray());
        Assert.Equal([0, 3], (e + 1f).Shape);
        Reference.Equal([0, 0, 0], e.Sum(0), [3]);
        Assert.Equal([0, 0, 0], e.Int().Sum(0).ToIntArray());
        Assert.Equal([0, 3], e.Softmax(0).Shape);
        Assert.Equal([0, 3], e.Contiguous().Shape);
        Assert.Empty(Tensor.Zeros(0, 3).Select(1, 2).ToArray());
        Assert.Empty(Tensor.Zeros(0, 3).Narrow(1, 1, 2).Clone().ToArray());
    }
}
