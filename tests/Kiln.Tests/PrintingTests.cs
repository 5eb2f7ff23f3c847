namespace Kiln.Tests;

public sealed class PrintingTests
{
    [Fact]
    public void IntegerValuedFloatMatrixPrintsWithTrailingDotsAlignedUnderTensorParen()
    {
        var t = Tensor.FromArray(new float[,] { { 1, 2 }, { 3, 4 } });
        Assert.Equal("tensor([[1., 2.],\n        [3., 4.]])", t.ToString());
    }

    [Fact]
    public void FractionalFloatsUseFourDecimalsRightAlignedToCommonWidth()
    {
        Assert.Equal("tensor([ 1.5000, -2.2500,  3.0000])", Tensor.Of(1.5f, -2.25f, 3f).ToString());
    }

    [Fact]
    public void NegativeIntegerValuedFloatsShareWidth()
    {
        Assert.Equal("tensor([-10.,   2.,   0.])", Tensor.Of(-10f, 2f, 0f).ToString());
    }

    [Fact]
    public void Int32TensorPrintsWithoutDecimalsAndWithDtypeSuffix()
    {
        var t = Tensor.FromArray(new[] { 1, -20, 3 });
        Assert.Equal("tensor([  1, -20,   3], dtype=int32)", t.ToString());
    }

    [Fact]
    public void BoolTensorPrintsTrueFalseRightAligned()
    {
        var t = Tensor.FromArray(new[] { true, false, true });
        Assert.Equal("tensor([ True, False,  True])", t.ToString());
    }

    [Fact]
    public void ZeroDimTensorsPrintWithoutBrackets()
    {
        Assert.Equal("tensor(3.5000)", Tensor.Scalar(3.5f).ToString());
        Assert.Equal("tensor(2.)", Tensor.Scalar(2f).ToString());
        Assert.Equal("tensor(-7, dtype=int32)", Tensor.FromArray(new[] { -7 }).Reshape().ToString());
    }

    [Fact]
    public void EmptyTensorsPrintSizeWhenNot1dAndDtypeWhenNotFloat()
    {
        Assert.Equal("tensor([])", Tensor.Zeros(0).ToString());
        Assert.Equal("tensor([], size=(0, 3))", Tensor.Zeros(0, 3).ToString());
        Assert.Equal("tensor([], dtype=int32)", Tensor.Zeros([0], DType.Int32).ToString());
        Assert.Equal("tensor([], size=(2, 0), dtype=bool)", Tensor.Zeros([2, 0], DType.Bool).ToString());
    }

