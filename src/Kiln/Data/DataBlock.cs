using System.Text;
using System.Text.RegularExpressions;

namespace Kiln.Data;

/// <summary>How a data block divides its items into training and validation sets.</summary>
/// <param name="Description">What the split does, for <see cref="DataBlock.Summary"/>.</param>
/// <param name="Split">Items to (training indices, validation indices).</param>
public sealed record Splitter(string Description, Func<IReadOnlyList<string>, (int[] Train, int[] Valid)> Split);

/// <summary>Splitters for <see cref="DataBlock"/> (lesson 7: by folder, random percentage with seed, none).</summary>
public static class Splitters
{
    /// <summary>Items under a folder named <paramref name="train"/> train, under <paramref name="valid"/> validate (nearest such folder wins); others are left out.</summary>
    public static Splitter ByFolder(string train = "train", string valid = "valid") => new(
        $"by folder (train '{train}', valid '{valid}')",
        items =>
        {
            var t = new List<int>();
            var v = new List<int>();
            for (int i = 0; i < items.Count; i++)
            {
                var parts = Path.GetDirectoryName(items[i])?.Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) ?? [];
                for (int k = parts.Length - 1; k >= 0; k--)
                {
                    if (parts[k] == valid) { v.Add(i); break; }
                    if (parts[k] == train) { t.Add(i); break; }
                }
            }
            return (t.ToArray(), v.ToArray());
        });

    /// <summary>A random <paramref name="validPct"/> of the items validates (permutation from <paramref name="seed"/>; each split in item order).</summary>
    public static Splitter Random(double validPct = 0.2, long seed = 42)
    {
        if (!(validPct >= 0 && validPct <= 1)) throw new ArgumentOutOfRangeException(nameof(validPct), $"Splitters.Random: validPct must be in [0,1], got {validPct}");
        return new($"random {validPct:P0} valid (seed {seed})", items =>
        {
            var perm = Tensor.RandPerm(items.Count, new Generator(seed)).ToIntArray();
            int nv = (int)Math.Round(validPct * items.Count);
            var v = perm[..nv];
            var t = perm[nv..];
            Array.Sort(v);
            Array.Sort(t);
            return (t, v);
        });
    }

    /// <summary>No validation set: every item trains.</summary>
    public static Splitter None() => new("none (all items train)", items => (Enumerable.Range(0, items.Count).ToArray(), []));
}

/// <summary>How a data block labels an item: a class name (categories) or a target tensor (e.g. image to image).</summary>
/// <param name="Description">What the labeller does, for <see cref="DataBlock.Summary"/>.</param>
/// <param name="Category">Item to class name, or null.</param>
/// <param name="Target">Item to target tensor, or null.</param>
public sealed record Labeller(string Description, Func<string, string>? Category, Func<string, Tensor>? Target);

/// <summary>Labellers for <see cref="DataBlock"/> (lesson 7: from folder, regex on the file name, function, image to image).</summary>
public static class Labellers
{
    /// <summary>The name of the folder holding the item.</summary>
    public static Labeller FromFolder() => new("from the parent folder's name",
        p => Path.GetFileName(Path.GetDirectoryName(p)) ?? throw new ArgumentException($"label from folder: '{p}' has no parent folder"), null);

    /// <summary>The first capture group of <paramref name="pattern"/> matched against the file name (e.g. pets' @"^(.+)_\d+\.jpg$").</summary>
    public static Labeller FromRegex(string pattern)
    {
        var re = new Regex(pattern, RegexOptions.CultureInvariant);
        if (re.GetGroupNumbers().Length < 2) throw new ArgumentException($"Labellers.FromRegex: pattern '{pattern}' has no capture group for the label");
        return new($"regex '{pattern}' on the file name", p =>
        {
            var m = re.Match(Path.GetFileName(p));
            if (!m.Success) throw new FormatException($"label regex '{pattern}' does not match the file name '{Path.GetFileName(p)}' ('{p}')");
            return m.Groups[1].Value;
        }, null);
    }

    /// <summary>A class name computed by <paramref name="f"/>.</summary>
    public static Labeller FromFunc(Func<string, string> f, string description = "a function") => new(description, f, null);

