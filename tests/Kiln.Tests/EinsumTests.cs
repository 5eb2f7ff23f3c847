namespace Kiln.Tests;

public sealed class EinsumTests
{
    static Tensor Randn(int seed, params int[] shape) => Tensor.Randn(shape, new Generator(seed));

    /// <summary>
    /// Einsum by its definition, for explicit letter-only equations: loop over every assignment of every letter, multiply the
    /// operands' elements (a size-1 dim broadcasts) and add into the output element, in double.
    /// </summary>
    static double[] Reference(string equation, int[] outShape, params Tensor[] ops)
    {
        var parts = equation.Split("->");
        var terms = parts[0].Split(',');
        string output = parts[1];
        var size = new Dictionary<char, int>();
        for (int i = 0; i < ops.Length; i++)
            for (int d = 0; d < terms[i].Length; d++)
                size[terms[i][d]] = Math.Max(size.GetValueOrDefault(terms[i][d], 1), ops[i].Size(d));
        var letters = size.Keys.ToArray();
        var data = ops.Select(o => o.ToArray()).ToArray();
        var result = new double[outShape.Aggregate(1, (p, s) => p * s)];
        var idx = new int[128];
        long total = letters.Aggregate(1L, (p, l) => p * size[l]);
        for (long flat = 0; flat < total; flat++)
        {
            long rem = flat;
            foreach (char l in letters) { idx[l] = (int)(rem % size[l]); rem /= size[l]; }
            double prod = 1;
            for (int i = 0; i < ops.Length; i++)
            {
                int off = 0;
                for (int d = 0; d < terms[i].Length; d++)
                    off = off * ops[i].Size(d) + (ops[i].Size(d) == 1 ? 0 : idx[terms[i][d]]);
                prod *= data[i][off];
            }
            int o = 0;
            foreach (char l in output) o = o * size[l] + idx[l];
            result[o] += prod;
        }
        return result;
    }

    static void Check(string equation, params Tensor[] ops)
    {
        var got = Tensor.Einsum(equation, ops);
        var want = Reference(equation, got.Shape, ops);
        var g = got.ToArray();
        Assert.Equal(want.Length, g.Length);
        for (int i = 0; i < g.Length; i++)
            Assert.True(Math.Abs(g[i] - want[i]) <= 1e-4 * (1 + Math.Abs(want[i])), $"{equation}: element {i} is {g[i]}, expected {want[i]}");
    }

