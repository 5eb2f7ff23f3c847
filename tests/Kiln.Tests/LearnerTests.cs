using Kiln.Data;
using Kiln.Learn;
using Kiln.Nn;
using Kiln.Optim;
using static Kiln.Tests.LearnTestData;

namespace Kiln.Tests;

/// <summary>Logs the scoped events (and after-step) as compact tokens: BF AF CF, BE:t/BE:v AE CE, BB AS AB CB.</summary>
sealed class EventLog : Callback
{
    public List<string> Events { get; } = [];
    public override void BeforeFit(Learner l) => Events.Add("BF");
    public override void AfterFit(Learner l) => Events.Add("AF");
    public override void CleanupFit(Learner l) => Events.Add("CF");
    public override void BeforeEpoch(Learner l) => Events.Add(l.Training ? "BE:t" : "BE:v");
    public override void AfterEpoch(Learner l) => Events.Add("AE");
    public override void CleanupEpoch(Learner l) => Events.Add("CE");
    public override void BeforeBatch(Learner l) => Events.Add("BB");
    public override void AfterStep(Learner l) => Events.Add("AS");
    public override void AfterBatch(Learner l) => Events.Add("AB");
    public override void CleanupBatch(Learner l) => Events.Add("CB");
    public string Joined => string.Join(" ", Events);
}

/// <summary>Throws an exception at one event when (training, iter) match; runs after EventLog (Order 1).</summary>
sealed class Thrower(string evt, bool training, int iter, Func<Exception> make) : Callback
{
    public override int Order => 1;
    void Maybe(Learner l, string e)
    {
        if (e == evt && l.Training == training && (iter < 0 || l.Iter == iter)) throw make();
    }
    public override void BeforeEpoch(Learner l) => Maybe(l, "BE");
    public override void BeforeBatch(Learner l) => Maybe(l, "BB");
    public override void AfterBatch(Learner l) => Maybe(l, "AB");
}

public class LearnerTests
{
    static Learner NewLearner(out EventLog log, double lr = 0.1)
    {
        var (train, valid) = Loaders();
        log = new EventLog();
        return new Learner(Mlp(3), train, valid, CrossEntropy, lr, [new TrainCallback(), log]);
    }

    const string TrainBatch = "BB AS AB CB", ValidBatch = "BB AB CB";
    static readonly string TrainEpoch = $"BE:t {TrainBatch} {TrainBatch} {TrainBatch} AE CE";
    static readonly string ValidEpoch = $"BE:v {ValidBatch} {ValidBatch} AE CE";

    [Fact]
    public void FullFit_RunsEventsInOrder_TrainThenValidEachEpoch()
    {
        var learn = NewLearner(out var log);
        learn.Fit(2);
        Assert.Equal($"BF {TrainEpoch} {ValidEpoch} {TrainEpoch} {ValidEpoch} AF CF", log.Joined);
    }

    [Fact]
    public void FitWithoutValidation_RunsOnlyTrainingPasses()
    {
        var learn = NewLearner(out var log);
        learn.Fit(1, valid: false);
        Assert.Equal($"BF {TrainEpoch} AF CF", log.Joined);
    }

    [Fact]
    public void CancelBatch_SkipsTheRestOfTheBatchAndAfterBatch_ButRunsCleanup()
    {
        var learn = NewLearner(out var log);
        learn.Fit(1, callbacks: [new Thrower("BB", training: true, iter: 1, () => new CancelBatchException())]);
        Assert.Equal($"BF BE:t {TrainBatch} BB CB {TrainBatch} AE CE {ValidEpoch} AF CF", log.Joined);
    }

    [Fact]
    public void CancelEpoch_SkipsTheRestOfThePassAndAfterEpoch_ButRunsCleanup_AndTheNextPass()
    {
        var learn = NewLearner(out var log);
        learn.Fit(1, callbacks: [new Thrower("AB", training: true, iter: 0, () => new CancelEpochException())]);
        Assert.Equal($"BF BE:t {TrainBatch} CE {ValidEpoch} AF CF", log.Joined);
    }

