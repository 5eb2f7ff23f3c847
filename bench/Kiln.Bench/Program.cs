using System.Diagnostics;
using Kiln.Bench;

// Kiln benchmark program: Kiln vs TorchSharp (libtorch CPU) on this machine, same process, same run.
//   dotnet run -c Release --project bench/Kiln.Bench -- [gemm|small|lesson8|all|bdn] [--threads 1,2] [--time SECONDS] [--filter TEXT]
//   gemm (default): GEMM GFLOPS table at 1 and 2 threads; small: µs per call for lesson 8's and the MLP training step's
//   small/skinny shapes (--filter keeps labels containing TEXT); lesson8: MatMulVariants table; all: all three;
//   paths: diagnostic, Kiln alone with each GEMM path forced (packed / unpacked / direct) on small shapes and a grid;
//   mlp [--reps N] [--profile] [--no-collect]: issue 3's MLP 784-50-ReLU-10 training epoch on Fashion-MNIST, Kiln vs TorchSharp µs/step
//   (--profile adds Kiln's per-phase/per-node breakdown and a hand-written-kernel reference step; --no-collect skips the
//   full GC before each timed epoch);
//   conv [--filter TEXT]: issue 4's Conv2d layers (a)-(e) at batch 256, fwd and fwd+bwd; --filter m4: get_model4's ten convolutions;
//   --profile adds each layer's backward halves (dX alone, dW + db alone); --no-winograd runs stride-1 3x3/5x5 layers without Winograd;
//   convab --knob NAME [--filter TEXT]: Kiln alone, one kernel knob off and on interleaved in one process (A/B of a change);
//   convkern [--filter TEXT]: diagnostic, Kiln alone: get_model4's conv products (fwd, dX, dW) in GFLOPS, direct and image-inner kernels on and off;
//   normpool [--filter TEXT]: issue 4's BatchNorm2d / AvgPool2d / MaxPool2d at batch 256 on four conv activations, fwd and fwd+bwd;
//   epoch [--threads T] [--limit N]: issue 8's end to end, one epoch of Fashion-MNIST through get_model4 (batch 1024, AdamW +
//   1cycle) then validation, TorchSharp then Kiln, each in its own child process (peak RSS per library); T defaults to all
//   cores (first value of a list), --limit N trains and validates on the first N rows of each split (smoke runs);
//   gemmtune --filter 1024|2048 --cfgs "384,240,4096;256,480,4096": Kiln alone with other GEMM cache blocks (Kc,Mc,Nc), interleaved;
//   train-profile [--threads 2] [--filter model4]: a Kiln training step at batch 1024 cut per layer (forward) and node kind (backward);
//   bdn [BenchmarkDotNet args]: the BenchmarkDotNet class (GEMM 1024 and one skinny shape, 2 threads).

string? tuneCfgs = null;
string mode = args.Length > 0 && !args[0].StartsWith("--") ? args[0].ToLowerInvariant() : "gemm";
var rest = args.Length > 0 && !args[0].StartsWith("--") ? args[1..] : args;

if (mode == "bdn")
{
    BenchmarkDotNet.Running.BenchmarkSwitcher.FromTypes([typeof(GemmBdn)]).Run(rest.Length > 0 ? rest : ["--filter", "*"]);
    return 0;
}

