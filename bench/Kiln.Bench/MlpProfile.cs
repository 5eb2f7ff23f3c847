using System.Diagnostics;
using System.Numerics.Tensors;
using Kiln.Kernels;
using Kiln.Nn;
using Kiln.Optim;
using KTensor = Kiln.Tensor;

namespace Kiln.Bench;

/// <summary>
/// Where Kiln's MLP training step spends its time (mlp --profile): (1) the step cut into phases with Stopwatch stamps
/// between them, the backward split per graph node by wrapping each node's backward closure (engine overhead = the
/// backward minus its nodes); (2) allocation per phase; (3) the same step written by hand on preallocated arrays with
/// Kiln's kernels (Gemm.Sgemm + TensorPrimitives), i.e. the step without Tensor/autograd/allocation overhead, and its
/// five GEMM calls alone. Uses internals (Node.BackwardFn) through InternalsVisibleTo; diagnostic only.
/// </summary>
static class MlpProfile
{
    const int In = 784, Hidden = 50, Classes = 10, Batch = 64;
    const float Lr = 0.1f;

    static readonly string[] Phases = ["slice x,y (Narrow)", "fc1 forward (Linear)", "ReLU forward", "fc2 forward (Linear)",
        "CrossEntropy forward", "Backward (total)", "SGD Step", "ZeroGrad", "loss.Item()"];