    static void AssertClose(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        float[] e = expected.ToArray(), a = actual.ToArray();
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(a[i] - e[i]) <= 1e-4 * (1 + Math.Abs(e[i])), $"element {i}: {a[i]} vs {e[i]}");
    }

    [Fact]
    public void MatrixProduct_MatchesDefinitionAndMatMul()
    {
        var a = Randn(1, 5, 784);
        var b = Randn(2, 784, 10);
        var c = Tensor.Einsum("ik,kj->ij", a, b);
        Assert.Equal([5, 10], c.Shape);
        AssertClose(a.MatMul(b), c);
        Check("ik,kj->ij", Randn(3, 7, 63), Randn(4, 63, 65));
    }

    [Fact]
    public void WeightGradientForm_SumsOverTheBatch()
    {
        // Lesson 8's w.g = inp.T @ out.g written as einsum.
        var x = Randn(1, 64, 50);
        var g = Randn(2, 64, 10);
        var w = Tensor.Einsum("bi,bj->ij", x, g);
        Assert.Equal([50, 10], w.Shape);
        AssertClose(x.T.MatMul(g), w);
        Check("bi,bj->ij", Randn(3, 9, 4), Randn(4, 9, 3));
    }

    [Fact]
    public void WeightGradientOperands_ReachGemmWithoutACopy()
    {
        // 'bi,bj->ij' lays x out as [i, b] (a transposed view) then groups it as [1, i, b]: still a view GEMM reads in place.
        var x = Randn(1, 64, 50);
        var laid = x.Permute(1, 0).Reshape(1, 50, 64);
        Assert.Same(x.UntypedStorage, laid.UntypedStorage);
        Assert.True(Tensor.GemmReadsInPlace(laid));
    }

    [Fact]
    public void BatchedProduct_MatchesBmm()
    {
        var a = Randn(1, 6, 7, 5);
        var b = Randn(2, 6, 5, 3);
        AssertClose(a.Bmm(b), Tensor.Einsum("bik,bkj->bij", a, b));
        Check("bik,bkj->bij", a, b);
    }

    [Fact]
    public void SingleOperandForms_TransposeDiagonalTraceSum()
    {
        var m = Randn(1, 4, 4);
        var r = Randn(2, 3, 5);
        var t = Tensor.Einsum("ij->ji", r);
        Assert.Equal([5, 3], t.Shape);
        Assert.Equal(r.T.ToArray(), t.ToArray());
        var diag = Tensor.Einsum("ii->i", m).ToArray();
        var mv = m.ToArray();
        Assert.Equal(Enumerable.Range(0, 4).Select(i => mv[i * 5]).ToArray(), diag);
        var trace = Tensor.Einsum("ii->", m);
        Assert.Empty(trace.Shape);
        Assert.Equal(diag.Sum(), trace.Item(), 4);
        Assert.Equal(r.Sum().Item(), Tensor.Einsum("ij->", r).Item(), 4);
        Check("ij->j", r);
        Check("iji->j", Randn(3, 3, 2, 3));
        Check("ii->", m);
    }

    [Fact]
    public void OuterProduct_IsLessonExample()
    {
        var c = Tensor.Of(10, 20, 30);
        var o = Tensor.Einsum("i,j->ij", c, c);
        Assert.Equal(new float[] { 100, 200, 300, 200, 400, 600, 300, 600, 900 }, o.ToArray());
        Check("i,j->ij", Randn(1, 7), Randn(2, 5));
    }

    [Fact]
    public void ThreeAndFourOperands_MatchDefinition()
    {
        Check("ij,jk,kl->il", Randn(1, 3, 4), Randn(2, 4, 5), Randn(3, 5, 2));
        Check("bi,bj,bk->ijk", Randn(4, 6, 2), Randn(5, 6, 3), Randn(6, 6, 4));
        Check("i,i,i->", Randn(7, 5), Randn(8, 5), Randn(9, 5));
        Check("ab,bc,ca,d->d", Randn(10, 3, 4), Randn(11, 4, 2), Randn(12, 2, 3), Randn(13, 3));
        Check("ij,jk,kl->li", Randn(14, 2, 3), Randn(15, 3, 4), Randn(16, 4, 5));
    }

    [Fact]
    public void MixedForms_MatchDefinition()
    {
        Check("bij,bjk->bik", Randn(1, 2, 3, 4), Randn(2, 2, 4, 5));
        Check("bij,bjk->ik", Randn(3, 2, 3, 4), Randn(4, 2, 4, 5));
        Check("ij,ij->i", Randn(5, 4, 6), Randn(6, 4, 6));       // row-wise dot: batch only
        Check("ij,kj->ikj", Randn(7, 3, 4), Randn(8, 2, 4));    // a letter kept in both: batch dim
        Check("abc,cd->dba", Randn(9, 2, 3, 4), Randn(10, 4, 5));
        Check("ii,j->ij", Randn(11, 3, 3), Randn(12, 4));
        Check("ij,jk->ik", Randn(13, 6, 5).T.Slice(0, step: 2), Randn(14, 6, 2)); // strided view operand
        Check("Ab,bA->A", Randn(15, 3, 4), Randn(16, 4, 3));    // upper-case letters are distinct labels
    }

    [Fact]
    public void ImplicitOutput_IsSortedLettersThatAppearOnce()
    {
        var a = Randn(1, 3, 4);
        var b = Randn(2, 4, 5);
        AssertClose(Tensor.Einsum("ik,kj->ij", a, b), Tensor.Einsum("ik,kj", a, b));
        Assert.Equal([4, 3], Tensor.Einsum("ji", a).Shape);          // sorted: i before j, so a transpose
        AssertClose(a.T, Tensor.Einsum("ji", a));
        Assert.Empty(Tensor.Einsum("ii", Randn(3, 4, 4)).Shape);     // trace
        Assert.Equal([5, 3], Tensor.Einsum("ba,bc", b, Randn(4, 4, 3)).Shape);
        Assert.Equal([2, 3], Tensor.Einsum("Ba", Randn(5, 2, 3)).Shape); // 'B' sorts before 'a' (ASCII)
    }

    [Fact]
    public void SizeOneDims_Broadcast()
    {
        Check("ij,ij->ij", Randn(1, 3, 1), Randn(2, 3, 4));
        Check("ij,jk->ik", Randn(3, 2, 1), Randn(4, 5, 3));
        Check("ij,ij->j", Randn(5, 1, 4), Randn(6, 3, 4));
        var r = Tensor.Einsum("ij,ij->ij", Tensor.Ones(1, 1), Randn(7, 2, 3));
        Assert.Equal([2, 3], r.Shape);
    }

    [Fact]
    public void Ellipsis_CoversAndBroadcastsLeadingDims()
    {
        var a = Randn(1, 2, 3, 4, 5);
        var b = Randn(2, 3, 5, 6);
        AssertClose(a.MatMul(b), Tensor.Einsum("...ij,...jk->...ik", a, b));
        AssertClose(a.MatMul(b), Tensor.Einsum("...ij,...jk", a, b));
        var sq = Randn(3, 2, 3, 3);
        var d = Tensor.Einsum("...ii->...i", sq);
        Assert.Equal([2, 3], d.Shape);
        var sv = sq.ToArray();
        Assert.Equal(sv[9 + 3 * 1 + 1], d.ToArray()[4]);
        AssertClose(a.Sum(0), Tensor.Einsum("i...->...", a));
        AssertClose(a.Sum([0, 1]), Tensor.Einsum("...jk->jk", a));   // dims of '...' absent from the output are summed
        AssertClose(Randn(4, 5).Sum(), Tensor.Einsum("...->", Randn(4, 5)));
        AssertClose(Tensor.Einsum("ij->ji", b.Select(0, 0)), Tensor.Einsum("...ij->...ji", b.Select(0, 0)));
    }

    [Fact]
    public void EmptySummedDimension_GivesZeros()
    {
        var r = Tensor.Einsum("ij,jk->ik", Tensor.Zeros(2, 0), Tensor.Zeros(0, 3));
        Assert.Equal([2, 3], r.Shape);
        Assert.All(r.ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal([2, 0], Tensor.Einsum("ij,jk->ik", Tensor.Zeros(2, 4), Tensor.Zeros(4, 0)).Shape);
    }

    [Fact]
    public void SpacesAreIgnored()
    {
        var a = Randn(1, 3, 4);
        var b = Randn(2, 4, 5);
        AssertClose(Tensor.Einsum("ik,kj->ij", a, b), Tensor.Einsum(" ik , kj -> ij ", a, b));
    }

    [Theory]
    [InlineData("ij,jk->ik", 1, "names 2 operand(s) but 1 were given")]
    [InlineData("ij->ij", 2, "names 1 operand(s) but 2 were given")]
    [InlineData("ijk,jk->ik", 2, "operand 0 'ijk' names 3 dimension(s) but has shape [3,4]")]
    [InlineData("ij,j->i", 2, "operand 1 'j' names 1 dimension(s) but has shape [4,6]")]
    [InlineData("ij,jk->iz", 2, "output letter 'z' does not appear in any operand")]
    [InlineData("ij,jk->ii", 2, "output letter 'i' appears more than once")]
    [InlineData("i1,jk->ik", 2, "invalid character '1'")]
    [InlineData("ij,jk->i-k", 2, "invalid character '-'")]
    [InlineData("ij,ik->jk", 2, "letter 'i' has size 3 in operand 0 but 4 in operand 1")]
    [InlineData("ij,jk->ik->i", 2, "more than one '->'")]
    [InlineData("i..j,jk->ik", 2, "malformed or repeated ellipsis")]
    [InlineData("......,jk->ik", 2, "malformed or repeated ellipsis")]
    public void MalformedEquations_ThrowNamingEquationAndProblem(string equation, int count, string problem)
    {
        Tensor[] ops = [Randn(1, 3, 4), Randn(2, 4, 6)];
        var e = Assert.Throws<ArgumentException>(() => Tensor.Einsum(equation, ops[..count]));
        Assert.StartsWith($"Einsum: '{equation}': ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void OtherBadInputs_Throw()
    {
        Assert.Contains("repeats in operand 0 [3,4] with different sizes 3 and 4",
            Assert.Throws<ArgumentException>(() => Tensor.Einsum("ii->i", Randn(1, 3, 4))).Message);
        Assert.Contains("einsum needs float32",
            Assert.Throws<ArgumentException>(() => Tensor.Einsum("i->", Tensor.Arange(3))).Message);
        Assert.Contains("names 1 dimension(s) plus '...' but has shape []",
            Assert.Throws<ArgumentException>(() => Tensor.Einsum("...i->i", Tensor.Scalar(1))).Message);
    }

    [Fact]
    public void InputsAreNotModified()
    {
        var a = Randn(1, 4, 4);
        var a0 = a.ToArray();
        Tensor.Einsum("ii->i", a);
        Tensor.Einsum("ij,jk->ik", a, a);
        Assert.Equal(a0, a.ToArray());
    }
}
