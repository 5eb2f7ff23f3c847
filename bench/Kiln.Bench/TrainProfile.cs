using System.Diagnostics;
using Kiln.Models;
using Kiln.Nn;
using Kiln.Optim;
using KTensor = Kiln.Tensor;

namespace Kiln.Bench;

/// <summary>
/// Where a Kiln training step of a lesson-18 model goes (train-profile): forward per top-level layer (Stopwatch stamps
/// between the model's children), cross-entropy, backward per kind of graph node (each node's backward closure wrapped
/// with a timer; "engine" is the rest: ordering, gradient sums, leaf Grad hand-over), the AdamW step and zero grad, and
/// the garbage-collection pauses inside them (<see cref="TensorMemory"/>). Batch 1024 of random data, as
/// the train benchmark; uses internals (Node.BackwardFn) through InternalsVisibleTo.
/// </summary>
static class TrainProfile
{
    public static int Run(int threads, string model, int steps = 5)
    {
        Env.SetThreads(threads);
        var gen = new Generator(42);
        var net = FashionModels.Create(model);
        var opt = new AdamW(net.Parameters(), lr: 1e-3);
        var x = KTensor.Randn([1024, 1, 28, 28], gen);
        var y = KTensor.RandInt(0, 10, [1024], gen);
        var children = ((Sequential)net).ToList();
        var fwd = new double[children.Count];
        var names = children.Select((c, i) => $"{i} {Describe(c)}").ToArray();
        var nodeTime = new Dictionary<string, double>();
        var nodeOrder = new List<string>();
        double gcPause = 0;
        int kilnGcs = 0;
        double ce = 0, backward = 0, step = 0, zero = 0, item = 0, total = 0;
        long faults = 0;
        double sysCpu = 0, allCpu = 0;
        long recycled = 0, runtimeAlloc = 0;
        double f = Stopwatch.Frequency;
        // Forward per kind of leaf layer: each leaf's forward hook stamps the clock; a leaf is charged the time since the
        // previous stamp (so the residual add in a ResBlock is charged to the activation that follows it).
        var leafTime = new Dictionary<string, double>();
        long lastStamp = 0;
        bool timing = false;
        foreach (var leaf in net.Modules().Where(m => !m.Children().Any()))
        {
            string kind = leaf.GetType().Name;
            leaf.RegisterForwardHook((_, _, _) =>
            {
                long now = Stopwatch.GetTimestamp();
                if (timing) leafTime[kind] = leafTime.GetValueOrDefault(kind) + (now - lastStamp) / (double)Stopwatch.Frequency;
                lastStamp = now;
            });
        }
        for (int s = 0; s < steps + 2; s++)
        {
            bool timed = s >= 2;
            if (s == 2) EpochBench.ResetPeak();
            var (f0, sys0) = MlpBench.ProcStat();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            long recycled0 = TensorMemory.RecycledBuffers, alloc0 = GC.GetTotalAllocatedBytes(precise: true);
            long t0 = Stopwatch.GetTimestamp(), t = t0;
            var pause0 = GC.GetTotalPauseDuration();
            int kilnGcs0 = TensorMemory.Collections;
            timing = timed;
            lastStamp = t0;
            var h = x;
            for (int i = 0; i < children.Count; i++)
            {
                h = children[i].Call(h);
                long now = Stopwatch.GetTimestamp();
                if (timed) fwd[i] += (now - t) / f;
                t = now;
            }
            var loss = F.CrossEntropy(h, y);
            long t1 = Stopwatch.GetTimestamp();
            if (timed) MlpProfile.WrapNodes(loss, nodeTime, nodeOrder, perNode: false);
            loss.Backward();
            long t2 = Stopwatch.GetTimestamp();
            opt.Step();
            long t4 = Stopwatch.GetTimestamp();
            opt.ZeroGrad();
            long t5 = Stopwatch.GetTimestamp();
            _ = loss.Item();
            long t6 = Stopwatch.GetTimestamp();
            if (!timed) continue;
            ce += (t1 - t) / f; backward += (t2 - t1) / f; step += (t4 - t2) / f;
            zero += (t5 - t4) / f; item += (t6 - t5) / f; total += (t6 - t0) / f;
            var (f1, sys1) = MlpBench.ProcStat();
            faults += f1 - f0;
            sysCpu += sys1 - sys0;
            recycled += TensorMemory.RecycledBuffers - recycled0;
            runtimeAlloc += GC.GetTotalAllocatedBytes(precise: true) - alloc0;
            allCpu += (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            gcPause += (GC.GetTotalPauseDuration() - pause0).TotalSeconds;
            kilnGcs += TensorMemory.Collections - kilnGcs0;
        }

        string Row(string what, double sec) => $"| {what} | {sec / steps * 1e3:0.0} | {sec / total:0.0%} |";
        Console.WriteLine();
        Console.WriteLine($"## Where a Kiln training step of {model} goes: batch 1024, AdamW, threads = {threads}, {steps} timed steps after 2 warm-up");
        Console.WriteLine();
        Console.WriteLine("| phase | ms/step | share |");
        Console.WriteLine("|---|---:|---:|");
        for (int i = 0; i < children.Count; i++) Console.WriteLine(Row($"forward: {names[i]}", fwd[i]));
        Console.WriteLine(Row("forward: cross-entropy", ce));
        foreach (var (k, v) in leafTime.OrderByDescending(kv => kv.Value)) Console.WriteLine(Row($"forward by layer kind: {k}", v));
        Console.WriteLine(Row("**forward total**", fwd.Sum() + ce));
        double nodesSum = nodeTime.Values.Sum();
        foreach (var (k, v) in nodeTime.OrderByDescending(kv => kv.Value)) Console.WriteLine(Row($"backward: {k}", v));
        Console.WriteLine(Row("backward: engine (order, gradient sums, leaf Grad hand-over)", backward - nodesSum));
        Console.WriteLine(Row("**backward total**", backward));
        Console.WriteLine(Row("AdamW step", step));
        Console.WriteLine(Row("zero grad + loss.Item()", zero + item));
        Console.WriteLine(Row("**step total**", total));
        Console.WriteLine($"\nper step: {faults / (double)steps:0} minor page faults ({faults * 4096.0 / steps / 1e6:0} MB); " +
                          $"{kilnGcs / (double)steps:0.0} collections asked for by TensorMemory (every {TensorMemory.CollectEveryBytes >> 20} MiB), " +
                          $"GC pauses {gcPause / steps * 1e3:0.0} ms (inside the phases above); " +
                          $"CPU {allCpu / steps * 1e3:0} ms of which kernel (system) {sysCpu / steps * 1e3:0} ms; " +
                          $"{recycled / (double)steps:0} recycled buffers handed out (TensorMemory.RecycleBuffers {TensorMemory.RecycleBuffers}), " +
                          $"{runtimeAlloc / (double)steps / 1e6:0} MB newly allocated from the runtime, {TensorMemory.FreeBuffers.Bytes / 1e6:0} MB free buffers kept at the end; " +
                          $"peak RSS over the timed steps {EpochBench.Status("VmHWM"):0} MiB");
        return 0;
    }

    static string Describe(Module m) => m switch
    {
        ResBlock r => $"ResBlock ({r.Parameters().Sum(p => (long)p.Numel):N0} parameters)",
        Sequential sq => "conv " + string.Join(" -> ", sq.Select(c => c.GetType().Name)),
        _ => m.GetType().Name,
    };

}