int[] threads = [1, 2];
string? filter = null, knob = null;
bool profile = false;
bool timeGiven = false;
bool threadsGiven = false;
int limit = 0;
string side = "";
for (int i = 0; i < rest.Length; i++)
{
    switch (rest[i])
    {
        case "--threads": threads = rest[++i].Split(',').Select(int.Parse).ToArray(); threadsGiven = true; break;
        case "--time": Measure.TargetSeconds = double.Parse(rest[++i], System.Globalization.CultureInfo.InvariantCulture); timeGiven = true; break;
        case "--filter": filter = rest[++i]; break;
        case "--knob": knob = rest[++i]; break; // convab
        case "--reps": MlpBench.Reps = int.Parse(rest[++i]); break;
        case "--profile": profile = true; ConvBench.Parts = true; break;
        case "--no-collect": MlpBench.CollectBeforeEpoch = false; break;
        case "--cfgs": tuneCfgs = rest[++i]; break;
        case "--limit": limit = int.Parse(rest[++i]); break;
        case "--side": side = rest[++i]; break; // epoch-side only
        case "--collect-every": Kiln.TensorMemory.CollectEveryBytes = long.Parse(rest[++i]) << 20; break; // MiB, experiments
        case "--keep-free": Kiln.TensorMemory.KeepFreeBytes = long.Parse(rest[++i]) << 20; break; // MiB, experiments
        case "--no-recycle": Kiln.TensorMemory.RecycleBuffers = false; break;
        case "--conv-columns": Kiln.Kernels.Conv.TargetColumns = int.Parse(rest[++i]); break; // tuning experiments
        case "--batched-chunk": Kiln.Kernels.ConvBatched.ChunkImages = int.Parse(rest[++i]); break; // tuning experiments
        case "--batched-maxpos": Kiln.Kernels.ConvBatched.MaxPositions = int.Parse(rest[++i]); Kiln.Kernels.ConvBatched.MaxInputPositions = 4 * Kiln.Kernels.ConvBatched.MaxPositions; break; // tuning experiments
        case "--batched-posouter": Kiln.Kernels.ConvBatched.PositionOuterWeightFloats = long.Parse(rest[++i]); break; // tuning experiments
        case "--batched-pairs": Kiln.Kernels.ConvBatched.PairsMaxPositions = int.Parse(rest[++i]); break; // experiments: dW by GEMM per (tap, position)
        case "--wg-max": Kiln.Kernels.ConvDirect.WgMaxGroup = int.Parse(rest[++i]); break; // tuning experiments
        case "--wg-bytes": Kiln.Kernels.ConvDirect.WgGroupBytes = long.Parse(rest[++i]) << 10; break; // tuning experiments (KiB)
        case "--batched-narrow": Kiln.Kernels.ConvBatched.Native = new(narrow: true); break; // experiments: AVX2's kernels
        case "--batched-minch": Kiln.Kernels.ConvBatched.MinChannels = int.Parse(rest[++i]); break; // experiments
        case "--batched-wchunk": Kiln.Kernels.ConvBatched.WeightChunkImages = int.Parse(rest[++i]); break; // tuning experiments
        case "--direct-min-work": Kiln.Kernels.Gemm.MinDirectWorkPerThread = long.Parse(rest[++i]); break; // tuning experiments
        case "--direct-kchunk": Kiln.Kernels.GemmDirect.KChunk256 = int.Parse(rest[++i]); break; // tuning experiments
        case "--winograd-min": Kiln.Kernels.ConvWinograd.MinOut = int.Parse(rest[++i]); break; // tuning experiments
        case "--winograd-narrow": Kiln.Kernels.ConvWinograd.Narrow = true; break; // measurements: the Vector256 (AVX2) kernels
        case "--no-winograd": Kiln.Kernels.ConvWinograd.Enabled = false; break; // A/B: the direct / im2col paths on stride-1 3x3 and 5x5 layers
        case "--no-prefetch": Kiln.Kernels.GemmDirect.Prefetch = false; break; // experiments
        default: Console.Error.WriteLine($"unknown option {rest[i]}"); return 2;
    }
}

// The epoch bench's child: one library's epoch, one JSON line on stdout, nothing else (no environment header, libtorch not loaded for Kiln).
if (mode == "epoch-side") return EpochBench.Side(side, threads[0], limit);

if (!Stopwatch.IsHighResolution) Console.WriteLine("warning: Stopwatch is not high-resolution");
var total = Stopwatch.StartNew();
Env.Print();
int rc = 0;
switch (mode)
{
    case "gemm": rc = GemmBench.Run(threads, filter); break;
    case "gemmtune": rc = GemmBench.Tune(threads[0], filter ?? "1024", tuneCfgs ?? "384,240,4096"); break; // block-size experiments, Kiln alone
    case "small": rc = RunSmall(); break;
    case "paths": rc = PathsBench.Run(threads, filter); break;
    case "lesson8": rc = Lesson8Bench.Run(); break;
    case "mlp": rc = MlpBench.Run(threads, profile); break;
    case "conv": rc = ConvBench.Run(threads, filter); break;
    case "convab": rc = ConvBench.RunAb(threads, filter, knob ?? ""); break; // A/B of one knob in one process
    case "convkern": rc = ConvKernBench.Run(threads, filter); break; // diagnostic: Kiln's conv products per model4 layer, direct kernel on/off
    case "data": rc = DataBench.Run(); break; // issue 5: DataLoader batches/s of augmented Fashion-MNIST batches of 1024, 0/1/2 workers
    case "train-profile": rc = TrainProfile.Run(threads[0], filter ?? "model4"); break; // issue 8: where a Kiln step goes
    case "normpool": rc = NormPoolBench.Run(threads, filter); break;
    case "train": rc = TrainStepBench.Run(threads, filter); break; // issue 8: a training step of lesson 18's models, batch 1024
    case "epoch": rc = EpochBench.Run(threadsGiven ? threads[0] : Environment.ProcessorCount, limit); break; // issue 8: one epoch end to end
    case "simplecnn": rc = SimpleCnnBench.Run(threads[0], filter); break; // issue 9: lesson 15 simple_cnn, Kiln vs TorchSharp from the same init, per seed (--filter = number of seeds)
    case "all": rc = GemmBench.Run(threads) | Lesson8Bench.Run() | RunSmall(); break;
    default: Console.Error.WriteLine($"unknown mode '{mode}' (gemm | small | lesson8 | mlp | epoch | all | bdn)"); return 2;
}
Console.WriteLine($"\nelapsed {total.Elapsed.TotalSeconds:0.0} s; load avg at end: {Env.LoadAvg()}");
return rc;

int RunSmall()
{
    double saved = Measure.TargetSeconds;
    if (!timeGiven) Measure.TargetSeconds = SmallBench.DefaultSeconds;
    try { return SmallBench.Run(threads, filter); }
    finally { Measure.TargetSeconds = saved; }
}
