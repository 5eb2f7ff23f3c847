using System.Numerics.Tensors;

namespace Kiln.Data;

/// <summary>Image transform factories.</summary>
public static partial class Transforms
{
    /// <summary>Lesson 7's rand_pad(padding, size): zero-pad by <paramref name="padding"/> then crop <paramref name="size"/> x <paramref name="size"/> at a random place per item.</summary>
    public static RandomCrop RandPad(int padding, int size) => new(size, size, padding, perItem: true);
}

/// <summary>Geometry and buffers shared by the image transforms.</summary>
static class Img
{
    /// <summary>(items, channels, height, width) of a batch [N,C,H,W], an image [C,H,W] or a plane [H,W].</summary>
    public static (int N, int C, int H, int W) Geometry(Tensor x, string op)
    {
        if (x.DType != DType.Float32) throw new ArgumentException($"{op}: expected a float32 image tensor, got {x.DType.Name()}");
        var s = x._shape;
        return s.Length switch
        {
            4 => (s[0], s[1], s[2], s[3]),
            3 => (1, s[0], s[1], s[2]),
            2 => (1, 1, s[0], s[1]),
            _ => throw new ArgumentException($"{op}: expected images [N,C,H,W], [C,H,W] or [H,W], got shape {Shapes.Str(s)}"),
        };
    }

    /// <summary>A contiguous float copy of x (owned by the caller; its data starts at offset 0).</summary>
    public static Tensor Copy(Tensor x)
    {
        var r = Tensor.Unfilled(x._shape);
        Tensor.CopyStrided(x, r);
        return r;
    }

    /// <summary>The contiguous float data of x (a copy only if x is not contiguous).</summary>
    public static ReadOnlySpan<float> Data(Tensor x) => (x.IsContiguous ? x : Copy(x)).FloatSpan;

    /// <summary>x's shape with spatial size (h, w).</summary>
    public static int[] Shape(Tensor x, int h, int w)
    {
        var s = (int[])x._shape.Clone();
        s[^2] = h;
        s[^1] = w;
        return s;
    }

    /// <summary>A new zeroed tensor shaped like x but with spatial size (h, w).</summary>
    public static Tensor Like(Tensor x, int h, int w) => Tensor.Empty(Shape(x, h, w));
}

