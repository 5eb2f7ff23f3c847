using System.Buffers.Binary;
using System.IO.Compression;
using Kiln.Data;

namespace Kiln.Tests;

/// <summary>
/// The real Fashion-MNIST files, required by the tests that use them (never skipped): .ci/run installs them with
/// `apt-get install dataset-fashion-mnist` (to /usr/share/datasets/fashion-mnist); KILN_FASHION_MNIST overrides the folder.
/// </summary>
static class FashionMnist
{
    public static string Dir => Environment.GetEnvironmentVariable("KILN_FASHION_MNIST") is { Length: > 0 } d ? d : "/usr/share/datasets/fashion-mnist";

    public static string File(string name)
    {
        string p = Path.Combine(Dir, name);
        if (!System.IO.File.Exists(p))
            throw new FileNotFoundException(
                $"Fashion-MNIST file '{p}' is missing. These tests require the real data: install it with " +
                "`sudo apt-get install dataset-fashion-mnist` (Debian; .ci/run does this) or set KILN_FASHION_MNIST to a folder " +
                "holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz.", p);
        return p;
    }

    static readonly Lazy<(Tensor X, Tensor Y)> _train = new(() =>
        Idx.ReadPair(File("train-images-idx3-ubyte.gz"), File("train-labels-idx1-ubyte.gz")));

    static readonly Lazy<(Tensor X, Tensor Y)> _test = new(() =>
        Idx.ReadPair(File("t10k-images-idx3-ubyte.gz"), File("t10k-labels-idx1-ubyte.gz")));

    /// <summary>Training set: images [60000,28,28] in [0,1], labels [60000].</summary>
    public static (Tensor X, Tensor Y) Train => _train.Value;

    /// <summary>Test set: images [10000,28,28] in [0,1], labels [10000].</summary>
    public static (Tensor X, Tensor Y) Test => _test.Value;
}

