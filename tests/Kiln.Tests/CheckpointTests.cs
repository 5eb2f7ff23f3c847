using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Kiln.Learn;
using Kiln.Nn;
using Kiln.Optim;
using static Kiln.Tests.LearnTestData;

namespace Kiln.Tests;

public sealed class CheckpointTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), $"kiln-ckpt-{Guid.NewGuid():N}");

    public CheckpointTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string PathOf(string name) => Path.Combine(_dir, name);

    static float[][] Weights(Module m) => [.. m.Parameters().Select(p => p.ToArray())];

    [Fact]
    public void ModelFile_IsSafetensorsWithPyTorchNames_AndRoundTrips()
    {
        var a = Mlp(1);
        var path = PathOf("m.safetensors");
        Checkpoint.SaveModel(a, path);

        var bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, n % 8);
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n));
        var names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], names);
        var w0 = doc.RootElement.GetProperty("0.weight");
        Assert.Equal("F32", w0.GetProperty("dtype").GetString());
        Assert.Equal([16, 4], w0.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        var offs = w0.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal([0, 256], offs);
        var first = BitConverter.ToSingle(bytes, 8 + (int)n);
        Assert.Equal(a.Parameters().First().ToArray()[0], first);
        Assert.Equal(8 + (long)n + (16 * 4 + 16 + 3 * 16 + 3) * 4, bytes.Length);

        var b = Mlp(2);
        Assert.NotEqual(Weights(a)[0], Weights(b)[0]);
        Checkpoint.LoadModel(b, path);
        Assert.Equal(Weights(a), Weights(b));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void ReadsAFileWrittenByTheReferenceLayout()
    {
        // What safetensors.torch.save_file({"weight": torch.tensor([[1., 2.]]), "bias": torch.tensor([0.5])}) writes:
        // keys sorted, header padded with spaces to a multiple of 8, data in header order.
        var header = "{\"bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"weight\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[4,12]}}";
        while (header.Length % 8 != 0) header += " ";
        var file = new List<byte>();
        file.AddRange(BitConverter.GetBytes((ulong)header.Length));
        file.AddRange(Encoding.UTF8.GetBytes(header));
        foreach (var v in new[] { 0.5f, 1f, 2f }) file.AddRange(BitConverter.GetBytes(v));
        var path = PathOf("torch.safetensors");
        File.WriteAllBytes(path, [.. file]);

        var lin = new Linear(2, 1);
        Checkpoint.LoadModel(lin, path);
        Assert.Equal([1f, 2f], lin.Weight.ToArray());
        Assert.Equal([0.5f], lin.Bias!.ToArray());
    }

    sealed class WithCounter : Module
    {
        public WithCounter()
        {
            RegisterParameter("weight", Tensor.Zeros(2));
            RegisterBuffer("num_batches_tracked", Tensor.Zeros([], DType.Int32));
        }
        public override Tensor Forward(Tensor x) => x;
    }

    [Fact]
    public void PyTorchsInt64Buffers_LoadIntoInt32Buffers()
    {
        // BatchNorm's num_batches_tracked is int64 in PyTorch: an I64 0-d tensor.
        var header = "{\"num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},\"weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
        while (header.Length % 8 != 0) header += " ";
        var file = new List<byte>();
        file.AddRange(BitConverter.GetBytes((ulong)header.Length));
        file.AddRange(Encoding.UTF8.GetBytes(header));
        file.AddRange(BitConverter.GetBytes(1234L));
        foreach (var v in new[] { 3f, 4f }) file.AddRange(BitConverter.GetBytes(v));
        var path = PathOf("i64.safetensors");
        File.WriteAllBytes(path, [.. file]);

        var m = new WithCounter();
        Checkpoint.LoadModel(m, path);
        Assert.Equal(1234, m.StateDict()["num_batches_tracked"].ToIntArray()[0]);
        Assert.Equal([3f, 4f], m.StateDict()["weight"].ToArray());

        // Kiln writes the buffer back as I32, which load_state_dict casts into PyTorch's int64 buffer.
        var back = PathOf("i32.safetensors");
        Checkpoint.SaveModel(m, back);
        var (entries, _) = SafeTensors.Load(back);
        Assert.Equal("I32", entries.Single(e => e.Name == "num_batches_tracked").DType);
        Assert.Empty(entries.Single(e => e.Name == "num_batches_tracked").Shape);
    }

    void AssertLoadFailsNaming(string path, string tensorName, string what)
    {
        var m = Mlp(7);
        var before = Weights(m);
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(m, path));
        Assert.Contains($"\"{tensorName}\"", ex.Message);
        Assert.Contains(what, ex.Message);
        Assert.Equal(before, Weights(m));
    }

    [Fact]
    public void TruncatedFile_FailsNamingTheTensor_AndLeavesTheModelUntouched()
    {
        var path = PathOf("t.safetensors");
        Checkpoint.SaveModel(Mlp(1), path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^4]);
        AssertLoadFailsNaming(path, "2.bias", "truncated");

        File.WriteAllBytes(path, bytes[..20]);
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(Mlp(7), path));
        Assert.Contains("header length", ex.Message);
    }

    [Fact]
    public void MissingKey_FailsNamingIt_AndLeavesTheModelUntouched()
    {
        var path = PathOf("k.safetensors");
        var sd = Mlp(1).StateDict();
        sd.Remove("2.weight");
        SafeTensors.Save(path, sd);
        AssertLoadFailsNaming(path, "2.weight", "missing");
    }

    [Fact]
    public void WrongShape_FailsNamingIt_AndLeavesTheModelUntouched()
    {
        var path = PathOf("s.safetensors");
        var sd = Mlp(1).StateDict();
        sd["0.bias"] = Tensor.Zeros(15);
        SafeTensors.Save(path, sd);
        AssertLoadFailsNaming(path, "0.bias", "shape [15]");
    }

    [Fact]
    public void WrongDType_FailsNamingIt_AndLeavesTheModelUntouched()
    {
        var path = PathOf("d.safetensors");
        var sd = Mlp(1).StateDict();
        sd["2.bias"] = Tensor.FromArray(new[] { 1, 2, 3 });
        SafeTensors.Save(path, sd);
        AssertLoadFailsNaming(path, "2.bias", "dtype I32");
    }

    [Fact]
    public void OptimizerState_RoundTrips()
    {
        var (train, valid) = Loaders();
        var learn = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.01, optFunc: (ps, lr) => new AdamW(ps, lr));
        learn.Fit(2);
        var path = PathOf("o.safetensors");
        Checkpoint.Save(learn, path);
        var saved = learn.Opt!.StateDict();

        var other = new TrainLearner(Mlp(3), train, valid, CrossEntropy, 0.01, optFunc: (ps, lr) => new AdamW(ps, lr));
        var info = Checkpoint.Load(other, path);
        Assert.Equal(2, info.Epoch);
        Assert.Equal(Weights(learn.Model), Weights(other.Model));
        var opt = info.Optimizer!;
        Assert.Equal(saved.ParamGroups[0].Hyper, opt.ParamGroups[0].Hyper);
        Assert.Equal(saved.ParamGroups[0].Params, opt.ParamGroups[0].Params);
        foreach (var (i, s) in saved.State)
        {
            Assert.Equal(s.Step, opt.State[i].Step);
            Assert.Equal(s.Buffers.Keys.Order(), opt.State[i].Buffers.Keys.Order());
            foreach (var (k, t) in s.Buffers) Assert.Equal(t.ToArray(), opt.State[i].Buffers[k].ToArray());
        }
        Assert.Same(opt, other.PendingOptimizerState);
    }

    sealed class SaveAndStop(string path, int epoch) : Callback
    {
        public override int Order => 5;
        public override void AfterEpoch(Learner l)
        {
            if (l.Training || l.Epoch != epoch) return;
            Checkpoint.Save(l, path);
            throw new CancelFitException();
        }
    }

    [Fact]
    public void ResumingFromACheckpoint_GivesTheSameResultAsAnUninterruptedRun()
    {
        const int epochs = 4;
        TrainLearner NewLearner(long seed, Recorder rec)
        {
            var (train, valid) = Loaders(shuffle: true);
            return new TrainLearner(Mlp(seed), train, valid, CrossEntropy, 0.01, [new EpochSetter(), rec],
                optFunc: (ps, lr) => new AdamW(ps, lr, weightDecay: 0.01));
        }

        var full = new Recorder();
        var a = NewLearner(1, full);
        a.FitOneCycle(epochs, 0.05);

        var path = PathOf("resume.safetensors");
        var first = new Recorder();
        var b = NewLearner(1, first);
        b.FitOneCycle(epochs, 0.05, callbacks: [new SaveAndStop(path, epoch: 1)]);
        Assert.Equal(6, first.Losses.Count);

        var rest = new Recorder();
        var c = NewLearner(99, rest); // different initial weights: everything must come from the checkpoint
        var info = Checkpoint.Load(c, path);
        Assert.Equal(2, info.Epoch);
        c.FitOneCycle(epochs, 0.05, startEpoch: info.Epoch);

        Assert.Equal(full.Losses.Skip(6), rest.Losses);
        Assert.Equal(full.Lrs.Skip(6), rest.Lrs);
        Assert.Equal(full.Moms.Skip(6), rest.Moms);
        Assert.Equal(Weights(a.Model), Weights(c.Model));
    }

    [Fact]
    public void ResumingWithoutTheOptimizerState_WouldDiffer()
    {
        // Guards the test above: dropping the optimizer state (Adam moments, steps) changes the result.
        var (train, valid) = Loaders(shuffle: true);
        var a = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.01, [new EpochSetter()], optFunc: (ps, lr) => new AdamW(ps, lr));
        a.FitOneCycle(4, 0.05);
        var path = PathOf("r2.safetensors");
        var b = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.01, [new EpochSetter()], optFunc: (ps, lr) => new AdamW(ps, lr));
        b.FitOneCycle(4, 0.05, callbacks: [new SaveAndStop(path, 1)]);
        var c = new TrainLearner(Mlp(1), train, valid, CrossEntropy, 0.01, [new EpochSetter()], optFunc: (ps, lr) => new AdamW(ps, lr));
        var info = Checkpoint.Load(c, path);
        c.PendingOptimizerState = null;
        c.FitOneCycle(4, 0.05, startEpoch: info.Epoch);
        Assert.NotEqual(Weights(a.Model), Weights(c.Model));
    }
}