/// <summary>
/// (x - mean[c]) / std[c] per channel: one statistic for every element, or one per channel (dim 1 of [N,C,...], dim 0 of
/// [C,H,W]). Lesson 18 normalises Fashion-MNIST with mean 0.28, std 0.35; <see cref="FromData"/> computes them.
/// </summary>
public sealed class Normalize : ITransform
{
    /// <summary>Normalisation by the given per-channel (or single) means and standard deviations.</summary>
    public Normalize(float[] mean, float[] std)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Length == 0 || mean.Length != std.Length)
            throw new ArgumentException($"Normalize: need as many means as standard deviations (at least one), got {mean.Length} and {std.Length}");
        foreach (var s in std)
            if (!(s > 0) || !float.IsFinite(s)) throw new ArgumentException($"Normalize: standard deviations must be positive and finite, got [{string.Join(", ", std)}]");
        Mean = (float[])mean.Clone();
        Std = (float[])std.Clone();
    }

    /// <summary>Normalisation by one mean and standard deviation for every element.</summary>
    public Normalize(float mean, float std) : this([mean], [std]) { }

    /// <summary>Per-channel means.</summary>
    public float[] Mean { get; }

    /// <summary>Per-channel standard deviations.</summary>
    public float[] Std { get; }

    /// <summary>Statistics of training data: per channel (dim 1) for a 4-d batch when <paramref name="perChannel"/>, else over all elements (unbiased std, as torch.std).</summary>
    public static Normalize FromData(Tensor x, bool perChannel = true)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.DType != DType.Float32) throw new ArgumentException($"Normalize.FromData: expected float32 data, got {x.DType.Name()}");
        var data = Img.Data(x);
        int channels = perChannel && x.Dim == 4 ? x.Size(1) : 1;
        int inner = channels == 1 ? data.Length : x.Size(2) * x.Size(3);
        var sum = new double[channels];
        var sq = new double[channels];
        var count = new long[channels];
        for (int start = 0, k = 0; start < data.Length; start += inner, k++)
        {
            int c = k % channels;
            var seg = data.Slice(start, inner);
            double s = 0, q = 0;
            foreach (float v in seg) { s += v; q += (double)v * v; }
            sum[c] += s;
            sq[c] += q;
            count[c] += inner;
        }
        var mean = new float[channels];
        var std = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            if (count[c] < 2) throw new ArgumentException($"Normalize.FromData: need at least 2 values per channel, got {count[c]} for shape {Shapes.Str(x._shape)}");
            double m = sum[c] / count[c];
            double v = (sq[c] - count[c] * m * m) / (count[c] - 1);
            mean[c] = (float)m;
            std[c] = (float)Math.Sqrt(Math.Max(v, 0));
        }
        return new Normalize(mean, std);
    }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng) => Map(x, inverse: false);

    /// <summary>Undoes the normalisation (x * std + mean), e.g. to show normalised images.</summary>
    public Tensor Decode(Tensor x) => Map(x, inverse: true);

    Tensor Map(Tensor x, bool inverse)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.DType != DType.Float32) throw new ArgumentException($"Normalize: expected float32 input, got {x.DType.Name()}");
        int k = Mean.Length;
        int cdim = k == 1 ? -1 : x.Dim == 4 || x.Dim == 2 ? 1 : x.Dim == 3 ? 0 : -2;
        if (cdim == -2 || (k > 1 && x.Size(cdim) != k))
            throw new ArgumentException($"Normalize: {k} channel statistics do not fit input of shape {Shapes.Str(x._shape)} (channels are dim 1 of [N,C,H,W] or dim 0 of [C,H,W])");
        var src = Img.Data(x);
        var r = Tensor.Unfilled(x._shape);
        var dst = r.FloatSpan;
        int inner = 1;
        if (k > 1) for (int d = cdim + 1; d < x.Dim; d++) inner *= x._shape[d];
        else inner = src.Length;
        if (inner == 0) return r;
        for (int start = 0, blk = 0; start < src.Length; start += inner, blk++)
        {
            int c = blk % k;
            // (x - m) / s as one fused multiply-add: x * (1/s) + (-m/s); the inverse is x * s + m.
            float scale = inverse ? Std[c] : 1f / Std[c];
            float shift = inverse ? Mean[c] : -Mean[c] / Std[c];
            var o = dst.Slice(start, inner);
            TensorPrimitives.Multiply(src.Slice(start, inner), scale, o);
            TensorPrimitives.Add(o, shift, o);
        }
        return r;
    }
}

/// <summary>
/// Zero-pads by <see cref="Padding"/> on every side, then crops Height x Width at a random place: the same place for the
/// whole batch (lesson 18's batch transform) or a different one per item (<c>perItem</c>; lesson 7's rand_pad).
/// </summary>
public sealed class RandomCrop : ITransform
{
    /// <summary>Random crops of <paramref name="height"/> x <paramref name="width"/> after zero padding of <paramref name="padding"/>.</summary>
    public RandomCrop(int height, int width, int padding, bool perItem)
    {
        if (height < 1 || width < 1) throw new ArgumentException($"RandomCrop: size must be positive, got {height}x{width}");
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        Height = height; Width = width; Padding = padding; PerItem = perItem;
    }

    /// <summary>Square random crops of <paramref name="size"/> after zero padding of <paramref name="padding"/>.</summary>
    public RandomCrop(int size, int padding = 0, bool perItem = false) : this(size, size, padding, perItem) { }

    /// <summary>Output height.</summary>
    public int Height { get; }

    /// <summary>Output width.</summary>
    public int Width { get; }

    /// <summary>Zeros added on each side before cropping.</summary>
    public int Padding { get; }

