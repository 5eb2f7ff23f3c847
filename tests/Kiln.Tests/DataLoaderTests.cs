using System.Collections.Concurrent;
using System.Diagnostics;
using Kiln.Data;

namespace Kiln.Tests;

public class DataLoaderTests
{
    static int[] Ints(object batch) => ((Tensor)batch).ToIntArray();

    [Fact]
    public void Range15InBatchesOf5CoversEveryNumberOnceAndReshufflesEachPass()
    {
        var dl = DataLoader.Create(Dataset.From(Enumerable.Range(0, 15)), batchSize: 5, shuffle: true, seed: 1);
        Assert.Equal(3, dl.Count);
        var pass1 = dl.Select(Ints).ToList();
        var pass2 = dl.Select(Ints).ToList();
        Assert.Equal(3, pass1.Count);
        Assert.All(pass1, b => Assert.Equal(5, b.Length));
        Assert.Equal(Enumerable.Range(0, 15), pass1.SelectMany(b => b).Order());
        Assert.Equal(Enumerable.Range(0, 15), pass2.SelectMany(b => b).Order());
        Assert.NotEqual(pass1.SelectMany(b => b), pass2.SelectMany(b => b));
        Assert.NotEqual(Enumerable.Range(0, 15), pass1.SelectMany(b => b));
    }

    [Fact]
    public void SameSeedSameBatchesAndUnshuffledLoaderKeepsOrder()
    {
        var ds = Dataset.From(Enumerable.Range(0, 15));
        var a = DataLoader.Create(ds, 5, shuffle: true, seed: 7).SelectMany(Ints).ToArray();
        var b = DataLoader.Create(ds, 5, shuffle: true, seed: 7).SelectMany(Ints).ToArray();
        Assert.Equal(a, b);
        Assert.Equal(Enumerable.Range(0, 15), DataLoader.Create(ds, 4).SelectMany(Ints));
    }

    [Fact]
    public void TwentySixLettersInBatchesOf6EndWithABatchOf2AndGroupTheChars()
    {
        var letters = "abcdefghijklmnopqrstuvwxyz";
        var ds = Dataset.From(letters.Select((c, i) => (i, c)));
        var dl = DataLoader.Create(ds, batchSize: 6, shuffle: true, seed: 3);
        var batches = dl.Cast<object[]>().ToList();
        Assert.Equal(5, dl.Count);
        Assert.Equal([6, 6, 6, 6, 2], batches.Select(b => ((Tensor)b[0]).Size(0)));
        foreach (var b in batches)
        {
            var idx = ((Tensor)b[0]).ToIntArray();
            var chars = ((List<object?>)b[1]).Cast<char>().ToArray();
            Assert.Equal(idx.Select(i => letters[i]), chars);
        }
        Assert.Equal(letters, string.Concat(batches.SelectMany(b => ((List<object?>)b[1]).Cast<char>()).Order()));

        var dropped = DataLoader.Create(ds, batchSize: 6, dropLast: true);
        Assert.Equal(4, dropped.Count);
        Assert.Equal([6, 6, 6, 6], dropped.Cast<object[]>().Select(b => ((Tensor)b[0]).Size(0)));
    }

    static TensorDataset Numbers(int n, int features = 3)
    {
        var x = Tensor.Arange(n * features).Float().View(n, features);
        var y = Tensor.Arange(n);
        return new TensorDataset(x, y);
    }

