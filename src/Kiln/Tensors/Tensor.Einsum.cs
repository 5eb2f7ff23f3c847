namespace Kiln;

public sealed partial class Tensor
{
    /// <summary>
    /// Einstein summation, as torch.einsum: "ik,kj->ij" (explicit output) or "ik,kj" (implicit: letters seen once, sorted);
    /// a letter repeated in one operand takes its diagonal, letters absent from the output are summed, "..." stands for
    /// broadcast leading dims (summed when an explicit output omits it). Pairs of operands are contracted left to right as
    /// batched GEMMs. Like torch, the result may be a view of the operand when no arithmetic is needed ("ij->ji", "ii->i").
    /// </summary>
    public static Tensor Einsum(string equation, params Tensor[] operands)
    {
        ArgumentNullException.ThrowIfNull(equation);
        ArgumentNullException.ThrowIfNull(operands);
        var eq = EinsumEquation.Parse(equation, operands);

        // Per operand: diagonals of repeated letters, then drop size-1 dims whose letter is broadcast to a larger size.
        var terms = new List<(Tensor t, List<int> labels)>();
        for (int i = 0; i < operands.Length; i++)
        {
            var (t, labels) = Diagonal(operands[i], eq.Inputs[i]);
            for (int d = labels.Count - 1; d >= 0; d--)
                if (t._shape[d] == 1 && eq.Sizes[labels[d]] != 1)
                {
                    t = t.Squeeze(d);
                    labels.RemoveAt(d);
                }
            terms.Add((t, labels));
        }

        // Letters needed after operand i: the output's and those of every later operand.
        var neededAfter = new HashSet<int>[terms.Count];
        var acc = new HashSet<int>(eq.Output);
        for (int i = terms.Count - 1; i >= 0; i--)
        {
            neededAfter[i] = new HashSet<int>(acc);
            acc.UnionWith(terms[i].labels);
        }

        // Letters of operand i that no other operand has and the output lacks are summed straight away.
        for (int i = 0; i < terms.Count; i++)
        {
            var others = new HashSet<int>(eq.Output);
            for (int j = 0; j < terms.Count; j++)
                if (j != i) others.UnionWith(terms[j].labels);
            terms[i] = SumOut(terms[i].t, terms[i].labels, others);
        }

        var (r, rl) = terms[0];
        for (int i = 1; i < terms.Count; i++)
            (r, rl) = Contract(r, rl, terms[i].t, terms[i].labels, neededAfter[i]);
        (r, rl) = SumOut(r, rl, new HashSet<int>(eq.Output));

        // Order the result as the output (every output letter survives the contractions; the unit-dim fallback is a guard).
        foreach (int l in eq.Output)
            if (!rl.Contains(l))
            {
                r = r.Unsqueeze(r.Dim);
                rl.Add(l);
            }
        var perm = new int[eq.Output.Count];
        for (int i = 0; i < perm.Length; i++) perm[i] = rl.IndexOf(eq.Output[i]);
        r = r.Permute(perm);
        var outShape = eq.Output.Select(l => eq.Sizes[l]).ToArray();
        return Shapes.Equal(r._shape, outShape) ? r : r.Expand(outShape);
    }

    /// <summary>
    /// A view of t with each repeated letter reduced to its diagonal (one dim whose stride is the sum of the repeats').
    /// Backward writes g into the same diagonal of a contiguous zero tensor shaped like t (whatever t's own layout).
    /// </summary>
    static (Tensor t, List<int> labels) Diagonal(Tensor t, int[] letters)
    {
        var (d, labels) = DiagonalView(t, letters);
        if (d == t) return (t, labels);
        return (Record(d, "EinsumDiagonal", t, g =>
        {
            var z = Zeros(t._shape);
            CopyStrided(g, DiagonalView(z, letters).t);
            return z;
        }), labels);
    }

    static (Tensor t, List<int> labels) DiagonalView(Tensor t, int[] letters)
    {
        var labels = new List<int>();
        var shape = new List<int>();
        var strides = new List<int>();
        for (int d = 0; d < letters.Length; d++)
        {
            int j = labels.IndexOf(letters[d]);
            if (j < 0)
            {
                labels.Add(letters[d]);
                shape.Add(t._shape[d]);
                strides.Add(t._strides[d]);
                continue;
            }
            strides[j] += t._strides[d]; // sizes were checked equal by the parser
        }
        return labels.Count == letters.Length ? (t, labels) : (t.AsStrided([.. shape], [.. strides], t._offset), labels);
    }

