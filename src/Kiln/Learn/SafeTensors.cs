using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Learn;

/// <summary>One tensor entry of a safetensors file: its dtype name ("F32", "I32", "I64", "BOOL", ...), shape and raw little-endian bytes.</summary>
/// <param name="Name">The tensor's key.</param>
/// <param name="DType">The safetensors dtype name.</param>
/// <param name="Shape">The shape.</param>
/// <param name="Data">The raw little-endian bytes.</param>
public sealed record SafeTensor(string Name, string DType, int[] Shape, byte[] Data)
{
    /// <summary>The Kiln dtype a safetensors dtype is stored as (F32 -> float32, I32/I64 -> int32, BOOL -> bool), or null if Kiln cannot hold it.</summary>
    public static Kiln.DType? KilnDType(string dtype) => dtype switch
    {
        "F32" => Kiln.DType.Float32,
        "I32" or "I64" => Kiln.DType.Int32,
        "BOOL" => Kiln.DType.Bool,
        _ => null,
    };

    /// <summary>The entry as a Kiln tensor (I64 values must fit in int32); throws naming the tensor for dtypes Kiln lacks.</summary>
    // FromArray reads an empty shape as "1-d", so build flat and reshape: 0-d tensors (e.g. num_batches_tracked) stay 0-d.
    public Tensor ToTensor() => Flat().Reshape(Shape);

    Tensor Flat()
    {
        int n = Shape.Aggregate(1, (a, d) => a * d);
        int[] flat = [n];
        switch (DType)
        {
            case "F32": return Tensor.FromArray(MemoryMarshal.Cast<byte, float>(Data).ToArray(), flat);
            case "I32": return Tensor.FromArray(MemoryMarshal.Cast<byte, int>(Data).ToArray(), flat);
            case "I64":
                var longs = MemoryMarshal.Cast<byte, long>(Data);
                var ints = new int[longs.Length];
                for (int i = 0; i < ints.Length; i++)
                    ints[i] = longs[i] is >= int.MinValue and <= int.MaxValue ? (int)longs[i]
                        : throw new InvalidDataException($"safetensors: tensor \"{Name}\" (I64) holds {longs[i]} at {i}, outside the int32 range");
                return Tensor.FromArray(ints, flat);
            case "BOOL": return Tensor.FromArray(Data.Select(b => b != 0).ToArray(), flat);
            default: throw new InvalidDataException($"safetensors: tensor \"{Name}\" has dtype {DType}, which Kiln cannot load (F32, I32, I64, BOOL)");
        }
    }
}

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header mapping each name to
/// dtype, shape and data_offsets (plus optional string metadata under "__metadata__"), then the raw little-endian data.
/// PyTorch reads and writes it with <c>safetensors.torch.load_file/save_file</c>.
/// </summary>
public static class SafeTensors
{
    static int ElementSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E4M3" or "F8_E5M2" => 1,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "F32" or "I32" or "U32" => 4,
        "F64" or "I64" or "U64" => 8,
        _ => -1,
    };

    static (string DType, byte[] Data) Encode(string name, Tensor t)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors: big-endian hosts are not supported");
        var c = t.Contiguous();
        return t.DType switch
        {
            Kiln.DType.Float32 => ("F32", MemoryMarshal.AsBytes(c.ToArray().AsSpan()).ToArray()),
            Kiln.DType.Int32 => ("I32", MemoryMarshal.AsBytes(c.ToIntArray().AsSpan()).ToArray()),
            Kiln.DType.Bool => ("BOOL", c.ToBoolArray().Select(b => b ? (byte)1 : (byte)0).ToArray()),
            _ => throw new ArgumentException($"safetensors: cannot encode tensor \"{name}\" of dtype {t.DType}"),
        };
    }

    /// <summary>Writes tensors (in the given order) and optional string metadata to path atomically (temporary file, then rename).</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var (name, t) in tensors)
        {
            if (name == "__metadata__") throw new ArgumentException("safetensors: \"__metadata__\" is reserved and cannot name a tensor");
            if (header.ContainsKey(name)) throw new ArgumentException($"safetensors: tensor \"{name}\" appears twice");
            var (dtype, data) = Encode(name, t);
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray([.. t.Shape.Select(d => (JsonNode)d)]),
                ["data_offsets"] = new JsonArray(offset, offset + data.Length),
            };
            blobs.Add(data);
            offset += data.Length;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8; // the reference writer pads the header with spaces to 8-byte alignment
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var tmp = full + $".{Environment.ProcessId}.tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
                fs.Write(len);
                fs.Write(json);
                for (int i = json.Length; i < padded; i++) fs.WriteByte((byte)' ');
                foreach (var b in blobs) fs.Write(b);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>
    /// Reads and verifies a safetensors file: header length within the file, valid JSON, each entry's byte range matching
    /// its dtype and shape and lying inside the data. Errors name the file and the offending tensor.
    /// </summary>
    public static (List<SafeTensor> Tensors, Dictionary<string, string> Metadata) Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        string where = $"safetensors '{path}'";
        if (bytes.Length < 8) throw new InvalidDataException($"{where}: file is {bytes.Length} bytes, too short for the 8-byte header length (truncated?)");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > (ulong)(bytes.Length - 8)) throw new InvalidDataException($"{where}: header length {n} exceeds the {bytes.Length - 8} bytes after it (truncated?)");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)n)) as JsonObject
                ?? throw new InvalidDataException($"{where}: the header is not a JSON object");
        }
        catch (JsonException e) { throw new InvalidDataException($"{where}: the header is not valid JSON ({e.Message})", e); }
        long dataStart = 8 + (long)n, dataLen = bytes.Length - dataStart;
        var meta = new Dictionary<string, string>();
        var list = new List<SafeTensor>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject mo)
                    foreach (var (k, v) in mo) meta[k] = v?.GetValue<string>() ?? "";
                continue;
            }
            try
            {
                var o = (JsonObject)node!;
                string dtype = o["dtype"]!.GetValue<string>();
                int[] shape = [.. o["shape"]!.AsArray().Select(d => d!.GetValue<int>())];
                var offs = o["data_offsets"]!.AsArray();
                long begin = offs[0]!.GetValue<long>(), end = offs[1]!.GetValue<long>();
                int es = ElementSize(dtype);
                if (es < 0) throw new InvalidDataException($"{where}: tensor \"{name}\" has unknown dtype {dtype}");
                if (shape.Any(d => d < 0)) throw new InvalidDataException($"{where}: tensor \"{name}\" has a negative dimension in [{string.Join(", ", shape)}]");
                long numel = shape.Aggregate(1L, (a, d) => a * d);
                if (begin < 0 || end < begin || end - begin != numel * es)
                    throw new InvalidDataException($"{where}: tensor \"{name}\" ({dtype} [{string.Join(", ", shape)}]) has data_offsets [{begin}, {end}], expected {numel * es} bytes");
                if (end > dataLen)
                    throw new InvalidDataException($"{where}: tensor \"{name}\" needs bytes up to {end} of the data but the file holds only {dataLen} (truncated?)");
                list.Add(new SafeTensor(name, dtype, shape, bytes.AsSpan((int)(dataStart + begin), (int)(end - begin)).ToArray()));
            }
            catch (Exception e) when (e is InvalidOperationException or NullReferenceException or InvalidCastException or FormatException or ArgumentOutOfRangeException)
            {
                throw new InvalidDataException($"{where}: malformed header entry for tensor \"{name}\" ({e.Message})", e);
            }
        }
        return (list, meta);
    }
}
