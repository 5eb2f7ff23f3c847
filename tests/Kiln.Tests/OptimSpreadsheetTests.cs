using Kiln.Lessons;
using Kiln.Optim;
using Xunit.Abstractions;
using static Kiln.Lessons.OptimizerSpreadsheet;

namespace Kiln.Tests;

/// <summary>Lesson 18's spreadsheet (y = 2x + 30 fitted online, batch size 1) reproduced with Kiln's optimizers.</summary>
public class OptimSpreadsheetTests(ITestOutputHelper output)
{
    [Fact]
    public void Rows_start_with_the_spreadsheets_and_all_lie_on_y_equals_2x_plus_30()
    {
        var rows = Rows();
        Assert.Equal(29, rows.Length);
        Assert.Equal((14f, 58f), rows[0]);
        Assert.Equal((86f, 202f), rows[1]);
        Assert.All(rows, r => { Assert.InRange(r.X, 1, 100); Assert.Equal(2 * r.X + 30, r.Y); });
    }

    [Fact]
    public void Finite_difference_on_the_first_row_gives_the_lessons_minus_85_99()
    {
        var c = FiniteDifference(14, 58);
        Assert.Equal(1849, c.Error, 9);
        Assert.Equal(-85.99, c.EstDb, 6);  // (42.99² - 43²)/0.01
        Assert.Equal(-86, c.Db, 9);
        Assert.Equal(-1202.04, c.EstDa, 6); // (42.86² - 43²)/0.01
        Assert.Equal(-1204, c.Da, 9);
    }

    [Fact]
    public void The_first_sgd_step_moves_slope_and_intercept_to_the_lessons_1_12_and_1_01()
    {
        var a = Tensor.Of(1f).RequiresGradInPlace();
        var b = Tensor.Of(1f).RequiresGradInPlace();
        var opt = OptimizerFor(Method.Sgd, a, b);
        (a * 14f + b - 58f).Pow(2).Sum().Backward();
        opt.Step();
        Assert.Equal(1 + 1e-4 * 1204, a.Item(), 5);
        Assert.Equal(1 + 1e-4 * 86, b.Item(), 5);
    }

    [Fact]
    public void Plain_sgd_crawls_while_adam_reaches_the_line_and_annealing_settles_on_it()
    {
        var sgd = Run(Method.Sgd, 30);
        Assert.True(sgd[^1].Rmse < sgd[1].Rmse, "SGD's error falls");
        Assert.True(sgd[^1].B < 5, $"but the intercept is still far from 30 after 30 epochs: {sgd[^1].B}");

        var adam = Run(Method.Adam, 60);
        Assert.InRange(adam[^1].B, 29, 31);
        Assert.True(adam[^1].Rmse > 0.2, $"fixed-lr Adam keeps bouncing around the optimum: rmse {adam[^1].Rmse}");

        var annealed = Run(Method.AdamAnnealing, 60);
        Assert.InRange(annealed[^1].A, 1.999, 2.001);
        Assert.InRange(annealed[^1].B, 29.99, 30.01);
        Assert.True(annealed[^1].Lr < 1e-3, $"the rule lowered the lr step by step: {annealed[^1].Lr}");
        Assert.True(annealed[^1].Rmse < adam[^1].Rmse / 10);
    }

    [Fact]
    public void Momentum_and_rmsprop_sheets_use_the_lessons_optimizers()
    {
        var a = Tensor.Of(1f);
        var b = Tensor.Of(1f);
        Assert.IsType<Momentum>(OptimizerFor(Method.Momentum, a, b));
        var rms = Assert.IsType<RMSProp>(OptimizerFor(Method.RmsProp, a, b));
        Assert.Equal((0.02, 0.9, 0.0), (rms.Lr, rms.ParamGroups[0].Get("alpha"), rms.ParamGroups[0].Eps));
        var adam = Assert.IsType<Adam>(OptimizerFor(Method.Adam, a, b));
        Assert.False(adam.BiasCorrection);
    }

    [Fact]
    public void Print_reports_every_sheet()
    {
        var w = new StringWriter();
        Print(w, 60);
        var text = w.ToString();
        output.WriteLine(text);
        foreach (var m in Enum.GetNames<Method>()) Assert.Contains("\n" + m, text);
        Assert.Contains("d/db est -85.99 exact -86.00", text);
    }
}