    /// <summary>Sums the dims of t whose letter is not in keep.</summary>
    static (Tensor t, List<int> labels) SumOut(Tensor t, List<int> labels, HashSet<int> keep)
    {
        var dims = new List<int>();
        var left = new List<int>();
        for (int d = 0; d < labels.Count; d++)
            if (keep.Contains(labels[d])) left.Add(labels[d]);
            else dims.Add(d);
        if (dims.Count == 0) return (t, labels);
        return (dims.Count == t.Dim ? t.Sum() : t.Sum([.. dims]), left);
    }

    /// <summary>
    /// Contracts two labelled tensors into one holding the letters in keep: letters in both and kept are batch dims, letters
    /// in both and not kept are summed by the product, the rest are rows (a) or columns (b) of a batched matmul
    /// [batch, rows, sum]·[batch, sum, cols].
    /// </summary>
    static (Tensor t, List<int> labels) Contract(Tensor a, List<int> la, Tensor b, List<int> lb, HashSet<int> keep)
    {
        (a, la) = SumOut(a, la, [.. keep, .. lb]);
        (b, lb) = SumOut(b, lb, [.. keep, .. la]);
        var batch = la.Where(l => lb.Contains(l) && keep.Contains(l)).ToList();
        var sum = la.Where(l => lb.Contains(l) && !keep.Contains(l)).ToList();
        var rows = la.Where(l => !lb.Contains(l)).ToList();
        var cols = lb.Where(l => !la.Contains(l)).ToList();

        int Size(Tensor t, List<int> labels, List<int> group)
        {
            int n = 1;
            foreach (int l in group) n *= t._shape[labels.IndexOf(l)];
            return n;
        }
        int[] Order(List<int> labels, params List<int>[] groups) => groups.SelectMany(g => g).Select(l => labels.IndexOf(l)).ToArray();

        int nb = Size(a, la, batch), m = Size(a, la, rows), k = Size(a, la, sum), n = Size(b, lb, cols);
        var a3 = a.Permute(Order(la, batch, rows, sum)).Reshape(nb, m, k);
        var b3 = b.Permute(Order(lb, batch, sum, cols)).Reshape(nb, k, n);
        var c = (batch.Count == 0 ? a3.Squeeze(0).MatMul(b3.Squeeze(0)) : a3.MatMul(b3));
        var labels = batch.Concat(rows).Concat(cols).ToList();
        var shape = batch.Select(l => a._shape[la.IndexOf(l)])
            .Concat(rows.Select(l => a._shape[la.IndexOf(l)]))
            .Concat(cols.Select(l => b._shape[lb.IndexOf(l)])).ToArray();
        return (c.Reshape(shape), labels);
    }

    /// <summary>A parsed einsum equation: each operand's letters as label ids, the output's, and every label's size.</summary>
    sealed class EinsumEquation
    {
        // Labels 0..51 are the letters A-Z then a-z (so sorting labels sorts as ASCII, like torch); labels 52.. are the
        // dims covered by "...", right-aligned across operands as broadcasting aligns them.
        const int Ellipsis0 = 52;

        public required string Text;
        public required int[][] Inputs;
        public required List<int> Output;
        public required Dictionary<int, int> Sizes;

        public static string Name(int label) => label < Ellipsis0
            ? $"letter '{(char)(label < 26 ? 'A' + label : 'a' + label - 26)}'"
            : $"ellipsis dimension {label - Ellipsis0}";

        static List<int> Letters(string term, string eq, string where, out int ellipsisAt)
        {
            var r = new List<int>();
            ellipsisAt = -1;
            for (int i = 0; i < term.Length; i++)
            {
                char ch = term[i];
                if (ch == '.')
                {
                    if (ellipsisAt >= 0 || i + 2 >= term.Length || term[i + 1] != '.' || term[i + 2] != '.')
                        throw new ArgumentException($"Einsum: '{eq}': {where} '{term}' has a malformed or repeated ellipsis (only one '...' is allowed)");
                    ellipsisAt = r.Count;
                    i += 2;
                }
                else if (ch is >= 'A' and <= 'Z') r.Add(ch - 'A');
                else if (ch is >= 'a' and <= 'z') r.Add(ch - 'a' + 26);
                else
                    throw new ArgumentException($"Einsum: '{eq}': invalid character '{ch}' in {where} '{term}' (use letters a-z, A-Z and '...')");
            }
            return r;
        }

