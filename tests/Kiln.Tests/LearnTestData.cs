using System.Collections;
using Kiln.Data;
using Kiln.Learn;
using Kiln.Nn;

namespace Kiln.Tests;

/// <summary>
/// A small in-memory IBatchLoader for the Learner tests (the real DataLoader lives on another branch): batches of bs rows
/// of x and y, in order or shuffled with a permutation that depends only on (seed, Epoch), so a resumed run sees the same
/// order as an uninterrupted one.
/// </summary>
sealed class TensorLoader(Tensor x, Tensor y, int bs, bool shuffle = false, long seed = 0) : IBatchLoader
{
    /// <summary>The epoch whose permutation the next pass uses (set by <see cref="EpochSetter"/>).</summary>
    public int Epoch { get; set; }

    /// <summary>Number of passes started.</summary>
    public int Passes { get; private set; }

    public int Count => (x.Size(0) + bs - 1) / bs;

    public int BatchSize => bs;

    public IEnumerator<Batch> GetEnumerator()
    {
        Passes++;
        int n = x.Size(0);
        var idx = shuffle ? Tensor.RandPerm(n, new Generator(seed * 1000 + Epoch)).ToIntArray() : Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < n; i += bs)
        {
            var sel = Tensor.FromArray(idx[i..Math.Min(n, i + bs)]);
            yield return new Batch(x.IndexSelect(0, sel), y.IndexSelect(0, sel));
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Tells shuffling test loaders which epoch is starting (like PyTorch's sampler.set_epoch).</summary>
sealed class EpochSetter : Callback
{
    public override void BeforeEpoch(Learner learn)
    {
        if (learn.Dl is TensorLoader t) t.Epoch = learn.Epoch;
    }
}

static class LearnTestData
{
    /// <summary>A separable 3-class problem: n points in 4-d around three centres, labels int32 [n].</summary>
    public static (Tensor X, Tensor Y) Blobs(int n, long seed)
    {
        var g = new Generator(seed);
        var x = new float[n * 4];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            int c = i % 3;
            y[i] = c;
            for (int j = 0; j < 4; j++) x[i * 4 + j] = (float)(g.NextNormal() * 0.5 + (j == c ? 2 : 0));
        }
        return (Tensor.FromArray(x, n, 4), Tensor.FromArray(y, n));
    }

    /// <summary>A 4-16-3 MLP with seeded init.</summary>
    public static Sequential Mlp(long seed)
    {
        var g = new Generator(seed);
        return new Sequential(new Linear(4, 16, generator: g), new ReLU(), new Linear(16, 3, generator: g));
    }

    /// <summary>Train (48 rows, batches of 16: 3 batches) and valid (30 rows, batches of 16: 2 batches) loaders.</summary>
    public static (TensorLoader Train, TensorLoader Valid) Loaders(bool shuffle = false)
    {
        var (x, y) = Blobs(48, 1);
        var (vx, vy) = Blobs(30, 2);
        return (new TensorLoader(x, y, 16, shuffle, seed: 5), new TensorLoader(vx, vy, 16));
    }

    public static Tensor CrossEntropy(Tensor preds, Tensor y) => F.CrossEntropy(preds, y);
}
