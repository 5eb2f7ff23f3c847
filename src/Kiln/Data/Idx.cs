using System.Buffers.Binary;
using System.IO.Compression;

namespace Kiln.Data;

/// <summary>
/// The contents of one IDX file: element type code, dimensions and the raw big-endian element bytes (no conversion).
/// </summary>
/// <param name="Path">File it was read from.</param>
/// <param name="TypeCode">IDX element type code (third magic byte): 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.</param>
/// <param name="Dims">Dimension sizes from the header.</param>
/// <param name="Data">Element bytes exactly as stored (big-endian for multi-byte types).</param>
public sealed record IdxFile(string Path, byte TypeCode, int[] Dims, byte[] Data)
{
    /// <summary>The 32-bit magic number: 0x00 0x00, type code, number of dimensions.</summary>
    public int Magic => (TypeCode << 8) | Dims.Length;

    /// <summary>Number of items (the first dimension; 1 for a 0-d file).</summary>
    public int Count => Dims.Length == 0 ? 1 : Dims[0];
}

/// <summary>
/// Reader (and writer, for tests and tools) of the IDX format used by MNIST and Fashion-MNIST: big-endian 32-bit magic
/// (0x0801 labels: ubyte, 1 dim; 0x0803 images: ubyte, 3 dims), big-endian 32-bit dimension sizes, then the elements.
/// Files are gzip-compressed or plain (detected from the first two bytes, not the name). Every malformed file raises an
/// <see cref="InvalidDataException"/> naming the file and the problem; nothing is ever returned from a short or padded file.
/// </summary>
public static class Idx
{
    /// <summary>Magic number of an MNIST-style label file: unsigned bytes, one dimension.</summary>
    public const int LabelsMagic = 0x0801;

    /// <summary>Magic number of an MNIST-style image file: unsigned bytes, three dimensions [N, rows, cols].</summary>
    public const int ImagesMagic = 0x0803;

    /// <summary>Reads an image file (magic 0x0803) as a Float32 tensor [N, rows, cols]: pixel/255 in [0,1], or 0..255 if <paramref name="scale"/> is false.</summary>
    public static Tensor ReadImages(string path, bool scale = true)
    {
        var f = ReadExpecting(path, ImagesMagic, "images");
        var data = new float[f.Data.Length];
        var src = f.Data;
        if (scale) for (int i = 0; i < src.Length; i++) data[i] = src[i] / 255f;
        else for (int i = 0; i < src.Length; i++) data[i] = src[i];
        return Tensor.Wrap(data, f.Dims);
    }

    /// <summary>Reads an image file (magic 0x0803) as its raw pixel bytes (row-major, N*rows*cols) and the shape [N, rows, cols].</summary>
    public static (byte[] Pixels, int[] Shape) ReadImageBytes(string path)
    {
        var f = ReadExpecting(path, ImagesMagic, "images");
        return (f.Data, f.Dims);
    }

    /// <summary>Reads a label file (magic 0x0801) as an Int32 tensor [N].</summary>
    public static Tensor ReadLabels(string path)
    {
        var f = ReadExpecting(path, LabelsMagic, "labels");
        var data = new int[f.Data.Length];
        for (int i = 0; i < data.Length; i++) data[i] = f.Data[i];
        return Tensor.Wrap(data, f.Dims, DType.Int32);
    }

    /// <summary>Reads a matching image and label file pair; the counts must agree. Images as in <see cref="ReadImages"/>.</summary>
    public static (Tensor Images, Tensor Labels) ReadPair(string imagesPath, string labelsPath, bool scale = true)
    {
        var labels = ReadLabels(labelsPath);
        var images = ReadImages(imagesPath, scale);
        if (images.Size(0) != labels.Size(0))
            throw new InvalidDataException(
                $"Idx: image/label count mismatch: '{imagesPath}' holds {images.Size(0)} images but '{labelsPath}' holds {labels.Size(0)} labels");
        return (images, labels);
    }

