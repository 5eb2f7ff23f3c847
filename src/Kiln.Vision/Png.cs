using SkiaSharp;

namespace Kiln.Vision;

/// <summary>Small PNG helpers shared by the image and plot writers.</summary>
public static class Png
{
    /// <summary>Encodes <paramref name="bitmap"/> as PNG and writes it atomically (temporary file, then rename).</summary>
    public static void Save(SKBitmap bitmap, string path)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new IOException($"Png.Save: Skia could not encode a {bitmap.Width}x{bitmap.Height} image for '{path}'.");
        var tmp = full + ".tmp";
        using (var fs = File.Create(tmp)) data.SaveTo(fs);
        File.Move(tmp, full, overwrite: true);
    }
}
