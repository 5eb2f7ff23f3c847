using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Kernels;

/// <summary>
/// Convolution of small images with many channels (model4's 7x7 and 4x4 layers, lesson 15's layers (c) and (e)), with the
/// batch as the vector dimension. A chunk of images is transposed to [position][channel][image], so one input position's
/// values for 32 images are two contiguous vectors, and every output position becomes a small matrix product over only
/// the kernel taps that land inside the image. im2col multiplies the padding's zeros as well: a 3x3 kernel with padding 1
/// touches the padding on 31 % of its taps for a 4x4 output and on 18 % for a 7x7 one. One register-blocked kernel
/// (<see cref="Tile12"/>: 2 vectors x 12 broadcast columns, 24 accumulators) computes all three products:
/// <list type="bullet">
/// <item>forward: Y[p][co][n] = Σ over taps t whose input position q is inside the image Σ_ci X[q][ci][n] · W[t][ci][co];</item>
/// <item>input gradient: dX[q][ci][n] = Σ over the (t, p) that read q Σ_co dY[p][co][n] · W[t][co][ci];</item>
/// <item>weight gradient: dW[t][ci][co] = Σ over p whose tap t is inside the image Σ_n dY[n][p][co] · X[n][q][ci] (vectors
/// along the output channels, images as the summed dimension).</item>
/// </list>
/// Weights are packed in blocks of 12 (then 4) columns, so a block's B values are read in order. Chunks are a function of the
/// shape and the batch size alone and each output element is summed in one fixed order, so results do not depend on the
/// thread count.
/// </summary>
internal static unsafe class ConvBatched
{
    /// <summary>
    /// The kernel width: Vector512 (tiles of 32 images by 12 columns, then 4) or, with AVX2, Vector256 (16 images by 6
    /// columns, then 2; 12 accumulators of the 16 registers).
    /// </summary>
    internal readonly struct Width(bool narrow)
    {
        public readonly bool Narrow = narrow;

        /// <summary>Images (or, in the weight gradient, output channels) per tile: two vectors.</summary>
        public int Lanes => Narrow ? 16 : 32;

        /// <summary>Columns of the main tile and of the tail tile.</summary>
        public int Cols => Narrow ? 6 : 12;
        public int TailCols => Narrow ? 2 : 4;

        /// <summary>Width of the column block starting at j0 of j columns: the main tile's while it fits, then the tail's.</summary>
        public int BlockWidth(int j, int j0) => j - j0 >= Cols ? Cols : TailCols;

        /// <summary>How many column blocks j columns make (j a multiple of <see cref="TailCols"/>).</summary>
        public int Blocks(int j) => j / Cols + j % Cols / TailCols;

        /// <summary>The first column of block b of j columns (the same blocks as <see cref="BlockWidth"/> walks).</summary>
        public int BlockStart(int j, int b) => b <= j / Cols ? b * Cols : j / Cols * Cols + (b - j / Cols) * TailCols;

        /// <summary>n rounded up to whole tiles.</summary>
        public int RoundUp(int n) => (n + Lanes - 1) / Lanes * Lanes;
    }

    /// <summary>The width this machine runs: Vector512 when accelerated, else Vector256 with FMA (benchmarks may force Vector256).</summary>
    internal static Width Native = new(!Vector512.IsHardwareAccelerated);

    /// <summary>Whether this machine can run the path: Vector512, or Vector256 with FMA (declared first: Enabled starts from it).</summary>
    internal static readonly bool Supported = Vector512.IsHardwareAccelerated || (Vector256.IsHardwareAccelerated && Fma.IsSupported);

    /// <summary>Switch for benchmarks (the path needs Vector512, or Vector256 with FMA).</summary>
    internal static bool Enabled = Supported;

    /// <summary>
    /// Most output positions (and input positions) per image for which the path is taken: 14x14 outputs of 28x28 inputs
    /// since 2026-12-03, when the stride-2 layers on 28x28 were measured (`convkern --threads 2`, Zen 4, direct-equivalent
    /// GFLOPS fwd / dX / dW, two rounds): model4's 1b (32->32) 81-91 / 85-89 / 77-83 on the im2col path against 109-114 /
    /// 103-109 / 115-119 here; issue 4's (b) (16->32) fwd+bwd 15.9-16.1 ms against 13.0-14.4 ms.
    /// </summary>
    internal static int MaxPositions = 256, MaxInputPositions = 1024;

    /// <summary>
    /// Fewest input and output channels. 8 since lesson 18's baseline CNN was measured (`convkern --threads 2`, Zen 4, 2026-12-03,
    /// direct-equivalent GFLOPS fwd / dX / dW): 16->32 k3 s2 on 7x7 62 / 74 / 91 on the im2col path against 222 / 226 / 197
    /// here; 8->16 k3 s2 on 14x14 fwd / dX 58 / 42 against 145 / 155 (its weight gradient, 16 output channels, stays on
    /// im2col: <see cref="WeightGradApplies"/>).
    /// </summary>
    internal static int MinChannels = 8;

    /// <summary>Images per chunk of the forward and input gradient (a multiple of 32).</summary>
    internal static int ChunkImages = 64;

    /// <summary>Images per chunk of the weight gradient; 0 picks <see cref="WeightChunk"/>.</summary>
    internal static int WeightChunkImages;

    /// <summary>
    /// The weight gradient's images per chunk: as many as keep the chunk's channels-last input within 512 KiB (half of a
    /// Zen 4 core's L2; the kernel sweeps it once per tap and block of output channels), from 8 (below that, reading and
    /// writing the weight gradient's partial sums for every chunk costs more than the products) to 64; then evened out so that
    /// the chunks are of one size and fill whole rounds of <see cref="Conv.MaxSlots"/> slots.
    /// </summary>
    static int WeightChunk(in ConvShape s, int n)
    {
        if (WeightChunkImages > 0) return WeightChunkImages;
        int target = (int)Math.Clamp((128L << 10) / Math.Max(1, (long)s.H * s.W * s.Cb), 8, 64);
        // Whole rounds of slots, chunks of equal size: 256 images at a target of 41 make 8 chunks of 32, not 6 of 41 and one of 10.
        int chunks = (n + target - 1) / target;
        if (chunks > Conv.MaxSlots) chunks = (chunks + Conv.MaxSlots - 1) / Conv.MaxSlots * Conv.MaxSlots;
        return Math.Max(1, (n + chunks - 1) / chunks);
    }

