using Kiln.Nn;

namespace Kiln.Lessons;

/// <summary>
/// Lesson 15, section 1: a convolution (cross-correlation, no kernel flip) computed three ways on one image, each faster
/// than the last, and all equal: a loop applying the kernel at every position, im2col (unfold) followed by one matrix
/// product, and the library's convolution. Images are 2-d [H, W] float tensors (a 28x28 MNIST digit in the lesson);
/// kernels are square [k, k] with k odd.
/// </summary>
public static class Convolutions
{
    /// <summary>The lesson's top-edge kernel [[-1,-1,-1],[0,0,0],[1,1,1]]: responds where brightness rises downwards.</summary>
    public static Tensor TopEdge => Tensor.FromArray(new float[,] { { -1, -1, -1 }, { 0, 0, 0 }, { 1, 1, 1 } });

    /// <summary>The left-edge kernel [[-1,0,1],[-1,0,1],[-1,0,1]]: responds where brightness rises to the right.</summary>
    public static Tensor LeftEdge => Tensor.FromArray(new float[,] { { -1, 0, 1 }, { -1, 0, 1 }, { -1, 0, 1 } });

    /// <summary>The first diagonal kernel [[0,-1,1],[-1,1,0],[1,0,0]].</summary>
    public static Tensor Diag1 => Tensor.FromArray(new float[,] { { 0, -1, 1 }, { -1, 1, 0 }, { 1, 0, 0 } });

    /// <summary>The second diagonal kernel [[1,-1,0],[0,1,-1],[0,0,1]].</summary>
    public static Tensor Diag2 => Tensor.FromArray(new float[,] { { 1, -1, 0 }, { 0, 1, -1 }, { 0, 0, 1 } });

    /// <summary>The four edge kernels stacked as a convolution weight [4, 1, 3, 3] (top, left, diag1, diag2).</summary>
    public static Tensor EdgeKernels => Tensor.Stack([TopEdge, LeftEdge, Diag1, Diag2]).Unsqueeze(1);

    /// <summary>
    /// The lesson's apply_kernel: (image[row-r..row+r, col-r..col+r] * kernel).sum() for a [k, k] kernel, r = k/2 — the
    /// kernel's response centred on pixel (row, col).
    /// </summary>
    public static float ApplyKernel(Tensor image, int row, int col, Tensor kernel)
    {
        int k = CheckKernel(kernel, nameof(ApplyKernel)), r = k / 2;
        CheckImage(image, k, nameof(ApplyKernel));
        if (row - r < 0 || col - r < 0 || row + r >= image.Size(0) || col + r >= image.Size(1))
            throw new ArgumentOutOfRangeException(nameof(row), $"ApplyKernel: a {k}x{k} kernel centred at ({row}, {col}) leaves the {image.Size(0)}x{image.Size(1)} image");
        return (image[(row - r)..(row + r + 1), (col - r)..(col + r + 1)] * kernel).Sum().Item();
    }

    /// <summary>
    /// Variant 1: apply_kernel at every position where the kernel fits (rows and columns r..n-r-1), one tensor slice,
    /// multiply and sum per output pixel, as the lesson's nested list comprehension. [H, W] -> [H-k+1, W-k+1].
    /// </summary>
    public static Tensor ApplyKernelLoop(Tensor image, Tensor kernel)
    {
        int k = CheckKernel(kernel, nameof(ApplyKernelLoop)), r = k / 2;
        CheckImage(image, k, nameof(ApplyKernelLoop));
        int oh = image.Size(0) - k + 1, ow = image.Size(1) - k + 1;
        var y = new float[oh * ow];
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) y[i * ow + j] = ApplyKernel(image, i + r, j + r, kernel);
        return Tensor.FromArray(y, oh, ow);
    }

    /// <summary>
    /// Variant 2: im2col then one product. Unfold turns every k x k window into a column ([k*k, L], L = positions), the
    /// flattened kernel [k*k] times that matrix gives all L responses at once; reshaped to [H-k+1, W-k+1].
    /// </summary>
    public static Tensor UnfoldMatMul(Tensor image, Tensor kernel)
    {
        int k = CheckKernel(kernel, nameof(UnfoldMatMul));
        CheckImage(image, k, nameof(UnfoldMatMul));
        var cols = F.Unfold(image[TensorIndex.None, TensorIndex.None], k)[0];    // [k*k, L]
        return kernel.Reshape(-1).MatMul(cols).View(image.Size(0) - k + 1, image.Size(1) - k + 1);
    }

    /// <summary>Variant 3: the library's convolution, F.Conv2d on the image as a batch of one single-channel image.</summary>
    public static Tensor Fast(Tensor image, Tensor kernel)
    {
        int k = CheckKernel(kernel, nameof(Fast));
        CheckImage(image, k, nameof(Fast));
        return F.Conv2d(image[TensorIndex.None, TensorIndex.None], kernel[TensorIndex.None, TensorIndex.None])[0, 0];
    }

    /// <summary>Output size of a convolution along one dimension: (n + 2·padding − k) / stride + 1 (integer division).</summary>
    public static int OutputSize(int n, int kernelSize, int stride = 1, int padding = 0)
    {
        if (kernelSize < 1 || stride < 1 || padding < 0)
            throw new ArgumentException($"OutputSize: kernel size {kernelSize} and stride {stride} must be positive, padding {padding} non-negative");
        return (n + 2 * padding - kernelSize) / stride + 1;
    }

    static int CheckKernel(Tensor kernel, string op)
    {
        if (kernel.Dim != 2 || kernel.Size(0) != kernel.Size(1) || kernel.Size(0) % 2 == 0)
            throw new ArgumentException($"{op}: expected a square [k, k] kernel with k odd, got {Shapes.Str(kernel.Shape)}");
        return kernel.Size(0);
    }

    static void CheckImage(Tensor image, int k, string op)
    {
        if (image.Dim != 2 || image.Size(0) < k || image.Size(1) < k)
            throw new ArgumentException($"{op}: expected a 2-d image [H, W] at least {k}x{k}, got {Shapes.Str(image.Shape)}");
    }
}