public class IdxTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("kiln-idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string P(string name) => Path.Combine(_dir, name);

    static byte[] Pixels(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        b[0] = 0; b[^1] = 255;
        return b;
    }

    /// <summary>Builds an IDX file by hand (independent of Idx.Write): magic bytes, big-endian dims, payload.</summary>
    static byte[] Build(byte type, int[] dims, byte[] payload)
    {
        var h = new byte[4 + 4 * dims.Length];
        h[2] = type;
        h[3] = (byte)dims.Length;
        for (int d = 0; d < dims.Length; d++) BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + 4 * d), dims[d]);
        return [.. h, .. payload];
    }

    static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
        return ms.ToArray();
    }

    static InvalidDataException Bad(Action a, string path, params string[] fragments)
    {
        var e = Assert.Throws<InvalidDataException>(a);
        Assert.Contains(path, e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        return e;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ImagesAndLabels_RoundTrip(bool gzip)
    {
        var px = Pixels(3 * 28 * 28, 1);
        var lab = new byte[] { 9, 0, 7 };
        string xi = P(gzip ? "x.gz" : "x"), yi = P(gzip ? "y.gz" : "y");
        Idx.Write(xi, px, [3, 28, 28], gzip);
        Idx.Write(yi, lab, [3], gzip);
        // gzip files really are compressed (first bytes 1f 8b) and plain ones start with the magic
        var head = File.ReadAllBytes(xi)[..4];
        Assert.Equal(gzip ? new byte[] { 0x1f, 0x8b } : new byte[] { 0, 0, 8, 3 }, head[..(gzip ? 2 : 4)]);

        var (x, y) = Idx.ReadPair(xi, yi);
        Assert.Equal(new[] { 3, 28, 28 }, x.Shape);
        Assert.Equal(DType.Float32, x.DType);
        var xs = x.ToArray();
        for (int i = 0; i < px.Length; i++) Assert.Equal(px[i] / 255f, xs[i]);
        Assert.Equal(0f, xs[0]);
        Assert.Equal(1f, xs[^1]);
        Assert.Equal(DType.Int32, y.DType);
        Assert.Equal(new[] { 3 }, y.Shape);
        Assert.Equal(new[] { 9, 0, 7 }, y.ToIntArray());

        var raw = Idx.ReadImages(xi, scale: false).ToArray();
        for (int i = 0; i < px.Length; i++) Assert.Equal(px[i], raw[i]);
        var (bytes, shape) = Idx.ReadImageBytes(xi);
        Assert.Equal(px, bytes);
        Assert.Equal(new[] { 3, 28, 28 }, shape);
    }

    [Fact]
    public void HandBuiltFiles_ReadTheSame_GzipDetectedByContentNotName()
    {
        var px = Pixels(2 * 4 * 5, 2);
        File.WriteAllBytes(P("a.idx"), Build(0x08, [2, 4, 5], px));
        File.WriteAllBytes(P("b.idx"), Gzip(Build(0x08, [2, 4, 5], px)));   // gzip without a .gz name
        File.WriteAllBytes(P("c.gz"), Build(0x08, [2, 4, 5], px));           // plain with a .gz name
        foreach (var n in new[] { "a.idx", "b.idx", "c.gz" })
        {
            var x = Idx.ReadImages(P(n), scale: false);
            Assert.Equal(new[] { 2, 4, 5 }, x.Shape);
            Assert.Equal(px.Select(b => (float)b).ToArray(), x.ToArray());
        }
        var f = Idx.ReadRaw(P("b.idx"));
        Assert.Equal(0x0803, f.Magic);
        Assert.Equal(2, f.Count);
    }

    [Fact]
    public void EmptyFiles_ZeroItems_Read()
    {
        Idx.Write(P("x"), [], [0, 28, 28], gzip: true);
        Idx.Write(P("y"), [], [0], gzip: false);
        var (x, y) = Idx.ReadPair(P("x"), P("y"));
        Assert.Equal(new[] { 0, 28, 28 }, x.Shape);
        Assert.Equal(new[] { 0 }, y.Shape);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Truncated_Data_Errors(bool gzip)
    {
        var full = Build(0x08, [2, 28, 28], Pixels(2 * 784, 3));
        var cut = full[..(full.Length - 10)];
        File.WriteAllBytes(P("t"), gzip ? Gzip(cut) : cut);
        Bad(() => Idx.ReadImages(P("t")), P("t"), "truncated", "[2, 28, 28]", "1568", "1558");
    }

    [Fact]
    public void Truncated_Header_And_Magic_Error()
    {
        File.WriteAllBytes(P("h"), Build(0x08, [2, 28, 28], [])[..10]);
        Bad(() => Idx.ReadImages(P("h")), P("h"), "truncated header", "3 dimensions");
        File.WriteAllBytes(P("m"), [0, 0]);
        Bad(() => Idx.ReadLabels(P("m")), P("m"), "truncated", "magic");
        File.WriteAllBytes(P("e"), []);
        Bad(() => Idx.ReadLabels(P("e")), P("e"), "truncated");
    }

    [Fact]
    public void TruncatedGzipStream_Errors()
    {
        var gz = Gzip(Build(0x08, [100, 28, 28], Pixels(100 * 784, 4)));
        File.WriteAllBytes(P("z"), gz[..(gz.Length / 2)]);
        var e = Assert.ThrowsAny<InvalidDataException>(() => Idx.ReadImages(P("z")));
        Assert.Contains(P("z"), e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void CorruptGzip_Errors()
    {
        var gz = Gzip(Build(0x08, [10, 28, 28], Pixels(10 * 784, 5)));
        for (int i = 10; i < gz.Length - 8; i++) gz[i] ^= 0x5A;   // keep the gzip header, scramble the deflate data
        File.WriteAllBytes(P("c"), gz);
        var e = Assert.ThrowsAny<InvalidDataException>(() => Idx.ReadImages(P("c")));
        Assert.Contains(P("c"), e.Message);
    }

    [Fact]
    public void TrailingBytes_Error()
    {
        File.WriteAllBytes(P("p"), [.. Build(0x08, [3], [1, 2, 3]), 0, 0]);
        Bad(() => Idx.ReadLabels(P("p")), P("p"), "2 unexpected bytes");
    }

    [Fact]
    public void WrongMagic_Errors()
    {
        // not an IDX file at all
        File.WriteAllBytes(P("png"), [0x89, (byte)'P', (byte)'N', (byte)'G', 0, 0, 0, 0]);
        Bad(() => Idx.ReadImages(P("png")), P("png"), "wrong magic number 0x89504E47");
        // labels where images are expected, and the other way round
        Idx.Write(P("y"), [1, 2], [2], gzip: false);
        Idx.Write(P("x"), new byte[2 * 4], [2, 2, 2], gzip: false);
        Bad(() => Idx.ReadImages(P("y")), P("y"), "expected images", "0x00000803", "0x00000801");
        Bad(() => Idx.ReadLabels(P("x")), P("x"), "expected labels", "0x00000801", "0x00000803");
        // unknown element type code
        File.WriteAllBytes(P("u"), Build(0x07, [1], [0]));
        Bad(() => Idx.ReadLabels(P("u")), P("u"), "unknown element type code 0x07");
    }

    [Fact]
    public void UnexpectedDtype_Errors()
    {
        File.WriteAllBytes(P("f"), Build(0x0D, [2, 1, 1], new byte[8]));   // float32 images: valid IDX, wrong for images
        var raw = Idx.ReadRaw(P("f"));
        Assert.Equal(0x0D, raw.TypeCode);
        Assert.Equal(8, raw.Data.Length);
        Bad(() => Idx.ReadImages(P("f")), P("f"), "unsigned bytes", "0x0D", "float32");
        File.WriteAllBytes(P("i"), Build(0x0C, [2], new byte[8]));
        Bad(() => Idx.ReadLabels(P("i")), P("i"), "unsigned bytes", "0x0C", "int32");
    }

    [Fact]
    public void CountMismatch_Errors()
    {
        Idx.Write(P("x"), new byte[3 * 4], [3, 2, 2], gzip: true);
        Idx.Write(P("y"), [1, 2], [2], gzip: true);
        var e = Bad(() => Idx.ReadPair(P("x"), P("y")), P("x"), "count mismatch", "3 images", "2 labels");
        Assert.Contains(P("y"), e.Message);
    }

    [Fact]
    public void MissingFile_Errors()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Idx.ReadLabels(P("nope")));
        Assert.Contains(P("nope"), e.Message);
    }

    [Fact]
    public void ImpossibleDims_Error()
    {
        File.WriteAllBytes(P("big"), Build(0x08, [int.MaxValue, int.MaxValue, 28], [1, 2]));
        Bad(() => Idx.ReadImages(P("big")), P("big"), "more data than can be held");
        var b = Build(0x08, [1], [0]);
        b[4] = 0xFF;   // dimension 0xFF000001
        File.WriteAllBytes(P("neg"), b);
        Bad(() => Idx.ReadLabels(P("neg")), P("neg"), "impossible size");
    }

    [Fact]
    public void FashionMnist_RealFiles()
    {
        var (x, y) = FashionMnist.Train;
        Assert.Equal(new[] { 60000, 28, 28 }, x.Shape);
        Assert.Equal(new[] { 60000 }, y.Shape);
        var (tx, ty) = FashionMnist.Test;
        Assert.Equal(new[] { 10000, 28, 28 }, tx.Shape);
        Assert.Equal(new[] { 10000 }, ty.Shape);
        // Known facts of the dataset: 6,000 training and 1,000 test items per class; first training label is 9
        // (ankle boot), first test label 9; pixels span [0,1] with mean ~0.286 (the usual normalisation constant).
        var counts = new int[10];
        foreach (int l in y.ToIntArray()) counts[l]++;
        Assert.All(counts, c => Assert.Equal(6000, c));
        var tcounts = new int[10];
        foreach (int l in ty.ToIntArray()) tcounts[l]++;
        Assert.All(tcounts, c => Assert.Equal(1000, c));
        Assert.Equal(9, y.ToIntArray()[0]);
        Assert.Equal(9, ty.ToIntArray()[0]);
        var xs = x.ToArray();
        Assert.Equal(0f, xs.Min());
        Assert.Equal(1f, xs.Max());
        Assert.InRange(xs.Average(), 0.285, 0.287);
    }
}
