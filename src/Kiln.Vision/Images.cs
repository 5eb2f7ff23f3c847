using Kiln.Data;
using SkiaSharp;

namespace Kiln.Vision;

/// <summary>Encoded image file formats.</summary>
public enum ImageFormat
{
    /// <summary>Lossless PNG.</summary>
    Png,

    /// <summary>Lossy JPEG.</summary>
    Jpeg,
}

/// <summary>
/// Image files to and from tensors with SkiaSharp: images are float [C,H,W] in [0,1], C = 1 (grey) or 3 (RGB; alpha is
/// dropped). Decoding keeps a grey file grey and a colour file RGB unless a channel count is asked for.
/// </summary>
public static class Images
{
    /// <summary>File extensions (lower case, with the dot) that <see cref="Load"/> decodes.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".jpg", ".jpeg"];

    /// <summary>Decodes PNG or JPEG bytes to [C,H,W] in [0,1]; <paramref name="channels"/> 1 or 3 converts (luma 0.299R+0.587G+0.114B for grey), null keeps the file's.</summary>
    public static Tensor Decode(byte[] bytes, int? channels = null, string source = "image")
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (channels is not (null or 1 or 3)) throw new ArgumentException($"Images.Decode: channels must be 1, 3 or null, got {channels}");
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new InvalidDataException($"Images.Decode: {source}: not a PNG or JPEG image (or corrupt), {bytes.Length} bytes");
        var info = codec.Info;
        bool grey = info.ColorType == SKColorType.Gray8;
        int c = channels ?? (grey ? 1 : 3);
        int h = info.Height, w = info.Width;
        var decodeInfo = new SKImageInfo(w, h, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, grey ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        var pixels = new byte[decodeInfo.BytesSize];
        SKCodecResult r;
        unsafe
        {
            fixed (byte* p = pixels) r = codec.GetPixels(decodeInfo, (IntPtr)p);
        }
        if (r is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
            throw new InvalidDataException($"Images.Decode: {source}: decoding failed ({r})");
        if (r == SKCodecResult.IncompleteInput)
            throw new InvalidDataException($"Images.Decode: {source}: truncated image data ({bytes.Length} bytes for a {w}x{h} image)");
        int stride = decodeInfo.RowBytes;
        var o = new float[c * h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int k = y * w + x;
                if (grey)
                {
                    float v = pixels[y * stride + x] / 255f;
                    for (int ch = 0; ch < c; ch++) o[ch * h * w + k] = v;
                }
                else
                {
                    int q = y * stride + 4 * x;
                    float rr = pixels[q] / 255f, gg = pixels[q + 1] / 255f, bb = pixels[q + 2] / 255f;
                    if (c == 3) { o[k] = rr; o[h * w + k] = gg; o[2 * h * w + k] = bb; }
                    else o[k] = 0.299f * rr + 0.587f * gg + 0.114f * bb;
                }
            }
        return Tensor.FromArray(o, c, h, w);
    }

    /// <summary>A decoded Skia bitmap as [C,H,W] in [0,1] (fastai's ToTensor): 1 channel for Gray8/Alpha8 bitmaps, else RGB.</summary>
    public static Tensor ToTensor(SKBitmap bitmap, int? channels = null)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        using var img = SKImage.FromBitmap(bitmap);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new IOException($"Images.ToTensor: Skia could not read a {bitmap.Width}x{bitmap.Height} {bitmap.ColorType} bitmap");
        return Decode(data.ToArray(), channels ?? (bitmap.ColorType is SKColorType.Gray8 or SKColorType.Alpha8 ? 1 : 3), "bitmap");
    }

    /// <summary>Reads and decodes an image file to [C,H,W] in [0,1] (see <see cref="Decode"/>).</summary>
    public static Tensor Load(string path, int? channels = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Images.Load: file not found: '{path}'", path);
        return Decode(File.ReadAllBytes(path), channels, $"'{path}'");
    }

    /// <summary>Encodes an image [C,H,W] (C = 1 or 3) or [H,W] with values in [0,1] (clamped) as PNG or JPEG bytes.</summary>
    public static byte[] Encode(Tensor image, ImageFormat format = ImageFormat.Png, int quality = 95)
    {
        using var bmp = ToBitmap(image);
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(format == ImageFormat.Png ? SKEncodedImageFormat.Png : SKEncodedImageFormat.Jpeg, quality)
            ?? throw new IOException($"Images.Encode: Skia could not encode a {bmp.Width}x{bmp.Height} image as {format}");
        return data.ToArray();
    }

