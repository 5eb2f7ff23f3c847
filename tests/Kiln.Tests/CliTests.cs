using System.Diagnostics;
using System.Text.Json;
using Kiln.Data;
using Kiln.Vision;

namespace Kiln.Tests;

/// <summary>The `kiln` command run as a process, as users run it: one short training run shared by the tests of this class.</summary>
public sealed class CliTests : IClassFixture<CliTests.TrainedRun>
{
    readonly TrainedRun _run;

    public CliTests(TrainedRun run) => _run = run;

    /// <summary>Runs `kiln` with args; returns exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Kiln(params string[] args)
    {
        // tests/Kiln.Tests/bin/<Configuration>/net10.0 -> src/Kiln.Cli/bin/<Configuration>/net10.0
        var testDir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var tfm = Path.GetFileName(testDir);
        var config = Path.GetFileName(Path.GetDirectoryName(testDir)!);
        var root = Path.GetFullPath(Path.Combine(testDir, "..", "..", "..", "..", ".."));
        var dll = Path.Combine(root, "src", "Kiln.Cli", "bin", config, tfm, "Kiln.Cli.dll");
        Assert.True(File.Exists(dll), $"the CLI was not built at {dll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(8))) { p.Kill(true); Assert.Fail($"kiln {string.Join(' ', args)} did not finish in 8 minutes"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>kiln train on 3,000 rows for one epoch, shared by the tests.</summary>
    public sealed class TrainedRun : IDisposable
    {
        public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"kiln-cli-{Guid.NewGuid():N}");
        public (int Code, string Out, string Err) Result { get; }

        public TrainedRun() => Result = Kiln("train", "--model", "cnn", "--epochs", "1", "--limit", "3000", "--bs", "256",
            "--lr", "0.02", "--plain", "--out", Dir, "--tta");

        public void Dispose() { try { Directory.Delete(Dir, true); } catch (IOException) { } }
    }

    [Fact]
    public void Train_writes_checkpoint_metrics_and_pictures_and_learns()
    {
        var (code, stdout, stderr) = _run.Result;
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        foreach (var f in new[] { "model.safetensors", "metrics.json", "loss.png", "schedule.png", "valid-predictions.png", "confusion.png" })
            Assert.True(File.Exists(Path.Combine(_run.Dir, f)), $"{f} missing; stdout:\n{stdout}");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_run.Dir, "metrics.json")));
        double acc = doc.RootElement.GetProperty("accuracy").GetDouble();
        Assert.InRange(acc, 0.55, 1.0); // 10 classes: chance is 0.1; one epoch on 3,000 rows reaches ~0.7
        Assert.Equal(2, doc.RootElement.GetProperty("epochs").GetArrayLength()); // one train and one valid pass
        Assert.Contains("validation accuracy", stdout);
        Assert.Contains("with TTA", stdout);
        using var grid = SkiaSharp.SKBitmap.Decode(Path.Combine(_run.Dir, "valid-predictions.png"));
        Assert.True(grid.Width > 300 && grid.Height > 300);
    }

    [Fact]
    public void Evaluate_reproduces_the_trained_accuracy_from_the_checkpoint()
    {
        Assert.Equal(0, _run.Result.Code);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_run.Dir, "metrics.json")));
        double acc = doc.RootElement.GetProperty("accuracy").GetDouble();
        var (code, stdout, stderr) = Kiln("evaluate", "--checkpoint", Path.Combine(_run.Dir, "model.safetensors"));
        Assert.True(code == 0, stderr);
        Assert.Contains($"accuracy {acc:P2}", stdout);
    }

    [Fact]
    public void Evaluate_averages_several_checkpoints_into_an_ensemble()
    {
        Assert.Equal(0, _run.Result.Code);
        var first = Path.Combine(_run.Dir, "model.safetensors");
        // A second, different model: another seed and fewer rows.
        var otherDir = Path.Combine(_run.Dir, "other");
        var (code, stdout, stderr) = Kiln("train", "--model", "cnn", "--epochs", "1", "--limit", "2000", "--bs", "256",
            "--lr", "0.02", "--plain", "--seed", "7", "--out", otherDir);
        Assert.True(code == 0, stderr);
        var second = Path.Combine(otherDir, "model.safetensors");

        double Acc(string text, string prefix)
        {
            var m = System.Text.RegularExpressions.Regex.Match(text, System.Text.RegularExpressions.Regex.Escape(prefix) + @".*?accuracy (\d+\.\d+) ?%");
            Assert.True(m.Success, $"no '{prefix}... accuracy' line in:\n{text}");
            return double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) / 100;
        }

        // The same model twice: the mean of identical predictions is those predictions.
        (code, stdout, stderr) = Kiln("evaluate", "--checkpoint", first, "--checkpoint", first, "--tta");
        Assert.True(code == 0, stderr);
        Assert.Equal(Acc(stdout, $"{first}: with TTA"), Acc(stdout, "ensemble of 2 (mean of the TTA predictions)"));

        (code, stdout, stderr) = Kiln("evaluate", "--checkpoint", first, "--checkpoint", second);
        Assert.True(code == 0, stderr);
        double a = Acc(stdout, $"{first}: "), b = Acc(stdout, $"{second}: "), ens = Acc(stdout, "ensemble of 2 (mean of the predictions)");
        Assert.NotEqual(a, b);
        Assert.InRange(ens, 0.55, 1.0);
    }

    [Fact]
    public void Predict_gives_three_classes_with_probabilities_for_an_image_file()
    {
        Assert.Equal(0, _run.Result.Code);
        var valid = global::Kiln.Data.FashionMnist.Load(Datasets.Locate("fashion-mnist")).Valid;
        var png = Path.Combine(_run.Dir, "item0.png");
        Images.Save(valid.X.Select(0, 0), png);
        var (code, stdout, stderr) = Kiln("predict", "--checkpoint", Path.Combine(_run.Dir, "model.safetensors"), png);
        Assert.True(code == 0, stderr);
        Assert.Equal(3, stdout.Split(',').Length);
        Assert.Matches(@"item0\.png: [A-Za-z/ -]+ \d+(\.\d)?\s?%", stdout);
    }

    [Theory]
    [InlineData("unknown model 'vgg'", "train", "--model", "vgg")]
    [InlineData("--epochs must be at least 1", "train", "--epochs", "0")]
    [InlineData("--lr must be a number or 'find'", "train", "--lr", "fast")]
    [InlineData("unknown augmentation 'rotate'", "train", "--aug", "rotate")]
    [InlineData("--label-smoothing must be in [0, 1)", "train", "--label-smoothing", "1.5")]
    [InlineData("does not exist", "evaluate", "--checkpoint", "/nonexistent/model.safetensors")]
    public void Bad_input_gets_one_clear_line_and_a_nonzero_exit(string expected, params string[] args)
    {
        var (code, _, stderr) = Kiln(args);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void An_unreadable_image_or_a_foreign_checkpoint_is_refused_clearly()
    {
        Assert.Equal(0, _run.Result.Code);
        var bad = Path.Combine(_run.Dir, "bad.png");
        File.WriteAllText(bad, "not an image");
        var (code, _, stderr) = Kiln("predict", "--checkpoint", Path.Combine(_run.Dir, "model.safetensors"), bad);
        Assert.NotEqual(0, code);
        Assert.Contains("cannot read", stderr);

        var foreign = Path.Combine(_run.Dir, "foreign.safetensors");
        global::Kiln.Learn.Checkpoint.SaveModel(new global::Kiln.Nn.Linear(3, 2), foreign);
        (code, _, stderr) = Kiln("evaluate", "--checkpoint", foreign);
        Assert.NotEqual(0, code);
        Assert.Contains("does not name a Kiln model", stderr);
    }

    [Fact]
    public void Summary_prints_lesson_18s_table_for_get_model4()
    {
        var (code, stdout, stderr) = Kiln("summary", "--model", "model4");
        Assert.True(code == 0, stderr);
        Assert.Contains("1,224,948", stdout.Replace("1224948", "1,224,948"));
        Assert.Contains("13.3", stdout);
    }

    [Fact]
    public void Label_smoothing_reaches_the_loss()
    {
        // Same seed, data and steps: only the loss differs. Smoothing 0.3 keeps the validation loss well above plain
        // cross-entropy's for the same predictions, so the two runs' losses must differ.
        double ValidLoss(params string[] extra)
        {
            var dir = Path.Combine(Path.GetTempPath(), $"kiln-ls-{Guid.NewGuid():N}");
            try
            {
                var (code, stdout, stderr) = Kiln(["train", "--model", "cnn", "--epochs", "1", "--limit", "600", "--bs", "300",
                    "--lr", "0.02", "--plain", "--seed", "3", "--out", dir, .. extra]);
                Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
                using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "metrics.json")));
                Assert.Equal(extra.Length == 0 ? 0.0 : 0.3, doc.RootElement.GetProperty("options").GetProperty("LabelSmoothing").GetDouble());
                return doc.RootElement.GetProperty("epochs").EnumerateArray().Single(e => e.GetProperty("split").GetString() == "valid").GetProperty("loss").GetDouble();
            }
            finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
        }
        double plain = ValidLoss(), smoothed = ValidLoss("--label-smoothing", "0.3");
        Assert.True(Math.Abs(plain - smoothed) > 1e-3, $"valid loss {plain} without and {smoothed} with smoothing");
    }
}
