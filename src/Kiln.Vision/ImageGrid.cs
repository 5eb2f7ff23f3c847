using SkiaSharp;

namespace Kiln.Vision;

/// <summary>miniai's show_images as a PNG: a grid of images (rows = floor(sqrt(n)), cols = ceil(n / rows)) with optional titles.</summary>
public static class ImageGrid
{
    static SKTypeface? _typeface;

    static SKTypeface Typeface => _typeface ??= LoadTypeface();

    // The NoDependencies Skia build has no fontconfig: load a common TrueType font by path, else Skia's default.
    static SKTypeface LoadTypeface()
    {
        string[] candidates =
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "C:/Windows/Fonts/arial.ttf",
            "/System/Library/Fonts/Helvetica.ttc",
        ];
        foreach (var c in candidates)
            if (File.Exists(c) && SKTypeface.FromFile(c) is { } t) return t;
        return SKTypeface.Default;
    }

    /// <summary>
    /// Renders images [N, H, W], [N, 1, H, W] or [N, 3, H, W] into a grid, each scaled to cellSize pixels on its longer
    /// side (nearest neighbour). One-channel images are shown in grey, scaled per image from its min (black) to max
    /// (white) like matplotlib's imshow; three-channel ones are clamped to [0, 1].
    /// </summary>
    public static SKBitmap Render(Tensor images, IReadOnlyList<string>? titles = null, int cellSize = 96, int? nrows = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        var shape = images.Shape;
        if (shape.Length == 3) { images = images.Unsqueeze(1); shape = images.Shape; }
        if (shape.Length != 4 || (shape[1] != 1 && shape[1] != 3))
            throw new ArgumentException($"ImageGrid: expected images [N, H, W] or [N, C, H, W] with C = 1 or 3, got [{string.Join(", ", shape)}]");
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3];
        if (n == 0) throw new ArgumentException("ImageGrid: no images");
        if (titles != null && titles.Count != n) throw new ArgumentException($"ImageGrid: {titles.Count} titles for {n} images");
        int rows = nrows ?? Math.Max(1, (int)Math.Floor(Math.Sqrt(n)));
        int cols = (n + rows - 1) / rows;
        double scale = (double)cellSize / Math.Max(h, w);
        int cw = Math.Max(1, (int)Math.Round(w * scale)), ch = Math.Max(1, (int)Math.Round(h * scale));
        int pad = 6, titleH = titles != null ? Math.Max(14, cellSize / 7) + 4 : 0;
        int width = cols * (cw + pad) + pad, height = rows * (ch + titleH + pad) + pad;
        var data = images.Float().Contiguous().ToArray();
        var bmp = new SKBitmap(width, height);
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(SKColors.White);
        using var font = new SKFont(Typeface, titleH - 4);
        using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        for (int i = 0; i < n; i++)
        {
            int x0 = pad + i % cols * (cw + pad), y0 = pad + i / cols * (ch + titleH + pad);
            if (titles != null)
            {
                // Long titles first shrink (down to 70%), then lose their end to an ellipsis.
                float size = titleH - 4;
                font.Size = size;
                float wanted = font.MeasureText(titles[i]);
                if (wanted > cw) font.Size = Math.Max(size * 0.7f, size * cw / wanted);
                canvas.DrawText(Fit(titles[i], font, cw), x0 + cw / 2f, y0 + titleH - 6, SKTextAlign.Center, font, paint);
            }
            using var img = ToBitmap(data.AsSpan(i * c * h * w, c * h * w), c, h, w);
            using var image = SKImage.FromBitmap(img);
            canvas.DrawImage(image, new SKRect(x0, y0 + titleH, x0 + cw, y0 + titleH + ch), new SKSamplingOptions(SKFilterMode.Nearest));
        }
        return bmp;
    }

    static string Fit(string title, SKFont font, float width)
    {
        if (font.MeasureText(title) <= width) return title;
        while (title.Length > 1 && font.MeasureText(title + "…") > width) title = title[..^1];
        return title + "…";
    }

    static SKBitmap ToBitmap(ReadOnlySpan<float> px, int c, int h, int w)
    {
        var bmp = new SKBitmap(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque);
        if (c == 1)
        {
            float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
            foreach (var v in px) { if (v < lo) lo = v; if (v > hi) hi = v; }
            float range = hi > lo ? hi - lo : 1;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    byte g = (byte)Math.Round(Math.Clamp((px[y * w + x] - lo) / range, 0, 1) * 255);
                    bmp.SetPixel(x, y, new SKColor(g, g, g));
                }
        }
        else
        {
            int plane = h * w;
            static byte B(float v) => (byte)Math.Round(Math.Clamp(v, 0, 1) * 255);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int k = y * w + x;
                    bmp.SetPixel(x, y, new SKColor(B(px[k]), B(px[plane + k]), B(px[2 * plane + k])));
                }
        }
        return bmp;
    }

    /// <summary>Renders the grid (see <see cref="Render"/>) and writes it as a PNG to path atomically.</summary>
    public static void Save(Tensor images, string path, IReadOnlyList<string>? titles = null, int cellSize = 96, int? nrows = null)
    {
        using var bmp = Render(images, titles, cellSize, nrows);
        Png.Save(bmp, path);
    }

    /// <summary>
    /// Writes the first max images of a batch (lesson 18's show_batch), titled with their labels: classNames[y] when given,
    /// else the label number; a batch without targets gets no titles.
    /// </summary>
    public static void SaveBatch(Kiln.Data.Batch batch, string path, IReadOnlyList<string>? classNames = null, int max = 16, int cellSize = 96)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int n = Math.Min(max, batch.Size);
        var images = batch.X.Narrow(0, 0, n);
        string[]? titles = null;
        if (batch.Count > 1 && batch.Y.Dim == 1)
        {
            var labels = batch.Y.Narrow(0, 0, n).Int().ToIntArray();
            titles = [.. labels.Select(l => classNames != null && l >= 0 && l < classNames.Count ? classNames[l] : l.ToString(System.Globalization.CultureInfo.InvariantCulture))];
        }
        Save(images, path, titles, cellSize);
    }
}