    /// <summary>A target tensor computed by <paramref name="f"/> (e.g. load the clean version of an image).</summary>
    public static Labeller ToTensor(Func<string, Tensor> f, string description = "a function to a tensor (e.g. image to image)") => new(description, null, f);
}

/// <summary>
/// Lesson 7's data block pipeline over file items: get items -> split -> label -> load the input -> item transforms
/// (per item, before collation) -> batch transforms (training batches) -> DataLoaders. <see cref="Summary"/> runs each
/// step on real items and reports what it did, or why it failed.
/// </summary>
public sealed class DataBlock
{
    /// <summary>Lists the items (e.g. every image file under a folder).</summary>
    public required Func<IReadOnlyList<string>> GetItems { get; init; }

    /// <summary>Loads an item's input tensor (e.g. Kiln.Vision.Images.Load).</summary>
    public required Func<string, Tensor> GetX { get; init; }

    /// <summary>Labels an item.</summary>
    public required Labeller Label { get; init; }

    /// <summary>Divides items into training and validation (default: a random 20% with seed 42).</summary>
    public Splitter Split { get; init; } = Splitters.Random();

    /// <summary>Applied to each item's input before collation, in training and validation (e.g. Resize, or RandPad for training only via <see cref="TrainOnlyItemTransform"/>).</summary>
    public ITransform? ItemTransform { get; init; }

    /// <summary>Applied after <see cref="ItemTransform"/> to training items only (e.g. random crops).</summary>
    public ITransform? TrainOnlyItemTransform { get; init; }

    /// <summary>Applied to each collated training batch's input (e.g. flips, RandErase).</summary>
    public ITransform? BatchTransform { get; init; }

    /// <summary>Applied to each collated batch's input in training and validation after <see cref="BatchTransform"/> (e.g. Normalize).</summary>
    public ITransform? NormalizeTransform { get; init; }

