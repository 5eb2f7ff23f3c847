namespace Kiln.Kernels;

/// <summary>A kernel applied to one innermost row of an n-d loop: n elements, per-operand start offsets and strides.</summary>
internal interface IRowKernel
{
    /// <summary>Processes n elements; operand i starts at offs[i] and steps by strides[i].</summary>
    void Row(int[] offs, int n, int[] strides);
}

/// <summary>
/// The strided n-d loop behind every elementwise op: coalesces dimensions that are contiguous in every operand,
/// then hands the innermost rows to a kernel struct, splitting rows (or one long row) across threads in fixed chunks.
/// Knows nothing of Tensor; works on shapes, strides and offsets.
/// </summary>
internal static class Strided
{
    /// <summary>Elements below which an elementwise loop stays on one thread (measured: thread start-up costs ~5-10 us).</summary>
    public const int ParallelThreshold = 1 << 15;

    /// <summary>Merges adjacent dims that are contiguous for all operands and drops size-1 dims. Returns the new shape.</summary>
    public static int[] Coalesce(int[] shape, int[][] strides, out int[][] outStrides)
    {
        int k = strides.Length;
        var sh = new List<int>(shape.Length);
        var st = new List<int>[k];
        for (int i = 0; i < k; i++) st[i] = new List<int>(shape.Length);
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            if (sh.Count > 0)
            {
                int last = sh.Count - 1;
                bool merge = true;
                for (int i = 0; i < k && merge; i++) merge = st[i][last] == strides[i][d] * shape[d];
                if (merge)
                {
                    sh[last] *= shape[d];
                    for (int i = 0; i < k; i++) st[i][last] = strides[i][d];
                    continue;
                }
            }
            sh.Add(shape[d]);
            for (int i = 0; i < k; i++) st[i].Add(strides[i][d]);
        }
        if (sh.Count == 0)
        {
            sh.Add(1);
            for (int i = 0; i < k; i++) st[i].Add(0);
        }
        outStrides = new int[k][];
        for (int i = 0; i < k; i++) outStrides[i] = st[i].ToArray();
        return sh.ToArray();
    }

    /// <summary>Runs kernel over every innermost row of the broadcast loop described by shape, strides and base offsets.</summary>
    public static void ForEachRow<TK>(int[] shape, int[][] strides, int[] baseOffs, TK kernel, bool parallel = true)
        where TK : struct, IRowKernel
    {
        int k = strides.Length;
        long total = 1;
        foreach (int s in shape) total *= s;
        if (total == 0) return;
        var sh = Coalesce(shape, strides, out var st);
        int nd = sh.Length, n = sh[nd - 1];
        int rows = (int)(total / n);
        var inner = new int[k];
        for (int i = 0; i < k; i++) inner[i] = st[i][nd - 1];

        int threads = parallel && total >= ParallelThreshold ? Threading.Threads : 1;
        if (threads <= 1)
        {
            RunRows(sh, st, baseOffs, inner, 0, rows, 0, n, ref kernel);
            return;
        }
        if (rows == 1)
        {
            // One long row: split it into chunks whose starts are multiples of 64 elements, so vector paths see the same alignment.
            int chunks = Math.Min(threads * 4, (n + 8191) / 8192);
            int per = ((n + chunks - 1) / chunks + 63) / 64 * 64;
            chunks = (n + per - 1) / per;
            Threading.For(chunks, c =>
            {
                var kern = kernel;
                int s0 = c * per, len = Math.Min(per, n - s0);
                RunRows(sh, st, baseOffs, inner, 0, 1, s0, len, ref kern);
            });
            return;
        }
        int rc = Math.Min(rows, threads * 4);
        Threading.For(rc, c =>
        {
            var kern = kernel;
            int r0 = (int)((long)rows * c / rc), r1 = (int)((long)rows * (c + 1) / rc);
            RunRows(sh, st, baseOffs, inner, r0, r1, 0, n, ref kern);
        });
    }

    static void RunRows<TK>(int[] sh, int[][] st, int[] baseOffs, int[] inner, int r0, int r1, int col0, int len, ref TK kernel)
        where TK : struct, IRowKernel
    {
        int k = st.Length, nd = sh.Length;
        var offs = new int[k];
        var idx = new int[Math.Max(nd - 1, 0)];
        // Decompose the starting row index into a multi-index over the outer dims.
        int r = r0;
        for (int d = nd - 2; d >= 0; d--)
        {
            idx[d] = r % sh[d];
            r /= sh[d];
        }
        for (int row = r0; row < r1; row++)
        {
            for (int i = 0; i < k; i++)
            {
                int o = baseOffs[i] + col0 * inner[i];
                for (int d = 0; d < nd - 1; d++) o += idx[d] * st[i][d];
                offs[i] = o;
            }
            kernel.Row(offs, len, inner);
            for (int d = nd - 2; d >= 0; d--)
            {
                if (++idx[d] < sh[d]) break;
                idx[d] = 0;
            }
        }
    }

    struct CopyKernel<T> : IRowKernel
    {
        public T[] Src, Dst;
        public void Row(int[] offs, int n, int[] s)
        {
            int so = offs[0], d = offs[1], ss = s[0], ds = s[1];
            if (ss == 1 && ds == 1) { Array.Copy(Src, so, Dst, d, n); return; }
            if (ss == 0 && ds == 1) { Dst.AsSpan(d, n).Fill(Src[so]); return; }
            for (int i = 0; i < n; i++, so += ss, d += ds) Dst[d] = Src[so];
        }
    }

    struct ConvertKernel<TS, TD> : IRowKernel where TS : struct where TD : struct
    {
        public TS[] Src;
        public TD[] Dst;
        public void Row(int[] offs, int n, int[] s)
        {
            int so = offs[0], d = offs[1], ss = s[0], ds = s[1];
            if (typeof(TS) == typeof(int))
            {
                var src = (int[])(object)Src; var dst = (float[])(object)Dst;
                for (int i = 0; i < n; i++, so += ss, d += ds) dst[d] = src[so];
            }
            else
            {
                var src = (float[])(object)Src; var dst = (int[])(object)Dst;
                for (int i = 0; i < n; i++, so += ss, d += ds) dst[d] = (int)src[so];
            }
        }
    }

    /// <summary>dst[...] = src[...] over shape, both strided (src strides may be 0 for broadcast).</summary>
    public static void Copy<T>(T[] src, int srcOff, T[] dst, int dstOff, int[] shape, int[] srcStrides, int[] dstStrides)
        => ForEachRow(shape, [srcStrides, dstStrides], [srcOff, dstOff], new CopyKernel<T> { Src = src, Dst = dst });

    /// <summary>Copies with int/float conversion (float to int truncates toward zero).</summary>
    public static void Convert<TS, TD>(TS[] src, int srcOff, TD[] dst, int dstOff, int[] shape, int[] srcStrides, int[] dstStrides)
        where TS : struct where TD : struct
        => ForEachRow(shape, [srcStrides, dstStrides], [srcOff, dstOff], new ConvertKernel<TS, TD> { Src = src, Dst = dst });
}
