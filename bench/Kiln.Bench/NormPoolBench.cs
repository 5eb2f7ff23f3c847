using Kiln.Nn;
using TorchSharp;
using static TorchSharp.torch;
using KTensor = Kiln.Tensor;
using TTensor = TorchSharp.torch.Tensor;

namespace Kiln.Bench;

/// <summary>
/// Issue 4's normalisation/pooling benchmark: BatchNorm2d (training mode), AvgPool2d(2) and MaxPool2d(2) at batch 256 on
/// the activations of the issue's conv layers (16x28x28, 32x14x14, 128x4x4, 256x2x2) and model4's 64x7x7 (the pools
/// use ceil mode, as lesson 18's ResBlocks do: 7x7 gives 4x4), forward and forward+backward,
/// Kiln next to TorchSharp in the same run, interleaved (<see cref="Measure"/>), at each requested thread count.
/// Forward: the input does not require grad (no graph is kept). Forward+backward: the input (and BatchNorm's weight and
/// bias) require grad; Kiln runs Backward(g) and clears the leaves' Grad, TorchSharp runs torch.autograd.grad (returns the
/// gradients without accumulating them) inside a dispose scope. Same input values and output gradient for both.
/// </summary>
static class NormPoolBench
{
    const int Batch = 256;
    static readonly (int C, int H, int W)[] Shapes = [(16, 28, 28), (32, 14, 14), (64, 7, 7), (128, 4, 4), (256, 2, 2)];

    public static int Run(int[] threads, string? filter)
    {
        Console.WriteLine($"\nnormpool: batch {Batch}; median ms per call (best in brackets); speedup = TorchSharp / Kiln");
        foreach (int t in threads)
        {
            Env.SetThreads(t);
            Console.WriteLine($"\nthreads {t}");
            Console.WriteLine($"{"layer",-12} {"activation",-10} {"pass",-8} {"Kiln ms",16} {"TorchSharp ms",16} {"speedup",8}");
            foreach (var layer in new[] { "BatchNorm2d", "AvgPool2d", "MaxPool2d" })
                foreach (var (c, h, w) in Shapes)
                {
                    string shape = $"{c}x{h}x{w}";
                    if (filter != null && !$"{layer} {shape}".Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                    RunOne(layer, c, h, w, shape);
                }
        }
        return 0;
    }

    static void RunOne(string layer, int c, int h, int w, string shape)
    {
        var data = KTensor.Randn([Batch, c, h, w], new Generator(1)).ToArray();
        long[] tshape = [Batch, c, h, w];

        // Kiln
        Module km = layer switch
        {
            "BatchNorm2d" => new BatchNorm2d(c),
            "AvgPool2d" => new AvgPool2d(2, ceilMode: true),
            _ => new MaxPool2d(2, ceilMode: true),
        };
        var kx = KTensor.FromArray(data, Batch, c, h, w);
        var kxg = KTensor.FromArray(data, Batch, c, h, w).RequiresGradInPlace();
        int[] oshape = km.Call(kx).Shape;
        var gdata = KTensor.Randn(oshape, new Generator(2)).ToArray();
        var kg = KTensor.FromArray(gdata, oshape);

        // TorchSharp
        using var tm = layer switch
        {
            "BatchNorm2d" => (nn.Module<TTensor, TTensor>)nn.BatchNorm2d(c),
            "AvgPool2d" => nn.AvgPool2d(2, ceil_mode: true),
            _ => nn.MaxPool2d(2, ceil_mode: true),
        };
        tm.train();
        using var tx = torch.tensor(data, tshape);
        using var txg = torch.tensor(data, tshape).requires_grad_(true);
        using var tg = torch.tensor(gdata, Array.ConvertAll(oshape, v => (long)v));
        var tparams = tm.parameters().ToList();
        var tinputs = new List<TTensor> { txg };
        tinputs.AddRange(tparams);

        var kf = new Contestant("Kiln fwd", () => km.Call(kx));
        var tf = new Contestant("TS fwd", () =>
        {
            using var scope = NewDisposeScope();
            tm.forward(tx);
        });
        var kb = new Contestant("Kiln f+b", () =>
        {
            km.Call(kxg).Backward(kg);
            kxg.Grad = null;
            km.ZeroGrad();
        });
        var tb = new Contestant("TS f+b", () =>
        {
            using var scope = NewDisposeScope();
            var y = tm.forward(txg);
            torch.autograd.grad([y], tinputs, [tg]);
        });
        Measure.Run(kf, tf);
        Measure.Run(kb, tb);
        Row(layer, shape, "fwd", kf, tf);
        Row(layer, shape, "fwd+bwd", kb, tb);
    }

    static void Row(string layer, string shape, string pass, Contestant k, Contestant t) =>
        Console.WriteLine($"{layer,-12} {shape,-10} {pass,-8} {k.Median * 1e3,7:0.000} [{k.Best * 1e3,6:0.000}] {t.Median * 1e3,7:0.000} [{t.Best * 1e3,6:0.000}] {t.Median / k.Median,7:0.00}x");
}