    [Fact]
    public void TransposedViewPrintsInLogicalOrder()
    {
        var t = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } }).T;
        Assert.False(t.IsContiguous);
        Assert.Equal("tensor([[1., 4.],\n        [2., 5.],\n        [3., 6.]])", t.ToString());
    }

    [Fact]
    public void ThreeDimTensorSeparatesMatricesWithBlankLine()
    {
        var t = Tensor.Arange(0f, 8f).Reshape(2, 2, 2);
        Assert.Equal("tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])", t.ToString());
    }

    [Fact]
    public void TinyValuesSwitchToScientificNotation()
    {
        Assert.Equal("tensor([1.0000e-05, 1.0000e+00])", Tensor.Of(1e-5f, 1f).ToString());
        Assert.Equal("tensor([-2.5000e-05,  3.0000e-05])", Tensor.Of(-2.5e-5f, 3e-5f).ToString());
    }

    [Fact]
    public void WideRangeOrHugeValuesSwitchToScientificNotation()
    {
        // Ratio 2000 > 1000 even though both are integers.
        Assert.Equal("tensor([1.0000e+00, 2.0000e+03])", Tensor.Of(1f, 2000f).ToString());
        Assert.Equal("tensor(1.0000e+09)", Tensor.Scalar(1e9f).ToString());
        // Ratio exactly 1000 stays fixed.
        Assert.Equal("tensor([   1., 1000.])", Tensor.Of(1f, 1000f).ToString());
    }

    [Fact]
    public void NonFiniteValuesDoNotChangeTheFormat()
    {
        Assert.Equal("tensor([1.5000,    nan,    inf,   -inf])", Tensor.Of(1.5f, float.NaN, float.PositiveInfinity, float.NegativeInfinity).ToString());
        Assert.Equal("tensor([0., nan])", Tensor.Of(0f, float.NaN).ToString());
    }

    [Fact]
    public void LongRowsWrapAtEightyColumns()
    {
        // Width 3 ("29."), 5 characters per element, (80 - 7) / 5 = 14 per line.
        string expected =
            "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n" +
            "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n" +
            "        28., 29.])";
        Assert.Equal(expected, Tensor.Arange(0f, 30f).ToString());
        Assert.All(expected.Split('\n'), line => Assert.True(line.Length <= 80));
    }

    [Fact]
    public void SuffixMovesToNewLineWhenLastLineIsFull()
    {
        // The int row fills its line, so the dtype suffix does not fit after it.
        var t = Tensor.Arange(100, 112);
        Assert.Equal(
            "tensor([100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111],\n       dtype=int32)",
            t.ToString());
    }

    [Fact]
    public void LargeIntMatrixIsSummarisedWithEdgeItems()
    {
        var t = Tensor.Arange(10000).Reshape(100, 100);
        string expected =
            "tensor([[   0,    1,    2,  ...,   97,   98,   99],\n" +
            "        [ 100,  101,  102,  ...,  197,  198,  199],\n" +
            "        [ 200,  201,  202,  ...,  297,  298,  299],\n" +
            "        ...,\n" +
            "        [9700, 9701, 9702,  ..., 9797, 9798, 9799],\n" +
            "        [9800, 9801, 9802,  ..., 9897, 9898, 9899],\n" +
            "        [9900, 9901, 9902,  ..., 9997, 9998, 9999]], dtype=int32)";
        Assert.Equal(expected, t.ToString());
    }

    [Fact]
    public void LargeFloatMatrixShowsFirstAndLastValuesOnly()
    {
        var t = (Tensor.Arange(0f, 10000f) / 10000f + 1f).Reshape(100, 100);
        string s = t.ToString();
        var lines = s.Split('\n');
        Assert.Equal(7, lines.Length);
        Assert.StartsWith("tensor([[1.0000, 1.0001, 1.0002,  ..., 1.0097, 1.0098, 1.0099],", s);
        Assert.Equal("        ...,", lines[3]);
        Assert.Equal("        [1.9900, 1.9901, 1.9902,  ..., 1.9997, 1.9998, 1.9999]])", lines[6]);
        Assert.DoesNotContain("1.0050", s);
    }

    [Fact]
    public void LongVectorIsSummarisedOnOneLine()
    {
        Assert.Equal("tensor([   0,    1,    2,  ..., 1997, 1998, 1999], dtype=int32)", Tensor.Arange(2000).ToString());
    }

    [Fact]
    public void SteppedViewPrintsOnlyItsElements()
    {
        var t = Tensor.Arange(0f, 10f).Slice(0, 1, null, 3);
        Assert.Equal("tensor([1., 4., 7.])", t.ToString());
    }

    [Fact]
    public void ThousandElementsAreNotSummarisedButThousandAndOneAre()
    {
        Assert.DoesNotContain("...", Tensor.Zeros(1000).ToString());
        Assert.Contains("...", Tensor.Zeros(1001).ToString());
    }

    [Fact]
    public void VerboseAppendsSizeAndDtype()
    {
        Assert.Equal("tensor([[1., 2.]], size=(1, 2), dtype=float32)", Tensor.FromArray(new float[,] { { 1, 2 } }).ToString(verbose: true));
        Assert.Equal("tensor([True], size=(1,), dtype=bool)", Tensor.FromArray(new[] { true }).ToString(true));
    }
}