    [Fact]
    public void TensorDatasetFastPathGivesTheSameBatchesAsStackingItems()
    {
        var ds = Numbers(23);
        var fast = new DataLoader(ds, 5, shuffle: true, seed: 11);
        var slow = new DataLoader(ds, 5, shuffle: true, seed: 11, collate: Collate.Tensors);
        Assert.True(fast.UsesFastPath);
        Assert.False(slow.UsesFastPath);
        var f = fast.ToList();
        var s = slow.ToList();
        Assert.Equal(5, f.Count);
        Assert.Equal(3, f[^1].Size);
        for (int i = 0; i < f.Count; i++)
        {
            Assert.Equal(s[i].X.Shape, f[i].X.Shape);
            Assert.Equal(s[i].X.ToArray(), f[i].X.ToArray());
            Assert.Equal(s[i].Y.ToIntArray(), f[i].Y.ToIntArray());
            Assert.Equal(DType.Int32, f[i].Y.DType);
            // Each row of x belongs to its label: x[k] = [3y, 3y+1, 3y+2].
            var x = f[i].X.ToArray();
            var y = f[i].Y.ToIntArray();
            for (int k = 0; k < y.Length; k++) Assert.Equal(3f * y[k], x[3 * k]);
        }
        Assert.Equal(Enumerable.Range(0, 23), f.SelectMany(b => b.Y.ToIntArray()).Order());
    }

    sealed class NoisyBatch : ITransform
    {
        public Tensor Apply(Tensor x, Generator rng) => x + Tensor.Rand(x.Shape, rng);
    }

