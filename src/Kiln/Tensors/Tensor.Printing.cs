using System.Globalization;
using System.Text;

namespace Kiln;

public sealed partial class Tensor
{
    // PyTorch's default print options (torch.set_printoptions). Fixed rather than global, because the house rules keep
    // global state to the generator, grad mode and the thread count.
    const int PrintPrecision = 4, PrintThreshold = 1000, PrintEdgeItems = 3, PrintLineWidth = 80;

    /// <summary>
    /// PyTorch-style repr, e.g. <c>tensor([[1., 2.],\n        [3., 4.]])</c>: one number format per tensor (integer-valued
    /// floats as <c>1.</c>, otherwise 4 decimals, scientific when the range demands it), values right-aligned, rows wrapped at
    /// 80 columns, tensors over 1000 elements summarised with the first and last 3 entries per dim. Int32 tensors get a
    /// <c>dtype=int32</c> suffix; bool tensors, like PyTorch's, need none since True/False says it.
    /// </summary>
    public override string ToString() => ToString(verbose: false);

    /// <summary>The PyTorch-style repr; verbose always appends the size and dtype (e.g. <c>, size=(2, 3), dtype=float32</c>).</summary>
    public string ToString(bool verbose)
    {
        const string prefix = "tensor(";
        int indent = prefix.Length;
        var suffixes = new List<string>();
        string body;
        if (Numel == 0)
        {
            // Nothing to infer the shape or dtype from, so both are stated unless they are the 1-d float default.
            if (Dim != 1 || verbose) suffixes.Add("size=" + TupleStr(_shape));
            if (DType != DType.Float32 || verbose) suffixes.Add("dtype=" + DType.Name());
            body = "[]";
        }
        else
        {
            if (verbose) suffixes.Add("size=" + TupleStr(_shape));
            if (DType == DType.Int32 || verbose) suffixes.Add("dtype=" + DType.Name());
            bool summarize = Numel > PrintThreshold;
            var fmt = new ElementFormatter(DType, PrintedValues(this, summarize));
            body = FormatNested(this, indent, summarize, fmt);
        }
        return AddSuffixes(prefix + body, suffixes, indent);
    }

    /// <summary>Writes the repr (verbose: with size and dtype) and a newline to the console.</summary>
    public void Print(bool verbose = false) => Console.WriteLine(ToString(verbose));

    /// <summary>Python tuple syntax for a shape: (2, 3), (0,), ().</summary>
    static string TupleStr(int[] shape) => shape.Length == 1
        ? $"({shape[0]},)"
        : "(" + string.Join(", ", shape) + ")";

    /// <summary>Element i of a 1-d view (or the value of a 0-d one when i is 0) as double; int32 values stay exact.</summary>
    double ValueAt(int i)
    {
        int off = _offset + (Dim == 0 ? 0 : i * _strides[0]);
        return DType == DType.Float32 ? Storage.Floats![off] : Storage.Ints![off];
    }

    /// <summary>The values that will be printed (PyTorch's get_summarized_data): all, or the edge items per dim when summarising.</summary>
    static IEnumerable<double> PrintedValues(Tensor t, bool summarize)
    {
        if (t.Dim == 0)
        {
            yield return t.ValueAt(0);
            yield break;
        }
        int n = t._shape[0];
        bool cut = summarize && n > 2 * PrintEdgeItems;
        for (int i = 0; i < n; i++)
        {
            if (cut && i == PrintEdgeItems) i = n - PrintEdgeItems;
            if (t.Dim == 1) yield return t.ValueAt(i);
            else
                foreach (double v in PrintedValues(t.Select(0, i), summarize)) yield return v;
        }
    }