    public static void Run(int threads, KTensor x, KTensor y, float[][] init, int steps)
    {
        Console.WriteLine($"\n### Kiln step profile, threads = {threads} ({steps} steps of one epoch after a {steps}-step warm-up)");
        var fc1 = new Linear(In, Hidden);
        var fc2 = new Linear(Hidden, Classes);
        using (Autograd.NoGrad())
        {
            fc1.Weight.CopyFrom(KTensor.FromArray(init[0], Hidden, In));
            fc1.Bias!.CopyFrom(KTensor.FromArray(init[1], Hidden));
            fc2.Weight.CopyFrom(KTensor.FromArray(init[2], Classes, Hidden));
            fc2.Bias!.CopyFrom(KTensor.FromArray(init[3], Classes));
        }
        var relu = new ReLU();
        var model = new Sequential(fc1, relu, fc2);
        var opt = new SGD(model.Parameters(), Lr);
        int n = y.Size(0);

        var phase = new double[Phases.Length];
        var alloc = new long[Phases.Length];
        var nodeTime = new Dictionary<string, double>();
        var nodeOrder = new List<string>();
        double f = Stopwatch.Frequency;
        var faults = new long[Phases.Length];
        double[] timed = [];
        long[] allocTimed = [];
        // pass 0 warms up, pass 1 is timed, pass 2 counts page faults per phase (reading /proc/self/stat between
        // phases costs ~10 µs, so that pass's times are not used)
        for (int pass = 0; pass < 3; pass++)
        {
            if (pass == 2) { timed = (double[])phase.Clone(); allocTimed = (long[])alloc.Clone(); }
            Array.Clear(phase);
            Array.Clear(alloc);
            if (pass < 2) { nodeTime.Clear(); nodeOrder.Clear(); }
            for (int s = 0; s < steps; s++)
            {
                var ts = new long[Phases.Length + 1];
                var al = new long[Phases.Length + 1];
                int p = 0;
                var mf = new long[Phases.Length + 1];
                bool countFaults = pass == 2;
                void Mark()
                {
                    if (countFaults) mf[p] = MlpBench.ProcStat().MinorFaults;
                    ts[p] = Stopwatch.GetTimestamp();
                    al[p] = GC.GetAllocatedBytesForCurrentThread();
                    p++;
                }
                Mark();
                int start = s * Batch, len = Math.Min(Batch, n - start);
                var xb = x.Narrow(0, start, len);
                var yb = y.Narrow(0, start, len);
                Mark();
                var h = fc1.Call(xb);
                Mark();
                var r = relu.Call(h);
                Mark();
                var z = fc2.Call(r);
                Mark();
                var loss = F.CrossEntropy(z, yb);
                Mark();
                if (pass < 2) WrapNodes(loss, nodeTime, nodeOrder);
                loss.Backward();
                Mark();
                opt.Step();
                Mark();
                opt.ZeroGrad();
                Mark();
                loss.Item();
                Mark();
                for (int i = 0; i < Phases.Length; i++)
                {
                    phase[i] += (ts[i + 1] - ts[i]) / f;
                    alloc[i] += al[i + 1] - al[i];
                    if (countFaults) faults[i] += mf[i + 1] - mf[i];
                }
            }
        }
        phase = timed;
        alloc = allocTimed;
        double total = phase.Sum();
        Console.WriteLine("| phase | µs/step | share | bytes allocated/step (this thread) | page faults/step |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        for (int i = 0; i < Phases.Length; i++)
        {
            Console.WriteLine($"| {Phases[i]} | {phase[i] / steps * 1e6:0.0} | {phase[i] / total:0%} | {alloc[i] / (double)steps:0} | {faults[i] / (double)steps:0.0} |");
            if (i == 5)
            {
                double nodes = 0;
                foreach (var k in nodeOrder)
                {
                    nodes += nodeTime[k];
                    Console.WriteLine($"|   ↳ node {k} | {nodeTime[k] / steps * 1e6:0.0} | {nodeTime[k] / total:0%} | | |");
                }
                Console.WriteLine($"|   ↳ engine (topological sort, grad dictionary, leaf Grad clones, shape checks) | {(phase[i] - nodes) / steps * 1e6:0.0} | {(phase[i] - nodes) / total:0%} | | |");
            }
        }
        Console.WriteLine($"| **total (profiled; Stopwatch stamps add ~0.3 µs)** | {total / steps * 1e6:0.0} | 100% | {alloc.Sum() / (double)steps:0} | {faults.Sum() / (double)steps:0.0} |");

        HandWritten(threads, x, y, init, steps);
        HotSpots(threads, print: false);   // first pass: lets the JIT tier up TensorPrimitives paths first used here
        HotSpots(threads, print: true);
        ZeroGradVariant(threads, x, y, init, steps);
    }

    /// <summary>Median and minimum µs of one call (after a full GC and a warm-up), for isolating single operations of the step.</summary>
    static (double Median, double Min) Us(Action a, int reps = 400)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        for (int i = 0; i < 50; i++) a();
        var t = new List<double>(reps);
        for (int i = 0; i < reps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            a();
            t.Add((Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency);
        }
        return (Stats.Median(t), t.Min());
    }

    /// <summary>The operations behind the biggest profile lines, timed alone on the step's shapes.</summary>
    static void HotSpots(int threads, bool print)
    {
        var g = new Generator(1);
        var xb = KTensor.Randn([Batch, In], g);
        var dh = KTensor.Randn([Batch, Hidden], g);
        var w1 = KTensor.Randn([Hidden, In], g);
        var gT = KTensor.Randn([In, Hidden], g);   // what MatMul backward returns for Wᵀ: [784,50]
        var gW = gT.T;                              // the leaf's gradient: a transposed [50,784] view
        var gc = gW.Contiguous();
        float[] xa = xb.ToArray(), dha = dh.ToArray(), c1 = new float[In * Hidden];
        if (print)
        {
            Console.WriteLine($"\nhot spots alone (µs per call: median of 400, and the fastest call; threads = {threads}):");
            Console.WriteLine("| operation | where in Kiln | median µs | min µs |");
            Console.WriteLine("|---|---|---:|---:|");
        }
        void Row(string op, string where, (double Median, double Min) us)
        {
            if (print) Console.WriteLine($"| {op} | {where} | {us.Median:0.0} | {us.Min:0.0} |");
        }
        Row("fc1 dW through MatMul's backward for x·Wᵀ: xᵀ·dh = [784,64]·[64,50] (Tensor MatMul, result [784,50])",
            "Tensor.MatMul.cs backward (gb for b = Wᵀ); F.Linear avoids it", Us(() => xb.MT.MatMul(dh)));
        Row("same product, raw Gemm.Sgemm TN m=784 n=50 k=64", "Kernels/Gemm.cs", Us(() => Gemm.Sgemm(true, false, In, Hidden, Batch, xa, In, dha, Hidden, c1, Hidden)));
        Row("fc1 dW as F.Linear computes it, in the weight's layout: raw Gemm.Sgemm TN m=50 n=784 k=64 (dhᵀ·x)", "Nn/F.cs Linear → Kernels/Gemm.cs", Us(() => Gemm.Sgemm(true, false, Hidden, In, Batch, dha, Hidden, xa, In, c1, In)));
        Row("  same, into a fresh new float[39200] each call (a new gradient tensor: GC-zeroed, cold in cache)", "Tensor.cs Empty", Us(() => Gemm.Sgemm(true, false, Hidden, In, Batch, dha, Hidden, xa, In, new float[Hidden * In], In)));
        Row("  same, into a fresh GC.AllocateUninitializedArray each call (no zeroing: every store misses)", "(reference)", Us(() => Gemm.Sgemm(true, false, Hidden, In, Batch, dha, Hidden, xa, In, GC.AllocateUninitializedArray<float>(Hidden * In), In)));
        Row("Clone of the transposed [50,784] view (what a leaf Grad would cost after MatMul's backward)", "Tensor.cs Clone", Us(() => gW.Clone()));
        Row("Clone of a contiguous [50,784]", "Tensor.cs Clone", Us(() => gc.Clone()));
        Row("SGD: p.AddInPlace(g, -lr) on [50,784] (allocates g * alpha, then adds)", "Optim/Sgd.cs Step → Tensor.Elementwise.cs AddInPlace(other, alpha)", Us(() => w1.AddInPlace(gc, -1e-9f)));
        Row("  its temporary g * alpha alone", "Tensor.Elementwise.cs operator*", Us(() => { _ = gc * -1e-9f; }));
        Row("  TensorPrimitives.MultiplyAdd(g, -lr, p, p) on the same arrays (no allocation)", "(reference)", Us(() =>
        {
            var pa = w1.Storage.Floats!;
            TensorPrimitives.MultiplyAdd(gc.Storage.Floats!, -1e-9f, pa, pa);
        }));
        var big = new float[In * Hidden];
        Row("new float[39200] (157 KB: a Large Object Heap allocation, zeroed)", "every [50,784] temporary", Us(() => { big = new float[In * Hidden]; }));
        GC.KeepAlive(big);
    }

    /// <summary>The same epoch with ZeroGrad(setToNull: false): gradients stay allocated and Backward adds into them.</summary>
    static void ZeroGradVariant(int threads, KTensor x, KTensor y, float[][] init, int steps)
    {
        double Epoch(bool setToNull)
        {
            var fc1 = new Linear(In, Hidden);
            var fc2 = new Linear(Hidden, Classes);
            using (Autograd.NoGrad())
            {
                fc1.Weight.CopyFrom(KTensor.FromArray(init[0], Hidden, In));
                fc1.Bias!.CopyFrom(KTensor.FromArray(init[1], Hidden));
                fc2.Weight.CopyFrom(KTensor.FromArray(init[2], Classes, Hidden));
                fc2.Bias!.CopyFrom(KTensor.FromArray(init[3], Classes));
            }
            var model = new Sequential(fc1, new ReLU(), fc2);
            var opt = new SGD(model.Parameters(), Lr);
            int n = y.Size(0);
            long t0 = Stopwatch.GetTimestamp();
            for (int s = 0; s < steps; s++)
            {
                int start = s * Batch, len = Math.Min(Batch, n - start);
                var loss = F.CrossEntropy(model.Call(x.Narrow(0, start, len)), y.Narrow(0, start, len));
                loss.Backward();
                opt.Step();
                opt.ZeroGrad(setToNull);
                loss.Item();
            }
            return (Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency / steps;
        }
        Epoch(true); Epoch(false);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        double a = Epoch(true), b = Epoch(false), a2 = Epoch(true), b2 = Epoch(false);
        Console.WriteLine($"\nvariant, threads = {threads}: ZeroGrad() (set to null, PyTorch's default) {(a + a2) / 2:0.0} µs/step mean vs ZeroGrad(setToNull: false) {(b + b2) / 2:0.0} µs/step (two epochs each, alternating)");
    }

    /// <summary>
    /// Wraps every node's backward closure reachable from loss with a timer accumulating into times[key]: the key is
    /// "Name#k" (k = the node's position in breadth-first order from the loss) when perNode, else the node's Name, so
    /// nodes of one kind add up. New keys are appended to order in first-seen order.
    /// </summary>
    internal static void WrapNodes(KTensor loss, Dictionary<string, double> times, List<string> order, bool perNode = true)
    {
        var seen = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var queue = new Queue<Node>();
        if (loss.GradFn != null) { queue.Enqueue(loss.GradFn); seen.Add(loss.GradFn); }
        int k = 0;
        double f = Stopwatch.Frequency;
        while (queue.Count > 0)
        {
            var node = queue.Dequeue();
            string key = perNode ? $"{node.Name}#{k++}" : node.Name;
            if (!times.ContainsKey(key)) { times[key] = 0; order.Add(key); }
            var orig = node.BackwardFn!;
            node.BackwardFn = g =>
            {
                long t0 = Stopwatch.GetTimestamp();
                var res = orig(g);
                times[key] += (Stopwatch.GetTimestamp() - t0) / f;
                return res;
            };
            foreach (var inp in node.Inputs)
                if (inp?.GradFn is Node next && seen.Add(next)) queue.Enqueue(next);
        }
    }

    /// <summary>The same step on preallocated arrays with Kiln's kernels: the floor for this model in Kiln's GEMM.</summary>
    static void HandWritten(int threads, KTensor x, KTensor y, float[][] init, int steps)
    {
        float[] xs = x.ToArray();
        int[] ys = y.ToIntArray();
        int n = ys.Length;
        float[] w1 = (float[])init[0].Clone(), b1 = (float[])init[1].Clone(), w2 = (float[])init[2].Clone(), b2 = (float[])init[3].Clone();
        var h = new float[Batch * Hidden];
        var z = new float[Batch * Classes];
        var dz = new float[Batch * Classes];
        var dh = new float[Batch * Hidden];
        var dw1 = new float[Hidden * In];
        var dw2 = new float[Classes * Hidden];
        var db1 = new float[Hidden];
        var db2 = new float[Classes];
        var gemm = new double[5];
        var rest = 0.0;
        double f = Stopwatch.Frequency;
        float lastLoss = 0;

        for (int pass = 0; pass < 2; pass++)
        {
            Array.Clear(gemm);
            rest = 0;
            for (int s = 0; s < steps; s++)
            {
                int start = s * Batch, m = Math.Min(Batch, n - start);
                var xb = xs.AsSpan(start * In, m * In);
                long t0 = Stopwatch.GetTimestamp(), t1;
                double g = 0;
                // h = relu(x W1ᵀ + b1)
                Gemm.Sgemm(false, true, m, Hidden, In, xb, In, w1, In, h, Hidden);
                t1 = Stopwatch.GetTimestamp(); gemm[0] += (t1 - t0) / f; g += t1 - t0;
                for (int i = 0; i < m; i++)
                {
                    var row = h.AsSpan(i * Hidden, Hidden);
                    TensorPrimitives.Add(row, b1, row);
                    TensorPrimitives.Max(row, 0f, row);
                }
                long t2 = Stopwatch.GetTimestamp();
                Gemm.Sgemm(false, true, m, Classes, Hidden, h, Hidden, w2, Hidden, z, Classes);
                long t3 = Stopwatch.GetTimestamp(); gemm[1] += (t3 - t2) / f; g += t3 - t2;
                // softmax cross-entropy, dz = (softmax - onehot) / m
                float loss = 0;
                for (int i = 0; i < m; i++)
                {
                    var row = z.AsSpan(i * Classes, Classes);
                    TensorPrimitives.Add(row, b2, row);
                    float mx = TensorPrimitives.Max(row);
                    var d = dz.AsSpan(i * Classes, Classes);
                    TensorPrimitives.Subtract(row, mx, d);
                    TensorPrimitives.Exp(d, d);
                    float se = TensorPrimitives.Sum(d);
                    loss += MathF.Log(se) + mx - row[ys[start + i]];
                    TensorPrimitives.Multiply(d, 1f / (se * m), d);
                    d[ys[start + i]] -= 1f / m;
                }
                lastLoss = loss / m;
                long t4 = Stopwatch.GetTimestamp();
                Gemm.Sgemm(true, false, Classes, Hidden, m, dz, Classes, h, Hidden, dw2, Hidden);      // dW2 = dzᵀ h
                Gemm.Sgemm(false, false, m, Hidden, Classes, dz, Classes, w2, Hidden, dh, Hidden);    // dh = dz W2
                long t5 = Stopwatch.GetTimestamp(); gemm[2] += (t5 - t4) / f; g += t5 - t4;
                Array.Clear(db2);
                Array.Clear(db1);
                for (int i = 0; i < m; i++)
                {
                    TensorPrimitives.Add(db2, dz.AsSpan(i * Classes, Classes), db2);
                    var dhr = dh.AsSpan(i * Hidden, Hidden);
                    var hr = h.AsSpan(i * Hidden, Hidden);
                    for (int j = 0; j < Hidden; j++) if (hr[j] <= 0) dhr[j] = 0;
                    TensorPrimitives.Add(db1, dhr, db1);
                }
                long t6 = Stopwatch.GetTimestamp();
                Gemm.Sgemm(true, false, Hidden, In, m, dh, Hidden, xb, In, dw1, In);                  // dW1 = dhᵀ x
                long t7 = Stopwatch.GetTimestamp(); gemm[3] += (t7 - t6) / f; g += t7 - t6;
                Threading.ForRange(dw1.Length, Optimizer.MinRange, (s0, s1) =>   // split as Kiln's optimizers split it
                    TensorPrimitives.MultiplyAdd(dw1.AsSpan(s0, s1 - s0), -Lr, w1.AsSpan(s0, s1 - s0), w1.AsSpan(s0, s1 - s0)), align: 16);
                TensorPrimitives.MultiplyAdd(db1, -Lr, b1, b1);
                TensorPrimitives.MultiplyAdd(dw2, -Lr, w2, w2);
                TensorPrimitives.MultiplyAdd(db2, -Lr, b2, b2);
                long t8 = Stopwatch.GetTimestamp();
                rest += ((t8 - t0) - g) / f;
            }
            if (pass == 0) { w1 = (float[])init[0].Clone(); b1 = (float[])init[1].Clone(); w2 = (float[])init[2].Clone(); b2 = (float[])init[3].Clone(); }
        }
        double gsum = gemm.Sum();
        Console.WriteLine($"\nhand-written step on preallocated arrays (Kiln kernels, no Tensor/autograd), threads = {threads}: " +
                          $"{(gsum + rest) / steps * 1e6:0.0} µs/step = GEMM {gsum / steps * 1e6:0.0} " +
                          $"(fc1 fwd NT 64x50x784 {gemm[0] / steps * 1e6:0.0}; fc2 fwd NT 64x10x50 {gemm[1] / steps * 1e6:0.0}; " +
                          $"fc2 dW TN 10x50x64 + dX NN 64x50x10 {gemm[2] / steps * 1e6:0.0}; fc1 dW TN 50x784x64 {gemm[3] / steps * 1e6:0.0}) " +
                          $"+ elementwise/softmax/SGD {rest / steps * 1e6:0.0}; final-step loss {lastLoss:0.000}");
    }
}
