using Kiln.Optim;

namespace Kiln.Tests;

/// <summary>
/// Issue 6's schedules against PyTorch's formulas at chosen steps (first, peak, end, mid-points, momentum), fastai's
/// combine_scheds, and the helper that records a schedule.
/// </summary>
public class OptimSchedulesTests
{
    static SGD Sgd(double lr = 0.1, double momentum = 0.9) => new([Tensor.Of(1f).RequiresGradInPlace()], lr, momentum);

    static void StepTo(LRScheduler s, int step)
    {
        while (s.LastEpoch < step) s.Step();
    }

    static void Near(double expected, double actual, double tol = 1e-12) =>
        Assert.True(Math.Abs(expected - actual) <= tol * Math.Max(1, Math.Abs(expected)), $"expected {expected}, got {actual}");

    [Fact]
    public void ExponentialLR_multiplies_by_gamma_each_step()
    {
        var opt = Sgd(0.1);
        var s = new ExponentialLR(opt, 1.5);
        Assert.Equal(0.1, opt.Lr);
        StepTo(s, 3);
        Near(0.1 * 1.5 * 1.5 * 1.5, opt.Lr);
    }

    [Fact]
    public void CosineAnnealingLR_follows_the_closed_form_and_rises_again_past_T_max()
    {
        var opt = Sgd(0.1);
        var s = new CosineAnnealingLR(opt, tMax: 10, etaMin: 0.001);
        double[] lrs = Schedules.Lrs(s, 20);
        Assert.Equal(21, lrs.Length);
        Near(0.1, lrs[0]);
        Near(0.001 + 0.099 * (1 + Math.Cos(Math.PI * 3 / 10)) / 2, lrs[3]);
        Near(0.0505, lrs[5]);
        Near(0.001, lrs[10]);
        Near(0.0505, lrs[15]); // rising again, as PyTorch's
        Near(0.1, lrs[20]);
        Assert.Equal([0.1], s.BaseLrs);
    }

    [Fact]
    public void OneCycleLR_warms_up_to_max_lr_then_anneals_with_momentum_going_the_other_way()
    {
        // PyTorch: initial = max/25 = 4e-4, min = initial/1e4 = 4e-8; phase 1 ends at 0.3*100 - 1 = 29, phase 2 at 99;
        // anneal(start, end, pct) = end + (start - end)/2 * (cos(pi*pct) + 1)
        static double Anneal(double start, double end, double pct) => end + (start - end) / 2 * (Math.Cos(Math.PI * pct) + 1);
        var opt = Sgd(0.5);
        var s = new OneCycleLR(opt, maxLr: 0.01, totalSteps: 100);
        var g = opt.ParamGroups[0];
        Near(4e-4, g.Lr);
        Near(0.95, g.Momentum);
        StepTo(s, 10);
        Near(Anneal(4e-4, 0.01, 10.0 / 29), g.Lr);
        Near(Anneal(0.95, 0.85, 10.0 / 29), g.Momentum);
        StepTo(s, 29);
        Near(0.01, g.Lr);
        Near(0.85, g.Momentum);
        StepTo(s, 30);
        Near(Anneal(0.01, 4e-8, 1.0 / 70), g.Lr);
        StepTo(s, 64);
        Near((0.01 + 4e-8) / 2, g.Lr);
        Near(0.9, g.Momentum);
        StepTo(s, 99);
        Near(4e-8, g.Lr);
        Near(0.95, g.Momentum);
        s.Step(); // step 100 = total steps is still allowed, as in PyTorch
        Near(Anneal(0.01, 4e-8, 71.0 / 70), g.Lr);
        var e = Assert.Throws<InvalidOperationException>(s.Step);
        Assert.Contains("101", e.Message);
        Assert.Equal(100, s.LastEpoch);
    }

    [Fact]
    public void OneCycleLR_small_cycle_matches_pytorchs_values()
    {
        // OneCycleLR(max_lr=0.1, total_steps=10): phase 1 ends at step 2, so step 1 is the cosine mid-point 0.052.
        var opt = Sgd();
        var lrs = Schedules.Lrs(new OneCycleLR(opt, 0.1, 10), 9);
        Near(0.004, lrs[0]);
        Near(0.052, lrs[1]);
        Near(0.1, lrs[2]);
        Near(4e-7 + (0.1 - 4e-7) / 2 * (Math.Cos(Math.PI / 7) + 1), lrs[3]);
        Near(4e-7, lrs[9]);
    }

