using System.Globalization;
using System.Text;
using Kiln.Nn;

namespace Kiln.Learn;

/// <summary>A forward hook on one module with a place for what it collects (lesson 16's Hook).</summary>
public sealed class Hook : IDisposable
{
    readonly HookHandle _handle;

    /// <summary>The hooked module.</summary>
    public Module Module { get; }

    /// <summary>The hook's name (the module's dotted path, or its type name).</summary>
    public string Name { get; }

    /// <summary>Whatever the hook function stores (e.g. the activation statistics).</summary>
    public object? State { get; set; }

    /// <summary>Registers fn(hook, module, input, output) to run after every forward pass of module.</summary>
    public Hook(Module module, Action<Hook, Module, Tensor, Tensor> fn, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(fn);
        Module = module;
        Name = name ?? module.GetType().Name;
        _handle = module.RegisterForwardHook((m, i, o) => fn(this, m, i, o));
    }

    /// <summary>Removes the hook (idempotent).</summary>
    public void Remove() => _handle.Remove();

    /// <summary>Same as <see cref="Remove"/>.</summary>
    public void Dispose() => Remove();
}

/// <summary>Hooks on several modules, removed together: <c>using var hooks = new Hooks(model.Children(), fn);</c></summary>
public sealed class Hooks : IDisposable
{
    readonly List<Hook> _hooks;

    /// <summary>The hooks in module order.</summary>
    public IReadOnlyList<Hook> Items => _hooks;

    /// <summary>Hooks fn on each of modules.</summary>
    public Hooks(IEnumerable<Module> modules, Action<Hook, Module, Tensor, Tensor> fn)
        => _hooks = [.. modules.Select(m => new Hook(m, fn))];

    /// <summary>Hooks fn on each named module (the names become the hooks' names).</summary>
    public Hooks(IEnumerable<(string Name, Module Module)> modules, Action<Hook, Module, Tensor, Tensor> fn)
        => _hooks = [.. modules.Select(nm => new Hook(nm.Module, fn, nm.Name))];

    /// <summary>Removes every hook.</summary>
    public void Dispose()
    {
        foreach (var h in _hooks) h.Remove();
    }
}

/// <summary>
/// Lesson 16's HooksCallback: during each fit, hooks fn on the model's modules for which select is true, running it only
/// in training passes (onTrain) and/or validation passes (onValid); the hooks are removed when the fit ends.
/// </summary>
public sealed class HooksCallback(Func<Module, bool> select, Action<Hook, Module, Tensor, Tensor> fn, bool onTrain = true, bool onValid = false) : Callback
{
    Hooks? _hooks;

    /// <summary>The hooks of the current fit (their State persists only for that fit).</summary>
    public IReadOnlyList<Hook> Items => _hooks?.Items ?? [];

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        var chosen = learn.Model.NamedModules().Where(nm => nm.Name.Length > 0 && select(nm.Module)).ToList();
        _hooks = new Hooks(chosen, (h, m, i, o) =>
        {
            if (m.Training ? onTrain : onValid) fn(h, m, i, o);
        });
    }

    /// <inheritdoc/>
    public override void CleanupFit(Learner learn) => _hooks?.Dispose();
}

/// <summary>What <see cref="ActivationStats"/> collects for one layer: per training batch the mean, std and histogram of |activation|.</summary>
public sealed class LayerStats
{
    /// <summary>Mean activation of each batch.</summary>
    public List<double> Means { get; } = [];
    /// <summary>Standard deviation of the activations of each batch.</summary>
    public List<double> Stds { get; } = [];
    /// <summary>Histogram of |activation| over [0, HistMax] in HistBins bins, per batch (values above the range are not counted, as torch.histc).</summary>
    public List<double[]> Hists { get; } = [];
}

/// <summary>
/// Lesson 16/18's ActivationStats: hooks the chosen modules during training fits and records, per layer and batch, the
/// activations' mean, std and a histogram of their absolute values, for the "colorful dimension" and dead-unit plots.
/// </summary>
public sealed class ActivationStats : Callback
{
    readonly Func<Module, bool> _select;
    Hooks? _hooks;

    /// <summary>Number of histogram bins (40 in the lesson).</summary>
    public int HistBins { get; }

    /// <summary>Upper end of the histogram range (10 in the lesson).</summary>
    public double HistMax { get; }

    /// <summary>The hooked layers' names (dotted module paths) in model order.</summary>
    public List<string> Names { get; } = [];

    /// <summary>The statistics per hooked layer, in the order of <see cref="Names"/>.</summary>
    public List<LayerStats> Layers { get; } = [];