    /// <summary>Whether each item gets its own crop position (otherwise one position for the batch).</summary>
    public bool PerItem { get; }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng)
    {
        var (n, c, h, w) = Img.Geometry(x, "RandomCrop");
        int ph = h + 2 * Padding, pw = w + 2 * Padding;
        if (Height > ph || Width > pw)
            throw new ArgumentException($"RandomCrop: cannot crop {Height}x{Width} from {h}x{w} padded by {Padding} ({ph}x{pw})");
        var src = Img.Data(x);
        var r = Img.Like(x, Height, Width);
        var dst = r.FloatSpan;
        int dy = 0, dx = 0;
        for (int i = 0; i < n; i++)
        {
            if (PerItem || i == 0)
            {
                dy = rng.NextInt(0, ph - Height + 1) - Padding;
                dx = rng.NextInt(0, pw - Width + 1) - Padding;
            }
            CropItem(src.Slice(i * c * h * w, c * h * w), dst.Slice(i * c * Height * Width, c * Height * Width), c, h, w, Height, Width, dy, dx);
        }
        return r;
    }

    /// <summary>dst[y, x] = src[y + dy, x + dx] where inside src, else left at zero; for every channel.</summary>
    internal static void CropItem(ReadOnlySpan<float> src, Span<float> dst, int c, int h, int w, int oh, int ow, int dy, int dx)
    {
        int x0 = Math.Max(0, -dx), x1 = Math.Min(ow, w - dx);
        if (x1 <= x0) return;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < oh; y++)
            {
                int sy = y + dy;
                if ((uint)sy >= (uint)h) continue;
                src.Slice(ch * h * w + sy * w + x0 + dx, x1 - x0).CopyTo(dst.Slice(ch * oh * ow + y * ow + x0, x1 - x0));
            }
    }
}

/// <summary>Mirrors images left-right with probability P: the whole batch together, or each item on its own (<c>perItem</c>).</summary>
public sealed class RandomHorizontalFlip : ITransform
{
    /// <summary>Flips with probability <paramref name="p"/>.</summary>
    public RandomHorizontalFlip(double p = 0.5, bool perItem = false)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), $"RandomHorizontalFlip: probability must be in [0,1], got {p}");
        P = p; PerItem = perItem;
    }

    /// <summary>Flip probability.</summary>
    public double P { get; }

    /// <summary>Whether each item is flipped independently (otherwise all or none).</summary>
    public bool PerItem { get; }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng)
    {
        var (n, c, h, w) = Img.Geometry(x, "RandomHorizontalFlip");
        var flip = new bool[n];
        bool all = false;
        for (int i = 0; i < n; i++)
        {
            if (PerItem || i == 0) all = rng.NextDouble() < P;
            flip[i] = all;
        }
        return HorizontalFlip.Flip(x, flip, c, h, w);
    }
}

/// <summary>Deterministic left-right mirror of every image (for test-time augmentation).</summary>
public sealed class HorizontalFlip : ITransform
{
    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng)
    {
        var (n, c, h, w) = Img.Geometry(x, "HorizontalFlip");
        var flip = new bool[n];
        Array.Fill(flip, true);
        return Flip(x, flip, c, h, w);
    }

    /// <summary>Mirrors the flagged items' rows; copies the rest unchanged.</summary>
    internal static Tensor Flip(Tensor x, bool[] flip, int c, int h, int w)
    {
        var src = Img.Data(x);
        var r = Tensor.Unfilled(x._shape);
        var d = r.FloatSpan;
        int item = c * h * w;
        for (int i = 0; i < flip.Length; i++)
        {
            var s = src.Slice(i * item, item);
            var o = d.Slice(i * item, item);
            if (!flip[i]) { s.CopyTo(o); continue; }
            for (int row = 0; row < c * h; row++)
            {
                var sr = s.Slice(row * w, w);
                var orow = o.Slice(row * w, w);
                for (int k = 0; k < w; k++) orow[k] = sr[w - 1 - k];
            }
        }
        return r;
    }
}

/// <summary>Bilinear resize of every image to Height x Width (half-pixel centres, like PyTorch's align_corners=False, no antialiasing).</summary>
public sealed class Resize : ITransform
{
    /// <summary>Resizes to <paramref name="height"/> x <paramref name="width"/>.</summary>
    public Resize(int height, int width)
    {
        if (height < 1 || width < 1) throw new ArgumentException($"Resize: size must be positive, got {height}x{width}");
        Height = height; Width = width;
    }

    /// <summary>Resizes to a square of <paramref name="size"/>.</summary>
    public Resize(int size) : this(size, size) { }

    /// <summary>Output height.</summary>
    public int Height { get; }