    [Fact]
    public void OneCycleLR_cycles_beta1_of_adam_style_optimizers_and_keeps_beta2()
    {
        var opt = new AdamW([Tensor.Of(1f).RequiresGradInPlace()]);
        var s = new OneCycleLR(opt, 0.01, 100);
        Assert.Equal(0.95, opt.ParamGroups[0].Beta1);
        var betas = Schedules.Record(s, 29, "beta1");
        Near(0.85, betas[29]);
        Assert.Equal(0.999, opt.ParamGroups[0].Beta2);
        Assert.False(opt.ParamGroups[0].Has("momentum"));
    }

    [Fact]
    public void The_optimizer_steps_with_the_lr_and_beta1_the_schedule_wrote()
    {
        var p = Tensor.Of(1f).RequiresGradInPlace();
        var opt = new AdamW([p], weightDecay: 0);
        var s = new OneCycleLR(opt, 0.01, 10);
        p.Grad = Tensor.Of(2f);
        opt.Step(); // first Adam step moves by the lr: 0.01/25
        Assert.Equal(1 - 4e-4, p.Item(), 6);
        Near(0.05 * 2, opt.StateOf(p).Buffers["exp_avg"].Item(), 1e-6); // (1 - beta1) * g with beta1 = 0.95
        s.Step();
        opt.Step();
        double lr1 = 0.01 + (4e-4 - 0.01) / 2 * (Math.Cos(Math.PI * 1 / 2.0) + 1), b1 = 0.85 + 0.1 / 2 * (Math.Cos(Math.PI / 2) + 1);
        double m = b1 * 0.1 + (1 - b1) * 2, v = 0.999 * 0.004 + 0.001 * 4;
        // As PyTorch, the bias correction uses the group's current beta1: 1 - beta1^t
        double expected = 1 - 4e-4 - lr1 / (1 - b1 * b1) * m / (Math.Sqrt(v) / Math.Sqrt(1 - 0.999 * 0.999) + 1e-8);
        Assert.Equal(expected, p.Item(), 6);
    }

    [Fact]
    public void OneCycleLR_per_group_max_lrs_and_linear_and_three_phase_options()
    {
        var opt = new SGD([new ParamGroup([Tensor.Of(1f)]), new ParamGroup([Tensor.Of(2f)])], lr: 0.1, momentum: 0.9);
        var s = new OneCycleLR(opt, [0.01, 0.1], 10, anneal: AnnealStrategy.Linear, cycleMomentum: false, threePhase: true);
        Assert.Equal([0.01 / 25, 0.1 / 25], s.GetLastLr());
        Assert.Equal(0.9, opt.ParamGroups[0].Momentum); // not cycled
        StepTo(s, 1); // phase 1 ends at 2: linear half-way
        Near((0.004 + 0.1) / 2, opt.ParamGroups[1].Lr);
        StepTo(s, 4); // phase 2 ends at 2*3 - 2 = 4, back at initial
        Near(0.004, opt.ParamGroups[1].Lr);
        StepTo(s, 9);
        Near(0.004 / 1e4, opt.ParamGroups[1].Lr);
        Near(0.0004 / 1e4, opt.ParamGroups[0].Lr);
    }

    [Fact]
    public void OneCycleLR_refuses_an_optimizer_without_momentum_or_beta1()
    {
        var opt = Sgd();
        opt.ParamGroups[0].Hyper.Remove("momentum");
        Assert.Throws<ArgumentException>(() => new OneCycleLR(opt, 0.1, 10));
        Assert.Throws<ArgumentException>(() => new OneCycleLR(Sgd(), [0.1, 0.2], 10));
    }

