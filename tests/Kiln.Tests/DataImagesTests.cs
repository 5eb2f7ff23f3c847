using Kiln.Data;
using Kiln.Vision;

namespace Kiln.Tests;

public sealed class DataImagesTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("kiln-images-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An image whose pixels are multiples of 1/255 (so PNG round trips exactly).</summary>
    static Tensor Pattern(int c, int h, int w, int salt = 0) =>
        Tensor.FromArray(Enumerable.Range(0, c * h * w).Select(i => (i * 37 + salt * 11) % 256 / 255f).ToArray(), c, h, w);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void PngRoundTripsExactlyAndKeepsGreyOrColour(int channels)
    {
        var img = Pattern(channels, 7, 9);
        string p = Path.Combine(_dir, $"a{channels}.png");
        Images.Save(img, p);
        var back = Images.Load(p);
        Assert.Equal([channels, 7, 9], back.Shape);
        Assert.Equal(img.ToArray(), back.ToArray());
        Assert.Equal(img.ToArray(), Images.Decode(Images.Encode(img)).ToArray());
        using var bmp = Images.ToBitmap(img);
        Assert.Equal(img.ToArray(), Images.ToTensor(bmp).ToArray());
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp*"));
    }

    [Fact]
    public void ChannelConversionAndJpegAreClose()
    {
        var rgb = Tensor.Cat([Tensor.Full([1, 8, 8], 1f), Tensor.Full([1, 8, 8], 0.5f), Tensor.Zeros(1, 8, 8)]);
        var grey = Images.Decode(Images.Encode(rgb), channels: 1);
        Assert.Equal([1, 8, 8], grey.Shape);
        Assert.All(grey.ToArray(), v => Assert.Equal(0.299f + 0.587f * 128 / 255f, v, 3));
        var g3 = Images.Decode(Images.Encode(Pattern(1, 4, 4)), channels: 3);
        Assert.Equal(g3[0].ToArray(), g3[2].ToArray());

        var smooth = Tensor.FromArray(Enumerable.Range(0, 3 * 32 * 32).Select(i => (i % 32) / 31f).ToArray(), 3, 32, 32);
        string p = Path.Combine(_dir, "s.jpg");
        Images.Save(smooth, p, quality: 95);
        var j = Images.Load(p);
        Assert.Equal([3, 32, 32], j.Shape);
        Assert.True((j - smooth).Abs().Max().Item() < 0.1f);
        Assert.True((j - smooth).Abs().Mean().Item() < 0.02f);
    }

    [Fact]
    public void BadImagesGiveClearErrors()
    {
        var png = Images.Encode(Pattern(3, 16, 16));
        var e = Assert.Throws<InvalidDataException>(() => Images.Decode(png[..(png.Length / 2)], source: "half.png"));
        Assert.Contains("half.png", e.Message);
        Assert.Contains("not a PNG or JPEG", Assert.Throws<InvalidDataException>(() => Images.Decode("hello"u8.ToArray())).Message);
        Assert.Throws<ArgumentException>(() => Images.Encode(Tensor.Zeros(2, 4, 4)));
        Assert.Throws<ArgumentException>(() => Images.Save(Pattern(1, 2, 2), Path.Combine(_dir, "x.bmp")));
        Assert.Throws<FileNotFoundException>(() => Images.Load(Path.Combine(_dir, "missing.png")));
    }

    [Fact]
    public void ImageFolderLabelsImagesByTheirFolderAndLoadsInBatches()
    {
        foreach (var (cls, n) in new[] { ("cat", 3), ("dog", 2), ("ant", 4) })
            for (int i = 0; i < n; i++) Images.Save(Pattern(3, 6, 5, salt: i) * 0f + (cls[0] - 'a') / 255f, Path.Combine(_dir, cls, $"{i}.png"));
        File.WriteAllText(Path.Combine(_dir, "cat", "notes.txt"), "not an image");
        var ds = new ImageFolder(_dir);
        Assert.Equal(["ant", "cat", "dog"], ds.Classes);
        Assert.Equal(9, ds.Count);
        var all = new DataLoader(ds, 9).First();
        Assert.Equal([9, 3, 6, 5], all.X.Shape);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 2, 2], all.Y.ToIntArray());
        // Each image's value encodes its folder's first letter.
        var ys = all.Y.ToIntArray();
        for (int i = 0; i < 9; i++) Assert.Equal((ds.Classes[ys[i]][0] - 'a') / 255f, all.X[i, 0, 0, 0].Item(), 6);
        Assert.Equal(9, new DataLoader(ds, 4, shuffle: true, workers: 2, seed: 1).SelectMany(b => b.Y.ToIntArray()).Count());
        Assert.Throws<DirectoryNotFoundException>(() => new ImageFolder(Path.Combine(_dir, "nope")));
    }
}
