using System.Globalization;
using Kiln.Learn;
using Spectre.Console;

namespace Kiln.Vision;

/// <summary>
/// Training progress (lesson 15's ProgressCB, fastai's fit table): on a terminal, a Spectre.Console bar over epochs and one
/// over the batches of the current pass showing the live loss; after each epoch a row (epoch, train loss, valid loss,
/// metrics, time) printed above the bars. When output is redirected (CI logs) only the rows are printed, as plain text.
/// Optionally rewrites a loss-curve PNG after each epoch. Takes over <see cref="MetricsCallback.Log"/> during the fit
/// (without a MetricsCallback it computes the losses itself).
/// </summary>
public sealed class ProgressCallback : Callback
{
    readonly string? _plotPath;
    readonly IAnsiConsole? _console;
    readonly TextWriter? _plainOut;
    readonly bool _interactive;

    MetricsCallback? _metrics;
    bool _active;
    Action<EpochStats>? _savedLog;
    EpochStats? _pendingTrain;
    int[] _widths = [];
    bool _headerDone;

    // Used when the learner has no MetricsCallback: the pass's loss, weighted by batch size, and its time.
    double _lossSum, _lossN;
    readonly System.Diagnostics.Stopwatch _watch = new();

    Thread? _thread;
    ManualResetEventSlim? _done;
    ProgressContext? _ctx;
    ProgressTask? _epochTask, _batchTask;

    /// <summary>Runs after metrics (0) and the recorder (1).</summary>
    public override int Order => 2;

    /// <summary>The column names of the epoch table (set when a fit starts).</summary>
    public List<string> Header { get; } = [];

    /// <summary>Every row printed, formatted as in the table.</summary>
    public List<string[]> Rows { get; } = [];

    /// <summary>Training loss of each batch (for the live plot).</summary>
    public List<double> TrainLosses { get; } = [];

    /// <summary>Validation loss of each epoch (for the live plot).</summary>
    public List<double> ValidLosses { get; } = [];

    /// <summary>
    /// A progress display on console (default: the terminal); plain lines to plainOut instead when plainOut is given or
    /// output is redirected. plotPath, when set, receives a loss-curve PNG after every epoch.
    /// </summary>
    public ProgressCallback(string? plotPath = null, IAnsiConsole? console = null, TextWriter? plainOut = null)
    {
        _plotPath = plotPath;
        _plainOut = plainOut;
        _interactive = plainOut is null && (console != null || (!Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive));
        _console = _interactive ? console ?? AnsiConsole.Console : null;
    }

    /// <inheritdoc/>
    public override void BeforeFit(Learner learn)
    {
        // Prediction passes (GetPreds, TTA) are not training progress: no bars, no table rows.
        _active = learn.FitTrains;
        if (!_active) return;
        _metrics = learn.Get<MetricsCallback>();
        if (_metrics != null)
        {
            _savedLog = _metrics.Log;
            _metrics.Log = OnStats;
        }
        Header.Clear();
        Header.AddRange(["epoch", "train_loss", "valid_loss"]);
        if (_metrics != null) Header.AddRange(_metrics.Metrics.Select(m => m.Name));
        Header.Add("time");
        _widths = [.. Header.Select(h => Math.Max(h.Length, 8))];
        _headerDone = false;
        _pendingTrain = null;
        TrainLosses.Clear();
        ValidLosses.Clear();
        if (_interactive) StartBars(learn.NEpochs - learn.StartEpoch);
    }

