using System.Runtime.CompilerServices;
namespace Kiln.Tests;

/// <summary>Autograd semantics as PyTorch has them: accumulation, graph lifetime, leaves, grad mode, in-place rules.</summary>
public sealed class AutogradTests
{
    static Tensor Leaf(params float[] values) => Tensor.Of(values).RequiresGradInPlace();

    static Tensor RandLeaf(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed)).RequiresGradInPlace();

    static void Close(float[] expected, Tensor? actual, float tol = 1e-5f)
    {
        Assert.NotNull(actual);
        var a = actual!.ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(expected[i] - a[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {a[i]}");
    }

    static float[] Map(Tensor t, Func<float, float> f) => Array.ConvertAll(t.ToArray(), v => f(v));

    // ---- accumulation and Backward's arguments ----

    [Fact]
    public void GradAccumulatesAcrossBackwardCalls()
    {
        var x = Leaf(1, 2, 3);
        (x * x).Sum().Backward();
        Close([2, 4, 6], x.Grad);
        (x * x).Sum().Backward();
        Close([4, 8, 12], x.Grad);
    }

    [Fact]
    public void ZeroGradClearsOrZeroesInPlace()
    {
        var x = Leaf(1, 2, 3);
        (x * 3f).Sum().Backward();
        var buffer = x.Grad!;
        x.ZeroGrad(setToNull: false);
        Assert.Same(buffer, x.Grad);
        Close([0, 0, 0], x.Grad);
        (x * 3f).Sum().Backward();
        Close([3, 3, 3], x.Grad);
        x.ZeroGrad();
        Assert.Null(x.Grad);
        (x * 2f).Sum().Backward();
        Close([2, 2, 2], x.Grad);
    }

    [Fact]
    public void BackwardOnAOneElementTensorUsesGradientOne()
    {
        var x = Leaf(2f);
        (x * x * x).Backward(); // shape [1], not 0-d
        Close([12], x.Grad);
        var y = Leaf(1f, 2f);
        y.Sum().Backward(); // 0-d
        Close([1, 1], y.Grad);
    }

    [Fact]
    public void BackwardWithExplicitGradientScalesTheChain()
    {
        var x = RandLeaf(1, 2, 3);
        var y = x * 3f;
        var g = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        y.Backward(g);
        Close(Map(g, v => 3 * v), x.Grad);
    }

    [Fact]
    public void BackwardWithGradientOfWrongShapeThrows()
    {
        var y = RandLeaf(1, 2, 3) * 2f;
        var ex = Assert.Throws<ArgumentException>(() => y.Backward(Tensor.Ones(3, 2)));
        Assert.Contains("[3,2]", ex.Message);
        Assert.Contains("[2,3]", ex.Message);
        Assert.Throws<ArgumentException>(() => y.Backward(Tensor.Ones(6)));
    }

    [Fact]
    public void BackwardOnANonScalarWithoutGradientThrows()
    {
        var y = Leaf(1f, 2f) * 2f;
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("gradient", ex.Message);
    }

    [Fact]
    public void BackwardOnATensorThatDoesNotRequireGradThrows()
    {
        var y = Tensor.Of(1f, 2f).Sum();
        Assert.Throws<InvalidOperationException>(() => y.Backward());
    }

    [Fact]
    public void BackwardOnALeafAccumulatesTheGradientItself()
    {
        var x = Leaf(1f, 2f);
        var g = Tensor.Of(5f, 7f);
        x.Backward(g);
        Close([5, 7], x.Grad);
        g.FillInPlace(0);
        Close([5, 7], x.Grad);
    }

    // ---- graph lifetime ----

    [Fact]
    public void SecondBackwardThroughAFreedGraphThrowsAClearError()
    {
        var x = Leaf(1f, 2f);
        var loss = x.Exp().Sum();
        loss.Backward();
        var ex = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("freed", ex.Message);
        Assert.Contains("retainGraph", ex.Message);
    }

    [Fact]
    public void BackwardLetsGoOfActivationsWhileTheLossLives()
    {
        // PyTorch frees what a node kept for its gradient once the node has run; Kiln's nodes also drop their references
        // to their inputs, so an activation can be collected as soon as every node that read it is done, while the loss
        // (and the graph's shape) is still alive.
        var x = Leaf(1f, 2f, 3f);
        var h = (x * 2f).Exp();
        var loss = h.Sum();
        var sum = loss.GradFn!;
        var exp = sum.NextFunctions[0]!;
        Assert.Same(h, sum.Inputs[0]);
        loss.Backward();
        Assert.All(sum.Inputs, Assert.Null);
        Assert.All(exp.Inputs, Assert.Null);
        Assert.Same(exp, sum.NextFunctions[0]);   // the graph's shape stays
        Assert.Equal("Exp", exp.Name);
        Close([2 * MathF.Exp(2), 2 * MathF.Exp(4), 2 * MathF.Exp(6)], x.Grad);
        var ex = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("freed", ex.Message);
    }

    [Fact]
    public void RetainGraphAllowsASecondBackwardThatAccumulates()
    {
        var x = Leaf(1f, 2f);
        var loss = x.Exp().Sum();
        loss.Backward(retainGraph: true);
        loss.Backward();
        Close([2 * MathF.Exp(1), 2 * MathF.Exp(2)], x.Grad);
        Assert.Throws<InvalidOperationException>(() => loss.Backward());
    }

    [Fact]
    public void DeepChainBackwardDoesNotOverflowTheStack()
    {
        var x = Leaf(1f);
        var y = x;
        for (int i = 0; i < 20000; i++) y = y * 1f;
        y.Sum().Backward();
        Close([1], x.Grad);
    }

    // ---- Detach ----

    [Fact]
    public void DetachCutsTheGraph()
    {
        var x = RandLeaf(1, 2, 3);
        var y = x * 2f;
        var d = y.Detach();
        Assert.False(d.RequiresGrad);
        Assert.True(d.IsLeaf);
        Assert.Null(d.GradFn);
        (d * x).Sum().Backward();
        // only the direct path: d(d*x)/dx = d = 2x, not 4x
        Close(Map(x, v => 2 * v), x.Grad);
    }

    [Fact]
    public void DetachSharesStorage()
    {
        var x = Leaf(1f, 2f, 3f);
        var d = x.Detach();
        Assert.Same(x.UntypedStorage, d.UntypedStorage);
        d.FillInPlace(9f); // allowed: d does not require grad
        Close([9, 9, 9], x);
    }

    // ---- grad mode ----

    [Fact]
    public void NoGradStopsRecordingAndNestsCorrectly()
    {
        var x = Leaf(1f, 2f);
        Assert.True(Autograd.IsGradEnabled);
        using (Autograd.NoGrad())
        {
            Assert.False(Autograd.IsGradEnabled);
            using (Autograd.NoGrad()) Assert.False(Autograd.IsGradEnabled);
            Assert.False(Autograd.IsGradEnabled);
            var y = x * 2f;
            Assert.False(y.RequiresGrad);
            Assert.Null(y.GradFn);
        }
        Assert.True(Autograd.IsGradEnabled);
        Assert.True((x * 2f).RequiresGrad);
    }

    [Fact]
    public void EnableGradInsideNoGradRecordsThenRestores()
    {
        var x = Leaf(1f, 2f);
        using (Autograd.NoGrad())
        {
            using (Autograd.NoGrad())
            {
                using (Autograd.EnableGrad())
                {
                    Assert.True(Autograd.IsGradEnabled);
                    var y = x.Square();
                    Assert.NotNull(y.GradFn);
                    y.Sum().Backward();
                }
                Assert.False(Autograd.IsGradEnabled);
            }
            Assert.False(Autograd.IsGradEnabled);
        }
        Assert.True(Autograd.IsGradEnabled);
        Close([2, 4], x.Grad);
    }

    [Fact]
    public void NoGradIsPerThread()
    {
        var x = Leaf(1f, 2f);
        bool otherEnabled = false, otherRecorded = false;
        using (Autograd.NoGrad())
        {
            var t = new Thread(() =>
            {
                otherEnabled = Autograd.IsGradEnabled;
                otherRecorded = (x * 2f).GradFn != null;
            });
            t.Start();
            t.Join();
            Assert.False(Autograd.IsGradEnabled);
        }
        Assert.True(otherEnabled);
        Assert.True(otherRecorded);
    }

    [Fact]
    public void NoGradOnAnotherThreadDoesNotDisableThisOne()
    {
        using var started = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var t = new Thread(() =>
        {
            using (Autograd.NoGrad()) { started.Set(); release.Wait(); }
        });
        t.Start();
        started.Wait();
        try
        {
            Assert.True(Autograd.IsGradEnabled);
            Assert.True((Leaf(1f) * 2f).RequiresGrad);
        }
        finally { release.Set(); t.Join(); }
    }

    // ---- leaves ----

    [Fact]
    public void UserTensorsAreLeavesAndOpResultsAreNot()
    {
        var x = Leaf(1f, 2f);
        var c = Tensor.Of(3f, 4f);
        Assert.True(x.IsLeaf);
        Assert.True(c.IsLeaf);
        var y = x * c;
        Assert.False(y.IsLeaf);
        Assert.Equal("Mul", y.GradFn!.Name);
        var z = c * 2f; // no input requires grad: a leaf that does not require grad
        Assert.True(z.IsLeaf);
        Assert.False(z.RequiresGrad);
    }

    [Fact]
    public void OnlyLeavesGetGradUnlessRetainGradIsCalled()
    {
        var x = Leaf(1f, 2f);
        var y = x * 3f;
        var w = x * 2f;
        w.RetainGrad();
        (y * w).Sum().Backward();
        Assert.Null(y.Grad);
        Close([3, 6], w.Grad); // d(y*w)/dw = y = 3x
        Close([12, 24], x.Grad); // d(6x^2)/dx
    }

    [Fact]
    public void RetainGradOnNonLeafGetsTheFullSummedGradient()
    {
        var x = Leaf(1f, 2f);
        var a = x.Exp();
        a.RetainGrad();
        (a * 2f + a * 3f).Sum().Backward();
        Close([5, 5], a.Grad);
    }

    [Fact]
    public void RequiresGradCanOnlyBeChangedOnLeaves()
    {
        var y = Leaf(1f) * 2f;
        Assert.Throws<InvalidOperationException>(() => y.RequiresGrad = false);
        var d = y.Detach();
        d.RequiresGrad = true;
        Assert.True(d.RequiresGrad);
        d.RequiresGrad = false;
        Assert.False(d.RequiresGrad);
    }

    [Fact]
    public void IntAndBoolTensorsCannotRequireGrad()
    {
        Assert.Throws<InvalidOperationException>(() => Tensor.Arange(3).RequiresGrad = true);
        Assert.Throws<InvalidOperationException>(() => (Tensor.Of(1f) > 0f).RequiresGradInPlace());
        var i = Tensor.Arange(3);
        i.RequiresGrad = false; // turning it off is harmless
        Assert.False(i.RequiresGrad);
    }

    // ---- graph shapes ----

    [Fact]
    public void ATensorUsedTwiceSumsBothContributions()
    {
        var x = Leaf(1f, -2f, 3f);
        (x * x).Sum().Backward();
        Close([2, -4, 6], x.Grad);
        x.ZeroGrad();
        (x + x).Sum().Backward();
        Close([2, 2, 2], x.Grad);
    }

    [Fact]
    public void DiamondGraphSumsContributions()
    {
        var x = Leaf(0.5f, -1f);
        var a = x.Exp();
        var b = a * 2f;
        var c = a * 3f;
        (b * c).Sum().Backward(); // 6 e^{2x} -> 12 e^{2x}
        Close(Map(x, v => 12 * MathF.Exp(2 * v)), x.Grad, 1e-5f);
    }

    [Fact]
    public void InputsThatDoNotRequireGradGetNoGrad()
    {
        var x = Leaf(1f, 2f);
        var c = Tensor.Of(3f, 4f);
        (x * c).Sum().Backward();
        Assert.Null(c.Grad);
        Close([3, 4], x.Grad);
    }

    // ---- leaf gradients are owned buffers ----

    [Fact]
    public void EachLeafGradIsItsOwnBuffer()
    {
        var a = Leaf(1f, 2f);
        var b = Leaf(3f, 4f);
        var g = Tensor.Of(1f, 1f);
        (a + b).Backward(g);
        Assert.NotSame(a.Grad, b.Grad);
        Assert.NotSame(a.Grad!.UntypedStorage, b.Grad!.UntypedStorage);
        Assert.NotSame(g.UntypedStorage, a.Grad.UntypedStorage);
        a.Grad.FillInPlace(7f);
        Close([1, 1], b.Grad);
        g.FillInPlace(0f);
        Close([1, 1], b.Grad);
    }

    [Fact]
    public void RetainedGradIsNotSharedWithALeafGrad()
    {
        var x = Leaf(1f, 2f);
        var y = x + 0f;
        y.RetainGrad();
        y.Sum().Backward();
        x.Grad!.FillInPlace(5f);
        Close([1, 1], y.Grad);
    }

    // ---- in-place rules ----

    [Fact]
    public void InPlaceChangeOfASavedTensorMakesBackwardThrow()
    {
        var x = Leaf(1f, 2f);
        var y = x.Exp(); // Exp saves its output
        y.MulInPlace(2f);
        var ex = Assert.Throws<InvalidOperationException>(() => y.Sum().Backward());
        Assert.Contains("modified in place", ex.Message);
        Assert.Contains("Exp", ex.Message);
    }

    [Fact]
    public void InPlaceChangeOfAnInputSavedByALaterOpMakesBackwardThrow()
    {
        var x = Leaf(1f, 2f);
        var s = x.Sigmoid();
        var p = s * x; // Mul saves s
        s.AddInPlace(Tensor.Of(1f, 1f));
        Assert.Throws<InvalidOperationException>(() => p.Sum().Backward());
    }

    [Fact]
    public void InPlaceChangeThroughADetachedAliasIsDetected()
    {
        var x = Leaf(1f, 2f);
        var y = x.Tanh();
        y.Detach().FillInPlace(0f);
        Assert.Throws<InvalidOperationException>(() => y.Sum().Backward());
    }

    [Fact]
    public void InPlaceOnALeafThatRequiresGradThrows()
    {
        var x = Leaf(1f, 2f);
        Assert.Throws<InvalidOperationException>(() => x.AddInPlace(Tensor.Of(1f, 1f)));
        Assert.Throws<InvalidOperationException>(() => x.MulInPlace(2f));
        Assert.Throws<InvalidOperationException>(() => x.FillInPlace(0f));
        Assert.Throws<InvalidOperationException>(() => x.CopyFrom(Tensor.Of(0f, 0f)));
        Close([1, 2], x); // nothing was written
    }

    [Fact]
    public void InPlaceOnALeafWorksInsideNoGradLikeAnOptimizerStep()
    {
        var w = Leaf(1f, 2f);
        (w * w).Sum().Backward();
        using (Autograd.NoGrad()) w.SubInPlace(w.Grad! * 0.1f);
        Close([0.8f, 1.6f], w);
        Assert.True(w.IsLeaf);
        Assert.True(w.RequiresGrad);
        w.ZeroGrad();
        (w * 3f).Sum().Backward();
        Close([3, 3], w.Grad);
    }

    [Fact]
    public void InPlaceThroughAViewOfAGraphTensorIsNotSupported()
    {
        var x = RandLeaf(1, 2, 3);
        var y = x * 2f;
        Assert.Throws<NotSupportedException>(() => y.Narrow(0, 0, 1).AddInPlace(Tensor.Ones(1, 3)));
        Assert.Throws<NotSupportedException>(() => y.T.MulInPlace(2f));
        Assert.Throws<NotSupportedException>(() => y.Select(1, 0).FillInPlace(0f));
        Assert.Throws<NotSupportedException>(() => x.T.FillInPlace(0f));
        // a view of a plain tensor written from a source that requires grad
        var c = Tensor.Zeros(2, 3);
        Assert.Throws<NotSupportedException>(() => c.Select(0, 0).CopyFrom(Leaf(1f, 2f, 3f)));
    }

    [Fact]
    public void InPlaceOnAViewOfAPlainTensorStillWorks()
    {
        var c = Tensor.Zeros(2, 3);
        c.Select(0, 1).FillInPlace(2f);
        Close([0, 0, 0, 2, 2, 2], c);
    }

    [Fact]
    public void InPlaceOnABaseAfterAViewWasTakenIsNotAWrongGradient()
    {
        var x = Leaf(1f, 2f);
        var y = x * 1f;
        var v = y.View(2, 1);
        y.MulInPlace(3f); // v now holds 3x
        Close([3, 6], v);
        try
        {
            v.Sum().Backward();
        }
        catch (InvalidOperationException)
        {
            return; // refusing is acceptable; a silently wrong gradient is not
        }
        Close([3, 3], x.Grad);
    }

    [Fact]
    public void InPlaceOnATensorDoesNotRerouteGradientsOfOpsRecordedBeforeIt()
    {
        var x = Leaf(1f, 2f);
        var y = x * 1f;
        var z = y + 1f; // Add saves nothing, so no version check can catch a mix-up
        y.MulInPlace(3f);
        z.Sum().Backward();
        Close([1, 1], x.Grad); // z = x + 1, whatever happened to y afterwards

        x.ZeroGrad();
        var a = x.Square();
        var s = a.Sum();
        a.AddInPlace(x);
        s.Backward();
        Close([2, 4], x.Grad); // s = sum(x^2)

        x.ZeroGrad();
        var acc = Tensor.Zeros(2);
        var c = acc + x; // acc did not require grad here
        acc.AddInPlace(x); // ...but does now
        c.Sum().Backward();
        Close([1, 1], x.Grad);
    }

    [Fact]
    public void InPlaceOnAReshapeCopyIsAllowed()
    {
        var x = RandLeaf(3, 2, 3);
        var y = x.T.Reshape(-1); // not viewable: a copy, not a view of x
        y.AddInPlace(Tensor.Ones(6));
        (y * y).Sum().Backward();
        Close(Map(x, v => 2 * (v + 1)), x.Grad);
    }

    [Fact]
    public void AddAndSubInPlaceOnNonLeafGiveCorrectGradients()
    {
        var x = Leaf(1f, 2f, 3f);
        var b = Leaf(0.5f);
        var y = x.Square();
        y.AddInPlace(b);
        y.SubInPlace(x);
        Assert.False(y.IsLeaf);
        Assert.Equal("SubInPlace", y.GradFn!.Name);
        (y * Tensor.Of(1f, 2f, 3f)).Sum().Backward();
        // y = x^2 + b - x; dy/dx = 2x - 1 weighted by (1,2,3); dL/db = 1 + 2 + 3
        Close([1 * 1, 2 * 3, 3 * 5], x.Grad);
        Close([6], b.Grad);
    }

    [Fact]
    public void InPlaceOnAPlainTensorFromASourceThatRequiresGradRecordsIt()
    {
        var acc = Tensor.Zeros(3);
        var x = Leaf(1f, 2f, 3f);
        acc.AddInPlace(x.Square());
        acc.AddInPlace(x);
        Assert.True(acc.RequiresGrad);
        Assert.False(acc.IsLeaf);
        acc.Sum().Backward();
        Close([3, 5, 7], x.Grad);
    }

    [Fact]
    public void MulAndDivInPlaceByConstantsGiveCorrectGradients()
    {
        var x = Leaf(1f, 2f, 3f);
        var y = x.Square();
        y.MulInPlace(2.5f);
        y.DivInPlace(Tensor.Of(1f, 2f, 4f));
        y.Sum().Backward();
        Close([2.5f * 2 * 1 / 1, 2.5f * 2 * 2 / 2, 2.5f * 2 * 3 / 4], x.Grad);
    }

    [Fact]
    public void MulInPlaceByAFactorThatRequiresGradIsRefused()
    {
        var y = Leaf(1f, 2f) * 1f;
        Assert.Throws<NotSupportedException>(() => y.MulInPlace(Leaf(2f, 3f)));
    }

    [Fact]
    public void CopyFromReplacesTheGradientPath()
    {
        var x = Leaf(1f, 2f, 3f);
        var b = Leaf(4f);
        var y = x.Square();
        y.CopyFrom(b); // broadcast [1] -> [3]
        (y * x).Sum().Backward();
        // y no longer depends on x: only the direct factor (y = 4) reaches x; b gets sum of x
        Close([4, 4, 4], x.Grad);
        Close([6], b.Grad);
    }

    [Fact]
    public void FillInPlaceCutsTheGradientToTheOldValue()
    {
        var x = Leaf(1f, 2f);
        var y = x.Square();
        y.FillInPlace(3f);
        Assert.True(y.RequiresGrad);
        (y * x).Sum().Backward();
        Close([3, 3], x.Grad);
    }

    [Fact]
    public void ClampInPlaceOnNonLeafGivesCorrectGradient()
    {
        var x = Leaf(-2f, 0.5f, 2f);
        var y = x * 2f;
        y.ClampInPlace(-1f, 1f);
        Close([-1, 1, 1], y);
        y.Sum().Backward();
        Close([0, 2, 0], x.Grad);
    }
}

/// <summary>RetainGrad after an in-place write: the retained gradient is the gradient of the tensor's new value.</summary>
public sealed class RetainGradInPlaceTests
{
    [Fact]
    public void Retained_gradient_follows_an_in_place_write()
    {
        var x = Tensor.Of(1, 2, 3).RequiresGradInPlace();
        var y = (x * 2f).RetainGrad();
        y.MulInPlace(3f);              // y is now 6x; its retained gradient is d(out)/d(new y)
        var outp = (y * y).Sum();      // d/dy = 2y = 12x
        outp.Backward();
        Assert.Equal(new[] { 12f, 24f, 36f }, y.Grad!.ToArray());
        Assert.Equal(new[] { 72f, 144f, 216f }, x.Grad!.ToArray()); // d(36x^2)/dx = 72x
    }
}

/// <summary>The engine hands fresh gradient buffers to leaves without copying, but never a buffer someone else holds.</summary>
public sealed class LeafGradOwnershipTests
{
    [Fact]
    public void A_gradient_passed_to_Backward_never_becomes_a_leafs_Grad_buffer()
    {
        var x = Tensor.Of(1, 2, 3).RequiresGradInPlace();
        var g = Tensor.Of(10, 20, 30);
        x.Clone().Backward(g);                 // Clone's backward passes g straight through
        x.Grad!.AddInPlace(Tensor.Of(1, 1, 1));
        Assert.Equal(new[] { 10f, 20f, 30f }, g.ToArray());
        Assert.Equal(new[] { 11f, 21f, 31f }, x.Grad.ToArray());
    }

    [Fact]
    public void A_fresh_gradient_becomes_the_leafs_Grad_and_later_backwards_accumulate_into_it()
    {
        var w = Tensor.Randn(3, 4).RequiresGradInPlace();
        var x = Tensor.Randn(5, 4);
        var loss = Kiln.Nn.F.Linear(x, w).Sum();
        loss.Backward();
        var first = w.Grad!.ToArray();
        Kiln.Nn.F.Linear(x, w).Sum().Backward();
        var twice = w.Grad!.ToArray();
        for (int i = 0; i < first.Length; i++) Assert.Equal(2 * first[i], twice[i], 4);
    }
}

/// <summary>p.AddInPlace(g, alpha), the optimizer update, in its fused (unrecorded) and recorded forms.</summary>
public sealed class ScaledAddInPlaceTests
{
    [Fact]
    public void Fused_scaled_add_matches_the_composed_form()
    {
        var p = Tensor.Randn(50, 784);
        var g = Tensor.Randn(50, 784);
        var expected = (p + g * -0.1f).ToArray();
        using (Autograd.NoGrad()) p.AddInPlace(g, -0.1f);
        var got = p.ToArray();
        for (int i = 0; i < got.Length; i++) Assert.Equal(expected[i], got[i], 5);
    }

    [Fact]
    public void Recorded_scaled_add_on_a_non_leaf_still_gets_gradients()
    {
        var a = Tensor.Of(1, 2).RequiresGradInPlace();
        var b = Tensor.Of(3, 4).RequiresGradInPlace();
        var y = a * 1f;
        y.AddInPlace(b, 0.5f);
        y.Sum().Backward();
        Assert.Equal(new[] { 1f, 1f }, a.Grad!.ToArray());
        Assert.Equal(new[] { 0.5f, 0.5f }, b.Grad!.ToArray());
    }
}

/// <summary>TensorMemory's switch is process-wide, so these run alone (the non-parallel collection).</summary>
[Collection("Threading")]
public sealed class TensorMemoryTests
{
    /// <summary>Puts TensorMemory's process-wide settings back as they were when a test ends, whatever it changed.</summary>
    sealed class MemorySettings : IDisposable
    {
        readonly long _collectEvery = TensorMemory.CollectEveryBytes, _keepFree = TensorMemory.KeepFreeBytes;
        readonly bool _recycle = TensorMemory.RecycleBuffers;

        public void Dispose()
        {
            TensorMemory.CollectEveryBytes = _collectEvery;
            TensorMemory.KeepFreeBytes = _keepFree;
            TensorMemory.RecycleBuffers = _recycle;
        }
    }

    [Fact]
    public void LargeAllocationsTriggerACollectionOnceTheAllowanceIsUsed()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 1;          // any allocation since the last collection is enough
        int before = TensorMemory.Collections, gen2 = GC.CollectionCount(2);
        var big = Tensor.Zeros(1 << 18);             // a 1 MiB buffer: checked
        Assert.True(TensorMemory.Collections > before, "a 1 MiB tensor should have triggered a collection");
        Assert.True(GC.CollectionCount(2) > gen2);
        TensorMemory.CollectEveryBytes = 0;          // off
        before = TensorMemory.Collections;
        var big2 = Tensor.Zeros(1 << 18);
        Assert.Equal(before, TensorMemory.Collections);
        Assert.Equal(0f, big.Sum().Item() + big2.Sum().Item());
    }

    /// <summary>Allocates a large tensor in a frame of its own, so no local of the test keeps it alive.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static WeakReference<float[]> DeadBuffer(int n)
    {
        var t = Tensor.Empty([n]);
        t.Storage.Floats![0] = 42f;
        return new WeakReference<float[]>(t.Storage.Floats!, trackResurrection: true);  // a short weak reference dies before resurrection
    }

    /// <summary>In a frame of its own: an <c>out</c> temporary in the test method could keep the array alive to its end.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static bool Alive(WeakReference<float[]> weak) => weak.TryGetTarget(out _);

    static void CollectNow()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    [Fact]
    public void AnUnreachableLargeBufferIsHandedToTheNextTensorOfItsLengthZeroed()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 0;          // collections only where this test asks
        const int n = (1 << 18) + 13;                // a length nothing else in the suite uses
        var weak = DeadBuffer(n);
        CollectNow();
        Assert.True(weak.TryGetTarget(out var kept), "the recycler should have kept the buffer");
        long recycled = TensorMemory.RecycledBuffers;
        var again = Tensor.Empty([n]);
        Assert.Same(kept, again.Storage.Floats);
        Assert.Equal(recycled + 1, TensorMemory.RecycledBuffers);
        Assert.Equal(0f, again.Storage.Floats![0]);  // Empty promises zeros: the old 42 is gone
        Assert.Equal(0f, again.Abs().Sum().Item());
        var other = Tensor.Empty([n]);               // the only free one is taken: a fresh buffer
        Assert.NotSame(kept, other.Storage.Floats);
        GC.KeepAlive(again);
    }

    [Fact]
    public void ABufferStillReferencedByAnythingIsNeverHandedOut()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 0;
        const int n = (1 << 18) + 29;
        var t = Tensor.Empty([n]);
        float[] raw = t.Storage.Floats!;             // the tensor becomes garbage, its array does not
        t = null;
        CollectNow();
        CollectNow();
        var fresh = Tensor.Empty([n]);
        Assert.NotSame(raw, fresh.Storage.Floats);
        GC.KeepAlive(raw);
        // A view keeps its storage, and so the buffer, alive: reusing it would alias two live tensors.
        var baseTensor = Tensor.Empty([n]);
        var view = baseTensor.Narrow(0, 1, 5);
        float[] viewed = baseTensor.Storage.Floats!;
        baseTensor = null;
        CollectNow();
        Assert.NotSame(viewed, Tensor.Empty([n]).Storage.Floats);
        Assert.Same(viewed, view.Storage.Floats);
    }

    [Fact]
    public void AFreeBufferIsListedOnceAndComesBackAfterEachLife()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 0;
        const int n = (1 << 18) + 31;
        var weak = DeadBuffer(n);
        for (int i = 0; i < 3; i++) CollectNow();   // extra collections must not list it twice
        Assert.True(weak.TryGetTarget(out var first));
        var a = Tensor.Empty([n]);
        var b = Tensor.Empty([n]);
        Assert.Same(first, a.Storage.Floats);
        Assert.NotSame(first, b.Storage.Floats);
        first = null;
        GC.KeepAlive(b);
        a = null;                                    // second life over: back again
        CollectNow();
        Assert.True(weak.TryGetTarget(out var second));
        Assert.Same(second, Tensor.Empty([n]).Storage.Floats);
    }

    [Fact]
    public void ALongRunOfNewLengthsSendsOldFreeBuffersBackToTheRuntime()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 1;          // a collection at every large allocation
        TensorMemory.KeepFreeBytes = 0;              // first empty the free list other tests left
        GC.KeepAlive(Tensor.Empty([(1 << 18) + 41]));
        TensorMemory.KeepFreeBytes = long.MaxValue;
        Assert.Equal(0, TensorMemory.FreeBuffers.Count);
        const int n = (1 << 18) + 43;
        var weak = DeadBuffer(n);
        var keep = new List<Tensor> { Tensor.Empty([(1 << 18) + 47]) };   // collects: the dead buffer is free now
        keep.Add(Tensor.Empty([(1 << 18) + 53]));                         // and has waited a whole interval
        Assert.True(Alive(weak), "the free buffer should still be kept");
        // Workload changed: more than the 64 MiB streak of lengths nobody freed, all still alive.
        for (int i = 0; i < 20; i++) keep.Add(Tensor.Empty([(1 << 20) + 59 + i]));
        Assert.Equal(0, TensorMemory.FreeBuffers.Count);
        CollectNow();
        CollectNow();
        Assert.False(Alive(weak), "a 80 MiB run of misses should have evicted the old free buffer");
        GC.KeepAlive(keep);
    }

    [Fact]
    public void TrainingStepsReuseTheirBuffersAndGiveTheSameResults()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 8L << 20;
        Tensor Step(Kiln.Nn.Linear lin, Tensor x)
        {
            var loss = lin.Call(x).Relu().Sum();
            loss.Backward();
            return lin.Weight.Grad!.Clone();
        }
        var gen = new Generator(3);
        var x = Tensor.Randn([1024, 300], gen);        // activations of 1024 x 400 floats: 1.6 MiB, recycled
        var lin = new Kiln.Nn.Linear(300, 400, generator: new Generator(4));
        var first = Step(lin, x);
        long recycled = TensorMemory.RecycledBuffers;
        for (int i = 0; i < 6; i++)
        {
            lin.ZeroGrad();
            var again = Step(lin, x);
            Assert.Equal(first.ToArray(), again.ToArray());   // bit for bit, whatever buffers were reused
        }
        Assert.True(TensorMemory.RecycledBuffers > recycled, "later steps should have reused freed buffers");
    }

    [Fact]
    public void RecyclingOffLeavesBuffersToTheRuntime()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 0;
        TensorMemory.RecycleBuffers = false;
        const int n = (1 << 18) + 37;
        var weak = DeadBuffer(n);
        CollectNow();
        CollectNow();
        Assert.False(Alive(weak), "with recycling off the runtime should have freed the buffer");
    }

    [Fact]
    public void BackwardPassesOfASmallModelNeverCollect()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 1;
        GC.KeepAlive(Tensor.Empty([1 << 18]));           // a collection now: nothing large allocated since
        TensorMemory.CollectEveryBytes = 4L << 20;       // a quarter is 1 MiB: the small steps below allocate far more
        var lin = new Kiln.Nn.Linear(200, 100, generator: new Generator(5));
        var x = Tensor.Randn([64, 200], new Generator(6));
        int before = TensorMemory.Collections;
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < 40; i++)
        {
            lin.ZeroGrad();
            lin.Call(x).Relu().Sum().Backward();
        }
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - allocated > 2L << 20, "the loop should allocate more than the threshold");
        Assert.Equal(before, TensorMemory.Collections);   // only buffers of 1 MiB or more count towards a collection
    }

    [Fact]
    public void SmallTensorsNeverTrigger()
    {
        using var settings = new MemorySettings();
        TensorMemory.CollectEveryBytes = 1;
        int before = TensorMemory.Collections;
        var small = Tensor.Zeros((1 << 18) - 1);      // just under 1 MiB
        Assert.Equal(before, TensorMemory.Collections);
        Assert.Equal((1 << 18) - 1, small.Numel);
    }
}