    [Fact]
    public void Combine_runs_each_schedule_over_its_fraction_of_training()
    {
        var f = Schedules.Combine([0.3, 0.7], [Schedules.Cos(1, 2), Schedules.Cos(2, 0)]);
        Near(1, f(0));
        Near(1.5, f(0.15));
        Near(2, f(0.3));
        Near(1, f(0.65));
        Near(0, f(1.0)); // the last schedule covers pos 1 (fastai's pct_lim)
        var lin = Schedules.Combine([0.5, 0.5], [Schedules.Lin(0, 1), Schedules.No(1)]);
        Assert.Equal([0, 0.5, 1, 1], Schedules.Sample(lin, 4));
        Near(Math.Sqrt(10), Schedules.Exp(1, 100)(0.25));
        Assert.Throws<ArgumentException>(() => Schedules.Combine([0.5, 0.6], [Schedules.Lin(0, 1), Schedules.Lin(0, 1)]));
    }

    [Fact]
    public void ParamScheduler_sets_a_hyperparameter_by_training_position()
    {
        var opt = Sgd();
        var lr = new ParamScheduler(opt, Schedules.CombinedCos(0.25, 0.01, 0.1, 0.001), totalSteps: 8);
        var mom = new ParamScheduler(opt, Schedules.Lin(0.95, 0.85), totalSteps: 8, name: "momentum");
        Near(0.01, opt.Lr);
        lr.Step(); lr.Step(); mom.Step(); mom.Step();
        Near(0.1, opt.Lr);
        Near(0.925, opt.ParamGroups[0].Momentum);
        Assert.Throws<KeyNotFoundException>(() => new ParamScheduler(opt, Schedules.No(1), 8, name: "beta1"));
    }

    [Fact]
    public void LambdaLR_scales_each_groups_base_lr()
    {
        var opt = new SGD([new ParamGroup([Tensor.Of(1f)]) { Lr = 1 }, new ParamGroup([Tensor.Of(2f)])], lr: 0.1);
        var s = new LambdaLR(opt, t => 1.0 / (t + 1));
        StepTo(s, 3);
        Assert.Equal([0.25, 0.025], s.GetLastLr());
    }

    [Fact]
    public void A_resumed_OneCycle_run_continues_exactly_where_the_saved_one_would_have()
    {
        static (AdamW Opt, OneCycleLR Sched, Tensor P) Make()
        {
            var p = Tensor.Of(1f, -2f, 3f).RequiresGradInPlace();
            var opt = new AdamW([p], weightDecay: 0.01);
            return (opt, new OneCycleLR(opt, 0.05, 12), p);
        }
        static void Train((AdamW Opt, OneCycleLR Sched, Tensor P) run, int from, int to, List<double> lrs)
        {
            for (int t = from; t < to; t++)
            {
                run.P.Grad = Tensor.Of(0.5f * t, -1f, 2f - t);
                run.Opt.Step();
                lrs.Add(run.Opt.ParamGroups[0].Lr);
                run.Sched.Step();
            }
        }

        var straight = Make();
        var straightLrs = new List<double>();
        Train(straight, 0, 12, straightLrs);

        var first = Make();
        var resumedLrs = new List<double>();
        Train(first, 0, 5, resumedLrs);
        var optState = first.Opt.StateDict();
        var schedState = first.Sched.StateDict();
        Assert.Equal(5, schedState.LastEpoch);

        var second = Make();
        using (Autograd.NoGrad()) second.P.CopyFrom(first.P);
        second.Opt.LoadStateDict(optState);
        second.Sched.LoadStateDict(schedState);
        Train(second, 5, 12, resumedLrs);

        Assert.Equal(straightLrs, resumedLrs);
        Assert.Equal(straight.P.ToArray(), second.P.ToArray());
        Assert.Throws<InvalidOperationException>(() => second.Sched.Step()); // step 13 of 12, as the uninterrupted run
    }

    [Fact]
    public void Scheduler_state_for_other_groups_or_past_the_cycle_is_refused()
    {
        var opt = new SGD([new ParamGroup([Tensor.Of(1f)]), new ParamGroup([Tensor.Of(2f)])], lr: 0.1, momentum: 0.9);
        var s = new OneCycleLR(opt, 0.1, 10);
        var e = Assert.Throws<ArgumentException>(() => s.LoadStateDict(new SchedulerStateDict(3, [0.1])));
        Assert.Contains("2 parameter groups", e.Message);
        e = Assert.Throws<ArgumentException>(() => s.LoadStateDict(new SchedulerStateDict(11, [0.004, 0.004])));
        Assert.Contains("past this cycle's 10 total steps", e.Message);
        Assert.Equal(0, s.LastEpoch);
    }
}