    void StartBars(int epochs)
    {
        _done = new ManualResetEventSlim();
        using var ready = new ManualResetEventSlim();
        var console = _console!;
        _thread = new Thread(() =>
        {
            try
            {
                console.Progress()
                    .AutoClear(true)
                    .HideCompleted(true)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        _ctx = ctx;
                        _epochTask = ctx.AddTask("epochs", maxValue: Math.Max(1, epochs));
                        ready.Set();
                        _done.Wait();
                        ctx.Refresh();
                    });
            }
            finally { ready.Set(); }
        }) { IsBackground = true, Name = "kiln-progress" };
        _thread.Start();
        ready.Wait();
    }

    /// <inheritdoc/>
    public override void BeforeEpoch(Learner learn)
    {
        if (!_active) return;
        _lossSum = _lossN = 0;
        _watch.Restart();
        if (learn.Training && _pendingTrain != null)
        {
            EmitRow(_pendingTrain, null);
            _pendingTrain = null;
        }
        if (_ctx is { } ctx)
        {
            // A task per pass, so its elapsed and remaining times are the pass's; finished ones are hidden.
            _batchTask?.StopTask();
            _batchTask = ctx.AddTask(learn.Training ? "train" : "valid", maxValue: Math.Max(1, learn.Dl!.Count));
        }
        if (_epochTask is { } e && learn.Training) e.Value = learn.Epoch - learn.StartEpoch;
    }

    /// <inheritdoc/>
    public override void AfterBatch(Learner learn)
    {
        if (!_active) return;
        double loss = learn.Loss!.Item();
        if (learn.Training) TrainLosses.Add(loss);
        _lossSum += loss * learn.Batch!.Size;
        _lossN += learn.Batch.Size;
        if (_batchTask is { } t)
        {
            t.Increment(1);
            if (learn.Training && _epochTask is { } e)
                e.Value = learn.Epoch - learn.StartEpoch + (learn.Iter + 1.0) / Math.Max(1, learn.Dl!.Count);
            t.Description = string.Create(CultureInfo.InvariantCulture, $"{(learn.Training ? "train" : "valid")} loss {loss:0.000}");
        }
    }

    /// <inheritdoc/>
    public override void AfterEpoch(Learner learn)
    {
        if (!_active) return;
        if (_metrics == null)
            OnStats(new EpochStats(learn.Epoch, learn.Training, _lossN == 0 ? double.NaN : _lossSum / _lossN, new Dictionary<string, double>(), _watch.Elapsed));
        if (learn.Training) return;
        if (_plotPath != null && TrainLosses.Count > 0)
            Plots.Save(Plots.LossCurve(TrainLosses, ValidLosses, learn.Dls.Train.Count), _plotPath);
    }

    void OnStats(EpochStats s)
    {
        if (s.Training)
        {
            if (_pendingTrain != null) EmitRow(_pendingTrain, null);
            _pendingTrain = s;
            return;
        }
        ValidLosses.Add(s.Loss);
        EmitRow(_pendingTrain, s);
        _pendingTrain = null;
    }

    static string F(double v) => double.IsNaN(v) ? "" : v.ToString("0.000000", CultureInfo.InvariantCulture);

    void EmitRow(EpochStats? train, EpochStats? valid)
    {
        var any = valid ?? train!;
        var time = (train?.Time ?? TimeSpan.Zero) + (valid?.Time ?? TimeSpan.Zero);
        var row = new List<string> { any.Epoch.ToString(CultureInfo.InvariantCulture), F(train?.Loss ?? double.NaN), F(valid?.Loss ?? double.NaN) };
        if (_metrics != null) row.AddRange(_metrics.Metrics.Select(m => F(any.Metrics.TryGetValue(m.Name, out var v) ? v : double.NaN)));
        row.Add(time.ToString(@"mm\:ss", CultureInfo.InvariantCulture));
        Rows.Add([.. row]);
        if (!_headerDone)
        {
            WriteLine(Format(Header));
            _headerDone = true;
        }
        WriteLine(Format(row));
    }

    string Format(IReadOnlyList<string> cells) =>
        string.Join("  ", cells.Select((c, i) => c.PadRight(i < _widths.Length ? _widths[i] : c.Length))).TrimEnd();

    void WriteLine(string line)
    {
        if (_console != null) _console.WriteLine(line);
        else (_plainOut ?? Console.Out).WriteLine(line);
    }

    /// <inheritdoc/>
    public override void CleanupFit(Learner learn)
    {
        if (!_active) return;
        _active = false;
        if (_pendingTrain != null) EmitRow(_pendingTrain, null);
        _pendingTrain = null;
        if (_epochTask is { } e && learn.Epoch >= learn.NEpochs) e.Value = e.MaxValue;
        _done?.Set();
        _thread?.Join();
        _thread = null;
        _done?.Dispose();
        _done = null;
        _epochTask = _batchTask = null;
        _ctx = null;
        if (_metrics != null) _metrics.Log = _savedLog;
        _metrics = null;
    }
}
