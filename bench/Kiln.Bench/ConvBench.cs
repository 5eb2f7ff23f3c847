using Kiln.Nn;
using TorchSharp;
using static TorchSharp.torch;
using KTensor = Kiln.Tensor;
using TTensor = TorchSharp.torch.Tensor;

namespace Kiln.Bench;

/// <summary>
/// Issue 4's convolution benchmark: F.Conv2d forward (no-grad) and forward+backward (input, weight and bias all require
/// grad, so the backward computes dX, dW and db) per layer at batch 256, Kiln vs TorchSharp in the same run and at the same
/// thread count, on the same data. The fwd+bwd call clears the previous gradients (Kiln: Grad = null; torch: zero_grad
/// with set_to_none, PyTorch's default), runs the convolution and backward with a fixed output gradient.
/// Then lesson 15's path on one 28x28 image: Python-style loop, unfold + matmul, and the fast convolution.
/// </summary>
static class ConvBench
{
    internal sealed record Layer(string Label, int Cin, int Cout, int Size, int K, int Stride, int Pad);

    internal static readonly Layer[] Layers =
    [
        new("(a) 1->16 k5 s1 p2 28x28", 1, 16, 28, 5, 1, 2),
        new("(b) 16->32 k3 s2 p1 28x28", 16, 32, 28, 3, 2, 1),
        new("(c) 64->128 k3 s2 p1 7x7", 64, 128, 7, 3, 2, 1),
        new("(d) 16->16 k5 s1 p2 28x28", 16, 16, 28, 5, 1, 2),
        new("(e) 128->256 k3 s2 p1 4x4", 128, 256, 4, 3, 2, 1),
    ];

    /// <summary>get_model4's convolutions (issue 8's model), run when the filter contains "m4" (e.g. --filter m4).</summary>
    internal static readonly Layer[] Model4Layers =
    [
        new("(m4 stem) 1->16 k5 s1 p2 28x28", 1, 16, 28, 5, 1, 2),
        new("(m4 1a) 16->32 k3 s1 p1 28x28", 16, 32, 28, 3, 1, 1),
        new("(m4 1b) 32->32 k3 s2 p1 28x28", 32, 32, 28, 3, 2, 1),
        new("(m4 1i) 16->32 k1 s1 p0 14x14", 16, 32, 14, 1, 1, 0),
        new("(m4 2a) 32->64 k3 s1 p1 14x14", 32, 64, 14, 3, 1, 1),
        new("(m4 2b) 64->64 k3 s2 p1 14x14", 64, 64, 14, 3, 2, 1),
        new("(m4 3a) 64->128 k3 s1 p1 7x7", 64, 128, 7, 3, 1, 1),
        new("(m4 3b) 128->128 k3 s2 p1 7x7", 128, 128, 7, 3, 2, 1),
        new("(m4 4a) 128->256 k3 s1 p1 4x4", 128, 256, 4, 3, 1, 1),
        new("(m4 4b) 256->256 k3 s2 p1 4x4", 256, 256, 4, 3, 2, 1),
    ];

    const int Batch = 256;

    /// <summary>With --profile: also backward with only the input (dX) or only the weight and bias (dW, db) requiring grad.</summary>
    public static bool Parts;

    public static int Run(int[] threads, string? filter)
    {
        foreach (int t in threads)
        {
            Env.SetThreads(t);
            Console.WriteLine($"\nConv2d, batch {Batch}, threads = {t} (Kiln Threading.Threads = {Kiln.Kernels.Threading.Threads}, torch.get_num_threads() = {get_num_threads()}); median per call (best in brackets)\n");
            Console.WriteLine("| layer | Kiln fwd | torch fwd | fwd ratio | Kiln fwd+bwd | torch fwd+bwd | fwd+bwd ratio | rel.diff y / dX / dW / db |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---|");
            foreach (var l in filter != null && filter.Contains("m4", StringComparison.Ordinal) ? Model4Layers : Layers)
            {
                if (filter != null && !l.Label.Contains(filter, StringComparison.Ordinal)) continue;
                RunLayer(l);
            }
        }
        if (filter == null || "lesson15".Contains(filter, StringComparison.Ordinal)) Lesson15();
        return 0;
    }