    /// <summary>Whether the forward and the input gradient apply: <see cref="Enabled"/>, one group, more than one tap, small images,
    /// channel counts that are multiples of 4 (the kernel's narrowest column block) and at least <see cref="MinChannels"/>.</summary>
    internal static bool Applies(in ConvShape s) =>
        Enabled && s.Groups == 1 && s.Kh * s.Kw > 1 && s.L <= MaxPositions && s.H * s.W <= MaxInputPositions &&
        s.Cb >= MinChannels && s.Cs >= MinChannels && s.Cb % 4 == 0 && s.Cs % 4 == 0;

    /// <summary>The weight gradient also needs whole tiles of output channels (its vector dimension: 32, or 16 with AVX2).</summary>
    internal static bool WeightGradApplies(in ConvShape s) => Applies(s) && s.Cs % Native.Lanes == 0;

    /// <summary>
    /// For each position of one side, the (tap, position on the other side) pairs that connect it: A holds an offset (the
    /// position's index times aScale), Index the other index. forward: for each small position p, its taps t inside the
    /// image with their big position q (A from q, Index = t); transposed: for each big position q, the (t, p) that read it
    /// (A from p, Index = t); weight: for each tap t, the pairs (p, q) (A from p, Index = q). Start has one more entry than
    /// there are lists; within a list pairs keep tap order.
    /// </summary>
    sealed class Segments
    {
        public readonly int[] Start, Index;
        public readonly nint[] A;

        Segments(List<(int List, nint A, int Index)> pairs, int lists)
        {
            pairs = [.. pairs.OrderBy(x => x.List)]; // stable: tap order within a list
            Start = new int[lists + 1];
            A = new nint[Math.Max(1, pairs.Count)];
            Index = new int[Math.Max(1, pairs.Count)];
            for (int i = 0; i < pairs.Count; i++)
            {
                Start[pairs[i].List + 1]++;
                A[i] = pairs[i].A;
                Index[i] = pairs[i].Index;
            }
            for (int i = 0; i < lists; i++) Start[i + 1] += Start[i];
        }

        readonly System.Collections.Concurrent.ConcurrentDictionary<nint, nint[]> _scaled = new();

        /// <summary>Index times scale, per pair (kept: the arrays are read-only).</summary>
        public nint[] Scaled(nint scale) => _scaled.GetOrAdd(scale, sc => Array.ConvertAll(Index, i => i * sc));

        /// <summary>
        /// Segments by (shape, kind, scale), built once: building them per call (a LINQ sort of the connections) took 34 µs of
        /// layer (c)'s 2.5 ms forward on one thread while the other waited. Cleared if a program cycles through many shapes.
        /// </summary>
        static readonly System.Collections.Concurrent.ConcurrentDictionary<(ConvShape, int, nint), Segments> Cache = new();

        static Segments Cached(in ConvShape s, int kind, nint aScale)
        {
            if (Cache.TryGetValue((s, kind, aScale), out var sg)) return sg;
            if (Cache.Count > 256) Cache.Clear();
            sg = kind switch
            {
                0 => new([.. Connections(s).Select(c => (c.P, c.Q * aScale, c.T))], s.L),
                1 => new([.. Connections(s).Select(c => (c.Q, c.P * aScale, c.T))], s.H * s.W),
                _ => new([.. Connections(s).Select(c => (c.T, c.P * aScale, c.Q))], s.Kh * s.Kw),
            };
            return Cache.GetOrAdd((s, kind, aScale), sg);
        }

        /// <summary>Every (tap t, small position p, big position q) with q inside the image, in tap-then-position order.</summary>
        static IEnumerable<(int T, int P, int Q)> Connections(ConvShape s)
        {
            for (int kh = 0; kh < s.Kh; kh++)
                for (int kw = 0; kw < s.Kw; kw++)
                    for (int oy = 0; oy < s.Oh; oy++)
                    {
                        int iy = oy * s.Sh - s.Ph + kh * s.Dh;
                        if ((uint)iy >= (uint)s.H) continue;
                        for (int ox = 0; ox < s.Ow; ox++)
                        {
                            int ix = ox * s.Sw - s.Pw + kw * s.Dw;
                            if ((uint)ix >= (uint)s.W) continue;
                            yield return (kh * s.Kw + kw, oy * s.Ow + ox, iy * s.W + ix);
                        }
                    }
        }

        public static Segments Forward(in ConvShape s, nint aScale) => Cached(s, 0, aScale);

        public static Segments Transposed(in ConvShape s, nint aScale) => Cached(s, 1, aScale);

        public static Segments Weight(in ConvShape s, nint aScale) => Cached(s, 2, aScale);
    }