    /// <summary>Writes an image [C,H,W] to a file atomically; the format follows the extension (.png, .jpg/.jpeg).</summary>
    public static void Save(Tensor image, string path, int quality = 95)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        var format = ext switch
        {
            ".png" => ImageFormat.Png,
            ".jpg" or ".jpeg" => ImageFormat.Jpeg,
            _ => throw new ArgumentException($"Images.Save: '{path}': unknown image extension '{ext}' (use .png, .jpg or .jpeg)"),
        };
        var bytes = Encode(image, format, quality);
        string full = Path.GetFullPath(path);
        if (Path.GetDirectoryName(full) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
        string tmp = full + ".tmp" + Environment.ProcessId;
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, full, overwrite: true);
    }

    /// <summary>A Skia bitmap (Gray8 for one channel, opaque RGBA for three) of an image [C,H,W] or [H,W] in [0,1].</summary>
    public static SKBitmap ToBitmap(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var shape = image.Shape;
        if (shape.Length == 2) shape = [1, shape[0], shape[1]];
        if (shape.Length != 3 || shape[0] is not (1 or 3) || shape[1] < 1 || shape[2] < 1)
            throw new ArgumentException($"Images: expected an image [1,H,W], [3,H,W] or [H,W], got shape [{string.Join(",", image.Shape)}]");
        int c = shape[0], h = shape[1], w = shape[2];
        var v = image.Float().ToArray();
        var bmp = new SKBitmap(new SKImageInfo(w, h, c == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
        var px = bmp.GetPixelSpan();
        int stride = bmp.RowBytes;
        static byte B(float f) => (byte)Math.Clamp(MathF.Round(float.IsNaN(f) ? 0 : f * 255f), 0, 255);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int k = y * w + x;
                if (c == 1) px[y * stride + x] = B(v[k]);
                else
                {
                    int q = y * stride + 4 * x;
                    px[q] = B(v[k]); px[q + 1] = B(v[h * w + k]); px[q + 2] = B(v[2 * h * w + k]); px[q + 3] = 255;
                }
            }
        return bmp;
    }
}

/// <summary>
/// Images in folders named after their class (root/cat/1.png, root/dog/2.jpg): item i is [image [C,H,W], label (Int32
/// scalar)], classes sorted by name; files are decoded when an item is read (safe from loader workers).
/// </summary>
public sealed class ImageFolder : IDataset<Tensor[]>
{
    /// <summary>All images under <paramref name="root"/>'s sub-folders (one per class, searched recursively); <paramref name="classes"/> fixes the class list (e.g. the training set's).</summary>
    public ImageFolder(string root, int? channels = null, IReadOnlyList<string>? classes = null)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"ImageFolder: folder not found: '{root}'");
        Root = root;
        Channels = channels;
        var dirs = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        Classes = classes?.ToArray() ?? dirs;
        var files = new List<string>();
        var labels = new List<int>();
        foreach (var d in dirs)
        {
            int label = Array.IndexOf((string[])Classes, d);
            var imgs = Directory.EnumerateFiles(Path.Combine(root, d), "*", SearchOption.AllDirectories)
                .Where(f => Images.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToList();
            if (imgs.Count > 0 && label < 0)
                throw new InvalidDataException($"ImageFolder: '{Path.Combine(root, d)}' is not one of the given classes [{string.Join(", ", Classes)}]");
            files.AddRange(imgs);
            labels.AddRange(Enumerable.Repeat(label, imgs.Count));
        }
        if (files.Count == 0) throw new InvalidDataException($"ImageFolder: no .png/.jpg/.jpeg images in class folders under '{root}'");
        Files = files;
        Labels = labels;
    }

    /// <summary>The folder the classes are in.</summary>
    public string Root { get; }

    /// <summary>Channels images are decoded to (null: as stored).</summary>
    public int? Channels { get; }

    /// <summary>Class names (sub-folder names, sorted); a label is an index into this list.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>Image file of each item.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Label of each item.</summary>
    public IReadOnlyList<int> Labels { get; }

    /// <inheritdoc/>
    public int Count => Files.Count;

    /// <inheritdoc/>
    public Tensor[] this[int index] => [Images.Load(Files[index], Channels), Tensor.Scalar(Labels[index]).Int()];
}
