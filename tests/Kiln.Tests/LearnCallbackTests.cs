using Kiln.Data;
using Kiln.Learn;
using Kiln.Nn;
using Kiln.Optim;
using static Kiln.Tests.LearnTestData;

namespace Kiln.Tests;

public class LearnCallbackTests
{
    [Fact]
    public void Accuracy_IsTheWeightedMeanOverBatches_Lesson15()
    {
        var acc = new Accuracy();
        acc.Add(Tensor.FromArray(new[] { 0, 1, 2, 0, 1, 2 }), Tensor.FromArray(new[] { 0, 1, 1, 2, 1, 0 }));
        acc.Add(Tensor.FromArray(new[] { 1, 1, 2, 0, 1 }), Tensor.FromArray(new[] { 0, 1, 1, 2, 1 }));
        Assert.Equal(0.45, acc.Value, 10);
    }

    [Fact]
    public void Accuracy_CountsTheItemsOfEachBatch()
    {
        // Lesson 15 adds each batch with n=1; weighting by the batch sizes gives 5/11 instead.
        var acc = new Accuracy();
        acc.Add(Tensor.FromArray(new[] { 0, 1, 2, 0, 1, 2 }), Tensor.FromArray(new[] { 0, 1, 1, 2, 1, 0 }), n: 6);
        acc.Add(Tensor.FromArray(new[] { 1, 1, 2, 0, 1 }), Tensor.FromArray(new[] { 0, 1, 1, 2, 1 }), n: 5);
        Assert.Equal(5.0 / 11, acc.Value, 10);
    }

    [Fact]
    public void MeanMetric_WeightsByN_Lesson15()
    {
        var m = new Mean();
        m.Add(0.6, n: 32);
        m.Add(0.9, n: 2);
        Assert.Equal(21.0 / 34, m.Value, 12);
        Assert.Equal(0.62, Math.Round(m.Value, 2)); // the lesson prints 0.62
        m.Reset();
        Assert.True(double.IsNaN(m.Value));
    }

    [Fact]
    public void Accuracy_TakesTheArgmaxOfScores_AndErrorRateIsItsComplement()
    {
        var scores = Tensor.FromArray(new float[] { 0.1f, 0.9f, 0, 2, 1, 0, 0, 0, 3, 5, 0, 0 }, 4, 3);
        var y = Tensor.FromArray(new[] { 1, 0, 1, 0 });
        var acc = new Accuracy();
        acc.Add(scores, y, 4);
        Assert.Equal(0.75, acc.Value, 10);
        var err = new ErrorRate();
        err.Add(scores, y, 4);
        Assert.Equal(0.25, err.Value, 10);
        Assert.Throws<ArgumentException>(() => acc.Add(scores, Tensor.FromArray(new[] { 1, 0 })));
    }

