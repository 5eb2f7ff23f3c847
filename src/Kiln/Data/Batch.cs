using System.Collections;

namespace Kiln.Data;

/// <summary>
/// One collated batch as a loader yields it and a Learner consumes it: fields in order, like the tuple a PyTorch
/// DataLoader yields. By convention field 0 is the model input and the rest are targets (fastai's <c>xb, *yb</c>).
/// </summary>
public sealed class Batch : IReadOnlyList<Tensor>
{
    private readonly Tensor[] _fields;

    /// <summary>A batch of the given fields (at least one).</summary>
    public Batch(params Tensor[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        if (fields.Length == 0) throw new ArgumentException("Batch: a batch needs at least one field (the input).", nameof(fields));
        for (int i = 0; i < fields.Length; i++)
            if (fields[i] is null) throw new ArgumentNullException(nameof(fields), $"Batch: field {i} is null.");
        _fields = fields;
    }

    /// <summary>The model input (field 0).</summary>
    public Tensor X => _fields[0];

    /// <summary>The first target (field 1); throws for an input-only batch.</summary>
    public Tensor Y => _fields.Length > 1 ? _fields[1]
        : throw new InvalidOperationException("Batch.Y: this batch has only an input field (no target).");

    /// <summary>The target fields (everything after the input).</summary>
    public ReadOnlySpan<Tensor> Targets => _fields.AsSpan(1);

    /// <summary>Number of items in the batch (size of dimension 0 of the input).</summary>
    public int Size => X.Shape.Length == 0 ? 1 : X.Shape[0];

    /// <inheritdoc/>
    public Tensor this[int index] => _fields[index];

    /// <inheritdoc/>
    public int Count => _fields.Length;

    /// <summary>Deconstructs into input and first target: <c>var (xb, yb) = batch;</c></summary>
    public void Deconstruct(out Tensor x, out Tensor y) { x = X; y = Y; }

    /// <inheritdoc/>
    public IEnumerator<Tensor> GetEnumerator() => ((IEnumerable<Tensor>)_fields).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _fields.GetEnumerator();
}

/// <summary>
/// What a Learner needs from a data loader: a re-enumerable sequence of batches (each enumeration is one pass over the
/// data, reshuffled if the loader shuffles) and the number of batches in a pass.
/// </summary>
public interface IBatchLoader : IEnumerable<Batch>
{
    /// <summary>Number of batches one pass yields.</summary>
    int Count { get; }

    /// <summary>Items per batch (the last batch of a pass may be smaller unless dropped).</summary>
    int BatchSize { get; }
}

/// <summary>A pair of loaders as a Learner consumes them: training (usually shuffled) and validation.</summary>
public interface IDataLoaders
{
    /// <summary>The training loader (usually shuffled).</summary>
    IBatchLoader Train { get; }

    /// <summary>The validation loader.</summary>
    IBatchLoader Valid { get; }
}
