using SkiaSharp;

namespace Kiln.Vision;

/// <summary>Pictures of a classification run: validation images with predicted and true labels, and the confusion matrix.</summary>
public static class RunPictures
{
    /// <summary>
    /// A grid of the first <paramref name="count"/> images [N, 1, H, W] (normalised with mean/std, undone for display), each
    /// titled "predicted (p%)" and, when wrong, "true: label" in red with a red frame. Written as PNG to path.
    /// </summary>
    public static void Predictions(Tensor images, Tensor preds, Tensor targets, IReadOnlyList<string> classes, float mean, float std,
        string path, int count = 36, int scale = 3)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Dim != 4 || images.Size(1) != 1)
            throw new ArgumentException($"RunPictures.Predictions: expects grey images [N, 1, H, W], got [{string.Join(", ", images.Shape)}]");
        int n = Math.Min(count, Math.Min(images.Size(0), preds.Size(0)));
        var probs = preds.Narrow(0, 0, n).Softmax(1);
        var best = probs.ArgMax(1).ToIntArray();
        var p = probs.ToArray();
        var t = targets.Narrow(0, 0, n).ToIntArray();
        int h = images.Size(2), w = images.Size(3), cols = (int)Math.Ceiling(Math.Sqrt(n)), rows = (n + cols - 1) / cols;
        int cell = Math.Max(w * scale, 110), title = 34, pad = 6;
        using var bmp = new SKBitmap(cols * (cell + pad) + pad, rows * (cell + title + pad) + pad);
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 12);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var red = new SKPaint { Color = new SKColor(200, 30, 30), IsAntialias = true };
        using var frame = new SKPaint { Color = new SKColor(200, 30, 30), Style = SKPaintStyle.Stroke, StrokeWidth = 3 };
        int nc = preds.Size(1);
        for (int i = 0; i < n; i++)
        {
            int x0 = pad + i % cols * (cell + pad), y0 = pad + i / cols * (cell + title + pad);
            using var img = Grey(images.Select(0, i).Select(0, 0), mean, std);
            var dest = SKRect.Create(x0 + (cell - w * scale) / 2f, y0 + title, w * scale, h * scale);
            using (var image = SKImage.FromBitmap(img))
                canvas.DrawImage(image, dest, new SKSamplingOptions(SKFilterMode.Nearest));
            bool wrong = best[i] != t[i];
            string label = best[i] < classes.Count ? classes[best[i]] : best[i].ToString();
            canvas.DrawText($"{label} ({p[i * nc + best[i]] * 100:0}%)", x0 + 2, y0 + 13, font, wrong ? red : ink);
            if (wrong)
            {
                canvas.DrawText($"true: {(t[i] < classes.Count ? classes[t[i]] : t[i].ToString())}", x0 + 2, y0 + 28, font, red);
                canvas.DrawRect(dest, frame);
            }
        }
        Png.Save(bmp, path);
    }

    /// <summary>The confusion matrix of argmax(preds) against targets as a heat map with counts, rows = true class, columns = predicted.</summary>
    public static int[,] Confusion(Tensor preds, Tensor targets, IReadOnlyList<string> classes, string path)
    {
        int k = preds.Size(1);
        var m = ConfusionMatrix(preds, targets);
        int cell = 46, left = 110, top = 40, bottom = 100;
        using var bmp = new SKBitmap(left + k * cell + 20, top + k * cell + bottom);
        using var canvas = new SKCanvas(bmp);
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 12);
        using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var white = new SKPaint { Color = SKColors.White, IsAntialias = true };
        int max = 1;
        foreach (var v in m) max = Math.Max(max, v);
        for (int r = 0; r < k; r++)
        {
            int rowTotal = 0;
            for (int c = 0; c < k; c++) rowTotal += m[r, c];
            for (int c = 0; c < k; c++)
            {
                float f = m[r, c] / (float)Math.Max(1, rowTotal);
                var color = new SKColor((byte)(255 - 225 * f), (byte)(255 - 170 * f), (byte)(255 - 60 * f));
                using var fill = new SKPaint { Color = color };
                var rect = SKRect.Create(left + c * cell, top + r * cell, cell - 1, cell - 1);
                canvas.DrawRect(rect, fill);
                string s = m[r, c].ToString();
                canvas.DrawText(s, rect.MidX - font.MeasureText(s) / 2, rect.MidY + 4, font, f > 0.5f ? white : ink);
            }
            canvas.DrawText(Name(classes, r), left - 6 - font.MeasureText(Name(classes, r)), top + r * cell + cell / 2f + 4, font, ink);
        }
        for (int c = 0; c < k; c++)
        {
            canvas.Save();
            canvas.Translate(left + c * cell + cell / 2f + 4, top + k * cell + 6);
            canvas.RotateDegrees(60);
            canvas.DrawText(Name(classes, c), 0, 0, font, ink);
            canvas.Restore();
        }
        canvas.DrawText("rows: true class; columns: predicted", left, 22, font, ink);
        Png.Save(bmp, path);
        return m;
    }

    /// <summary>Counts [true, predicted] of argmax(preds) [N, K] against int targets [N].</summary>
    public static int[,] ConfusionMatrix(Tensor preds, Tensor targets)
    {
        if (preds.Dim != 2 || targets.Dim != 1 || targets.Size(0) != preds.Size(0))
            throw new ArgumentException($"ConfusionMatrix: expects preds [N, K] and targets [N], got [{string.Join(", ", preds.Shape)}] and [{string.Join(", ", targets.Shape)}]");
        int k = preds.Size(1);
        var m = new int[k, k];
        var best = preds.ArgMax(1).ToIntArray();
        var t = targets.ToIntArray();
        for (int i = 0; i < t.Length; i++)
        {
            if ((uint)t[i] >= (uint)k) throw new ArgumentException($"ConfusionMatrix: target {t[i]} at row {i} is not a class index below {k}");
            m[t[i], best[i]]++;
        }
        return m;
    }

    static string Name(IReadOnlyList<string> classes, int i) => i < classes.Count ? classes[i] : i.ToString();

    // One normalised grey image [H, W] back to 0..255 pixels.
    static SKBitmap Grey(Tensor img, float mean, float std)
    {
        int h = img.Size(0), w = img.Size(1);
        var v = img.Contiguous().ToArray();
        var bmp = new SKBitmap(w, h, SKColorType.Gray8, SKAlphaType.Opaque);
        var px = new byte[w * h];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)Math.Clamp((v[i] * std + mean) * 255f + 0.5f, 0, 255);
        for (int r = 0; r < h; r++)
            System.Runtime.InteropServices.Marshal.Copy(px, r * w, bmp.GetPixels() + r * bmp.RowBytes, w);
        return bmp;
    }
}