    [Fact]
    public void CancelFit_SkipsRemainingEpochsAndAfterFit_ButRunsCleanups()
    {
        var learn = NewLearner(out var log);
        learn.Fit(3, callbacks: [new Thrower("BE", training: false, iter: -1, () => new CancelFitException())]);
        Assert.Equal($"BF {TrainEpoch} BE:v CE CF", log.Joined);
    }

    [Fact]
    public void FitScopedCallbacks_AreRemovedAfterTheFit_EvenWhenItThrows()
    {
        var learn = NewLearner(out var log);
        int before = learn.Callbacks.Count;
        var extra = new EventLog();
        learn.Fit(1, callbacks: [extra]);
        Assert.Equal(before, learn.Callbacks.Count);
        Assert.NotEmpty(extra.Events);

        var boom = new Thrower("BB", training: true, iter: 1, () => new InvalidOperationException("boom"));
        var ex = Assert.Throws<InvalidOperationException>(() => learn.Fit(1, callbacks: [boom]));
        Assert.Equal("boom", ex.Message);
        Assert.Equal(before, learn.Callbacks.Count);
        Assert.DoesNotContain(boom, learn.Callbacks);
        // The exception went through batch, epoch and fit cleanups but skipped every "after".
        Assert.EndsWith($"{TrainBatch} BB CB CE CF", log.Joined);
    }

    [Fact]
    public void CallbacksRunSortedByOrder_EqualOrdersInInsertionOrder()
    {
        var seen = new List<string>();
        var (train, valid) = Loaders();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.1,
            [new Probe("late", 5, seen), new Probe("a", 0, seen), new Probe("early", -3, seen), new Probe("b", 0, seen)]);
        learn.Fit(1, train: false);
        Assert.Equal(["early", "a", "b", "late"], seen);
    }

    sealed class Probe(string name, int order, List<string> seen) : Callback
    {
        public override int Order => order;
        public override void BeforeFit(Learner l) => seen.Add(name);
    }

    [Fact]
    public void EachFit_CreatesAFreshOptimizer_WithTheLrOverride()
    {
        var learn = NewLearner(out _, lr: 0.1);
        learn.Fit(1, lr: 0.5);
        var first = learn.Opt!;
        Assert.Equal(0.5, first.Lr);
        learn.Fit(1);
        Assert.NotSame(first, learn.Opt);
        Assert.Equal(0.1, learn.Opt!.Lr);
    }

    sealed class ModeProbe : Callback
    {
        public List<(bool Training, bool Grad, bool ModelTraining, bool PredsGrad)> Seen { get; } = [];
        public override void AfterPredict(Learner l) => Seen.Add((l.Training, Autograd.IsGradEnabled, l.Model.Training, l.Preds!.RequiresGrad));
    }

    [Fact]
    public void Validation_RunsInEvalModeWithoutGradients_TrainingWithThem()
    {
        var learn = NewLearner(out _);
        var probe = new ModeProbe();
        learn.Fit(1, callbacks: [probe]);
        Assert.Equal(5, probe.Seen.Count);
        Assert.All(probe.Seen, s => Assert.Equal((s.Training, s.Training, s.Training, s.Training), (s.Training, s.Grad, s.ModelTraining, s.PredsGrad)));
        Assert.Equal(3, probe.Seen.Count(s => s.Training));
        Assert.True(Autograd.IsGradEnabled);
    }

    [Fact]
    public void PlainLearnerWithoutTrainStep_FailsWithAnExplanation()
    {
        var (train, valid) = Loaders();
        var learn = new Learner(Mlp(1), train, valid, CrossEntropy);
        var ex = Assert.Throws<InvalidOperationException>(() => learn.Fit(1));
        Assert.Contains("TrainCallback", ex.Message);
    }

    [Fact]
    public void TrainLearner_ReducesTheLoss_AndState_IsVisible()
    {
        var (train, valid) = Loaders();
        var metrics = new MetricsCallback(new Accuracy()) { Log = null };
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.2, [metrics]);
        learn.Fit(8);
        var firstValid = metrics.History.First(h => !h.Training);
        var lastValid = metrics.History.Last(h => !h.Training);
        Assert.Equal(16, metrics.History.Count);
        Assert.True(lastValid.Loss < firstValid.Loss * 0.7, $"valid loss {firstValid.Loss:0.000} -> {lastValid.Loss:0.000}");
        Assert.True(lastValid.Metrics["accuracy"] > 0.9, $"accuracy {lastValid.Metrics["accuracy"]}");
        Assert.Equal(8, learn.Epoch);
        Assert.Equal(1, learn.Iter); // the last (validation) pass ended after its 2nd batch
        Assert.False(learn.Training);
    }

    sealed class GradCapture : Callback
    {
        public float[]? Captured;
        public override void AfterBackward(Learner l) => Captured = l.Model.Parameters().First().Grad!.ToArray();
    }

    [Fact]
    public void MomentumLearner_DecaysGradientsInsteadOfClearingThem()
    {
        var (train, valid) = Loaders();
        var cap = new GradCapture();
        var learn = new MomentumLearner(Mlp(2), train, valid, CrossEntropy, 0.1, [cap], mom: 0.85);
        learn.Fit(1, valid: false);
        var left = learn.Model.Parameters().First().Grad!.ToArray();
        Assert.Equal(cap.Captured!.Select(v => v * 0.85f), left);
        Assert.Contains(left, v => v != 0);
    }

    [Fact]
    public void GetPreds_And_Predict_GiveTheModelOutputs()
    {
        var (train, valid) = Loaders();
        var learn = new TrainLearner(Mlp(4), train, valid, CrossEntropy);
        var (preds, targets) = learn.GetPreds();
        Assert.Equal([30, 3], preds.Shape);
        var (vx, vy) = Blobs(30, 2);
        Assert.Equal(vy.ToIntArray(), targets.ToIntArray());
        Assert.Equal(learn.Predict(vx).ToArray(), preds.ToArray(), new FloatTol(1e-6f)); // batch sizes differ: summation order may too
        var one = learn.PredictItem(vx.Select(0, 7));
        Assert.Equal([3], one.Shape);
        Assert.Equal(preds.Select(0, 7).ToArray(), one.ToArray(), new FloatTol(1e-6f));
        Assert.True(learn.Model.Training); // mode restored
        var (tp, _) = learn.GetPreds(train);
        Assert.Equal([48, 3], tp.Shape);
        Assert.Same(valid, learn.Dls.Valid);
    }

    sealed class FloatTol(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(float v) => 0;
    }

    [Fact]
    public void AcceptsAnyDataLoadersPair()
    {
        var (train, valid) = Loaders();
        var learn = new TrainLearner(Mlp(4), new LoaderPair(train, valid), CrossEntropy);
        learn.Fit(1);
        Assert.Equal(1, train.Passes);
        Assert.Equal(1, valid.Passes);
    }
}