    /// <summary>Records the modules for which select is true (e.g. <c>m => m is GeneralRelu</c>), with a histBins-bin histogram over [0, histMax].</summary>
    public ActivationStats(Func<Module, bool> select, int histBins = 40, double histMax = 10)
    {
        _select = select ?? throw new ArgumentNullException(nameof(select));
        if (histBins <= 0 || !(histMax > 0)) throw new ArgumentException("ActivationStats: need histBins > 0 and histMax > 0");
        HistBins = histBins;
        HistMax = histMax;
    }

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        var chosen = learn.Model.NamedModules().Where(nm => nm.Name.Length > 0 && _select(nm.Module)).ToList();
        if (chosen.Count == 0) throw new InvalidOperationException("ActivationStats: the selector matched no module of the model");
        Names.Clear();
        Layers.Clear();
        foreach (var (name, _) in chosen)
        {
            Names.Add(name);
            Layers.Add(new LayerStats());
        }
        _hooks = new Hooks(chosen, Record);
        for (int i = 0; i < chosen.Count; i++) _hooks.Items[i].State = Layers[i];
    }

    void Record(Hook hook, Module module, Tensor input, Tensor output)
    {
        if (!module.Training) return;
        var s = (LayerStats)hook.State!;
        var a = output.Detach().Contiguous().ToArray();
        double sum = 0, sq = 0;
        var hist = new double[HistBins];
        double scale = HistBins / HistMax;
        foreach (var v in a)
        {
            sum += v;
            sq += (double)v * v;
            double x = Math.Abs(v);
            if (x > HistMax) continue;
            int b = Math.Min(HistBins - 1, (int)(x * scale));
            hist[b]++;
        }
        int n = a.Length;
        double mean = n == 0 ? double.NaN : sum / n;
        // Unbiased, as torch's std().
        double var = n < 2 ? double.NaN : Math.Max(0, (sq - n * mean * mean) / (n - 1));
        s.Means.Add(mean);
        s.Stds.Add(Math.Sqrt(var));
        s.Hists.Add(hist);
    }

    /// <inheritdoc/>
    public override void CleanupFit(Learner learn)
    {
        _hooks?.Dispose();
        _hooks = null;
    }

    /// <summary>The "colorful dimension" image of a layer: log(1 + count) as [bin, batch], bin 0 (|a| near 0) first.</summary>
    public double[,] ColorDim(int layer)
    {
        var h = Layers[layer].Hists;
        var img = new double[HistBins, h.Count];
        for (int t = 0; t < h.Count; t++)
            for (int b = 0; b < HistBins; b++) img[b, t] = Math.Log(1 + h[t][b]);
        return img;
    }

    /// <summary>Per batch, the fraction of a layer's activations in the lowest histogram bin (|a| below HistMax / HistBins): lesson 16's get_min.</summary>
    public double[] DeadFraction(int layer) =>
        [.. Layers[layer].Hists.Select(h => { double s = h.Sum(); return s == 0 ? double.NaN : h[0] / s; })];
}

/// <summary>One row of a model summary.</summary>
/// <param name="Name">The module's name within the model.</param>
/// <param name="Type">The module's type name.</param>
/// <param name="InputShape">Shape of its input.</param>
/// <param name="OutputShape">Shape of its output.</param>
/// <param name="Params">Number of parameters (including its children's).</param>
/// <param name="MFlops">Lesson 18's estimate in millions: each parameter's numel, times the output's h*w for 4-d parameters.</param>
public sealed record SummaryRow(string Name, string Type, int[] InputShape, int[] OutputShape, long Params, double MFlops);

/// <summary>A model summary: one row per top-level module and the totals.</summary>
/// <param name="Rows">The rows in forward order.</param>
/// <param name="TotalParams">Sum of the rows' parameters.</param>
/// <param name="TotalMFlops">Sum of the rows' MFLOPS.</param>
public sealed record ModelSummary(IReadOnlyList<SummaryRow> Rows, long TotalParams, double TotalMFlops)
{
    /// <summary>Lesson 18's Markdown table |Module|Input|Output|Num params|MFLOPS| followed by "Tot params: N; MFLOPS: X".</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder("|Module|Input|Output|Num params|MFLOPS|\n|--|--|--|--|--|\n");
        static string S(int[] s) => "(" + string.Join(", ", s) + ")";
        foreach (var r in Rows)
            sb.Append(CultureInfo.InvariantCulture, $"|{r.Type}|{S(r.InputShape)}|{S(r.OutputShape)}|{r.Params}|{r.MFlops:0.0}|\n");
        sb.Append(CultureInfo.InvariantCulture, $"Tot params: {TotalParams}; MFLOPS: {TotalMFlops:0.0}");
        return sb.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => ToMarkdown();
}

/// <summary>Model summaries (lesson 18's summary()).</summary>
public static class Summaries
{
    /// <summary>
    /// Runs one forward pass of x through model (evaluation mode, no gradients, mode restored) with hooks on its direct
    /// children (the model itself if it has none) and tabulates each one's input and output shapes, parameters and MFLOPS.
    /// </summary>
    public static ModelSummary Summary(Module model, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(x);
        var rows = new List<SummaryRow>();
        var targets = model.NamedChildren().ToList();
        if (targets.Count == 0) targets.Add(("", model));
        bool was = model.Training;
        try
        {
            model.Eval();
            using var hooks = new Hooks(targets, (h, m, i, o) =>
            {
                long nparams = m.Parameters().Sum(p => (long)p.Numel);
                var shape = o.Shape;
                int hh = shape.Length >= 2 ? shape[^2] : 1, ww = shape.Length >= 1 ? shape[^1] : 1;
                double flops = m.Parameters().Sum(p => p.Dim == 4 ? (double)p.Numel * hh * ww : p.Numel) / 1e6;
                rows.Add(new SummaryRow(h.Name, m.GetType().Name, i.Shape, shape, nparams, flops));
            });
            using (Autograd.NoGrad()) model.Call(x);
        }
        finally { model.Train(was); }
        return new ModelSummary(rows, rows.Sum(r => r.Params), rows.Sum(r => r.MFlops));
    }

    /// <summary>The summary of the learner's model on the first batch of its training loader.</summary>
    public static ModelSummary Summary(this Learner learn)
    {
        ArgumentNullException.ThrowIfNull(learn);
        var first = learn.Dls.Train.FirstOrDefault() ?? throw new InvalidOperationException("Summary: the training loader yielded no batch");
        return Summary(learn.Model, first.X);
    }
}
