using System.Diagnostics;
using Kiln;
using Kiln.Data;
using TorchSharp;
using static TorchSharp.torch;
using KTensor = Kiln.Tensor;
using TTensor = TorchSharp.torch.Tensor;
using Nn = Kiln.Nn;

namespace Kiln.Bench;

/// <summary>
/// Issue 9's open question: lesson 15's simple_cnn on Fashion-MNIST (SGD lr 0.4, bs 256, 5 epochs, pixels in [0, 1]) ends at
/// 0.70-0.84 in Kiln's runs against the lesson's single 0.857. Is that Kiln's training arithmetic, Kiln's default
/// initialisation, or the spread of an unstable recipe? For each seed three runs on the same shuffled batches:
/// Kiln (Kiln's default init from the seed), TorchSharp from the same initial weights copied across, and TorchSharp from
/// its own default init (torch.manual_seed(seed)). Prints each run's validation accuracy per epoch and the means.
/// </summary>
static class SimpleCnnBench
{
    const int Batch = 256, Epochs = 5, Pixels = 784;
    const float Lr = 0.4f;

    public static int Run(int threads, string? filter)
    {
        int seeds = filter is null ? 5 : int.Parse(filter);
        Env.SetThreads(threads);
        var splits = Datasets.Get("fashion-mnist");
        float[] x = splits.Train.X.Contiguous().ToArray(), vx = splits.Valid.X.Contiguous().ToArray();
        int[] y = Array.ConvertAll(splits.Train.Y.Contiguous().ToArray(), v => (int)v);
        int[] vy = Array.ConvertAll(splits.Valid.Y.Contiguous().ToArray(), v => (int)v);
        Console.WriteLine($"simple_cnn, Fashion-MNIST {y.Length:N0} / {vy.Length:N0}, pixels {x.Min():0.##}..{x.Max():0.##}, SGD lr {Lr}, bs {Batch}, " +
                          $"{Epochs} epochs, threads {threads}; valid accuracy after each epoch");
        Console.WriteLine("| seed | run | " + string.Join(" | ", Enumerable.Range(1, Epochs).Select(e => $"epoch {e}")) + " | s |");
        Console.WriteLine("|---:|---|" + string.Concat(Enumerable.Repeat("---:|", Epochs)) + "---:|");
        var finals = new Dictionary<string, List<double>>();
        for (int seed = 1; seed <= seeds; seed++)
        {
            var orders = Enumerable.Range(0, Epochs).Select(e =>
            {
                var o = Enumerable.Range(0, y.Length).ToArray();
                new Random(seed * 1000 + e).Shuffle(o);
                return o;
            }).ToArray();
            KTensor.ManualSeed(seed);
            var kiln = SimpleCnn();
            var kilnInit = kiln.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Contiguous().ToArray());
            Report(seed, "Kiln (Kiln init)", () => TrainKiln(kiln, x, y, vx, vy, orders), finals);
            var copied = TorchSimpleCnn();
            CopyInto(kilnInit, copied);
            Report(seed, "TorchSharp (Kiln's init copied)", () => TrainTorch(copied, x, y, vx, vy, orders), finals);
            torch.manual_seed(seed);
            Report(seed, "TorchSharp (torch init)", () => TrainTorch(TorchSimpleCnn(), x, y, vx, vy, orders), finals);
        }
        Console.WriteLine();
        foreach (var (run, accs) in finals)
            Console.WriteLine($"{run}: final accuracy mean {accs.Average():0.0000}, min {accs.Min():0.0000}, max {accs.Max():0.0000} over {accs.Count} seeds");
        return 0;
    }

    static void Report(int seed, string run, Func<double[]> train, Dictionary<string, List<double>> finals)
    {
        var sw = Stopwatch.StartNew();
        var accs = train();
        Console.WriteLine($"| {seed} | {run} | {string.Join(" | ", accs.Select(a => a.ToString("0.0000")))} | {sw.Elapsed.TotalSeconds:0} |");
        (finals.TryGetValue(run, out var l) ? l : finals[run] = []).Add(accs[^1]);
    }

    // lesson 15: conv(ni, nf, ks=3, stride=2) = Conv2d(padding 1) + ReLU; the last one without ReLU; Flatten.
    static Nn.Sequential SimpleCnn()
    {
        static Nn.Module Conv(int ni, int nf, bool act = true) => act
            ? new Nn.Sequential(new Nn.Conv2d(ni, nf, 3, stride: 2, padding: 1), new Nn.ReLU())
            : new Nn.Sequential(new Nn.Conv2d(ni, nf, 3, stride: 2, padding: 1));
        return new Nn.Sequential(Conv(1, 4), Conv(4, 8), Conv(8, 16), Conv(16, 16), Conv(16, 10, act: false), new Nn.Flatten());
    }

    // The same layout in TorchSharp, so that state-dict names match Kiln's ("0.0.weight", ...).
    static nn.Module<TTensor, TTensor> TorchSimpleCnn()
    {
        static nn.Module<TTensor, TTensor> Conv(int ni, int nf, bool act = true) => act
            ? nn.Sequential(nn.Conv2d(ni, nf, 3, stride: 2, padding: 1), nn.ReLU())
            : nn.Sequential(nn.Conv2d(ni, nf, 3, stride: 2, padding: 1));
        return nn.Sequential(Conv(1, 4), Conv(4, 8), Conv(8, 16), Conv(16, 16), Conv(16, 10, act: false), nn.Flatten());
    }

    static void CopyInto(Dictionary<string, float[]> kiln, nn.Module<TTensor, TTensor> model)
    {
        using var _ = torch.no_grad();
        var t = model.state_dict();
        if (!t.Keys.Order().SequenceEqual(kiln.Keys.Order()))
            throw new InvalidOperationException($"simplecnn bench: state dicts differ: [{string.Join(", ", t.Keys)}] vs [{string.Join(", ", kiln.Keys)}]");
        foreach (var (name, tt) in t)
        {
            using var src = torch.tensor(kiln[name], tt.shape);
            tt.copy_(src);
        }
    }

    static double[] TrainKiln(Nn.Module model, float[] x, int[] y, float[] vx, int[] vy, int[][] orders)
    {
        var opt = new Optim.SGD(model.Parameters(), Lr);
        var accs = new double[orders.Length];
        var xb = new float[Batch * Pixels];
        var yb = new int[Batch];
        for (int e = 0; e < orders.Length; e++)
        {
            model.Train();
            for (int start = 0; start < y.Length; start += Batch)
            {
                int n = Gather(x, y, orders[e], start, xb, yb);
                var loss = Nn.F.CrossEntropy(model.Call(KTensor.FromArray(xb[..(n * Pixels)], n, 1, 28, 28)), KTensor.FromArray(yb[..n], n));
                loss.Backward();
                opt.Step();
                opt.ZeroGrad();
            }
            model.Eval();
            using (Autograd.NoGrad())
                accs[e] = Accuracy(model.Call(KTensor.FromArray(vx, vy.Length, 1, 28, 28)).ToArray(), vy);
        }
        return accs;
    }

    static double[] TrainTorch(nn.Module<TTensor, TTensor> model, float[] x, int[] y, float[] vx, int[] vy, int[][] orders)
    {
        var opt = optim.SGD(model.parameters(), Lr);
        var accs = new double[orders.Length];
        var xb = new float[Batch * Pixels];
        var yb = new int[Batch];
        for (int e = 0; e < orders.Length; e++)
        {
            model.train();
            for (int start = 0; start < y.Length; start += Batch)
            {
                using var scope = NewDisposeScope();
                int n = Gather(x, y, orders[e], start, xb, yb);
                var loss = nn.functional.cross_entropy(model.forward(torch.tensor(xb[..(n * Pixels)], new long[] { n, 1, 28, 28 })),
                    torch.tensor(Array.ConvertAll(yb[..n], v => (long)v), new long[] { n }));
                loss.backward();
                opt.step();
                opt.zero_grad();
            }
            model.eval();
            using (torch.no_grad())
            using (var scope = NewDisposeScope())
                accs[e] = Accuracy(model.forward(torch.tensor(vx, new long[] { vy.Length, 1, 28, 28 })).data<float>().ToArray(), vy);
        }
        return accs;
    }

    static int Gather(float[] x, int[] y, int[] order, int start, float[] xb, int[] yb)
    {
        int n = Math.Min(Batch, y.Length - start);
        for (int i = 0; i < n; i++)
        {
            Array.Copy(x, (long)order[start + i] * Pixels, xb, (long)i * Pixels, Pixels);
            yb[i] = y[order[start + i]];
        }
        return n;
    }

    static double Accuracy(float[] logits, int[] labels)
    {
        int correct = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            int best = 0;
            for (int c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
            if (best == labels[i]) correct++;
        }
        return (double)correct / labels.Length;
    }
}
