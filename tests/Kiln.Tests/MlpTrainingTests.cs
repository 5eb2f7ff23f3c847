using Kiln.Nn;
using Kiln.Optim;
using Xunit.Abstractions;

namespace Kiln.Tests;

/// <summary>
/// Issue 3's end-to-end check: an MLP 784-50-ReLU-10 trained with cross-entropy and plain SGD on real Fashion-MNIST rows
/// (required, see <see cref="FashionMnist"/>) reaches a stated accuracy floor on held-out rows.
/// </summary>
public class MlpTrainingTests(ITestOutputHelper output)
{
    const int Steps = 300, Batch = 64, Valid = 2000;
    const float Lr = 0.1f;

    /// <summary>
    /// Training rows normalised with the training set's mean and std (0.2860, 0.3530) and flattened to 784 features;
    /// the first 2,000 rows of the 10,000-row test set as validation rows.
    /// </summary>
    static readonly Lazy<(Tensor X, Tensor Y, Tensor ValidX, int[] ValidY)> Data = new(() =>
    {
        var (x, y) = FashionMnist.Train;
        var (vx, vy) = FashionMnist.Test;
        const float mean = 0.2860f, std = 0.3530f;
        var xs = ((x.Reshape(-1, 784) - mean) / std).Contiguous();
        var validX = ((vx.Narrow(0, 0, Valid).Reshape(-1, 784) - mean) / std).Contiguous();
        return (xs, y, validX, vy.Narrow(0, 0, Valid).ToIntArray());
    });

    /// <summary>Trains the MLP for Steps seeded SGD steps and returns (validation accuracy, mean loss of the last 50 steps, first loss).</summary>
    static (double Acc, double LateLoss, float FirstLoss, float[] W1) Train(int threads)
    {
        int saved = Kiln.Kernels.Threading.Threads;
        Kiln.Kernels.Threading.Threads = threads;
        try
        {
            var (xs, y, validX, validY) = Data.Value;

            var gen = new Generator(42);
            var model = new Sequential(new Linear(784, 50, generator: gen), new ReLU(), new Linear(50, 10, generator: gen));
            var opt = new SGD(model.Parameters(), Lr);
            var perm = Tensor.RandPerm(xs.Size(0), new Generator(7)).ToIntArray();
            var losses = new float[Steps];
            for (int s = 0; s < Steps; s++)
            {
                var idx = Tensor.FromArray(perm[(s * Batch)..((s + 1) * Batch)]);
                var xb = xs.IndexSelect(0, idx);
                var yb = y.IndexSelect(0, idx);
                var loss = F.CrossEntropy(model.Call(xb), yb);
                loss.Backward();
                opt.Step();
                opt.ZeroGrad();
                losses[s] = loss.Item();
            }
            int correct = 0;
            using (Autograd.NoGrad())
            {
                var pred = model.Call(validX).ArgMax(1).ToIntArray();
                for (int i = 0; i < Valid; i++) if (pred[i] == validY[i]) correct++;
            }
            var w1 = ((Linear)model[0]).Weight.ToArray();
            return (correct / (double)Valid, losses[^50..].Average(), losses[0], w1);
        }
        finally { Kiln.Kernels.Threading.Threads = saved; }
    }

    [Fact]
    public void Mlp_784_50_10_LearnsFashionMnist()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var (acc, late, first, _) = Train(threads: 2);
        output.WriteLine($"validation accuracy {acc:0.0000}, last-50-step mean loss {late:0.0000}, first loss {first:0.0000}, {sw.Elapsed.TotalSeconds:0.00} s");
        // Measured 2026-11-23 (seed 42 init, seed 7 shuffle, 300 steps of 64 = 19,200 rows, lr 0.1): validation accuracy
        // 0.8290 on the first 2,000 test rows, mean loss of the last 50 steps 0.501, first loss 2.287 (≈ ln 10 = 2.303).
        // Floors a safe margin below, so a change of seed or summation order can't trip them but a broken gradient,
        // optimizer or data path does: accuracy >= 0.78 (chance is 0.10), late loss < 0.70.
        Assert.InRange(first, 2.0f, 2.8f);
        Assert.True(late < 0.70, $"mean loss over the last 50 steps {late:0.000} is not below 0.70");
        Assert.True(acc >= 0.78, $"validation accuracy {acc:0.0000} on {Valid} Fashion-MNIST test rows is below the 0.78 floor");
    }

    [Fact]
    public void Mlp_Training_IsDeterministic_AcrossRunsAndThreadCounts()
    {
        var a = Train(threads: 1);
        var b = Train(threads: 2);
        Assert.Equal(a.Acc, b.Acc);
        Assert.Equal(a.LateLoss, b.LateLoss);
        Assert.Equal(a.W1, b.W1);
    }
}