    static string Ms(double s) => $"{s * 1e3:0.00} ms";

    /// <summary>
    /// Switches for <see cref="RunAb"/>: a knob set one way for contestant A and the other for B (false = the default).
    /// </summary>
    static readonly Dictionary<string, Action<bool>> Knobs = new()
    {
        ["no-batched"] = on => Kiln.Kernels.ConvBatched.Enabled = !on && Kiln.Kernels.ConvBatched.Supported,
        ["no-winograd"] = on => Kiln.Kernels.ConvWinograd.Enabled = !on,
        ["batched-narrow"] = on => Kiln.Kernels.ConvBatched.Native = new(narrow: on || !System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated),
    };

    /// <summary>
    /// `convab --knob NAME [--filter TEXT] [--profile]`: Kiln alone, one layer's fwd+bwd with a knob off (A) and on (B),
    /// interleaved in one process so both see the same machine noise (alternating processes moved a median by up to 10 %);
    /// --profile adds the backward's halves (fwd+dX, fwd+dW+db).
    /// </summary>
    public static int RunAb(int[] threads, string? filter, string knob)
    {
        if (!Knobs.TryGetValue(knob, out var set)) { Console.Error.WriteLine($"unknown knob {knob}: {string.Join(", ", Knobs.Keys)}"); return 2; }
        Env.SetThreads(threads[0]);
        Console.WriteLine($"\nKiln fwd+bwd, batch {Batch}, threads {threads[0]}, knob {knob} off (A) / on (B); median (best), ms\n");
        Console.WriteLine("| layer | A fwd | B fwd | B/A | A fwd+bwd | B fwd+bwd | B/A |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var l in Layers.Concat(Model4Layers))
        {
            if (filter != null && !l.Label.Contains(filter, StringComparison.Ordinal)) continue;
            var gen = new Kiln.Generator(7);
            int o = (l.Size + 2 * l.Pad - l.K) / l.Stride + 1;
            var kx = KTensor.Randn([Batch, l.Cin, l.Size, l.Size], gen).RequiresGradInPlace();
            var kw = (KTensor.Randn([l.Cout, l.Cin, l.K, l.K], gen) * (1f / MathF.Sqrt(l.Cin * l.K * l.K))).RequiresGradInPlace();
            var kb = KTensor.Randn([l.Cout], gen).RequiresGradInPlace();
            var kg = KTensor.Randn([Batch, l.Cout, o, o], gen);
            Action Fwd(bool on) => () => { set(on); using var _ = Autograd.NoGrad(); F.Conv2d(kx, kw, kb, l.Stride, l.Pad); };
            Action Step(bool on) => () => { set(on); kx.Grad = null; kw.Grad = null; kb.Grad = null; F.Conv2d(kx, kw, kb, l.Stride, l.Pad).Backward(kg); };
            // the same work with the knob off (A) and on (B), measured interleaved
            static (Contestant A, Contestant B) Pair(string what, Func<bool, Action> work)
            {
                var a = new Contestant("A " + what, work(false));
                var b = new Contestant("B " + what, work(true));
                Measure.Run(a, b);
                return (a, b);
            }
            var (fa, fb) = Pair("fwd", Fwd);
            var (sa, sb) = Pair("fwd+bwd", Step);
            string parts = "";
            if (Parts) // the backward's halves: fwd+dX (weight and bias detached) and fwd+dW+db (input detached)
            {
                KTensor kxd = kx.Detach(), kwd = kw.Detach(), kbd = kb.Detach();
                Action Dx(bool on) => () => { set(on); kx.Grad = null; F.Conv2d(kx, kwd, kbd, l.Stride, l.Pad).Backward(kg); };
                Action Dw(bool on) => () => { set(on); kw.Grad = null; kb.Grad = null; F.Conv2d(kxd, kw, kb, l.Stride, l.Pad).Backward(kg); };
                var (xa, xb) = Pair("fwd+dX", Dx);
                var (wa, wb) = Pair("fwd+dW", Dw);
                parts = $" fwd+dX {Ms(xa.Median)} / {Ms(xb.Median)} ({xb.Median / xa.Median:0.000}); fwd+dW {Ms(wa.Median)} / {Ms(wb.Median)} ({wb.Median / wa.Median:0.000}) |";
            }
            set(false);
            Console.WriteLine($"| {l.Label} | {Ms(fa.Median)} ({Ms(fa.Best)}) | {Ms(fb.Median)} ({Ms(fb.Best)}) | {fb.Median / fa.Median:0.000} " +
                              $"| {Ms(sa.Median)} ({Ms(sa.Best)}) | {Ms(sb.Median)} ({Ms(sb.Best)}) | {sb.Median / sa.Median:0.000} |{parts}");
        }
        return 0;
    }

    static void RunLayer(Layer l)
    {
        var gen = new Kiln.Generator(7);
        int o = (l.Size + 2 * l.Pad - l.K) / l.Stride + 1;
        var kx = KTensor.Randn([Batch, l.Cin, l.Size, l.Size], gen);
        var kw = KTensor.Randn([l.Cout, l.Cin, l.K, l.K], gen) * (1f / MathF.Sqrt(l.Cin * l.K * l.K));
        var kb = KTensor.Randn([l.Cout], gen);
        var kg = KTensor.Randn([Batch, l.Cout, o, o], gen);
        kx.RequiresGradInPlace(); kw.RequiresGradInPlace(); kb.RequiresGradInPlace();

        using var tx = new TorchSharp.Modules.Parameter(torch.tensor(kx.ToArray(), [Batch, l.Cin, l.Size, l.Size]));
        using var tw = new TorchSharp.Modules.Parameter(torch.tensor(kw.ToArray(), [l.Cout, l.Cin, l.K, l.K]));
        using var tb = new TorchSharp.Modules.Parameter(torch.tensor(kb.ToArray(), [l.Cout]));
        using var tg = torch.tensor(kg.ToArray(), [Batch, l.Cout, o, o]);
        long[] st = [l.Stride, l.Stride], pd = [l.Pad, l.Pad];
        using var opt = optim.SGD([tx, tw, tb], 0.0);

        KTensor KilnFwd()
        {
            using var _ = Autograd.NoGrad();
            return F.Conv2d(kx, kw, kb, l.Stride, l.Pad);
        }
        void KilnStep()
        {
            kx.Grad = null; kw.Grad = null; kb.Grad = null;
            F.Conv2d(kx, kw, kb, l.Stride, l.Pad).Backward(kg);
        }
        void TorchFwd()
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            nn.functional.conv2d(tx, tw, tb, st, pd);
        }
        void TorchStep()
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            var y = nn.functional.conv2d(tx, tw, tb, st, pd);
            y.backward([tg]);
        }

