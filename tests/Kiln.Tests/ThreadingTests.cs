using Kiln.Kernels;

namespace Kiln.Tests;

/// <summary>Threading.For on Kiln's worker team: every chunk once, errors surface with their own type, nesting and concurrent callers.</summary>
[Collection("Threading")]
public sealed class ThreadingTests
{
    static void WithThreads(int t, Action body)
    {
        int saved = Threading.Threads;
        Threading.Threads = t;
        try { body(); }
        finally { Threading.Threads = saved; }
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(2, 2)]
    [InlineData(2, 7)]
    [InlineData(3, 65)]
    public void EveryChunkRunsExactlyOnce(int threads, int chunks) => WithThreads(threads, () =>
    {
        for (int rep = 0; rep < 200; rep++)   // back to back, as kernels call it: workers are awake or just asleep
        {
            var hits = new int[chunks];
            Threading.For(chunks, i => Interlocked.Increment(ref hits[i]));
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    });

    [Fact]
    public void AnErrorInAChunkReachesTheCallerWithItsType() => WithThreads(2, () =>
    {
        var e = Assert.Throws<InvalidOperationException>(() => Threading.For(4, i => { if (i == 3) throw new InvalidOperationException("chunk 3"); }));
        Assert.Equal("chunk 3", e.Message);
        var hits = new int[4];
        Threading.For(4, i => hits[i]++);   // the team still works afterwards
        Assert.All(hits, h => Assert.Equal(1, h));
    });

    [Fact]
    public void ACallInsideAChunkRunsOnItsOwnThread() => WithThreads(2, () =>
    {
        var inner = new int[2];
        Threading.For(2, i =>
        {
            Assert.Equal(1, Threading.Threads);   // nested: no oversubscription
            Threading.For(3, _ => Interlocked.Increment(ref inner[i]));
        });
        Assert.Equal([3, 3], inner);
    });

    [Fact]
    public void ConcurrentCallersAllFinish() => WithThreads(2, () =>
    {
        var totals = new long[4];
        var callers = Enumerable.Range(0, 4).Select(c => Task.Run(() =>
        {
            for (int rep = 0; rep < 100; rep++) Threading.For(5, i => Interlocked.Add(ref totals[c], i + 1));
        })).ToArray();
        Assert.True(Task.WaitAll(callers, TimeSpan.FromSeconds(60)), "a caller hung");
        Assert.All(totals, t => Assert.Equal(100 * 15, t));
    });

    [Fact]
    public void WorkersThatFellAsleepWakeForTheNextJob() => WithThreads(2, () =>
    {
        var ran = new HashSet<int>();
        for (int rep = 0; rep < 3; rep++)
        {
            Thread.Sleep(5);   // well past the workers' spin: they are asleep
            var ids = new int[2];
            Threading.For(2, i => { ids[i] = Environment.CurrentManagedThreadId; Thread.Sleep(20); });
            ran.UnionWith(ids);
        }
        Assert.True(ran.Count >= 2, "both chunks always ran on one thread: the sleeping worker never woke");
    });

    [Theory]
    [InlineData(2, 65, 16, 1)]
    [InlineData(2, 40_007, 8192, 16)]
    [InlineData(3, 40_007, 8192, 16)]
    [InlineData(3, 257, 7, 16)]
    [InlineData(1, 40_007, 8192, 16)]
    [InlineData(3, 40, 7, 16)]
    public void ForRange_covers_every_item_once_in_ranges_that_start_on_the_alignment(int threads, int n, int minPerChunk, int align) => WithThreads(threads, () =>
    {
        var hits = new int[n];
        var starts = new System.Collections.Concurrent.ConcurrentBag<(int Start, int End)>();
        Threading.ForRange(n, minPerChunk, (s, e) =>
        {
            starts.Add((s, e));
            for (int i = s; i < e; i++) Interlocked.Increment(ref hits[i]);
        }, align);
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.All(starts, r => Assert.True(r.Start % align == 0 && r.End > r.Start, $"range [{r.Start}, {r.End}) with alignment {align}"));
        int expected = threads <= 1 || n < 2 * minPerChunk ? 1 : Math.Max(1, Math.Min(threads, n / Math.Max(minPerChunk, align)));
        Assert.Equal(expected, starts.Count);
    });
}
