using Kiln.Kernels;

namespace Kiln.Bench;

/// <summary>
/// Diagnostic, Kiln alone: the three convolution products (forward, input gradient, weight + bias gradient) of each of
/// get_model4's layers at batch 256, called on the kernels directly, with the direct stride-1 kernel, the image-inner
/// small-image kernel (<see cref="ConvBatched"/>) and Winograd (<see cref="ConvWinograd"/>) allowed and with all three switched off (im2col / channels-last paths), interleaved; then three layers of lesson 18's baseline CNN and issue 4's lesson-15 layers (a)-(e). GFLOPS = 2·Cs·K·L·n per product.
/// </summary>
static unsafe class ConvKernBench
{
    const int Batch = 256;

    /// <summary>Lesson 18's baseline CNN's first three stride-2 layers.</summary>
    static readonly ConvBench.Layer[] CnnLayers =
    [
        new("(cnn 1) 1->8 k5 s2 p2 28x28", 1, 8, 28, 5, 2, 2),
        new("(cnn 2) 8->16 k3 s2 p1 14x14", 8, 16, 14, 3, 2, 1),
        new("(cnn 3) 16->32 k3 s2 p1 7x7", 16, 32, 7, 3, 2, 1),
    ];

    public static int Run(int[] threads, string? filter)
    {
        foreach (int t in threads)
        {
            Env.SetThreads(t);
            Console.WriteLine($"\nConvolution kernels, batch {Batch}, threads = {t}; GFLOPS median (best); 'off' switches the direct, image-inner and Winograd kernels off (im2col / channels-last paths)\n");
            Console.WriteLine("| layer | fwd | fwd, off | dX | dX, off | dW+db | dW+db, off |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
            foreach (var l in ConvBench.Model4Layers.Concat(CnnLayers).Concat(ConvBench.Layers))
                if (filter == null || l.Label.Contains(filter, StringComparison.Ordinal)) RunLayer(l);
        }
        return 0;
    }

    static void RunLayer(ConvBench.Layer l)
    {
        int o = (l.Size + 2 * l.Pad - l.K) / l.Stride + 1;
        var s = new ConvShape(l.Cin, l.Size, l.Size, l.Cout, l.K, l.K, l.Stride, l.Stride, l.Pad, l.Pad, 1, 1, o, o, 1);
        var rnd = new Random(5);
        float[] Fill(long n) { var a = GC.AllocateUninitializedArray<float>((int)n, pinned: true); for (long i = 0; i < n; i++) a[i] = (float)(rnd.NextDouble() - 0.5); return a; }
        float[] big = Fill((long)Batch * s.BigSize), small = Fill((long)Batch * s.SmallSize), w = Fill((long)s.Cs * s.K), bias = Fill(s.Cs);
        float[] dBig = Fill(big.Length), dSmall = Fill(small.Length), dw = Fill(w.Length), db = Fill(s.Cs);
        double flops = 2.0 * s.Cs * s.K * s.L * Batch;
        int saved = ConvDirect.MinChannels;
        bool savedBatched = ConvBatched.Enabled, savedWinograd = ConvWinograd.Enabled;

        fixed (float* pb = big, ps = small, pw = w, pbias = bias, pdb = dBig, pds = dSmall, pdw = dw, pdbias = db)
        {
            float* b_ = pb, s_ = ps, w_ = pw, bi_ = pbias, db_ = pdb, ds_ = pds, dw_ = pdw, dbi_ = pdbias;
            Contestant Make(string name, bool direct, Action run) =>
                new(name, () =>
                {
                    ConvDirect.MinChannels = direct ? saved : int.MaxValue;
                    ConvBatched.Enabled = direct && savedBatched;
                    ConvWinograd.Enabled = direct && savedWinograd;
                    run();
                    ConvDirect.MinChannels = saved;
                    ConvBatched.Enabled = savedBatched;
                    ConvWinograd.Enabled = savedWinograd;
                });
            var cs = new[]
            {
                Make("fwd", true, () => Conv.Forward(s, Batch, b_, w_, bi_, ds_)),
                Make("fwd off", false, () => Conv.Forward(s, Batch, b_, w_, bi_, ds_)),
                Make("dX", true, () => Conv.Transposed(s, Batch, s_, w_, null, db_)),
                Make("dX off", false, () => Conv.Transposed(s, Batch, s_, w_, null, db_)),
                Make("dW", true, () => Conv.WeightGrad(s, Batch, s_, b_, dw_, dbi_)),
                Make("dW off", false, () => Conv.WeightGrad(s, Batch, s_, b_, dw_, dbi_)),
            };
            Measure.Run(cs);
            string G(Contestant c) => $"{flops / c.Median / 1e9:0.0} ({flops / c.Best / 1e9:0.0})";
            Console.WriteLine($"| {l.Label} | {G(cs[0])} | {G(cs[1])} | {G(cs[2])} | {G(cs[3])} | {G(cs[4])} | {G(cs[5])} |");
        }
    }
}