    /// <summary>Files under <paramref name="root"/> (recursively) whose extension is one of <paramref name="extensions"/>, in ordinal order.</summary>
    public static Func<IReadOnlyList<string>> Files(string root, params string[] extensions) => () =>
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"get items: folder not found: '{root}'");
        var ext = new HashSet<string>(extensions.Select(e => e.StartsWith('.') ? e.ToLowerInvariant() : "." + e.ToLowerInvariant()));
        return Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => ext.Count == 0 || ext.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToArray();
    };

    /// <summary>The split, labelled datasets: items [x, y] with y an Int32 class index (categories) or the target tensor; classes sorted from the training labels.</summary>
    public (IDataset<Tensor[]> Train, IDataset<Tensor[]> Valid, IReadOnlyList<string> Classes) Datasets()
    {
        var items = GetItems();
        var (t, v) = Split.Split(items);
        var (labelOf, classes) = MakeLabels(items, t, v);
        IDataset<Tensor[]> Make(int[] idx) => new FuncDataset<Tensor[]>(idx.Length, k => [GetX(items[idx[k]]), labelOf(idx[k])]);
        return (Make(t), Make(v), classes);
    }

    (Func<int, Tensor> LabelOf, IReadOnlyList<string> Classes) MakeLabels(IReadOnlyList<string> items, int[] train, int[] valid)
    {
        if (Label.Target is { } target) return (i => target(items[i]), []);
        var cat = Label.Category ?? throw new InvalidOperationException($"DataBlock: labeller '{Label.Description}' gives neither a class nor a tensor");
        var names = new string[items.Count];
        foreach (int i in train.Concat(valid)) names[i] = cat(items[i]);
        var classes = train.Select(i => names[i]).Distinct().Order(StringComparer.Ordinal).ToArray();
        var index = classes.Select((c, k) => (c, k)).ToDictionary(p => p.c, p => p.k);
        foreach (int i in valid)
            if (!index.ContainsKey(names[i]))
                throw new InvalidDataException($"DataBlock: validation item '{items[i]}' has label '{names[i]}', which no training item has (classes: [{string.Join(", ", classes)}])");
        return (i => Tensor.Scalar(index[names[i]]).Int(), classes);
    }

    ITransform? TrainItemTransform => (ItemTransform, TrainOnlyItemTransform) switch
    {
        (null, null) => null,
        (var a, null) => a,
        (null, var b) => b,
        (var a, var b) => Transforms.Compose(a!, b!),
    };

    ITransform? TrainBatchTransform => (BatchTransform, NormalizeTransform) switch
    {
        (null, null) => null,
        (var a, null) => a,
        (null, var b) => b,
        (var a, var b) => Transforms.Compose(a!, b!),
    };

    /// <summary>Training (shuffled) and validation (in order, twice the batch size) loaders over the pipeline.</summary>
    public DataLoaders DataLoaders(int batchSize, long? seed = null, int workers = 0)
    {
        var (train, valid, _) = Datasets();
        return Data.DataLoaders.FromDatasets(train, valid, batchSize, seed: seed, workers: workers, itemTransform: TrainItemTransform,
            batchTransform: TrainBatchTransform, validItemTransform: ItemTransform, validBatchTransform: NormalizeTransform);
    }

    /// <summary>
    /// Runs the pipeline step by step on real items (like fastai's summary()): items found, split sizes, labels, the first
    /// item's shapes before and after item transforms, collation of a batch of <paramref name="batchSize"/> and the batch transforms.
    /// Returns the report; a failing step is marked FAILED with the reason and the steps after it are not run.
    /// </summary>
    public string Summary(int batchSize = 4)
    {
        var sb = new StringBuilder();
        void Line(string s) => sb.AppendLine(s);
        string step = "collecting items";
        try
        {
            var items = GetItems();
            Line($"Collecting items: {items.Count} item(s){(items.Count > 0 ? $", first '{items[0]}'" : "")}");
            if (items.Count == 0) { Line("FAILED: no items were found; check the folder and the file extensions."); return sb.ToString(); }

            step = "splitting";
            var (t, v) = Split.Split(items);
            Line($"Splitting {Split.Description}: {t.Length} training, {v.Length} validation item(s)");
            if (t.Length == 0) { Line("FAILED: the training set is empty; check the split (folder names, percentage)."); return sb.ToString(); }

            step = "labelling";
            var (labelOf, classes) = MakeLabels(items, t, v);
            Line(Label.Category != null
                ? $"Labelling {Label.Description}: {classes.Count} class(es) [{string.Join(", ", classes.Take(20))}{(classes.Count > 20 ? ", ..." : "")}]"
                : $"Labelling {Label.Description}: target tensors");

            int first = t[0];
            step = $"building item '{items[first]}'";
            var x = GetX(items[first]);
            var y = labelOf(first);
            Line($"Building an item from '{items[first]}': x {Describe(x)}, y {Describe(y)}" +
                 (Label.Category != null ? $" = '{classes[y.Item<int>()]}'" : ""));

            var rng = new Generator(0);
            var itemT = TrainItemTransform;
            int n = Math.Min(batchSize, t.Length);
            var batchItems = new Tensor[n][];
            step = "item transforms";
            for (int k = 0; k < n; k++)
            {
                var xi = GetX(items[t[k]]);
                batchItems[k] = [itemT?.Apply(xi, rng) ?? xi, labelOf(t[k])];
            }
            Line(itemT == null ? "Item transforms: none" : $"Item transforms: x {Describe(x)} -> {Describe(batchItems[0][0])}");

            step = $"collating {n} training items";
            Batch b;
            try { b = Collate.Tensors(batchItems); }
            catch (ArgumentException e)
            {
                Line($"Collating {n} item(s): FAILED: {e.Message}");
                for (int k = 0; k < n; k++) Line($"  item {k} '{items[t[k]]}': x {Describe(batchItems[k][0])}");
                return sb.ToString();
            }
            Line($"Collating {n} item(s): x {Describe(b.X)}, y {Describe(b.Y)}");

            step = "batch transforms";
            var bt = TrainBatchTransform;
            Line(bt == null ? "Batch transforms: none" : $"Batch transforms: x {Describe(b.X)} -> {Describe(bt.Apply(b.X, rng))}");
            int vbs = 2 * batchSize;
            Line($"DataLoaders: train {(t.Length + batchSize - 1) / batchSize} batch(es) of {batchSize} (shuffled), valid {(v.Length + vbs - 1) / vbs} batch(es) of {vbs}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Line($"FAILED while {step}: {e.GetType().Name}: {e.Message}");
        }
        return sb.ToString();
    }

    static string Describe(Tensor t) => $"{Shapes.Str(t._shape)} {t.DType.Name()}";
}