    /// <summary>Reads any IDX file (gzip or plain) without interpreting its elements; checks header and exact length.</summary>
    public static IdxFile ReadRaw(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Idx: file not found: '{path}'", path);
        byte[] bytes;
        try
        {
            using var fs = File.OpenRead(path);
            Span<byte> head = stackalloc byte[2];
            int got = fs.ReadAtLeast(head, 2, throwOnEndOfStream: false);
            fs.Position = 0;
            bool gz = got == 2 && head[0] == 0x1f && head[1] == 0x8b;
            if (gz)
            {
                using var z = new GZipStream(fs, CompressionMode.Decompress);
                using var ms = new MemoryStream(fs.Length > int.MaxValue / 8 ? 0 : (int)fs.Length * 4);
                z.CopyTo(ms);
                bytes = ms.ToArray();
            }
            else
            {
                bytes = new byte[fs.Length];
                fs.ReadExactly(bytes);
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Idx: '{path}': corrupt or truncated gzip data ({e.Message})", e);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"Idx: '{path}': gzip stream ends early (truncated file)", e);
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses IDX bytes already in memory (decompressed); <paramref name="path"/> is only used in error messages.</summary>
    public static IdxFile Parse(byte[] bytes, string path)
    {
        if (bytes.Length < 4)
            throw new InvalidDataException($"Idx: '{path}': truncated: {bytes.Length} bytes, too short for the 4-byte magic number");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new InvalidDataException(
                $"Idx: '{path}': wrong magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(bytes):X8} (an IDX file starts with two zero bytes, e.g. 0x00000801 labels, 0x00000803 images)");
        byte type = bytes[2];
        int nd = bytes[3];
        int elem = ElementSize(type)
                   ?? throw new InvalidDataException($"Idx: '{path}': unknown element type code 0x{type:X2} in magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(bytes):X8}");
        long header = 4L + 4L * nd;
        if (bytes.Length < header)
            throw new InvalidDataException($"Idx: '{path}': truncated header: {nd} dimensions need {header} bytes, file has {bytes.Length}");
        var dims = new int[nd];
        long count = 1;
        for (int d = 0; d < nd; d++)
        {
            uint size = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4 + 4 * d));
            if (size > int.MaxValue)
                throw new InvalidDataException($"Idx: '{path}': dimension {d} has an impossible size {size}");
            dims[d] = (int)size;
            count *= size;
            if (count * elem > Array.MaxLength)
                throw new InvalidDataException($"Idx: '{path}': dimensions [{string.Join(", ", dims[..(d + 1)])}...] describe more data than can be held");
        }
        long expected = count * elem;
        long actual = bytes.Length - header;
        if (actual < expected)
            throw new InvalidDataException(
                $"Idx: '{path}': truncated: dimensions [{string.Join(", ", dims)}] need {expected} data bytes after the {header}-byte header, found {actual}");
        if (actual > expected)
            throw new InvalidDataException(
                $"Idx: '{path}': {actual - expected} unexpected bytes after the data (dimensions [{string.Join(", ", dims)}] need {expected} data bytes, found {actual})");
        return new IdxFile(path, type, dims, bytes.AsSpan((int)header).ToArray());
    }

    /// <summary>Writes an unsigned-byte IDX file with the given dimensions (gzip-compressed if <paramref name="gzip"/>), atomically via a temporary file.</summary>
    public static void Write(string path, ReadOnlySpan<byte> data, int[] dims, bool gzip)
    {
        long count = 1;
        foreach (int d in dims)
        {
            if (d < 0) throw new ArgumentException($"Idx.Write: negative dimension in [{string.Join(", ", dims)}]");
            count *= d;
        }
        if (count != data.Length)
            throw new ArgumentException($"Idx.Write: {data.Length} bytes cannot have dimensions [{string.Join(", ", dims)}] ({count} elements)");
        if (dims.Length > 255) throw new ArgumentException($"Idx.Write: {dims.Length} dimensions (at most 255)");
        var header = new byte[4 + 4 * dims.Length];
        header[2] = 0x08;
        header[3] = (byte)dims.Length;
        for (int d = 0; d < dims.Length; d++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * d), dims[d]);
        string tmp = path + ".tmp" + Environment.ProcessId;
        try
        {
            using (var fs = File.Create(tmp))
            using (var s = gzip ? new GZipStream(fs, CompressionLevel.Fastest) : (Stream)fs)
            {
                s.Write(header);
                s.Write(data);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    static IdxFile ReadExpecting(string path, int magic, string what)
    {
        var f = ReadRaw(path);
        if (f.TypeCode != 0x08)
            throw new InvalidDataException(
                $"Idx: '{path}': expected {what} of unsigned bytes (magic 0x{magic:X8}), but the element type code is 0x{f.TypeCode:X2} ({TypeName(f.TypeCode)}; magic 0x{f.Magic:X8})");
        if (f.Magic != magic)
            throw new InvalidDataException(
                $"Idx: '{path}': expected {what} (magic 0x{magic:X8}, {magic & 0xFF} dimension(s)), found magic 0x{f.Magic:X8} ({f.Dims.Length} dimension(s): [{string.Join(", ", f.Dims)}])");
        return f;
    }

    static int? ElementSize(byte type) => type switch
    {
        0x08 or 0x09 => 1,
        0x0B => 2,
        0x0C or 0x0D => 4,
        0x0E => 8,
        _ => null,
    };

    static string TypeName(byte type) => type switch
    {
        0x08 => "ubyte",
        0x09 => "sbyte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown",
    };
}