    /// <summary>
    /// w [Cs][Cb][t] packed in blocks of columns (12 wide while 12 fit, then 4; see <see cref="Width.BlockWidth"/>): the block at
    /// column j0 of width jw starts at j0·taps·rows and holds [t][row][jw]. Forward: rows are input channels and columns output
    /// channels; transposed (input gradient): rows are output channels and columns input channels.
    /// </summary>
    static float[] PackWeights(in ConvShape s, float* w, bool transposed, Width v)
    {
        int kk = s.Kh * s.Kw, cb = s.Cb, cs = s.Cs, rows = transposed ? cs : cb, cols = transposed ? cb : cs;
        var r = Conv.Scratch.Weights((long)cs * s.K);
        fixed (float* pr = r)
        {
            float* dst = pr, src = w;
            // Block by block over the threads.
            Threading.For(v.Blocks(cols), b =>
            {
                int j0 = v.BlockStart(cols, b), jw = v.BlockWidth(cols, j0);
                float* blk = dst + (nint)j0 * kk * rows;
                // In the block's order, one store after the other: writing in w's order instead (strides of rows·jw
                // floats) ran at 1.6 ns per element, store after store waiting on the ones before.
                nint colStep = transposed ? kk : (nint)cb * kk, rowStep = transposed ? (nint)cb * kk : kk;
                float* w0 = src + (transposed ? (nint)j0 * kk : (nint)j0 * cb * kk);
                for (int t = 0; t < kk; t++)
                    for (int k = 0; k < rows; k++)
                    {
                        float* wk = w0 + k * rowStep + t;
                        for (int j = 0; j < jw; j++) *blk++ = wk[j * colStep];
                    }
            });
        }
        return r;
    }

    /// <summary>
    /// The distance between consecutive positions of a staged chunk: c·ld floats and 32 more. Without the 32, positions
    /// 4, 8, 16 or 32 KiB apart share L1 sets (and 4 KiB load/store aliasing): staging layer (c)'s 64-image chunk image-inner
    /// took 90 µs on one Zen 4 thread and 38 µs with the padding (a copy of the chunk: 25 µs).
    /// </summary>
    internal static nint PositionStride(int c, int ld) => (nint)c * ld + 32;

    /// <summary>
    /// Images 0..cnt of x ([c][positions] each) -> dst [position][c][ld] (image innermost; positions <paramref name="qs"/>
    /// apart), zero in columns cnt..cnt rounded up to a tile.
    /// </summary>
    static void ToImageInner(float* x, int cnt, int c, int positions, float* dst, int ld, nint qs, Width v) => ToImageInner(x, cnt, c, positions, dst, ld, qs, v, 0, c);

    /// <summary><see cref="ToImageInner(float*, int, int, int, float*, int, nint, Width)"/> for channels c0..c1 only.</summary>
    static void ToImageInner(float* x, int cnt, int c, int positions, float* dst, int ld, nint qs, Width v, int c0, int c1)
    {
        nint m = (nint)c * positions;
        int padded = v.RoundUp(cnt);
        // Blocks of channels, eight images at a time within a block, channel by channel within the eight: each image's
        // rows of the block are one contiguous run of about 1 KiB (a training step's activations come from memory, and
        // the prefetchers follow runs, not 64 streams of one short row each), and each block's rows of dst are completed
        // while they are in cache. Images outermost instead wrote half lines whose other half came a whole chunk later:
        // staging one 64-image chunk of layer (b) (16 channels of 28x28) took 520 µs that way against 335 µs, layer (c)'s
        // 36 against 29 µs (one Zen 4 thread, source in cache; a copy of (b)'s chunk 180 µs). One channel per block (rows
        // of 64 bytes for 4x4 outputs) staged layer (c)'s output gradient in 430-900 µs per call (the two threads' time
        // summed; in a training step) against 220-280 µs in blocks of 16.
        int block = Math.Clamp(256 / positions, 1, 16);
        for (int cb0 = c0; cb0 < c1; cb0 += block)
            for (int i0 = 0; i0 < cnt; i0 += 8)
                for (int ch = cb0; ch < Math.Min(c1, cb0 + block); ch++)
                    Gemm.TransposeInto(x + i0 * m + (nint)ch * positions, m, Math.Min(8, cnt - i0), positions, dst + (nint)ch * ld + i0, qs);
        if (padded > cnt)
            for (int ch = c0; ch < c1; ch++)
                for (int q = 0; q < positions; q++) new Span<float>(dst + q * qs + (nint)ch * ld + cnt, padded - cnt).Clear();
    }

    /// <summary>
    /// src [position][c][ld] (image innermost; positions <paramref name="qs"/> apart) -> images 0..cnt as [c][positions] at
    /// y, adding bias[channel] when bias is not null.
    /// </summary>
    static void FromImageInner(float* src, int ld, nint qs, int cnt, int c, int positions, float* bias, float* y)
    {
        if (bias != null) // on the staged rows: one add per (position, channel) over the chunk's images
            for (int q = 0; q < positions; q++)
                for (int ch = 0; ch < c; ch++)
                {
                    var row = new Span<float>(src + q * qs + (nint)ch * ld, cnt);
                    TensorPrimitives.Add(row, bias[ch], row);
                }
        nint m = (nint)c * positions;
        for (int i0 = 0; i0 < cnt; i0 += 8) // eight images at a time: eight sequential write streams
            for (int ch = 0; ch < c; ch++)
                Gemm.TransposeInto(src + (nint)ch * ld + i0, qs, positions, Math.Min(8, cnt - i0), y + i0 * m + (nint)ch * positions, m);
    }

    /// <summary>
    /// C tile (2 vectors of 16 by jw = 12 or 4 columns, or with Vector256 2 vectors of 8 by 6 or 2) = (add ? C : 0) + Σ_seg Σ_k A[aoff + k·lda + 0..lanes) · B[boff + k·ldb + column];
    /// column j of the tile is at c + j·ldc.
    /// </summary>
    static void Tile(int jw, int segs, nint* aoff, nint* boff, float* a, nint lda, float* b, nint ldb, int k, float* c, nint ldc, bool add)
    {
        switch (jw)
        {
            case 12: Tile12(segs, aoff, boff, a, lda, b, ldb, k, c, ldc, add); break;
            case 4: Tile4(segs, aoff, boff, a, lda, b, ldb, k, c, ldc, add); break;
            case 6: Tile6x256(segs, aoff, boff, a, lda, b, ldb, k, c, ldc, add); break;
            default: Tile2x256(segs, aoff, boff, a, lda, b, ldb, k, c, ldc, add); break;
        }
    }

    static int Chunks(int n) => (n + ChunkImages - 1) / ChunkImages;

