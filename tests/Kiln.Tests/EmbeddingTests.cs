using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>Embedding: lookup, scatter-added gradient, padding index, initialisation and errors.</summary>
public sealed class EmbeddingTests
{
    [Fact]
    public void LookupReturnsRowsInTheIndicesShape()
    {
        var emb = new Embedding(7, 3, generator: new Generator(1));
        var w = emb.Weight.ToArray();
        var idx = Tensor.FromArray(new[] { 6, 0, 2, 2, 5, 1 }, 2, 3);
        var y = emb.Call(idx);
        Assert.Equal(new[] { 2, 3, 3 }, y.Shape);
        var ys = y.ToArray();
        int[] flat = [6, 0, 2, 2, 5, 1];
        for (int i = 0; i < 6; i++)
            for (int d = 0; d < 3; d++) Assert.Equal(w[flat[i] * 3 + d], ys[i * 3 + d]);
    }

    [Fact]
    public void GradientScatterAddsIntoRowsAndSkipsThePaddingRow()
    {
        var emb = new Embedding(5, 2, paddingIdx: -1, generator: new Generator(2)); // -1 means row 4
        Assert.Equal(4, emb.PaddingIdx);
        Assert.Equal(new[] { 0f, 0f }, emb.Weight[4].ToArray());
        var idx = Tensor.FromArray(new[] { 1, 3, 1, 4, 1 }, 5);
        var g = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, 5, 2);
        emb.Call(idx).Backward(g);
        // row 1 collects positions 0, 2 and 4; row 3 position 1; row 4 is padding
        Assert.Equal(new float[] { 0, 0, 1 + 5 + 9, 2 + 6 + 10, 0, 0, 3, 4, 0, 0 }, emb.Weight.Grad!.ToArray());
        GradCheck.Assert(t => F.Embedding(idx, t[0]), Tensor.Randn([5, 2], new Generator(3)).RequiresGradInPlace());
    }

    [Fact]
    public void InitialisationIsStandardNormal()
    {
        var w = new Embedding(1000, 50, generator: new Generator(4)).Weight.ToArray();
        double mean = w.Average(), sd = Math.Sqrt(w.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, -0.02, 0.02);
        Assert.InRange(sd, 0.98, 1.02);
    }

    [Fact]
    public void OutOfRangeIndexNamesIndexAndPosition()
    {
        var emb = new Embedding(4, 2);
        var e = Assert.Throws<ArgumentException>(() => emb.Call(Tensor.FromArray(new[] { 0, 4 }, 2)));
        Assert.Contains("index 4", e.Message);
        Assert.Contains("position 1", e.Message);
        Assert.Throws<ArgumentException>(() => emb.Call(Tensor.Of(1f)));
    }
}