    /// <summary>Output width.</summary>
    public int Width { get; }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng)
    {
        var (n, c, h, w) = Img.Geometry(x, "Resize");
        if (h == 0 || w == 0) throw new ArgumentException($"Resize: cannot resize an empty image of shape {Shapes.Str(x._shape)}");
        var src = Img.Data(x);
        var r = Tensor.Unfilled(Img.Shape(x, Height, Width));
        var dst = r.FloatSpan;
        for (int i = 0; i < n * c; i++)
            Bilinear(src.Slice(i * h * w, h * w), w, 0, 0, h, w, dst.Slice(i * Height * Width, Height * Width), Height, Width);
        return r;
    }

    /// <summary>Resamples the region [top, top+ch) x [left, left+cw) of a plane of width <paramref name="srcW"/> to oh x ow.</summary>
    internal static void Bilinear(ReadOnlySpan<float> src, int srcW, int top, int left, int ch, int cw, Span<float> dst, int oh, int ow)
    {
        Span<int> xa = ow <= 512 ? stackalloc int[ow] : new int[ow];
        Span<int> xb = ow <= 512 ? stackalloc int[ow] : new int[ow];
        Span<float> xw = ow <= 512 ? stackalloc float[ow] : new float[ow];
        for (int x = 0; x < ow; x++)
        {
            float sx = Math.Clamp((x + 0.5f) * cw / ow - 0.5f, 0, cw - 1);
            int x0 = (int)sx;
            xa[x] = left + x0;
            xb[x] = left + Math.Min(x0 + 1, cw - 1);
            xw[x] = sx - x0;
        }
        for (int y = 0; y < oh; y++)
        {
            float sy = Math.Clamp((y + 0.5f) * ch / oh - 0.5f, 0, ch - 1);
            int y0 = (int)sy;
            int y1 = Math.Min(y0 + 1, ch - 1);
            float wy = sy - y0;
            var r0 = src.Slice((top + y0) * srcW, srcW);
            var r1 = src.Slice((top + y1) * srcW, srcW);
            var o = dst.Slice(y * ow, ow);
            for (int x = 0; x < ow; x++)
            {
                float a = r0[xa[x]] + (r0[xb[x]] - r0[xa[x]]) * xw[x];
                float b = r1[xa[x]] + (r1[xb[x]] - r1[xa[x]]) * xw[x];
                o[x] = a + (b - a) * wy;
            }
        }
    }
}

/// <summary>
/// torchvision's RandomResizedCrop: a crop of random area (Scale of the image) and aspect ratio (Ratio), resized
/// bilinearly to Height x Width; one crop for the batch, or one per item (<c>perItem</c>).
/// </summary>
public sealed class RandomResizedCrop : ITransform
{
    /// <summary>Random resized crops to <paramref name="height"/> x <paramref name="width"/>, area fraction in [minScale, maxScale], aspect ratio in [minRatio, maxRatio].</summary>
    public RandomResizedCrop(int height, int width, double minScale = 0.08, double maxScale = 1.0, double minRatio = 3.0 / 4, double maxRatio = 4.0 / 3, bool perItem = false)
    {
        if (height < 1 || width < 1) throw new ArgumentException($"RandomResizedCrop: size must be positive, got {height}x{width}");
        if (!(minScale > 0 && minScale <= maxScale && maxScale <= 1)) throw new ArgumentException($"RandomResizedCrop: need 0 < minScale <= maxScale <= 1, got {minScale}, {maxScale}");
        if (!(minRatio > 0 && minRatio <= maxRatio)) throw new ArgumentException($"RandomResizedCrop: need 0 < minRatio <= maxRatio, got {minRatio}, {maxRatio}");
        Height = height; Width = width; MinScale = minScale; MaxScale = maxScale; MinRatio = minRatio; MaxRatio = maxRatio; PerItem = perItem;
    }

    /// <summary>Square output of <paramref name="size"/> with the given minimum area fraction.</summary>
    public RandomResizedCrop(int size, double minScale = 0.08, bool perItem = false) : this(size, size, minScale, perItem: perItem) { }

    /// <summary>Output height.</summary>
    public int Height { get; }

    /// <summary>Output width.</summary>
    public int Width { get; }

    /// <summary>Smallest crop area as a fraction of the image.</summary>
    public double MinScale { get; }

    /// <summary>Largest crop area as a fraction of the image.</summary>
    public double MaxScale { get; }

    /// <summary>Smallest aspect ratio (width / height).</summary>
    public double MinRatio { get; }

    /// <summary>Largest aspect ratio (width / height).</summary>
    public double MaxRatio { get; }

    /// <summary>Whether each item gets its own crop.</summary>
    public bool PerItem { get; }