        public static EinsumEquation Parse(string equation, Tensor[] operands)
        {
            string text = equation.Replace(" ", "");
            int arrow = text.IndexOf("->", StringComparison.Ordinal);
            string lhs = arrow >= 0 ? text[..arrow] : text;
            string? rhs = arrow >= 0 ? text[(arrow + 2)..] : null;
            if (rhs != null && rhs.Contains("->"))
                throw new ArgumentException($"Einsum: '{equation}': more than one '->'");
            var terms = lhs.Split(',');
            if (terms.Length != operands.Length)
                throw new ArgumentException($"Einsum: '{equation}': the equation names {terms.Length} operand(s) but {operands.Length} were given");
            if (operands.Length == 0)
                throw new ArgumentException($"Einsum: '{equation}': needs at least one operand");

            var inputs = new int[operands.Length][];
            var ellipsisDims = new int[operands.Length];
            int maxEllipsis = 0;
            var parsed = new (List<int> letters, int at)[operands.Length];
            for (int i = 0; i < operands.Length; i++)
            {
                var t = operands[i] ?? throw new ArgumentNullException(nameof(operands), $"Einsum: '{equation}': operand {i} is null");
                if (t.DType != DType.Float32)
                    throw new ArgumentException($"Einsum: '{equation}': operand {i} is {t.DType.Name()}; einsum needs float32 tensors (convert with .Float())");
                var letters = Letters(terms[i], equation, $"operand {i}", out int at);
                if (at < 0 ? letters.Count != t.Dim : letters.Count > t.Dim)
                    throw new ArgumentException(
                        $"Einsum: '{equation}': operand {i} '{terms[i]}' names {letters.Count} dimension(s){(at >= 0 ? " plus '...'" : "")} but has shape {Shapes.Str(t._shape)} ({t.Dim} dimension(s))");
                ellipsisDims[i] = at < 0 ? 0 : t.Dim - letters.Count;
                maxEllipsis = Math.Max(maxEllipsis, ellipsisDims[i]);
                parsed[i] = (letters, at);
            }

            var sizes = new Dictionary<int, int>();
            var where = new Dictionary<int, int>();
            var counts = new Dictionary<int, int>();
            for (int i = 0; i < operands.Length; i++)
            {
                var (letters, at) = parsed[i];
                var labels = new List<int>(letters);
                if (at >= 0)
                    labels.InsertRange(at, Enumerable.Range(Ellipsis0 + maxEllipsis - ellipsisDims[i], ellipsisDims[i]));
                inputs[i] = [.. labels];
                for (int d = 0; d < labels.Count; d++)
                {
                    int l = labels[d], s = operands[i]._shape[d];
                    int first = labels.IndexOf(l);
                    if (first < d && operands[i]._shape[first] != s)
                        throw new ArgumentException(
                            $"Einsum: '{equation}': {Name(l)} repeats in operand {i} {Shapes.Str(operands[i]._shape)} with different sizes {operands[i]._shape[first]} and {s} (a diagonal needs equal sizes)");
                    counts[l] = counts.GetValueOrDefault(l) + 1;
                    if (!sizes.TryGetValue(l, out int have) || have == 1) { sizes[l] = s; where[l] = i; }
                    else if (s != have && s != 1)
                    {
                        throw new ArgumentException(
                            $"Einsum: '{equation}': {Name(l)} has size {have} in operand {where[l]} but {s} in operand {i} (sizes must match or one must be 1)");
                    }
                }
            }

            var output = new List<int>();
            var result = new EinsumEquation { Text = equation, Inputs = inputs, Output = output, Sizes = sizes };
            if (rhs == null)
            {
                // Implicit output: the "..." dims, then the letters that appear exactly once, in alphabetical (ASCII) order.
                output.AddRange(Enumerable.Range(Ellipsis0, maxEllipsis));
                output.AddRange(counts.Where(kv => kv.Key < Ellipsis0 && kv.Value == 1).Select(kv => kv.Key).Order());
                return result;
            }
            var outLetters = Letters(rhs, equation, "the output", out int outAt);
            foreach (int l in outLetters)
            {
                if (!sizes.ContainsKey(l))
                    throw new ArgumentException($"Einsum: '{equation}': output {Name(l)} does not appear in any operand");
                if (output.Contains(l))
                    throw new ArgumentException($"Einsum: '{equation}': output {Name(l)} appears more than once");
                output.Add(l);
            }
            // "..." dims absent from an explicit output are summed, as letters are.
            if (outAt >= 0) output.InsertRange(outAt, Enumerable.Range(Ellipsis0, maxEllipsis));
            return result;
        }
    }
}