    /// <summary>
    /// One image-inner product for a chunk: for every list i (a position on the side being computed) and every block of
    /// columns, C[i][col][0..lanes) = Σ over list i's segments of A · B, with A [position][k][ld] and B packed by
    /// <see cref="PackWeights"/>; C's lists are <paramref name="cqs"/> apart. Either the column-block loop is outermost, so
    /// that block of B stays in cache, or (small weights) the position loop.
    /// </summary>
    static void ImageInnerProduct(Segments sg, int lists, int cols, int k, int taps, float* a, float* b, float* c, int ld, nint cqs, int lanes,
        nint* aoff, nint* boffMain, nint* boffTail, Width v)
    {
        // A small weight stays in cache whatever the order: then one position's inputs are kept hot across the column blocks.
        bool positionOuter = (long)taps * k * cols <= PositionOuterWeightFloats;
        for (int outer = 0, outers = positionOuter ? lists : cols; outer < outers; outer += positionOuter ? 1 : v.BlockWidth(cols, outer))
            for (int inner = 0, inners = positionOuter ? cols : lists; inner < inners; inner += positionOuter ? v.BlockWidth(cols, inner) : 1)
            {
                int i = positionOuter ? outer : inner, j0 = positionOuter ? inner : outer, jw = v.BlockWidth(cols, j0);
                int s0 = sg.Start[i], segs = sg.Start[i + 1] - s0;
                float* blk = b + (nint)j0 * taps * k, ci = c + i * cqs + (nint)j0 * ld;
                nint* boff = jw == v.Cols ? boffMain : boffTail;
                for (int r0 = 0; r0 < lanes; r0 += v.Lanes)
                    Tile(jw, segs, aoff + s0, boff + s0, a + r0, ld, blk, jw, k, ci + r0, ld, add: false);
            }
    }

    /// <summary>Largest weight (floats) for which the product runs position by position rather than column block by column block.</summary>
    internal static long PositionOuterWeightFloats = 64L << 10;

    /// <summary>Convolution: small[i] = conv(big[i]) (+ bias), as <see cref="Conv.Forward"/>.</summary>
    internal static void Forward(ConvShape s, int n, float* big, float* w, float* bias, float* small) => Run(s, n, big, w, bias, small, false, Native);

    /// <summary>The forward with a chosen kernel width (tests run the Vector256 kernels on AVX-512 machines too).</summary>
    internal static void Forward(ConvShape s, int n, float* big, float* w, float* bias, float* small, Width v) => Run(s, n, big, w, bias, small, false, v);

    /// <summary>Transposed convolution / input gradient: big[i] = convᵀ(small[i]) (+ bias), as <see cref="Conv.Transposed"/>.</summary>
    internal static void Transposed(ConvShape s, int n, float* small, float* w, float* bias, float* big) => Run(s, n, small, w, bias, big, true, Native);

    /// <summary>The transposed product with a chosen kernel width.</summary>
    internal static void Transposed(ConvShape s, int n, float* small, float* w, float* bias, float* big, Width v) => Run(s, n, small, w, bias, big, true, v);

    /// <summary>The forward (big to small) or the transposed product (small to big): stage a chunk image-inner, multiply, stage back.</summary>
    static void Run(ConvShape s, int n, float* src, float* w, float* bias, float* dst, bool transposed, Width v)
    {
        int ld = ChunkImages, kk = s.Kh * s.Kw;
        int inC = transposed ? s.Cs : s.Cb, inP = transposed ? s.L : s.H * s.W, outC = transposed ? s.Cb : s.Cs, outP = transposed ? s.H * s.W : s.L;
        long inSize = (long)inC * inP, outSize = (long)outC * outP;
        nint inQs = PositionStride(inC, ld), outQs = PositionStride(outC, ld);
        var sg = transposed ? Segments.Transposed(s, inQs) : Segments.Forward(s, inQs);
        nint[] bMain = sg.Scaled((nint)inC * v.Cols), bTail = sg.Scaled((nint)inC * v.TailCols);
        var wp = PackWeights(s, w, transposed, v);
        fixed (float* pw = wp)
        fixed (nint* pa = sg.A, pbm = bMain, pbt = bTail)
        {
            float* W = pw;
            nint* aoff = pa, boffMain = pbm, boffTail = pbt;
            Threading.For(Chunks(n), chunk =>
            {
                int n0 = chunk * ld, cnt = Math.Min(ld, n - n0), lanes = v.RoundUp(cnt);
                var ws = Conv.Workspace.Get(inP * inQs, outP * outQs, 0);
                ToImageInner(src + n0 * inSize, cnt, inC, inP, ws.Cols, ld, inQs, v);
                ImageInnerProduct(sg, outP, outC, inC, kk, ws.Cols, W, ws.Tmp, ld, outQs, lanes, aoff, boffMain, boffTail, v);
                FromImageInner(ws.Tmp, ld, outQs, cnt, outC, outP, bias, dst + n0 * outSize);
            });
        }
    }

    /// <summary>
    /// Weight (and bias) gradient, as <see cref="Conv.WeightGrad"/>: dw [Cs, Cb, Kh, Kw] and dbias [Cs] (if not null) are
    /// overwritten. Chunks of images are split into up to four fixed ranges whose partial sums are added in order.
    /// </summary>
    internal static void WeightGrad(ConvShape s, int n, float* small, float* big, float* dw, float* dbias)
    {
        if (s.L <= PairsMaxPositions) WeightGradByPairs(s, n, small, big, dw, dbias);
        else WeightGrad(s, n, small, big, dw, dbias, Native);
    }

