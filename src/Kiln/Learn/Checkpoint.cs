using System.Globalization;
using System.Text.Json;
using Kiln.Nn;
using Kiln.Optim;

namespace Kiln.Learn;

/// <summary>What a checkpoint file held besides the model weights.</summary>
/// <param name="Epoch">Number of completed epochs: pass it as Fit's startEpoch to resume.</param>
/// <param name="Optimizer">The optimizer state, or null for a weights-only file.</param>
/// <param name="Metadata">The file's string metadata.</param>
public sealed record CheckpointInfo(int Epoch, OptimizerStateDict? Optimizer, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Checkpoints as safetensors files. Model tensors keep their PyTorch-style names ("0.convs.0.0.weight"), so
/// <c>model.load_state_dict(load_file(p))</c> reads a weights file in PyTorch and Kiln reads PyTorch's. A training
/// checkpoint adds the optimizer buffers as "optimizer/{param index}/{buffer}" tensors and the hyperparameters, steps and
/// epoch as metadata. Writes are atomic; loads verify everything before touching the model.
/// </summary>
public static class Checkpoint
{
    /// <summary>Prefix of the optimizer tensors in a training checkpoint (a '/' cannot occur in a module path).</summary>
    public const string OptimizerPrefix = "optimizer/";

    sealed record GroupJson(Dictionary<string, double> Hyper, int[] Params);
    sealed record OptJson(string Type, List<GroupJson> Groups, Dictionary<string, long> Steps);

    static readonly JsonSerializerOptions Json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Writes the model's parameters and buffers (weights only, PyTorch-loadable) to path atomically.</summary>
    public static void SaveModel(Module model, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        SafeTensors.Save(path, model.StateDict(), metadata);
    }

    /// <summary>Writes model weights, the optimizer state (if any) and the number of completed epochs to path atomically.</summary>
    public static void Save(Module model, Optimizer? opt, int epoch, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var tensors = new List<KeyValuePair<string, Tensor>>(model.StateDict());
        var meta = new Dictionary<string, string>();
        if (metadata != null) foreach (var (k, v) in metadata) meta[k] = v;
        meta["format"] = "kiln-checkpoint-1";
        meta["epoch"] = epoch.ToString(CultureInfo.InvariantCulture);
        if (opt != null)
        {
            var sd = opt.StateDict();
            var steps = new Dictionary<string, long>();
            foreach (var (index, s) in sd.State.OrderBy(kv => kv.Key))
            {
                steps[index.ToString(CultureInfo.InvariantCulture)] = s.Step;
                foreach (var (buf, t) in s.Buffers.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    tensors.Add(new($"{OptimizerPrefix}{index}/{buf}", t));
            }
            var oj = new OptJson(opt.GetType().Name, [.. sd.ParamGroups.Select(g => new GroupJson(new(g.Hyper), g.Params))], steps);
            meta["optimizer"] = JsonSerializer.Serialize(oj, Json);
        }
        SafeTensors.Save(path, tensors, meta);
    }

    /// <summary>Saves the learner's model and optimizer; epoch (completed epochs) defaults to the current epoch + 1, at most the fit's epoch count.</summary>
    public static void Save(Learner learn, string path, int? epoch = null)
    {
        ArgumentNullException.ThrowIfNull(learn);
        Save(learn.Model, learn.Opt, epoch ?? Math.Min(learn.Epoch + 1, learn.NEpochs), path);
    }

    /// <summary>
    /// Loads weights into model after verifying the file (truncation, and for every model tensor: present, same shape,
    /// compatible dtype); on any problem throws an error naming the tensor and leaves the model untouched. Returns the
    /// rest of the checkpoint. Optimizer tensors are ignored unless strict finds other unexpected keys.
    /// </summary>
    public static CheckpointInfo LoadModel(Module model, string path, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (entries, meta) = SafeTensors.Load(path);
        var byName = entries.ToDictionary(e => e.Name);
        var errors = new List<string>();
        var dict = new Dictionary<string, Tensor>();
        var own = model.StateDict();
        foreach (var (name, target) in own)
        {
            if (!byName.TryGetValue(name, out var e))
            {
                if (strict) errors.Add($"missing tensor \"{name}\" (the model has {target.DType.Name()} {Shapes.Str(target.Shape)})");
                continue;
            }
            var kd = SafeTensor.KilnDType(e.DType);
            if (kd != target.DType)
                errors.Add($"tensor \"{name}\" has dtype {e.DType} in the file, the model needs {target.DType.Name()}");
            else if (!Shapes.Equal(e.Shape, target.Shape))
                errors.Add($"tensor \"{name}\" has shape {Shapes.Str(e.Shape)} in the file, the model has {Shapes.Str(target.Shape)}");
            else
            {
                try { dict[name] = e.ToTensor(); }
                catch (InvalidDataException ex) { errors.Add(ex.Message); }
            }
        }
        if (strict)
            foreach (var e in entries)
                if (!own.ContainsKey(e.Name) && !e.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                    errors.Add($"unexpected tensor \"{e.Name}\" (no parameter or buffer of {model.GetType().Name} has that name)");
        var opt = ReadOptimizer(entries, meta, model, errors, path);
        if (errors.Count > 0)
            throw new InvalidDataException($"Checkpoint '{path}': {errors.Count} problem(s), nothing was loaded:\n  " + string.Join("\n  ", errors));
        model.LoadStateDict(dict, strict: false);
        int epoch = meta.TryGetValue("epoch", out var es) && int.TryParse(es, CultureInfo.InvariantCulture, out var ep) ? ep : 0;
        return new CheckpointInfo(epoch, opt, meta);
    }

    /// <summary>
    /// Loads a training checkpoint into a learner: the model weights now, the optimizer state into the next fit's fresh
    /// optimizer (<see cref="Learner.PendingOptimizerState"/>). Resume with <c>learn.Fit(n, startEpoch: info.Epoch)</c>.
    /// </summary>
    public static CheckpointInfo Load(Learner learn, string path)
    {
        ArgumentNullException.ThrowIfNull(learn);
        var info = LoadModel(learn.Model, path);
        learn.PendingOptimizerState = info.Optimizer;
        return info;
    }

    static OptimizerStateDict? ReadOptimizer(List<SafeTensor> entries, Dictionary<string, string> meta, Module model, List<string> errors, string path)
    {
        if (!meta.TryGetValue("optimizer", out var json)) return null;
        OptJson? oj;
        try { oj = JsonSerializer.Deserialize<OptJson>(json, Json); }
        catch (JsonException e) { errors.Add($"the optimizer metadata is not valid JSON ({e.Message})"); return null; }
        if (oj is null) { errors.Add("the optimizer metadata is empty"); return null; }
        var parameters = model.Parameters().ToArray();
        var state = new Dictionary<int, ParamState>();
        foreach (var (key, step) in oj.Steps)
            state[int.Parse(key, CultureInfo.InvariantCulture)] = new ParamState { Step = step };
        foreach (var e in entries.Where(e => e.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal)))
        {
            var parts = e.Name[OptimizerPrefix.Length..].Split('/', 2);
            if (parts.Length != 2 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out int index) || !state.TryGetValue(index, out var s))
            {
                errors.Add($"optimizer tensor \"{e.Name}\" names no parameter with optimizer state");
                continue;
            }
            if (e.DType != "F32") { errors.Add($"optimizer tensor \"{e.Name}\" has dtype {e.DType}, expected F32"); continue; }
            long numel = e.Shape.Aggregate(1L, (a, d) => a * d);
            if (index >= parameters.Length)
                errors.Add($"optimizer tensor \"{e.Name}\" is for parameter {index}, but the model has {parameters.Length} parameters");
            else if (numel != parameters[index].Numel)
                errors.Add($"optimizer tensor \"{e.Name}\" has {numel} values, parameter {index} has shape {Shapes.Str(parameters[index].Shape)}");
            else s.Buffers[parts[1]] = e.ToTensor().Reshape(-1);
        }
        int total = oj.Groups.Sum(g => g.Params.Length);
        if (total != parameters.Length)
            errors.Add($"the optimizer state covers {total} parameters, the model has {parameters.Length}");
        return new OptimizerStateDict([.. oj.Groups.Select(g => new ParamGroupState(g.Hyper, g.Params))], state);
    }
}
