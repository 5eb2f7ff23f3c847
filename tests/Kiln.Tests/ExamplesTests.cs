using System.Diagnostics;

namespace Kiln.Tests;

/// <summary>
/// The lesson programs in examples/ run as users run them, `dotnet run -c &lt;config&gt; examples/&lt;file&gt;.cs --quick` from the
/// repository root, so that they never rot: each must exit with code 0, print the lesson's worked numbers and write its
/// pictures. The tests of one class run one after another, so two example builds never race.
/// </summary>
public sealed class ExamplesTests
{
    static readonly string Root = FindRoot();

    /// <summary>The directory holding Kiln.slnx, found by walking up from the test binaries.</summary>
    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Kiln.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no Kiln.slnx above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs examples/file in quick mode with the configuration the tests were built in; returns the output.</summary>
    static string RunQuick(string file)
    {
        // tests/Kiln.Tests/bin/<Configuration>/net10.0: the libraries were built in this configuration, so the example's
        // build finds them up to date instead of compiling them again.
        var config = Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar))!);
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "run", "-c", config, Path.Combine("examples", file), "--quick" }) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";   // numbers print the same on every machine
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"examples/{file} --quick did not finish in 8 minutes");
        }
        var output = stdout.Result;
        Assert.True(p.ExitCode == 0, $"examples/{file} --quick exited with {p.ExitCode}\n{output}\n{stderr.Result}");
        Assert.Contains("(quick mode)", output);
        return output;
    }

    static void AssertPictures(string lesson, params string[] names)
    {
        foreach (var name in names)
        {
            var path = Path.Combine(Root, "examples", "out", lesson, name);
            Assert.True(File.Exists(path), $"{path} was not written");
            var head = new byte[8];
            using (var f = File.OpenRead(path)) Assert.Equal(8, f.Read(head, 0, 8));
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, head);
        }
    }

    [Fact]
    public void Lesson08_prints_the_frobenius_norm_broadcasting_and_matching_gradients()
    {
        var output = RunQuick("lesson08.cs");
        Assert.Contains("(m*m).Sum().Sqrt() = 16.8819", output);
        Assert.Contains("(a < b).Float().Mean() = 0.6667", output);
        Assert.Contains("strides [0,1], storage still holds 3 elements", output);
        Assert.Contains("[300., 600., 900.]", output);
        Assert.Contains("Fast", output);
        Assert.DoesNotContain("MISMATCH", output);
        Assert.Contains("Kiln.Nn modules + autograd", output);
    }

    [Fact]
    public void Lesson04_prints_mnist_loss_softmax_and_trains()
    {
        var output = RunQuick("lesson04.cs");
        Assert.Contains("mean: 0.433", output);
        Assert.Contains("instead of 0.2: 0.233", output);
        Assert.Contains("first row: 0.6025 / 0.3975", output);
        Assert.Contains("unchanged: True", output);
        Assert.Contains("batch_accuracy", output);
        AssertPictures("lesson04", "digits-and-means.png", "first-layer-weights.png", "simple-net-loss.png");
    }

    [Fact]
    public void Lesson15_prints_the_edge_sums_the_cnn_and_the_metrics()
    {
        var output = RunQuick("lesson15.cs");
        Assert.Matches(@"\(im3\[3:6, 14:17\] \* top_edge\)\.sum\(\) = 2\.97\d", output);
        Assert.Matches(@"\(im3\[7:10, 14:17\] \* top_edge\)\.sum\(\) = -2\.95\d", output);
        Assert.Contains("-> [16, 4, 26, 26]", output);
        Assert.Contains("simple_cnn parameters: 5,274", output);
        Assert.Contains("MLP parameters: 39,760", output);
        Assert.Contains("Accuracy after two batches: 0.45", output);
        Assert.Contains("(n=2): 0.62", output);
        AssertPictures("lesson15", "edge-feature-maps.png", "batch-feature-maps.png", "autoencoder-original-vs-reconstruction.png");
    }

    [Fact]
    public void Lesson18_prints_schedules_and_summaries_and_writes_the_pictures()
    {
        var output = RunQuick("lesson18.cs");
        Assert.Contains("beta1 0.95 -> 0.85 -> 0.95", output);
        Assert.Contains("Tot params: 1224948; MFLOPS: 13.3", output);   // get_model4, as the lesson's summary
        Assert.Contains("Tot params: 1,231,428; MFLOPS: 18.3", output); // get_model3
        Assert.Contains("ensemble", output);
        AssertPictures("lesson18", "schedule-onecycle.png", "lr-find.png", "augmentation-preview.png", "rand-erase.png", "rand-copy.png");
    }
}
