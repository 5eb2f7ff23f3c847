using System.Diagnostics;
using Kiln.Models;
using Kiln.Optim;
using TorchSharp;
using static TorchSharp.torch;
using KTensor = Kiln.Tensor;
using TTensor = TorchSharp.torch.Tensor;

namespace Kiln.Bench;

/// <summary>
/// Issue 8's workload, one training step of lesson 18's models at batch 1024 (forward, cross-entropy, backward, AdamW
/// step, zero grad, reading the loss): Kiln's FashionModels next to the same architecture built from TorchSharp's
/// layers, on the same random batch, in the same run. Weights are each library's own initialisation (the time does not
/// depend on the values). Median and best step after warm-up; the two contestants alternate every 3 steps.
/// </summary>
static class TrainStepBench
{
    const int Batch = 1024, Steps = 15;

    sealed class TorchGeneralRelu() : nn.Module<TTensor, TTensor>("GeneralRelu")
    {
        public override TTensor forward(TTensor x) => nn.functional.leaky_relu(x, 0.1) - 0.4;
    }

    // Lesson 18's conv(ni, nf, ks, stride, act, norm): Conv2d(padding ks/2, bias as the notebook) -> BatchNorm2d -> GeneralRelu.
    static nn.Module<TTensor, TTensor> Conv(int ni, int nf, int ks = 3, int stride = 2, bool act = true, bool norm = true)
    {
        var layers = new List<nn.Module<TTensor, TTensor>> { nn.Conv2d(ni, nf, ks, stride, ks / 2, bias: true) };
        if (norm) layers.Add(nn.BatchNorm2d(nf));
        if (act) layers.Add(new TorchGeneralRelu());
        return nn.Sequential(layers);
    }

    sealed class TorchResBlock : nn.Module<TTensor, TTensor>
    {
        readonly nn.Module<TTensor, TTensor> convs, act;
        readonly nn.Module<TTensor, TTensor>? idconv, pool;

        public TorchResBlock(int ni, int nf, int stride = 1, int ks = 3) : base("ResBlock")
        {
            convs = nn.Sequential(Conv(ni, nf, ks, 1), Conv(nf, nf, ks, stride, act: false));
            if (ni != nf) idconv = Conv(ni, nf, 1, 1, act: false, norm: false);
            if (stride != 1) pool = nn.AvgPool2d(2, ceil_mode: true);
            act = new TorchGeneralRelu();
            RegisterComponents();
        }

        public override TTensor forward(TTensor x)
        {
            var s = x;
            if (pool != null) s = pool.forward(s);
            if (idconv != null) s = idconv.forward(s);
            return act.forward(convs.forward(x) + s);
        }
    }

    /// <summary>
    /// Lesson 18's model called name (cnn, deeper, model4) from TorchSharp layers, laid out so its state_dict keys are
    /// Kiln's FashionModels StateDict keys (the epoch bench copies Kiln's initial weights across by name).
    /// </summary>
    internal static nn.Module<TTensor, TTensor> TorchModel(string name)
    {
        var layers = new List<nn.Module<TTensor, TTensor>>();
        switch (name)
        {
            case "cnn":
                int[] a = [1, 8, 16, 32, 64];
                for (int i = 0; i < a.Length - 1; i++) layers.Add(Conv(a[i], a[i + 1]));
                layers.Add(Conv(64, 10, act: false, norm: false));
                layers.Add(nn.Flatten());
                break;
            case "deeper":
                int[] b = [8, 16, 32, 64, 128];
                layers.Add(Conv(1, 8, stride: 1));
                for (int i = 0; i < b.Length - 1; i++) layers.Add(Conv(b[i], b[i + 1]));
                layers.Add(Conv(128, 10, act: false));
                layers.Add(nn.Flatten());
                break;
            case "model4":
                int[] c = [16, 32, 64, 128, 256];
                layers.Add(Conv(1, 16, 5, 1));
                for (int i = 0; i < c.Length - 1; i++) layers.Add(new TorchResBlock(c[i], c[i + 1], 2));
                layers.Add(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())); // one child, as Kiln's GlobalAvgPool2d(flatten), so the indices match
                layers.Add(nn.Linear(256, 10, hasBias: false));
                layers.Add(nn.BatchNorm1d(10));
                break;
            default: throw new ArgumentException($"train bench: unknown model {name} (cnn, deeper, model4)");
        }
        return nn.Sequential(layers);
    }

    public static int Run(int[] threads, string? filter)
    {
        string[] models = filter?.Split(',') ?? ["cnn", "deeper", "model4"];
        var rng = new Random(1);
        var xs = new float[Batch * 784];
        for (int i = 0; i < xs.Length; i++) xs[i] = (float)(rng.NextDouble() * 2 - 1);
        var ys = new int[Batch];
        for (int i = 0; i < ys.Length; i++) ys[i] = rng.Next(10);

        Console.WriteLine($"\n## Training step, batch {Batch} (forward, cross-entropy, backward, AdamW step, zero grad, loss value)");
        Console.WriteLine("| model | threads | Kiln ms/step median (best) | TorchSharp ms/step median (best) | Kiln speed-up (median) |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var name in models)
            foreach (int t in threads)
            {
                Env.SetThreads(t);
                var kx = KTensor.FromArray(xs, Batch, 1, 28, 28);
                var ky = KTensor.FromArray(ys, Batch);
                var km = FashionModels.Create(name);
                var kopt = new AdamW(km.Parameters(), 1e-3);
                Action kiln = () =>
                {
                    var loss = Kiln.Nn.F.CrossEntropy(km.Call(kx), ky);
                    loss.Backward();
                    kopt.Step();
                    kopt.ZeroGrad();
                    _ = loss.Item();
                };
                using var tx = torch.tensor(xs, new long[] { Batch, 1, 28, 28 });
                using var ty = torch.tensor(Array.ConvertAll(ys, v => (long)v), new long[] { Batch });
                var tm = TorchModel(name);
                var topt = optim.AdamW(tm.parameters(), 1e-3, weight_decay: 0.01);
                Action torchStep = () =>
                {
                    using var scope = NewDisposeScope();
                    var loss = nn.functional.cross_entropy(tm.forward(tx), ty);
                    loss.backward();
                    topt.step();
                    topt.zero_grad();
                    _ = loss.item<float>();
                };
                for (int w = 0; w < 2; w++) { kiln(); torchStep(); }
                var kt = new List<double>();
                var tt = new List<double>();
                while (kt.Count < Steps)
                {
                    for (int r = 0; r < 3; r++) kt.Add(Time(kiln));
                    for (int r = 0; r < 3; r++) tt.Add(Time(torchStep));
                }
                double km50 = Stats.Median(kt), tm50 = Stats.Median(tt);
                Console.WriteLine($"| {name} | {t} | {km50:0.0} ({kt.Min():0.0}) | {tm50:0.0} ({tt.Min():0.0}) | {tm50 / km50:0.00}x |");
            }
        Console.WriteLine($"load avg at end: {Env.LoadAvg()}");
        return 0;
    }

    static double Time(Action a)
    {
        var sw = Stopwatch.StartNew();
        a();
        return sw.Elapsed.TotalMilliseconds;
    }
}