    /// <summary>The crop (top, left, height, width) torchvision's algorithm picks for an h x w image: 10 tries, then a central crop.</summary>
    public (int Top, int Left, int Height, int Width) Sample(int h, int w, Generator rng)
    {
        double area = (double)h * w;
        double logLo = Math.Log(MinRatio), logHi = Math.Log(MaxRatio);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double target = area * (MinScale + (MaxScale - MinScale) * rng.NextDouble());
            double aspect = Math.Exp(logLo + (logHi - logLo) * rng.NextDouble());
            int cw = (int)Math.Round(Math.Sqrt(target * aspect));
            int ch = (int)Math.Round(Math.Sqrt(target / aspect));
            if (cw > 0 && cw <= w && ch > 0 && ch <= h)
                return (rng.NextInt(0, h - ch + 1), rng.NextInt(0, w - cw + 1), ch, cw);
        }
        double inRatio = (double)w / h;
        int fh = h, fw = w;
        if (inRatio < MinRatio) fh = (int)Math.Round(w / MinRatio);
        else if (inRatio > MaxRatio) fw = (int)Math.Round(h * MaxRatio);
        return ((h - fh) / 2, (w - fw) / 2, fh, fw);
    }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng)
    {
        var (n, c, h, w) = Img.Geometry(x, "RandomResizedCrop");
        var src = Img.Data(x);
        var r = Tensor.Unfilled(Img.Shape(x, Height, Width));
        var dst = r.FloatSpan;
        (int Top, int Left, int Height, int Width) crop = default;
        for (int i = 0; i < n; i++)
        {
            if (PerItem || i == 0) crop = Sample(h, w, rng);
            for (int ch = 0; ch < c; ch++)
            {
                int p = i * c + ch;
                Resize.Bilinear(src.Slice(p * h * w, h * w), w, crop.Top, crop.Left, crop.Height, crop.Width,
                    dst.Slice(p * Height * Width, Height * Width), Height, Width);
            }
        }
        return r;
    }
}

/// <summary>
/// Lesson 18's RandErase(pct, max_num) on a batch: mean, std, min and max of the whole batch are taken before erasing;
/// num = uniform integer in 0..MaxNum (inclusive); each block is int(pct*H) x int(pct*W) at
/// (int(U*(1-pct)*H), int(U*(1-pct)*W)), the same place in every item and channel, filled with Normal(mean, std) noise;
/// the batch is then clamped to its original [min, max].
/// </summary>
public sealed class RandErase : ITransform
{
    /// <summary>Erases up to <paramref name="maxNum"/> blocks of side <paramref name="pct"/> of the image.</summary>
    public RandErase(double pct = 0.2, int maxNum = 4)
    {
        if (!(pct > 0 && pct < 1)) throw new ArgumentOutOfRangeException(nameof(pct), $"RandErase: pct must be in (0,1), got {pct}");
        ArgumentOutOfRangeException.ThrowIfNegative(maxNum);
        Pct = pct; MaxNum = maxNum;
    }

    /// <summary>Block side as a fraction of the image side.</summary>
    public double Pct { get; }

    /// <summary>Largest number of blocks.</summary>
    public int MaxNum { get; }

    /// <summary>The blocks (top, left, height, width) that <see cref="Apply"/> erases for an h x w batch with a generator in this state.</summary>
    public (int Top, int Left, int Height, int Width)[] Blocks(int h, int w, Generator rng)
    {
        rng.NextUInt64(); // the noise seed Apply draws first
        return Plan(h, w, rng);
    }