    /// <summary>PyTorch's _tensor_str_with_formatter: nested brackets, rows joined with dim-1 newlines, indented one column per level.</summary>
    static string FormatNested(Tensor t, int indent, bool summarize, ElementFormatter fmt)
    {
        if (t.Dim == 0) return fmt.Format(t.ValueAt(0));
        int n = t._shape[0];
        bool cut = summarize && n > 2 * PrintEdgeItems;
        var items = new List<string>();
        if (t.Dim == 1)
        {
            for (int i = 0; i < n; i++)
            {
                if (cut && i == PrintEdgeItems)
                {
                    items.Add(" ...");
                    i = n - PrintEdgeItems;
                }
                items.Add(fmt.Format(t.ValueAt(i)));
            }
            // Each element takes its width plus ", ".
            int perLine = Math.Max(1, (PrintLineWidth - indent) / (fmt.Width + 2));
            var lines = new List<string>();
            for (int i = 0; i < items.Count; i += perLine)
                lines.Add(string.Join(", ", items.Skip(i).Take(perLine)));
            return "[" + string.Join(",\n" + new string(' ', indent + 1), lines) + "]";
        }
        for (int i = 0; i < n; i++)
        {
            if (cut && i == PrintEdgeItems)
            {
                items.Add("...");
                i = n - PrintEdgeItems;
            }
            items.Add(FormatNested(t.Select(0, i), indent + 1, summarize, fmt));
        }
        return "[" + string.Join("," + new string('\n', t.Dim - 1) + new string(' ', indent + 1), items) + "]";
    }

    /// <summary>PyTorch's _add_suffixes: ", suffix" on the last line, or on a new indented line when it would pass the line width.</summary>
    static string AddSuffixes(string tensorStr, List<string> suffixes, int indent)
    {
        var sb = new StringBuilder(tensorStr);
        // Same arithmetic as PyTorch (counts two characters more than the last line holds), so wrapping matches it.
        int lastLineLen = tensorStr.Length - tensorStr.LastIndexOf('\n') + 1;
        foreach (string s in suffixes)
        {
            if (lastLineLen + s.Length + 2 > PrintLineWidth)
            {
                sb.Append(",\n").Append(' ', indent).Append(s);
                lastLineLen = indent + s.Length;
            }
            else
            {
                sb.Append(", ").Append(s);
                lastLineLen += s.Length + 2;
            }
        }
        return sb.Append(')').ToString();
    }

    /// <summary>PyTorch's _Formatter: one number format and width for all printed elements of a tensor.</summary>
    sealed class ElementFormatter
    {
        readonly DType _dtype;
        readonly bool _intMode = true, _sciMode;

        /// <summary>Common width every element is right-aligned to.</summary>
        public int Width { get; } = 1;

        public ElementFormatter(DType dtype, IEnumerable<double> values)
        {
            _dtype = dtype;
            if (dtype != DType.Float32)
            {
                foreach (double v in values) Width = Math.Max(Width, Format(v).Length);
                return;
            }
            // Only non-zero finite values decide the format; zeros, NaN and infinities print in any of them.
            var vals = values.Where(v => v != 0 && double.IsFinite(v)).ToList();
            if (vals.Count == 0) return;
            double min = vals.Min(Math.Abs), max = vals.Max(Math.Abs);
            _intMode = vals.All(v => v == Math.Ceiling(v));
            _sciMode = max / min > 1000.0 || max > 1.0e8 || (!_intMode && min < 1.0e-4);
            foreach (double v in vals)
            {
                int len = _sciMode ? Sci(v).Length
                    : _intMode ? v.ToString("F0", CultureInfo.InvariantCulture).Length + 1
                    : v.ToString("F" + PrintPrecision, CultureInfo.InvariantCulture).Length;
                Width = Math.Max(Width, len);
            }
        }

        /// <summary>One element in the common format, left-padded to <see cref="Width"/>.</summary>
        public string Format(double v)
        {
            string s;
            if (_dtype == DType.Bool) s = v != 0 ? "True" : "False";
            else if (_dtype == DType.Int32) s = ((int)v).ToString(CultureInfo.InvariantCulture);
            else if (double.IsNaN(v)) s = "nan";
            else if (double.IsInfinity(v)) s = v > 0 ? "inf" : "-inf";
            else if (_sciMode) s = Sci(v);
            else if (_intMode) s = v.ToString("F0", CultureInfo.InvariantCulture) + ".";
            else s = v.ToString("F" + PrintPrecision, CultureInfo.InvariantCulture);
            return s.Length >= Width ? s : s.PadLeft(Width);
        }

        /// <summary>Python's "{:.4e}": 1.0000e-05 (at least two exponent digits).</summary>
        static string Sci(double v)
        {
            string s = v.ToString("E" + PrintPrecision, CultureInfo.InvariantCulture);
            int e = s.IndexOf('E');
            int exp = int.Parse(s.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            return string.Concat(s.AsSpan(0, e), exp < 0 ? "e-" : "e+", Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        }
    }
}
