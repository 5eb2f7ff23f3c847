using Kiln.Data;
using Kiln.Vision;

namespace Kiln.Tests;

public sealed class DataBlockTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("kiln-block-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>MNIST-like PNG folders: {split}/{digit}/{k}.png, grey 12x12 images whose brightness encodes the digit.</summary>
    void MakeDigits(int perClassTrain = 5, int perClassValid = 2, int oddSizeAt = -1)
    {
        foreach (var (split, n) in new[] { ("train", perClassTrain), ("valid", perClassValid) })
            foreach (var digit in new[] { "3", "7" })
                for (int k = 0; k < n; k++)
                {
                    int w = k == oddSizeAt && split == "train" ? 10 : 12;
                    Images.Save(Tensor.Full([1, 12, w], (digit == "3" ? 60 : 200) / 255f), Path.Combine(_dir, split, digit, $"{digit}_{k}.png"));
                }
    }

    DataBlock Digits(Splitter? split = null, Labeller? label = null, ITransform? itemTfm = null) => new()
    {
        GetItems = DataBlock.Files(_dir, ".png"),
        GetX = p => Images.Load(p),
        Split = split ?? Splitters.ByFolder("train", "valid"),
        Label = label ?? Labellers.FromFolder(),
        ItemTransform = itemTfm,
    };

    [Fact]
    public void SplitByFolderLabelByFolderGivesLoadersOfImages()
    {
        MakeDigits();
        var block = Digits();
        var (train, valid, classes) = block.Datasets();
        Assert.Equal(["3", "7"], classes);
        Assert.Equal(10, train.Count);
        Assert.Equal(4, valid.Count);
        var dls = block.DataLoaders(batchSize: 4, seed: 1);
        var (x, y) = dls.Train.First();
        Assert.Equal([4, 1, 12, 12], x.Shape);
        var xs = x.ToArray();
        var ys = y.ToIntArray();
        for (int i = 0; i < 4; i++) Assert.Equal(ys[i] == 0 ? 60 / 255f : 200 / 255f, xs[i * 144], 6);
        Assert.Equal(8, dls.Valid.BatchSize);
        Assert.Equal([0, 0, 1, 1], dls.Valid.First().Y.ToIntArray());
    }

    [Fact]
    public void RandomSplitIsSeededAndRegexLabelsComeFromFileNames()
    {
        MakeDigits();
        var block = Digits(Splitters.Random(0.25, seed: 7), Labellers.FromRegex(@"^(\d)_\d+\.png$"));
        var (t1, v1, classes) = block.Datasets();
        Assert.Equal(["3", "7"], classes);
        Assert.Equal(14, t1.Count + v1.Count);
        Assert.Equal(4, v1.Count); // round(0.25 * 14) = 4 (3.5 rounds to even)
        var items = DataBlock.Files(_dir, ".png")();
        var (ta, va) = Splitters.Random(0.25, seed: 7).Split(items);
        var (tb, vb) = Splitters.Random(0.25, seed: 7).Split(items);
        var (_, vc) = Splitters.Random(0.25, seed: 8).Split(items);
        Assert.Equal(va, vb);
        Assert.Equal(ta, tb);
        Assert.NotEqual(va, vc);
        Assert.Empty(ta.Intersect(va));
        Assert.Empty(Splitters.None().Split(items).Valid);

        var bad = Digits(label: Labellers.FromRegex(@"^(\d)-(\d+)\.png$"));
        string report = bad.Summary();
        Assert.Contains("FAILED while labelling", report);
        Assert.Contains("does not match the file name", report);
    }

    [Fact]
    public void SummaryReportsEachStepAndExplainsWhyItemsOfDifferentSizesCannotBeCollated()
    {
        MakeDigits(oddSizeAt: 1);
        string report = Digits().Summary(batchSize: 4);
        Assert.Contains("Collecting items: 14 item(s)", report);
        Assert.Contains("Splitting by folder (train 'train', valid 'valid'): 10 training, 4 validation item(s)", report);
        Assert.Contains("2 class(es) [3, 7]", report);
        Assert.Contains("x [1,12,12] float32, y [] int32 = '3'", report);
        Assert.Contains("Collating 4 item(s): FAILED", report);
        Assert.Contains("item 0 has shape [1,12,12] but item 1 has shape [1,12,10]", report);
        Assert.Contains("different sizes cannot be collated", report);
        Assert.DoesNotContain("DataLoaders:", report);

        // With a resize item transform the same pipeline collates, and the loaders work.
        var fixedBlock = Digits(itemTfm: new Resize(8));
        string ok = fixedBlock.Summary(batchSize: 4);
        Assert.Contains("Item transforms: x [1,12,12] float32 -> [1,8,8] float32", ok);
        Assert.Contains("Collating 4 item(s): x [4,1,8,8] float32, y [4] int32", ok);
        Assert.Contains("DataLoaders: train 3 batch(es) of 4 (shuffled), valid 1 batch(es) of 8", ok);
        Assert.Equal(10, fixedBlock.DataLoaders(4, seed: 3, workers: 2).Train.Sum(b => b.Size));
    }

    [Fact]
    public void ImageToImageLabelsAndMissingFoldersAreReported()
    {
        MakeDigits(perClassTrain: 2, perClassValid: 1);
        var block = Digits(label: Labellers.ToTensor(p => 1f - Images.Load(p)));
        var (x, y) = block.DataLoaders(2, seed: 1).Train.First();
        Assert.Equal(x.Shape, y.Shape);
        Assert.Equal((1f - x).ToArray(), y.ToArray());

        var none = new DataBlock { GetItems = DataBlock.Files(Path.Combine(_dir, "nothing"), ".png"), GetX = p => Images.Load(p), Label = Labellers.FromFolder() };
        Assert.Contains("FAILED while collecting items", none.Summary());
        var wrongSplit = Digits(split: Splitters.ByFolder("training", "testing"));
        Assert.Contains("training set is empty", wrongSplit.Summary());
    }
}