    /// <summary>The weight gradient with a chosen kernel width (output channels must be a multiple of its lanes).</summary>
    internal static void WeightGrad(ConvShape s, int n, float* small, float* big, float* dw, float* dbias, Width v)
    {
        int ld = WeightChunk(s, n), hw = s.H * s.W, l = s.L, kk = s.Kh * s.Kw, cb = s.Cb, cs = s.Cs;
        int chunks = (n + ld - 1) / ld;
        long wSize = (long)cs * s.K;
        nint xqs = PositionStride(cb, ld), yqs = PositionStride(cs, ld);
        int lanes = v.Lanes;
        nint panel = (nint)ld * lanes; // one panel of the staged output gradient: a tile's lanes of output channels, all images
        var sg = Segments.Weight(s, yqs);
        var bq = sg.Scaled(xqs);
        var total = Conv.Scratch.Weights(wSize); // slot 0's partial sums, [t][ci][co]
        fixed (float* pt = total)
        fixed (nint* pa = sg.A, pb = bq)
        {
            nint* aoff = pa, boff = pb;
            Conv.InSlots(chunks, wSize, cs, pt, dbias, (c0, c1, sdw, sdb) =>
            {
                var ws = Conv.Workspace.Get(hw * xqs, l * yqs, 0);
                float* acc = sdw; // [t][ci][co] until the reorder below
                for (int chunk = c0; chunk < c1; chunk++)
                {
                    int n0 = chunk * ld, cnt = Math.Min(ld, n - n0);
                    // [image][channel][position] -> [position][image][channel]: a tile's run over the images is contiguous
                    Gemm.TransposeIntoByDstRows(big + (long)n0 * s.BigSize, hw, cnt * cb, hw, ws.Cols, xqs);
                    // The output gradient in panels of one tile's output channels, [position][panel][image][lanes]: a tile's
                    // run over the images reads one contiguous stretch.
                    for (int i = 0; i < cnt; i++)
                        for (int co0 = 0; co0 < cs; co0 += lanes)
                            Gemm.TransposeIntoByDstRows(small + (long)(n0 + i) * s.SmallSize + (nint)co0 * l, l, lanes, l,
                                ws.Tmp + co0 / lanes * panel + (nint)i * lanes, yqs);
                    if (sdb != null) // per position and panel, cnt contiguous rows of the panel's channels
                        for (int p = 0; p < l; p++)
                            for (int co0 = 0; co0 < cs; co0 += lanes) AddRows(ws.Tmp + p * yqs + co0 / lanes * panel, cnt, lanes, sdb + co0);
                    for (int co0 = 0; co0 < cs; co0 += lanes)
                        for (int t = 0; t < kk; t++)
                        {
                            int s0 = sg.Start[t], segs = sg.Start[t + 1] - s0;
                            for (int j0 = 0; j0 < cb; j0 += v.BlockWidth(cb, j0))
                                Tile(v.BlockWidth(cb, j0), segs, aoff + s0, boff + s0, ws.Tmp + co0 / lanes * panel, lanes, ws.Cols + j0, cb, cnt,
                                    acc + ((nint)t * cb + j0) * cs + co0, cs, add: chunk > c0);
                        }
                }
            }, (first, rest, stride, slots) => ReduceToOutputMajor(first, rest, stride, slots, dw, kk, cb, cs));
        }
    }