        var kf = new Contestant("kiln fwd", () => KilnFwd());
        var tf = new Contestant("torch fwd", TorchFwd);
        Measure.Run(kf, tf);
        var kfb = new Contestant("kiln fwd+bwd", KilnStep);
        var tfb = new Contestant("torch fwd+bwd", TorchStep);
        Measure.Run(kfb, tfb);

        // One fresh call of each, compared.
        var ky = KilnFwd();
        KilnStep();
        opt.zero_grad();
        using var ty = nn.functional.conv2d(tx, tw, tb, st, pd);
        ty.backward([tg]);
        string diffs = $"{RelDiff(ky, ty):0.0e+0} / {RelDiff(kx.Grad!, tx.grad!):0.0e+0} / {RelDiff(kw.Grad!, tw.grad!):0.0e+0} / {RelDiff(kb.Grad!, tb.grad!):0.0e+0}";
        if (Parts) RunParts(l, kx, kw, kb, kg, tx, tw, tb, tg, st, pd, kf.Median, tf.Median);
        Console.WriteLine($"| {l.Label} | {Ms(kf.Median)} ({Ms(kf.Best)}) | {Ms(tf.Median)} ({Ms(tf.Best)}) | {tf.Median / kf.Median:0.00}x " +
                          $"| {Ms(kfb.Median)} ({Ms(kfb.Best)}) | {Ms(tfb.Median)} ({Ms(tfb.Best)}) | {tfb.Median / kfb.Median:0.00}x | {diffs} |");
    }

    /// <summary>fwd+dX (weight and bias detached) and fwd+dW (input detached), minus the forward: the two halves of the backward.</summary>
    static void RunParts(Layer l, KTensor kx, KTensor kw, KTensor kb, KTensor kg, TTensor tx, TTensor tw, TTensor tb, TTensor tg,
                         long[] st, long[] pd, double kFwd, double tFwd)
    {
        KTensor kxd = kx.Detach(), kwd = kw.Detach(), kbd = kb.Detach();
        using TTensor txd = tx.detach(), twd = tw.detach(), tbd = tb.detach();
        var kdx = new Contestant("kiln fwd+dX", () => { kx.Grad = null; F.Conv2d(kx, kwd, kbd, l.Stride, l.Pad).Backward(kg); });
        var tdx = new Contestant("torch fwd+dX", () =>
        {
            using var scope = NewDisposeScope();
            tx.grad?.zero_();
            nn.functional.conv2d(tx, twd, tbd, st, pd).backward([tg]);
        });
        var kdw = new Contestant("kiln fwd+dW", () => { kw.Grad = null; kb.Grad = null; F.Conv2d(kxd, kw, kb, l.Stride, l.Pad).Backward(kg); });
        var tdw = new Contestant("torch fwd+dW", () =>
        {
            using var scope = NewDisposeScope();
            tw.grad?.zero_(); tb.grad?.zero_();
            nn.functional.conv2d(txd, tw, tb, st, pd).backward([tg]);
        });
        Measure.Run(kdx, tdx);
        Measure.Run(kdw, tdw);
        Console.WriteLine($"|   {l.Label}: backward halves (fwd+half - fwd median) | dX {Ms(kdx.Median - kFwd)} | {Ms(tdx.Median - tFwd)} | {(tdx.Median - tFwd) / (kdx.Median - kFwd):0.00}x " +
                          $"| dW+db {Ms(kdw.Median - kFwd)} | {Ms(tdw.Median - tFwd)} | {(tdw.Median - tFwd) / (kdw.Median - kFwd):0.00}x | |");
    }

    static double RelDiff(KTensor k, TTensor t)
    {
        var a = k.ToArray();
        var b = t.contiguous().data<float>().ToArray();
        double max = 0, diff = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(b[i]));
            diff = Math.Max(diff, Math.Abs(a[i] - b[i]));
        }
        return max == 0 ? diff : diff / max;
    }

    /// <summary>Lesson 15's timings: one 28x28 image with the 3x3 top-edge kernel, by loop, by unfold + matmul and by the fast convolution.</summary>
    static void Lesson15()
    {
        Env.SetThreads(1);
        var img = KTensor.Rand([28, 28], new Kiln.Generator(3));
        var k = Kiln.Lessons.Convolutions.TopEdge;
        var loop = new Contestant("loop", () => Kiln.Lessons.Convolutions.ApplyKernelLoop(img, k));
        var unfold = new Contestant("unfold", () => Kiln.Lessons.Convolutions.UnfoldMatMul(img, k));
        var fast = new Contestant("fast", () => Kiln.Lessons.Convolutions.Fast(img, k));
        using var ti = torch.tensor(img.ToArray(), [1, 1, 28, 28]);
        using var tk = torch.tensor(k.ToArray(), [1, 1, 3, 3]);
        var torchConv = new Contestant("torch", () =>
        {
            using var scope = NewDisposeScope();
            nn.functional.conv2d(ti, tk);
        });
        Measure.Run(loop, unfold, fast, torchConv);
        Console.WriteLine("\nLesson 15: one 28x28 image, 3x3 top-edge kernel -> 26x26, threads = 1; median per call (best in brackets)\n");
        Console.WriteLine("| variant | time per call | speed-up over the loop |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var c in new[] { loop, unfold, fast, torchConv })
            Console.WriteLine($"| {c.Name} | {c.Median * 1e6:0.00} µs ({c.Best * 1e6:0.00} µs) | {loop.Median / c.Median:0.0}x |");
    }
}