    (int, int, int, int)[] Plan(int h, int w, Generator rng)
    {
        int num = rng.NextInt(0, MaxNum + 1);
        int szx = (int)(Pct * h), szy = (int)(Pct * w);
        var r = new (int, int, int, int)[num];
        for (int i = 0; i < num; i++)
        {
            int stx = (int)(rng.NextDouble() * (1 - Pct) * h);
            int sty = (int)(rng.NextDouble() * (1 - Pct) * w);
            r[i] = (stx, sty, szx, szy);
        }
        return r;
    }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng)
    {
        var (n, c, h, w) = Img.Geometry(x, "RandErase");
        var r = Img.Copy(x);
        var d = r.FloatSpan;
        // The noise has its own stream (the notebook fills with torch's generator and places blocks with Python's random).
        var noise = new Generator((long)rng.NextUInt64());
        var blocks = Plan(h, w, rng);
        if (blocks.Length == 0 || d.Length == 0) return r;
        // Vectorised per plane, accumulated in double across planes (a float running sum over a whole batch drifts).
        double sum = 0, sq = 0;
        float mn = float.PositiveInfinity, mx = float.NegativeInfinity;
        int plane = h * w;
        for (int p = 0; p < n * c; p++)
        {
            var s = d.Slice(p * plane, plane);
            if (s.IsEmpty) continue;
            sum += TensorPrimitives.Sum<float>(s);
            sq += TensorPrimitives.SumOfSquares<float>(s);
            mn = Math.Min(mn, TensorPrimitives.Min<float>(s));
            mx = Math.Max(mx, TensorPrimitives.Max<float>(s));
        }
        double mean = sum / d.Length;
        double std = d.Length > 1 ? Math.Sqrt(Math.Max(0, (sq - d.Length * mean * mean) / (d.Length - 1))) : 0;
        foreach (var (top, left, bh, bw) in blocks)
            for (int p = 0; p < n * c; p++)
                for (int y = top; y < top + bh; y++)
                {
                    var row = d.Slice(p * h * w + y * w + left, bw);
                    for (int k = 0; k < row.Length; k++)
                        row[k] = Math.Clamp((float)(mean + std * noise.NextNormal()), mn, mx);
                }
        return r;
    }
}

/// <summary>
/// Lesson 18's RandCopy(pct, max_num) on a batch: num = uniform integer in 0..MaxNum; each time an int(pct*H) x int(pct*W)
/// patch at a random source place is copied (through a buffer, so overlaps are safe) to a random destination, the same
/// places in every item and channel.
/// </summary>
public sealed class RandCopy : ITransform
{
    /// <summary>Copies up to <paramref name="maxNum"/> patches of side <paramref name="pct"/> of the image.</summary>
    public RandCopy(double pct = 0.2, int maxNum = 4)
    {
        if (!(pct > 0 && pct < 1)) throw new ArgumentOutOfRangeException(nameof(pct), $"RandCopy: pct must be in (0,1), got {pct}");
        ArgumentOutOfRangeException.ThrowIfNegative(maxNum);
        Pct = pct; MaxNum = maxNum;
    }

    /// <summary>Patch side as a fraction of the image side.</summary>
    public double Pct { get; }

    /// <summary>Largest number of copies.</summary>
    public int MaxNum { get; }

    /// <summary>The copies (destination top/left, source top/left, height, width) <see cref="Apply"/> makes for an h x w batch with a generator in this state.</summary>
    public (int DstTop, int DstLeft, int SrcTop, int SrcLeft, int Height, int Width)[] Copies(int h, int w, Generator rng)
    {
        int num = rng.NextInt(0, MaxNum + 1);
        int szx = (int)(Pct * h), szy = (int)(Pct * w);
        var r = new (int, int, int, int, int, int)[num];
        for (int i = 0; i < num; i++)
        {
            int stx1 = (int)(rng.NextDouble() * (1 - Pct) * h);
            int sty1 = (int)(rng.NextDouble() * (1 - Pct) * w);
            int stx2 = (int)(rng.NextDouble() * (1 - Pct) * h);
            int sty2 = (int)(rng.NextDouble() * (1 - Pct) * w);
            r[i] = (stx1, sty1, stx2, sty2, szx, szy);
        }
        return r;
    }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng)
    {
        var (n, c, h, w) = Img.Geometry(x, "RandCopy");
        var r = Img.Copy(x);
        var d = r.FloatSpan;
        var copies = Copies(h, w, rng);
        foreach (var (dt, dl, st, sl, bh, bw) in copies)
        {
            if (bh == 0 || bw == 0) continue;
            var buf = new float[bh * bw];
            for (int p = 0; p < n * c; p++)
            {
                var plane = d.Slice(p * h * w, h * w);
                for (int y = 0; y < bh; y++) plane.Slice((st + y) * w + sl, bw).CopyTo(buf.AsSpan(y * bw, bw));
                for (int y = 0; y < bh; y++) buf.AsSpan(y * bw, bw).CopyTo(plane.Slice((dt + y) * w + dl, bw));
            }
        }
        return r;
    }
}
