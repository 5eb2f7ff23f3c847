using static Kiln.TensorIndex;

namespace Kiln.Tests;

/// <summary>Gradients through indexing: basic views, advanced gathers (duplicates accumulate), masks, and assignment.</summary>
public sealed class GradIndexingTests
{
    static Tensor Leaf(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed)).RequiresGradInPlace();

    /// <summary>A logical [a,b,c] leaf stored with its dims reversed (non-contiguous).</summary>
    static Tensor PermutedLeaf(int seed, int a, int b, int c) =>
        Tensor.Randn([c, b, a], new Generator(seed)).Permute(2, 1, 0).RequiresGradInPlace();

    static Tensor Ints(params int[] v) => Tensor.FromArray(v);

    // ---- basic indexing (views) ----

    [Fact]
    public void BasicIndexing_MatchesFiniteDifferences()
    {
        var x = PermutedLeaf(1, 3, 4, 5);
        GradCheck.Assert(t => t[0][1], x);
        GradCheck.Assert(t => t[0][.., 2], x);
        GradCheck.Assert(t => t[0][-1, 1..^1, None], x);
        GradCheck.Assert(t => t[0][Ellipsis, Slice(0, null, 2)], x);
        GradCheck.Assert(t => t[0][None, 1.., Ellipsis, 3], x);
        GradCheck.Assert(t => t[0][0, 0, 0], x);
    }

    [Fact]
    public void BasicIndexing_IsRecordedAsAView()
    {
        var x = Leaf(2, 3, 4);
        var y = x[1..];
        Assert.True(y.RequiresGrad);
        Assert.Equal("Index", y.GradFn!.Name);
        y.Sum().Backward();
        Assert.Equal(new float[] { 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }, x.Grad!.ToArray());
    }

    [Fact]
    public void OverlappingBasicIndexes_OfOneTensor_Accumulate()
    {
        GradCheck.Assert(t => t[0][1..] * t[0][..^1] + t[0][1..3].Sum(), Leaf(3, 5, 2));
    }

    // ---- advanced indexing (gathers) ----

    [Fact]
    public void IntTensorGather_ActsAtRowsAndTargets_MatchesFiniteDifferences()
    {
        var acts = Leaf(4, 6, 7);
        var targets = Ints(3, 0, 6, 3, 3, 1);
        GradCheck.Assert(t => t[0][Tensor.Arange(6), targets], acts);
        // The same from a transposed layout.
        GradCheck.Assert(t => t[0][Tensor.Arange(6), targets], Tensor.Randn([7, 6], new Generator(5)).T.RequiresGradInPlace());
    }

    [Fact]
    public void GatherWithDuplicateIndices_AccumulatesTheirGradients()
    {
        var x = Leaf(6, 4, 3);
        x[[0, 2, 0, 0]].Sum().Backward();
        Assert.Equal(new float[] { 3, 3, 3, 0, 0, 0, 1, 1, 1, 0, 0, 0 }, x.Grad!.ToArray());
        GradCheck.Assert(t => t[0][[0, 2, 0, 0]], Leaf(7, 4, 3));
        GradCheck.Assert(t => t[0][.., new[] { 1, 1, -1 }], PermutedLeaf(8, 2, 4, 3));
        GradCheck.Assert(t => t[0][Tensor.FromArray(new[] { 1, 1, 0, 2, 1, 1 }, 2, 3)], Leaf(9, 3, 5));
    }

    [Fact]
    public void SeveralAdvancedIndices_AdjacentAndSeparated_MatchFiniteDifferences()
    {
        var x = PermutedLeaf(10, 3, 4, 5);
        GradCheck.Assert(t => t[0][new[] { 0, 2, 2 }, new[] { 1, 1, 3 }], x);            // adjacent: result [3, 5]
        GradCheck.Assert(t => t[0][new[] { 0, 1, 0 }, .., new[] { 4, 4, 2 }], x);       // separated: batch dims first, [3, 4]
        GradCheck.Assert(t => t[0][1, new[] { 3, 0, 3 }, 1..4], x);               // int select then a list
        GradCheck.Assert(t => t[0][Ints(2, 0)[.., None], Ints(1, 3, 1)], x); // broadcast [2,1] with [3]
    }

    [Fact]
    public void BoolMask_MatchesFiniteDifferences()
    {
        var x = Leaf(11, 4, 5);
        var mask = Tensor.Randn([4, 5], new Generator(12)) > 0f;
        GradCheck.Assert(t => t[0][mask], x);
        var rows = Tensor.FromArray(new[] { true, false, true, true });
        GradCheck.Assert(t => t[0][rows], x);
        GradCheck.Assert(t => t[0][.., new[] { false, true, true, false, true }], x);
        // A 2-D mask over the last two dims of a permuted 3-D tensor.
        var y = PermutedLeaf(13, 2, 3, 4);
        var m2 = Tensor.Randn([3, 4], new Generator(14)) > 0f;
        GradCheck.Assert(t => t[0][.., m2], y);
    }

    [Fact]
    public void IndexSelect_WithDuplicates_MatchesFiniteDifferences()
    {
        GradCheck.Assert(t => t[0].IndexSelect(1, Ints(2, 0, 2, 2)), PermutedLeaf(15, 2, 3, 4));
        GradCheck.Assert(t => t[0].IndexSelect(0, Ints(0, 0)), Leaf(16, 1, 7));
    }

    [Fact]
    public void MaskedSelect_WithBroadcastMask_MatchesFiniteDifferences()
    {
        var x = Leaf(17, 3, 4);
        var mask = Tensor.FromArray(new[] { true, false, false, true });   // broadcast over rows
        GradCheck.Assert(t => t[0].MaskedSelect(mask), x);
        // x broadcast up to the mask's shape: each x element is selected several times.
        var big = Tensor.Randn([2, 3, 4], new Generator(18)) > 0f;
        GradCheck.Assert(t => t[0].MaskedSelect(big), x);
    }

    [Fact]
    public void MaskedFill_PassesGradientOnlyWhereNotFilled()
    {
        var x = PermutedLeaf(19, 2, 3, 4);
        var mask = Tensor.Randn([3, 1], new Generator(20)) > 0f;
        GradCheck.Assert(t => t[0].MaskedFill(mask, 5f) * t[0], x);
        var z = Leaf(21, 2, 2);
        z.MaskedFill(Tensor.FromArray(new[] { true, false }), -1f).Sum().Backward();
        Assert.Equal(new float[] { 0, 1, 0, 1 }, z.Grad!.ToArray());
    }

    // ---- assignment ----

    [Fact]
    public void SliceAssignment_SendsGradientToTargetAndValue()
    {
        // y = a * 2; y[1..3] = v (broadcast over rows); out = y * y: d/da is zero in the overwritten rows.
        GradCheck.Assert(t =>
        {
            var y = t[0] * 2f;
            y[1..3] = t[1];
            return y * y;
        }, Leaf(22, 4, 3), Leaf(23, 1, 3));
        // A value with a surplus leading unit dim, and an int select.
        GradCheck.Assert(t =>
        {
            var y = t[0].Square() + 0.5f;
            y[2] = t[1];
            return y.Tanh();
        }, Leaf(24, 3, 5), Leaf(25, 1, 5));
    }

    [Fact]
    public void AdvancedAssignment_SendsGradientToTargetAndValue()
    {
        GradCheck.Assert(t =>
        {
            var y = t[0].Clone();
            y[[3, 0]] = t[1];
            return y.Square();
        }, Leaf(26, 4, 3), Leaf(27, 2, 3));
        var mask = Tensor.Randn([3, 4], new Generator(28)) > 0f;
        int count = (int)mask.Float().Sum().Item();
        GradCheck.Assert(t =>
        {
            var y = t[0] * t[0];
            y[mask] = t[1];
            return y;
        }, Leaf(29, 3, 4), Leaf(30, count));
        // Scalar fill through IndexPut on a non-leaf: the filled positions get no gradient.
        GradCheck.Assert(t => (t[0] + 1f).IndexPut(0f, t[0] > 0f).Square(), Leaf(31, 3, 4));
    }

    [Fact]
    public void AdvancedAssignmentWithDuplicates_CreditsOnlyTheLastWrite()
    {
        // Rows 0 and 2 are written twice; the later value wins, so the earlier one gets no gradient.
        var v = Leaf(32, 5, 2);
        var y = Tensor.Zeros(4, 2);
        y[[0, 2, 0, 1, 2]] = v;
        Assert.Equal(new[] { v[2].ToArray(), v[3].ToArray(), v[4].ToArray() }, new[] { y[0].ToArray(), y[1].ToArray(), y[2].ToArray() });
        (y * Tensor.Arange(1f, 9f).Reshape(4, 2)).Sum().Backward();
        Assert.Equal(new float[] { 0, 0, 0, 0, 1, 2, 3, 4, 5, 6 }, v.Grad!.ToArray());
        GradCheck.Assert(t =>
        {
            var z = t[0] * 2f;
            z[[0, 2, 0, 1, 2]] = t[1];
            return z;
        }, Leaf(33, 4, 2), Leaf(34, 5, 2));
    }

    [Fact]
    public void AssignmentIntoAFreshTensor_SendsGradientToTheValues()
    {
        // The common pattern: build a tensor from pieces that require grad.
        GradCheck.Assert(t =>
        {
            var y = Tensor.Zeros(3, 4);
            y[0] = t[0];
            y[1.., 1..3] = t[1];
            y[2, new[] { 0, 3 }] = t[0][..2];
            return y.Exp();
        }, Leaf(35, 4), Leaf(36, 2, 2));
    }

    [Fact]
    public void AssignmentAfterTheTargetWasUsed_DoesNotChangeEarlierGradients()
    {
        // z and u read y before the write (through ops that keep no copy of y): their gradient must reach a through y's old
        // value and never the value v.
        GradCheck.Assert(t =>
        {
            var y = t[0] * 1f;
            var z = y + 1f;
            var u = y.Sum(0);
            y[1] = t[1];
            return Tensor.Cat([z, u[None], y], 0);
        }, Leaf(38, 3, 2), Leaf(39, 2));
        // A tensor that did not require grad when first used, and does after the write.
        GradCheck.Assert(t =>
        {
            var y = Tensor.Zeros(2, 2);
            var before = t[0] + y;
            y[0] = t[0];
            return before * 3f + y;
        }, Leaf(40, 2));
    }

    [Fact]
    public void ReadingAViewOfTheTarget_ThenAssigning_FailsAtBackward_InsteadOfAWrongGradient()
    {
        // The view's values change with the write while its graph does not; the view's node notices (see Record).
        var y = Leaf(45, 3, 2) * 1f;
        var row = y[2];
        y[0] = row;
        Assert.Throws<InvalidOperationException>(() => y.Sum().Backward());
    }

    [Fact]
    public void AssignmentIntoALeafThatRequiresGrad_IsAnError_OutsideNoGrad()
    {
        var w = Leaf(41, 3, 2);
        Assert.Throws<InvalidOperationException>(() => w[0] = Tensor.Zeros(2));
        Assert.Throws<InvalidOperationException>(() => w[[0, 1]] = Tensor.Zeros(2));
        Assert.Throws<InvalidOperationException>(() => w.IndexPut(1f, w > 0f));
        using (Autograd.NoGrad())
        {
            w[0] = Tensor.Ones(2);
            w[[2]] = Tensor.Full([2], 3f);
        }
        Assert.Equal(new float[] { 1, 1 }, w[0].ToArray());
        Assert.Equal(new float[] { 3, 3 }, w[2].ToArray());
        Assert.True(w.IsLeaf);
    }

    [Fact]
    public void AssignmentThroughAViewOfAGraphTensor_IsRefused()
    {
        var y = Leaf(42, 3, 2) * 2f;
        var row = y[0];
        Assert.Throws<NotSupportedException>(() => row[1] = Tensor.Scalar(0f));
    }

    [Fact]
    public void ModifyingTheIndexTensor_BeforeBackward_IsAnError()
    {
        var x = Leaf(43, 4);
        var idx = Ints(0, 1);
        var y = x[idx];
        using (Autograd.NoGrad()) idx[0] = Tensor.FromArray(new[] { 3 });
        Assert.Throws<InvalidOperationException>(() => y.Sum().Backward());
    }
}