    /// <summary>sum[0..c) += Σ over rows r &lt; rows of x[r·c + 0..c) (contiguous rows), in row order.</summary>
    static void AddRows(float* x, int rows, int c, float* sum)
    {
        int c0 = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; c0 + 16 <= c; c0 += 16)
            {
                var acc = Vector512.Load(sum + c0);
                for (int r = 0; r < rows; r++) acc += Vector512.Load(x + (nint)r * c + c0);
                acc.Store(sum + c0);
            }
        if (Vector256.IsHardwareAccelerated) // AVX2: the panels are 16 channels wide
            for (; c0 + 8 <= c; c0 += 8)
            {
                var acc = Vector256.Load(sum + c0);
                for (int r = 0; r < rows; r++) acc += Vector256.Load(x + (nint)r * c + c0);
                acc.Store(sum + c0);
            }
        if (c0 < c)
            for (int r = 0; r < rows; r++)
                TensorPrimitives.Add(new ReadOnlySpan<float>(sum + c0, c - c0), new ReadOnlySpan<float>(x + (nint)r * c + c0, c - c0), new Span<float>(sum + c0, c - c0));
    }

    /// <summary>
    /// dw [co][ci][t] (PyTorch's order) = the slots' partial sums [t][ci][co] (the kernel's order; slot 0's at first, slot
    /// s's at rest + (s - 1)·stride) added in slot order, both steps split over the threads: the sums into first by ranges
    /// of elements, then by blocks of output channels a transpose that reads and writes whole lines to [co][t][ci] and one
    /// small [t][ci] -> [ci][t] block per output channel (before: the slots added on one thread into dw, then a copy of dw to
    /// reorder from). For layer (c) the pass takes 91/154/260 µs (p10/p50/p90, 2 threads, Zen 4).
    /// </summary>
    static void ReduceToOutputMajor(float* first, float* rest, long stride, int slots, float* dw, int kk, int cb, int cs)
    {
        int blk = kk * cb;
        long size = (long)blk * cs;
        if (slots > 1)
            Threading.ForRange((int)size, 1 << 14, (e0, e1) =>
            {
                var sum = new Span<float>(first + e0, e1 - e0);
                for (int sl = 1; sl < slots; sl++) TensorPrimitives.Add(sum, new ReadOnlySpan<float>(rest + (sl - 1) * stride + e0, e1 - e0), sum);
            }, align: 16);
        int parts = Math.Min(cs / 16 + 1, 8);
        Threading.For(parts, part =>
        {
            int co0 = cs * part / parts, co1 = cs * (part + 1) / parts;
            if (co1 <= co0) return;
            Gemm.TransposeIntoByDstRows(first + co0, cs, blk, co1 - co0, dw + (nint)co0 * blk, blk);
            float[]? heap = blk > 8192 ? GC.AllocateUninitializedArray<float>(blk) : null;
            Span<float> block = heap ?? stackalloc float[blk];
            fixed (float* tmp = block)
                for (int co = co0; co < co1; co++)
                {
                    float* d = dw + (nint)co * blk;
                    new Span<float>(d, blk).CopyTo(new Span<float>(tmp, blk));
                    for (int ci = 0; ci < cb; ci++)
                        for (int t = 0; t < kk; t++) d[ci * kk + t] = tmp[t * cb + ci];
                }
        });
    }

    /// <summary>The kernel for 12 broadcast columns: see <see cref="Tile"/>.</summary>
    static void Tile12(int segs, nint* aoff, nint* boff, float* a, nint lda, float* b, nint ldb, int k, float* c, nint ldc, bool add)
    {
        Vector512<float> c0a = default, c0b = default;
        Vector512<float> c1a = default, c1b = default;
        Vector512<float> c2a = default, c2b = default;
        Vector512<float> c3a = default, c3b = default;
        Vector512<float> c4a = default, c4b = default;
        Vector512<float> c5a = default, c5b = default;
        Vector512<float> c6a = default, c6b = default;
        Vector512<float> c7a = default, c7b = default;
        Vector512<float> c8a = default, c8b = default;
        Vector512<float> c9a = default, c9b = default;
        Vector512<float> c10a = default, c10b = default;
        Vector512<float> c11a = default, c11b = default;
        for (int s = 0; s < segs; s++)
        {
            float* pa = a + aoff[s], pb = b + boff[s];
            for (int kk = 0; kk < k; kk++, pa += lda, pb += ldb)
            {
                var va = Vector512.Load(pa); var vb = Vector512.Load(pa + 16);
                Vector512<float> w;
                w = Vector512.Create(pb[0]); c0a = Vector512.FusedMultiplyAdd(va, w, c0a); c0b = Vector512.FusedMultiplyAdd(vb, w, c0b);
                w = Vector512.Create(pb[1]); c1a = Vector512.FusedMultiplyAdd(va, w, c1a); c1b = Vector512.FusedMultiplyAdd(vb, w, c1b);
                w = Vector512.Create(pb[2]); c2a = Vector512.FusedMultiplyAdd(va, w, c2a); c2b = Vector512.FusedMultiplyAdd(vb, w, c2b);
                w = Vector512.Create(pb[3]); c3a = Vector512.FusedMultiplyAdd(va, w, c3a); c3b = Vector512.FusedMultiplyAdd(vb, w, c3b);
                w = Vector512.Create(pb[4]); c4a = Vector512.FusedMultiplyAdd(va, w, c4a); c4b = Vector512.FusedMultiplyAdd(vb, w, c4b);
                w = Vector512.Create(pb[5]); c5a = Vector512.FusedMultiplyAdd(va, w, c5a); c5b = Vector512.FusedMultiplyAdd(vb, w, c5b);
                w = Vector512.Create(pb[6]); c6a = Vector512.FusedMultiplyAdd(va, w, c6a); c6b = Vector512.FusedMultiplyAdd(vb, w, c6b);
                w = Vector512.Create(pb[7]); c7a = Vector512.FusedMultiplyAdd(va, w, c7a); c7b = Vector512.FusedMultiplyAdd(vb, w, c7b);
                w = Vector512.Create(pb[8]); c8a = Vector512.FusedMultiplyAdd(va, w, c8a); c8b = Vector512.FusedMultiplyAdd(vb, w, c8b);
                w = Vector512.Create(pb[9]); c9a = Vector512.FusedMultiplyAdd(va, w, c9a); c9b = Vector512.FusedMultiplyAdd(vb, w, c9b);
                w = Vector512.Create(pb[10]); c10a = Vector512.FusedMultiplyAdd(va, w, c10a); c10b = Vector512.FusedMultiplyAdd(vb, w, c10b);
                w = Vector512.Create(pb[11]); c11a = Vector512.FusedMultiplyAdd(va, w, c11a); c11b = Vector512.FusedMultiplyAdd(vb, w, c11b);
            }
        }
        if (add)
        {
            c0a += Vector512.Load(c + 0 * ldc); c0b += Vector512.Load(c + 0 * ldc + 16);
            c1a += Vector512.Load(c + 1 * ldc); c1b += Vector512.Load(c + 1 * ldc + 16);
            c2a += Vector512.Load(c + 2 * ldc); c2b += Vector512.Load(c + 2 * ldc + 16);
            c3a += Vector512.Load(c + 3 * ldc); c3b += Vector512.Load(c + 3 * ldc + 16);
            c4a += Vector512.Load(c + 4 * ldc); c4b += Vector512.Load(c + 4 * ldc + 16);
            c5a += Vector512.Load(c + 5 * ldc); c5b += Vector512.Load(c + 5 * ldc + 16);
            c6a += Vector512.Load(c + 6 * ldc); c6b += Vector512.Load(c + 6 * ldc + 16);
            c7a += Vector512.Load(c + 7 * ldc); c7b += Vector512.Load(c + 7 * ldc + 16);
            c8a += Vector512.Load(c + 8 * ldc); c8b += Vector512.Load(c + 8 * ldc + 16);
            c9a += Vector512.Load(c + 9 * ldc); c9b += Vector512.Load(c + 9 * ldc + 16);
            c10a += Vector512.Load(c + 10 * ldc); c10b += Vector512.Load(c + 10 * ldc + 16);
            c11a += Vector512.Load(c + 11 * ldc); c11b += Vector512.Load(c + 11 * ldc + 16);
        }
        c0a.Store(c + 0 * ldc); c0b.Store(c + 0 * ldc + 16);
        c1a.Store(c + 1 * ldc); c1b.Store(c + 1 * ldc + 16);
        c2a.Store(c + 2 * ldc); c2b.Store(c + 2 * ldc + 16);
        c3a.Store(c + 3 * ldc); c3b.Store(c + 3 * ldc + 16);
        c4a.Store(c + 4 * ldc); c4b.Store(c + 4 * ldc + 16);
        c5a.Store(c + 5 * ldc); c5b.Store(c + 5 * ldc + 16);
        c6a.Store(c + 6 * ldc); c6b.Store(c + 6 * ldc + 16);
        c7a.Store(c + 7 * ldc); c7b.Store(c + 7 * ldc + 16);
        c8a.Store(c + 8 * ldc); c8b.Store(c + 8 * ldc + 16);
        c9a.Store(c + 9 * ldc); c9b.Store(c + 9 * ldc + 16);
        c10a.Store(c + 10 * ldc); c10b.Store(c + 10 * ldc + 16);
        c11a.Store(c + 11 * ldc); c11b.Store(c + 11 * ldc + 16);
    }

    /// <summary>The kernel for 4 broadcast columns: see <see cref="Tile"/>.</summary>
    static void Tile4(int segs, nint* aoff, nint* boff, float* a, nint lda, float* b, nint ldb, int k, float* c, nint ldc, bool add)
    {
        Vector512<float> c0a = default, c0b = default;
        Vector512<float> c1a = default, c1b = default;
        Vector512<float> c2a = default, c2b = default;
        Vector512<float> c3a = default, c3b = default;
        for (int s = 0; s < segs; s++)
        {
            float* pa = a + aoff[s], pb = b + boff[s];
            for (int kk = 0; kk < k; kk++, pa += lda, pb += ldb)
            {
                var va = Vector512.Load(pa); var vb = Vector512.Load(pa + 16);
                Vector512<float> w;
                w = Vector512.Create(pb[0]); c0a = Vector512.FusedMultiplyAdd(va, w, c0a); c0b = Vector512.FusedMultiplyAdd(vb, w, c0b);
                w = Vector512.Create(pb[1]); c1a = Vector512.FusedMultiplyAdd(va, w, c1a); c1b = Vector512.FusedMultiplyAdd(vb, w, c1b);
                w = Vector512.Create(pb[2]); c2a = Vector512.FusedMultiplyAdd(va, w, c2a); c2b = Vector512.FusedMultiplyAdd(vb, w, c2b);
                w = Vector512.Create(pb[3]); c3a = Vector512.FusedMultiplyAdd(va, w, c3a); c3b = Vector512.FusedMultiplyAdd(vb, w, c3b);
            }
        }
        if (add)
        {
            c0a += Vector512.Load(c + 0 * ldc); c0b += Vector512.Load(c + 0 * ldc + 16);
            c1a += Vector512.Load(c + 1 * ldc); c1b += Vector512.Load(c + 1 * ldc + 16);
            c2a += Vector512.Load(c + 2 * ldc); c2b += Vector512.Load(c + 2 * ldc + 16);
            c3a += Vector512.Load(c + 3 * ldc); c3b += Vector512.Load(c + 3 * ldc + 16);
        }
        c0a.Store(c + 0 * ldc); c0b.Store(c + 0 * ldc + 16);
        c1a.Store(c + 1 * ldc); c1b.Store(c + 1 * ldc + 16);
        c2a.Store(c + 2 * ldc); c2b.Store(c + 2 * ldc + 16);
        c3a.Store(c + 3 * ldc); c3b.Store(c + 3 * ldc + 16);
    }

    /// <summary>
    /// Whether the weight gradient runs as one matrix product per (tap, position) pair (<see cref="WeightGradByPairs"/>): for
    /// outputs of at most this many positions. Measured on model4's layer 4b (256->256, 2x2 outputs, batch 256, 2 threads,
    /// Zen 4, quiet): 174.5 GFLOPS against 98.9 for the tiled kernel; on layer 4a (4x4 outputs) the tiled kernel was faster.
    /// </summary>
    internal static int PairsMaxPositions = 4;

    /// <summary>Images per chunk of <see cref="WeightGradByPairs"/> (the products' inner dimension).</summary>
    internal static int PairChunkImages = 256;

    /// <summary>
    /// The weight gradient as Kiln's GEMM, once per connected (tap t, output position p, input position q): with a chunk of
    /// images laid out image-inner, dY at p is [Cs][images] and X at q is [Cb][images], and dWᵀ[t] += dY_p · X_qᵀ, an inner
    /// dimension of up to <see cref="PairChunkImages"/> images. For outputs of a few positions (a 2x2 output has at most 4 per
    /// tap) this gives the products the whole batch as their depth instead of a few positions of a few images.
    /// </summary>
    internal static void WeightGradByPairs(ConvShape s, int n, float* small, float* big, float* dw, float* dbias)
    {
        int hw = s.H * s.W, l = s.L, kk = s.Kh * s.Kw, cb = s.Cb, cs = s.Cs, chunk = Math.Max(1, Math.Min(n, PairChunkImages));
        int ld = Native.RoundUp(chunk);
        long wSize = (long)cs * s.K;
        var sg = Segments.Weight(s, 1);
        nint xqs = PositionStride(cb, ld), yqs = PositionStride(cs, ld);
        var ws = Conv.Workspace.Get(hw * xqs, l * yqs, wSize);
        float* x = ws.Cols, dy = ws.Tmp, acc = ws.Pad; // acc [t][ci][co], as the tiled kernel's
        new Span<float>(acc, (int)wSize).Clear();
        if (dbias != null) new Span<float>(dbias, cs).Clear();
        for (int n0 = 0; n0 < n; n0 += chunk)
        {
            int cnt = Math.Min(chunk, n - n0);
            float* xs = big + (long)n0 * s.BigSize, ys = small + (long)n0 * s.SmallSize;
            int xChunks = Math.Min(cb, 8), yChunks = Math.Min(cs, 8);
            Threading.For(xChunks + yChunks, part =>
            {
                if (part < xChunks) ToImageInner(xs, cnt, cb, hw, x, ld, xqs, Native, cb * part / xChunks, cb * (part + 1) / xChunks);
                else ToImageInner(ys, cnt, cs, l, dy, ld, yqs, Native, cs * (part - xChunks) / yChunks, cs * (part - xChunks + 1) / yChunks);
            });
            if (dbias != null)
                for (int p = 0; p < l; p++)
                    for (int c = 0; c < cs; c++) dbias[c] += TensorPrimitives.Sum(new ReadOnlySpan<float>(dy + p * yqs + (nint)c * ld, cnt));
            for (int t = 0; t < kk; t++)
                for (int j = sg.Start[t]; j < sg.Start[t + 1]; j++)
                    Gemm.Sgemm(false, true, cb, cs, cnt, x + sg.Index[j] * xqs, ld, dy + sg.A[j] * yqs, ld,
                        acc + (nint)t * cb * cs, cs, accumulate: true);
        }
        ReduceToOutputMajor(acc, null, 0, 1, dw, kk, cb, cs);
    }

    /// <summary>The Vector256 kernel for 6 broadcast columns (AVX2: 2 vectors of 8 images, 12 accumulators): see <see cref="Tile"/>.</summary>
    static void Tile6x256(int segs, nint* aoff, nint* boff, float* a, nint lda, float* b, nint ldb, int k, float* c, nint ldc, bool add)
    {
        Vector256<float> c0a = default, c0b = default;
        Vector256<float> c1a = default, c1b = default;
        Vector256<float> c2a = default, c2b = default;
        Vector256<float> c3a = default, c3b = default;
        Vector256<float> c4a = default, c4b = default;
        Vector256<float> c5a = default, c5b = default;
        for (int s = 0; s < segs; s++)
        {
            float* pa = a + aoff[s], pb = b + boff[s];
            for (int kk = 0; kk < k; kk++, pa += lda, pb += ldb)
            {
                var va = Vector256.Load(pa); var vb = Vector256.Load(pa + 8);
                Vector256<float> w;
                w = Vector256.Create(pb[0]); c0a = Vector256.FusedMultiplyAdd(va, w, c0a); c0b = Vector256.FusedMultiplyAdd(vb, w, c0b);
                w = Vector256.Create(pb[1]); c1a = Vector256.FusedMultiplyAdd(va, w, c1a); c1b = Vector256.FusedMultiplyAdd(vb, w, c1b);
                w = Vector256.Create(pb[2]); c2a = Vector256.FusedMultiplyAdd(va, w, c2a); c2b = Vector256.FusedMultiplyAdd(vb, w, c2b);
                w = Vector256.Create(pb[3]); c3a = Vector256.FusedMultiplyAdd(va, w, c3a); c3b = Vector256.FusedMultiplyAdd(vb, w, c3b);
                w = Vector256.Create(pb[4]); c4a = Vector256.FusedMultiplyAdd(va, w, c4a); c4b = Vector256.FusedMultiplyAdd(vb, w, c4b);
                w = Vector256.Create(pb[5]); c5a = Vector256.FusedMultiplyAdd(va, w, c5a); c5b = Vector256.FusedMultiplyAdd(vb, w, c5b);
            }
        }
        if (add)
        {
            c0a += Vector256.Load(c + 0 * ldc); c0b += Vector256.Load(c + 0 * ldc + 8);
            c1a += Vector256.Load(c + 1 * ldc); c1b += Vector256.Load(c + 1 * ldc + 8);
            c2a += Vector256.Load(c + 2 * ldc); c2b += Vector256.Load(c + 2 * ldc + 8);
            c3a += Vector256.Load(c + 3 * ldc); c3b += Vector256.Load(c + 3 * ldc + 8);
            c4a += Vector256.Load(c + 4 * ldc); c4b += Vector256.Load(c + 4 * ldc + 8);
            c5a += Vector256.Load(c + 5 * ldc); c5b += Vector256.Load(c + 5 * ldc + 8);
        }
        c0a.Store(c + 0 * ldc); c0b.Store(c + 0 * ldc + 8);
        c1a.Store(c + 1 * ldc); c1b.Store(c + 1 * ldc + 8);
        c2a.Store(c + 2 * ldc); c2b.Store(c + 2 * ldc + 8);
        c3a.Store(c + 3 * ldc); c3b.Store(c + 3 * ldc + 8);
        c4a.Store(c + 4 * ldc); c4b.Store(c + 4 * ldc + 8);
        c5a.Store(c + 5 * ldc); c5b.Store(c + 5 * ldc + 8);
    }

    /// <summary>The Vector256 kernel for 2 broadcast columns (AVX2: 2 vectors of 8 images, 4 accumulators): see <see cref="Tile"/>.</summary>
    static void Tile2x256(int segs, nint* aoff, nint* boff, float* a, nint lda, float* b, nint ldb, int k, float* c, nint ldc, bool add)
    {
        Vector256<float> c0a = default, c0b = default;
        Vector256<float> c1a = default, c1b = default;
        for (int s = 0; s < segs; s++)
        {
            float* pa = a + aoff[s], pb = b + boff[s];
            for (int kk = 0; kk < k; kk++, pa += lda, pb += ldb)
            {
                var va = Vector256.Load(pa); var vb = Vector256.Load(pa + 8);
                Vector256<float> w;
                w = Vector256.Create(pb[0]); c0a = Vector256.FusedMultiplyAdd(va, w, c0a); c0b = Vector256.FusedMultiplyAdd(vb, w, c0b);
                w = Vector256.Create(pb[1]); c1a = Vector256.FusedMultiplyAdd(va, w, c1a); c1b = Vector256.FusedMultiplyAdd(vb, w, c1b);
            }
        }
        if (add)
        {
            c0a += Vector256.Load(c + 0 * ldc); c0b += Vector256.Load(c + 0 * ldc + 8);
            c1a += Vector256.Load(c + 1 * ldc); c1b += Vector256.Load(c + 1 * ldc + 8);
        }
        c0a.Store(c + 0 * ldc); c0b.Store(c + 0 * ldc + 8);
        c1a.Store(c + 1 * ldc); c1b.Store(c + 1 * ldc + 8);
    }
}