    [Fact]
    public void BatchesAreIdenticalWhateverTheNumberOfWorkers()
    {
        var ds = Numbers(103);
        List<float[]> Run(int workers)
        {
            var dl = new DataLoader(ds, 8, shuffle: true, seed: 5, workers: workers, batchTransform: new NoisyBatch());
            return dl.Concat(dl).Select(b => b.X.ToArray().Concat(b.Y.ToIntArray().Select(v => (float)v)).ToArray()).ToList();
        }
        var reference = Run(0);
        Assert.Equal(2 * 13, reference.Count);
        foreach (int w in new[] { 1, 2, 3 })
        {
            var got = Run(w);
            Assert.Equal(reference.Count, got.Count);
            for (int i = 0; i < got.Count; i++) Assert.Equal(reference[i], got[i]);
        }
        // The noise differs between the two passes (each batch has its own generator).
        Assert.NotEqual(reference[0], reference[13]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void AnExceptionWhileBuildingABatchSurfacesInTheConsumingLoop(int workers)
    {
        var ds = new FuncDataset<Tensor[]>(50, i => i == 37
            ? throw new InvalidDataException($"item {i} is corrupt")
            : [Tensor.Full([2], i), Tensor.Scalar(i)]);
        var dl = new DataLoader(ds, 4, workers: workers);
        int seen = 0;
        var e = Assert.Throws<InvalidDataException>(() => { foreach (var b in dl) seen++; });
        Assert.Equal("item 37 is corrupt", e.Message);
        Assert.Equal(9, seen); // batches 0..8 hold items 0..35; batch 9 holds item 37
    }

    [Fact]
    public void AbandoningAPassStopsTheWorkersAndPrefetchIsBounded()
    {
        var threads = new ConcurrentDictionary<Thread, bool>();
        int reads = 0;
        var ds = new FuncDataset<Tensor[]>(10_000, i =>
        {
            threads[Thread.CurrentThread] = true;
            Interlocked.Increment(ref reads);
            return [Tensor.Full([4], i)];
        });
        var dl = new DataLoader(ds, 10, workers: 2, prefetch: 3);
        var sw = Stopwatch.StartNew();
        foreach (var b in dl)
        {
            Thread.Sleep(200); // the workers fill their queues and block
            break;
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), "leaving the loop must not hang");
        int after = Volatile.Read(ref reads);
        // At most: the consumed batch, 3 queued per worker and one being built per worker.
        Assert.True(after <= (1 + 2 * 3 + 2) * 10, $"{after} items read: prefetch is not bounded");
        Assert.True(after >= 10);
        Assert.NotEmpty(threads);
        Assert.All(threads.Keys, t => Assert.False(t.IsAlive, "a worker thread outlived its pass"));
        Thread.Sleep(100);
        Assert.Equal(after, Volatile.Read(ref reads));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (float)i), dl.OneBatch().X[.., 0].ToArray());
    }

    [Fact]
    public void AnEnumeratorDroppedWithoutDisposeStopsItsWorkersWhenCollected()
    {
        var threads = new ConcurrentDictionary<Thread, bool>();
        var ds = new FuncDataset<Tensor[]>(10_000, i =>
        {
            threads[Thread.CurrentThread] = true;
            return [Tensor.Full([4], i)];
        });
        var dl = new DataLoader(ds, 10, workers: 2, prefetch: 1);
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static void StartAndDrop(DataLoader dl)
        {
            var e = dl.GetEnumerator();
            Assert.True(e.MoveNext());
            Thread.Sleep(200); // both workers fill their queues and block
        }
        StartAndDrop(dl);
        var sw = Stopwatch.StartNew();
        while (threads.Keys.Any(t => t.IsAlive) && sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(50);
        }
        Assert.NotEmpty(threads);
        Assert.All(threads.Keys, t => Assert.False(t.IsAlive, "a worker of an abandoned, undisposed pass is still running"));
    }

    [Fact]
    public void ItemsOfDifferentSizesCannotBeCollatedAndTheErrorSaysWhy()
    {
        var ds = new FuncDataset<Tensor[]>(4, i => [Tensor.Zeros(1, 28, i == 2 ? 27 : 28), Tensor.Scalar(0)]);
        var e = Assert.Throws<ArgumentException>(() => new DataLoader(ds, 4).First());
        Assert.Contains("item 0 has shape [1,28,28] but item 2 has shape [1,28,27]", e.Message);
        Assert.Contains("different sizes", e.Message);
    }

    [Fact]
    public void DataLoadersValidIsTwiceTheBatchSizeAndNotShuffled()
    {
        var dls = DataLoaders.FromDatasets(Numbers(100), Numbers(50), batchSize: 16, seed: 2);
        Assert.Equal(16, dls.Train.BatchSize);
        Assert.Equal(32, dls.Valid.BatchSize);
        Assert.Equal(7, dls.Train.Count);
        Assert.Equal(2, dls.Valid.Count);
        Assert.Equal(Enumerable.Range(0, 50), dls.Valid.SelectMany(b => b.Y.ToIntArray()));
        Assert.NotEqual(Enumerable.Range(0, 16), dls.Train.First().Y.ToIntArray());
        var (x, y) = dls.Valid.First();
        Assert.Equal([32, 3], x.Shape);
        Assert.Equal([32], y.Shape);
    }

    [Fact]
    public void ItemAndBatchTransformsApplyToTheInputOnly()
    {
        var ds = Numbers(6, features: 4);
        var itemT = Transforms.FromFunc((x, _) => x * 10f);
        var batchT = Transforms.FromFunc((x, _) => x + 1f);
        var b = new DataLoader(ds, 6, itemTransform: itemT, batchTransform: batchT).First();
        Assert.Equal(ds.X.ToArray().Select(v => v * 10 + 1), b.X.ToArray());
        Assert.Equal(ds.Y.ToIntArray(), b.Y.ToIntArray());
    }

    [Fact]
    public void TensorDatasetRejectsFieldsOfDifferentLengths()
    {
        var e = Assert.Throws<ArgumentException>(() => new TensorDataset(Tensor.Zeros(10, 3), Tensor.Zeros(9)));
        Assert.Contains("[10,3] (10 items)", e.Message);
        Assert.Contains("[9] (9 items)", e.Message);
        var ds = Numbers(5);
        Assert.Equal([3f, 4f, 5f], ds[1][0].ToArray());
        Assert.Equal(1, ds[1][1].Item<int>());
        Assert.Throws<ArgumentOutOfRangeException>(() => ds[5]);
    }

    [Fact]
    public void BadLoaderArgumentsAreRejected()
    {
        var ds = Numbers(5);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(ds, 2, workers: -1));
        Assert.Throws<InvalidOperationException>(() => new DataLoader(ds, 8, dropLast: true).First());
    }
}