public class LearnerDataLoadersTests
{
    [Fact]
    public void KilnDataLoaders_PlugIntoALearnerAsTheyAre()
    {
        var x = Tensor.Randn(12, 4);
        var y = Tensor.RandInt(0, 2, [12]);
        var dls = Kiln.Data.DataLoaders.FromDatasets(new Kiln.Data.TensorDataset(x, y), new Kiln.Data.TensorDataset(x, y), batchSize: 4);
        var learn = new TrainLearner(Mlp(1), dls, CrossEntropy);
        Assert.Same(dls.Train, learn.Dls.Train);
        Assert.Same(dls.Valid, learn.Dls.Valid);
        learn.Fit(1);
        Assert.Equal(8, dls.Valid.BatchSize); // validation at twice the batch size
    }

    [Fact]
    public void PendingOptimizerState_IsKeptByGetPredsAndLrFind_AndUsedByTheNextTrainingFit()
    {
        var (train, valid) = Loaders();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.01, optFunc: (ps, lr) => new AdamW(ps, lr));
        learn.Fit(1);
        var state = learn.Opt!.StateDict();
        learn.PendingOptimizerState = state;
        learn.GetPreds();
        learn.LrFind(maxEpochs: 1);
        Assert.Same(state, learn.PendingOptimizerState);
        learn.Fit(1, lr: 0.5);
        Assert.Null(learn.PendingOptimizerState);
        Assert.Equal(0.01, learn.Opt!.Lr); // the checkpoint's hyperparameters win over the fit's lr
        Assert.Equal(6, learn.Opt.StateOf(learn.Model.Parameters().First()).Step);
    }
}