    [Fact]
    public void MetricsCallback_LogsWeightedLossAndMetricsPerPass()
    {
        var (train, valid) = Loaders();
        var logged = new List<EpochStats>();
        var mc = new MetricsCallback(new Accuracy()) { Log = logged.Add };
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [mc]);
        learn.Fit(1, train: false);
        var s = Assert.Single(logged);
        Assert.False(s.Training);
        var (preds, t) = learn.GetPreds();
        Assert.Equal(F.CrossEntropy(preds, t).Item(), s.Loss, 5); // batches of 16 and 14, weighted by size
        Assert.Equal(Accuracy.Compute(preds, t), s.Metrics["accuracy"], 6);
        Assert.StartsWith("epoch 0 eval loss", s.ToString());
    }

    [Fact]
    public void Recorder_RecordsEachTrainingBatch_AndOneRowPerEpoch()
    {
        var (train, valid) = Loaders();
        var rec = new Recorder();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1,
            [new MetricsCallback(new Accuracy()) { Log = null }, rec], optFunc: (ps, lr) => new SGD(ps, lr, momentum: 0.9));
        learn.Fit(2);
        Assert.Equal(6, rec.Lrs.Count);
        Assert.All(rec.Lrs, v => Assert.Equal(0.1, v));
        Assert.All(rec.Moms, v => Assert.Equal(0.9, v));
        Assert.Equal(6, rec.Losses.Count);
        Assert.Equal(["train_loss", "valid_loss", "accuracy"], rec.ValueNames);
        Assert.Equal(2, rec.Values.Count);
        Assert.All(rec.Values, r => Assert.Equal(3, r.Length));
        Assert.True(rec.Values[1][1] < rec.Values[0][1]);

        learn.Fit(1, valid: false);
        Assert.True(double.IsNaN(rec.Values[^1][1]));
        Assert.Single(rec.Values); // a new fit, a new record
        Assert.Equal(3, rec.Losses.Count);
    }

    [Fact]
    public void Recorder_KeepsTheTrainingRecord_ThroughPredictionPasses()
    {
        var (train, valid) = Loaders();
        var rec = new Recorder();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [new MetricsCallback(new Accuracy()) { Log = null }, rec]);
        learn.Fit(2);
        var losses = rec.Losses.ToArray();
        var values = rec.Values.Select(v => v.ToArray()).ToArray();
        Assert.Equal(6, losses.Length);
        Assert.Equal(2, values.Length);
        learn.GetPreds();
        learn.Fit(1, train: false); // a validation-only pass
        Assert.Equal(losses, rec.Losses.ToArray());
        Assert.Equal(values, rec.Values.Select(v => v.ToArray()).ToArray());
        learn.Fit(1); // the next training fit starts afresh
        Assert.Equal(3, rec.Losses.Count);
    }

    [Fact]
    public void BatchSchedCallback_StepsOncePerTrainingBatch()
    {
        var (train, valid) = Loaders();
        var calls = new List<int>();
        var sched = new BatchSchedCallback(o => new LambdaLR(o, s => { calls.Add(s); return 1.0 / (1 + s); }));
        var rec = new Recorder();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [sched, rec]);
        learn.Fit(2);
        Assert.Equal(6, sched.Steps); // 2 epochs x 3 training batches, none during validation
        Assert.Equal([0, 1, 2, 3, 4, 5, 6], calls); // step 0 at construction
        Assert.Equal([0.1, 0.05, 0.1 / 3, 0.025, 0.02, 0.1 / 6], rec.Lrs.ToArray(), new DoubleTol(1e-12));
    }

    [Fact]
    public void EpochSchedCallback_StepsOncePerTrainingEpoch()
    {
        var (train, valid) = Loaders();
        var sched = new EpochSchedCallback(o => new ExponentialLR(o, 0.5));
        var rec = new Recorder();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.4, [sched, rec]);
        learn.Fit(3);
        Assert.Equal(3, sched.Steps);
        Assert.Equal([0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1], rec.Lrs.ToArray(), new DoubleTol(1e-12));
    }

    [Fact]
    public void FitOneCycle_FollowsOneCycleLR_OverAllTrainingBatches()
    {
        var (train, valid) = Loaders();
        var rec = new Recorder();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [rec], optFunc: (ps, lr) => new AdamW(ps, lr));
        learn.FitOneCycle(4, maxLr: 0.01);
        Assert.Equal(12, rec.Lrs.Count);
        Assert.Equal(0.01 / 25, rec.Lrs[0], 12);
        Assert.InRange(rec.Lrs.Max(), 0.0099, 0.01);
        Assert.Equal(0.95, rec.Moms[0], 12);
        Assert.True(rec.Lrs[^1] < 0.0001);
        var reference = new OneCycleLR(new AdamW([Tensor.Zeros(1)], 0.01), 0.01, 12);
        Assert.Equal(Schedules.Lrs(reference, 12)[..12], rec.Lrs.ToArray(), new DoubleTol(1e-15));
    }

    sealed class DoubleTol(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(double v) => 0;
    }

    [Fact]
    public void SingleBatchCallback_StopsAfterOneBatch()
    {
        var (train, valid) = Loaders();
        var rec = new Recorder();
        var log = new EventLog();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [rec, log]);
        learn.Fit(3, callbacks: [new SingleBatchCallback()]);
        Assert.Single(rec.Losses);
        Assert.Equal("BF BE:t BB AS AB CB CE CF", log.Joined);
    }

    [Fact]
    public void BatchTransformCallback_AppliesOnlyToTheChosenPasses()
    {
        var (train, valid) = Loaders();
        var seen = new List<(bool Training, float First)>();
        var probe = new ActionCallback(l => seen.Add((l.Training, l.Batch!.X.ToArray()[0])));
        var tfm = new BatchTransformCallback(BatchTransformCallback.OnInput(x => x * 0f + 7f), onTrain: false, onValid: true);
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [tfm, probe]);
        learn.Fit(1);
        Assert.All(seen.Where(s => s.Training), s => Assert.NotEqual(7f, s.First));
        Assert.All(seen.Where(s => !s.Training), s => Assert.Equal(7f, s.First));
        Assert.Equal(5, seen.Count);
    }

    sealed class ActionCallback(Action<Learner> beforePredictAfterTransform) : Callback
    {
        public override int Order => 10;
        public override void BeforeBatch(Learner l) => beforePredictAfterTransform(l);
    }

    [Fact]
    public void FlipHorizontal_ReversesTheWidthOfAnNchwBatch()
    {
        var x = Tensor.Arange(0, 12).Float().Reshape(1, 2, 2, 3);
        Assert.Equal(new float[] { 2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9 }, Tta.FlipHorizontal(x).ToArray());
        Assert.Throws<ArgumentException>(() => Tta.FlipHorizontal(Tensor.Zeros(2, 784)));
    }

    [Fact]
    public void Tta_AveragesPlainAndFlippedPredictions()
    {
        var (x, y) = Blobs(48, 1);
        var (vx, vy) = Blobs(30, 2);
        vx = vx.Reshape(30, 1, 2, 2); // tiny 2x2 "images"
        var train = new TensorLoader(x.Reshape(48, 1, 2, 2), y, 16);
        var valid = new TensorLoader(vx, vy, 16);
        var learn = new TrainLearner(new Sequential(new Flatten(), Mlp(4)), train, valid, CrossEntropy);
        var (p, t) = Tta.Predict(learn);
        var expected = (learn.Predict(vx) + learn.Predict(Tta.FlipHorizontal(vx))) / 2f;
        Assert.Equal(expected.ToArray(), p.ToArray());
        Assert.Equal(vy.ToIntArray(), t.ToIntArray());
        Assert.NotEqual(learn.Predict(vx).ToArray(), p.ToArray());
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(0, -1)]
    [InlineData(-2, 3)]
    [InlineData(4, -6)]
    [InlineData(0, 0)]
    public void Shift_MatchesAReferenceOnNonContiguousBatches(int dy, int dx)
    {
        var g = new Generator(7);
        // [2, 3, 5, 7] as a transposed view of a [2, 3, 7, 5] tensor: not contiguous
        var x = Tensor.Randn([2, 3, 7, 5], g).Transpose(2, 3);
        Assert.False(x.IsContiguous);
        var got = Tta.Shift(x, dy, dx);
        Assert.Equal(new[] { 2, 3, 5, 7 }, got.Shape.ToArray());
        var src = x.Contiguous().ToArray();
        var expected = new float[src.Length];
        for (int plane = 0; plane < 6; plane++)
            for (int y = 0; y < 5; y++)
                for (int c = 0; c < 7; c++)
                {
                    int sy = y - dy, sx = c - dx;
                    if (sy >= 0 && sy < 5 && sx >= 0 && sx < 7) expected[plane * 35 + y * 7 + c] = src[plane * 35 + sy * 7 + sx];
                }
        Assert.Equal(expected, got.ToArray());
    }

    [Fact]
    public void Shift_MovesContentDownAndRightAndRejectsShiftsThatLeaveNothing()
    {
        var x = Tensor.Arange(1, 7).Float().Reshape(1, 1, 2, 3);   // [[1 2 3] [4 5 6]]
        Assert.Equal(new float[] { 0, 0, 0, 0, 1, 2 }, Tta.Shift(x, 1, 1).ToArray());
        Assert.Equal(new float[] { 2, 3, 0, 5, 6, 0 }, Tta.Shift(x, 0, -1).ToArray());
        var e = Assert.Throws<ArgumentException>(() => Tta.Shift(x, 2, 0));
        Assert.Contains("Tta.Shift", e.Message);
        Assert.Throws<ArgumentException>(() => Tta.Shift(x, 0, -3));
    }

    [Fact]
    public void Tta_WithShiftAveragesEighteenPredictions()
    {
        var (x, y) = Blobs(48, 1);
        var (vx, vy) = Blobs(30, 2);
        vx = vx.Reshape(30, 1, 2, 2);
        var train = new TensorLoader(x.Reshape(48, 1, 2, 2), y, 16);
        var valid = new TensorLoader(vx, vy, 16);
        var learn = new TrainLearner(new Sequential(new Flatten(), Mlp(4)), train, valid, CrossEntropy);
        var (p, t) = Tta.Predict(learn, shift: 1);
        Tensor? sum = null;
        foreach (var v in new[] { vx, Tta.FlipHorizontal(vx) })
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                {
                    var out1 = learn.Predict(Tta.Shift(v, dy, dx));
                    sum = sum is null ? out1 : sum + out1;
                }
        Assert.Equal((sum! / 18f).ToArray(), p.ToArray(), new FloatTol(1e-5f));
        Assert.Equal(vy.ToIntArray(), t.ToIntArray());
        Assert.NotEqual(Tta.Predict(learn).Preds.ToArray(), p.ToArray(), new FloatTol(1e-5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tta.Predict(learn, shift: -1));
    }

    [Fact]
    public void Ensemble_AveragesTheModels()
    {
        var (train, valid) = Loaders();
        var a = new TrainLearner(Mlp(4), train, valid, CrossEntropy);
        var b = new TrainLearner(Mlp(5), train, valid, CrossEntropy);
        var (p, _) = Tta.Ensemble([a, b]);
        var (vx, _) = Blobs(30, 2);
        var expected = (a.Predict(vx) + b.Predict(vx)) / 2f;
        Assert.Equal(expected.ToArray(), p.ToArray(), new FloatTol(1e-6f));
    }

    sealed class FloatTol(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(float v) => 0;
    }

    [Fact]
    public void EarlyStopping_StopsWhenTheValidLossStopsImproving()
    {
        var (train, valid) = Loaders();
        var es = new EarlyStopping(patience: 2);
        var rec = new Recorder();
        // lr 0: the valid loss never changes, so only the first epoch counts as an improvement.
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.0, [new MetricsCallback { Log = null }, rec, es]);
        learn.Fit(10);
        Assert.Equal(2, es.StoppedEpoch);
        Assert.Equal(0, es.BestEpoch);
        Assert.Equal(3, rec.Values.Count);
    }

    [Fact]
    public void EarlyStopping_LetsAnImprovingFitRun()
    {
        var (train, valid) = Loaders();
        var es = new EarlyStopping("accuracy", MonitorMode.Max, patience: 10);
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1, [new MetricsCallback(new Accuracy()) { Log = null }, es]);
        learn.Fit(4);
        Assert.Equal(-1, es.StoppedEpoch);
        Assert.Equal(4, learn.Epoch);
    }

    [Fact]
    public void SaveBest_KeepsTheBestEpochsWeights()
    {
        var path = Path.Combine(Path.GetTempPath(), $"kiln-savebest-{Guid.NewGuid():N}.safetensors");
        try
        {
            var (train, valid) = Loaders();
            var mc = new MetricsCallback { Log = null };
            var snapshots = new List<float[]>();
            var snap = new SnapshotAfterValid(snapshots);
            var best = new SaveBest(path, loadAtEnd: true);
            // lr 2.0 makes plain SGD oscillate, so the best epoch is usually not the last one.
            var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 2.0, [mc, best, snap]);
            learn.Fit(6);
            var losses = mc.History.Where(h => !h.Training).Select(h => h.Loss).ToList();
            int bestEpoch = losses.IndexOf(losses.Min());
            Assert.Equal(bestEpoch, best.BestEpoch);
            Assert.Equal(snapshots[bestEpoch], learn.Model.Parameters().First().ToArray());
            var info = Checkpoint.LoadModel(Mlp(9), path);
            Assert.Equal(bestEpoch + 1, info.Epoch);
        }
        finally { File.Delete(path); }
    }

    sealed class SnapshotAfterValid(List<float[]> into) : Callback
    {
        public override int Order => 3;
        public override void AfterEpoch(Learner l)
        {
            if (!l.Training) into.Add(l.Model.Parameters().First().ToArray());
        }
    }
}
