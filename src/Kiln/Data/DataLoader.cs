namespace Kiln.Data;

/// <summary>
/// A loader of tensor batches for the Learner: batches of <see cref="IDataset{T}"/> items (each item an array of tensor
/// fields, e.g. [x, y]), optionally shuffled every pass, with item transforms (on each item's input before collation) and
/// batch transforms (on the collated input, vectorised) run on background workers. A <see cref="TensorDataset"/> with the
/// default collation takes a fast path: each field of a batch is gathered with one block copy per row, without stacking items.
/// </summary>
public sealed class DataLoader : Loader<Batch>, IBatchLoader
{
    readonly Func<IReadOnlyList<Tensor[]>, Batch>? _collate;

    /// <summary>
    /// A loader over <paramref name="dataset"/>: <paramref name="batchSize"/> items per batch; <paramref name="shuffle"/>: new order
    /// every pass; <paramref name="dropLast"/>: drop a final partial batch; <paramref name="collate"/>: items to batch (default stacks
    /// each field); <paramref name="seed"/>: order and augmentation seed (default: drawn from the default generator);
    /// <paramref name="workers"/>: background threads (0: build on the calling thread); <paramref name="prefetch"/>: ready batches per worker;
    /// <paramref name="itemTransform"/>: applied to each item's field 0 before collation; <paramref name="batchTransform"/>: applied to batch field 0.
    /// </summary>
    public DataLoader(IDataset<Tensor[]> dataset, int batchSize, bool shuffle = false, bool dropLast = false,
        Func<IReadOnlyList<Tensor[]>, Batch>? collate = null, long? seed = null, int workers = 0, int prefetch = 2,
        ITransform? itemTransform = null, ITransform? batchTransform = null)
        : base((dataset ?? throw new ArgumentNullException(nameof(dataset))).Count, batchSize, shuffle, dropLast, seed, workers, prefetch)
    {
        Dataset = dataset;
        _collate = collate;
        ItemTransform = itemTransform;
        BatchTransform = batchTransform;
    }

    /// <summary>The dataset batches are drawn from.</summary>
    public IDataset<Tensor[]> Dataset { get; }

    /// <summary>Transform applied to each item's input (field 0) before collation, or null.</summary>
    public ITransform? ItemTransform { get; }

    /// <summary>Transform applied to each collated batch's input (field 0), or null.</summary>
    public ITransform? BatchTransform { get; }

    /// <summary>True when batches are gathered as row blocks from a <see cref="TensorDataset"/> (no per-item stacking).</summary>
    public bool UsesFastPath => Dataset is TensorDataset && _collate == null && ItemTransform == null;

    /// <summary>The same loader with a different batch transform (e.g. none, or a deterministic one for test-time augmentation).</summary>
    public DataLoader WithBatchTransform(ITransform? batchTransform) =>
        new(Dataset, BatchSize, Shuffle, DropLast, _collate, Seed, Workers, Prefetch, ItemTransform, batchTransform);

    /// <inheritdoc/>
    protected override Batch MakeBatch(int[] indices, Generator rng)
    {
        using var _ = Autograd.NoGrad();
        Batch batch;
        if (UsesFastPath) batch = ((TensorDataset)Dataset).Gather(indices);
        else
        {
            var items = new Tensor[indices.Length][];
            for (int i = 0; i < items.Length; i++)
            {
                var item = Dataset[indices[i]];
                if (item is null || item.Length == 0)
                    throw new InvalidOperationException($"DataLoader: dataset item {indices[i]} has no fields.");
                if (ItemTransform != null)
                {
                    item = (Tensor[])item.Clone();
                    item[0] = ItemTransform.Apply(item[0], rng);
                }
                items[i] = item;
            }
            batch = (_collate ?? Collate.Tensors)(items);
        }
        if (BatchTransform != null)
        {
            var fields = batch.ToArray();
            fields[0] = BatchTransform.Apply(fields[0], rng);
            batch = new Batch(fields);
        }
        return batch;
    }

    /// <summary>A loader of arbitrary items collated by <see cref="Collate.Default{T}"/> (lesson 4's <c>DataLoader(range(15), bs=5)</c>).</summary>
    public static DataLoader<T, object> Create<T>(IDataset<T> dataset, int batchSize, bool shuffle = false, bool dropLast = false,
        long? seed = null, int workers = 0) =>
        new(dataset, batchSize, Collate.Default, shuffle, dropLast, seed, workers);
}

/// <summary>
/// A loader of arbitrary items: each batch is <c>collate(items)</c> (e.g. <see cref="Collate.Default{T}"/>), shuffled, batched and
/// prefetched exactly as <see cref="DataLoader"/> does.
/// </summary>
public sealed class DataLoader<TItem, TBatch> : Loader<TBatch>
{
    readonly Func<IReadOnlyList<TItem>, TBatch> _collate;

    /// <summary>A loader over <paramref name="dataset"/> turning each batch's items into a batch with <paramref name="collate"/>.</summary>
    public DataLoader(IDataset<TItem> dataset, int batchSize, Func<IReadOnlyList<TItem>, TBatch> collate, bool shuffle = false,
        bool dropLast = false, long? seed = null, int workers = 0, int prefetch = 2)
        : base((dataset ?? throw new ArgumentNullException(nameof(dataset))).Count, batchSize, shuffle, dropLast, seed, workers, prefetch)
    {
        Dataset = dataset;
        _collate = collate ?? throw new ArgumentNullException(nameof(collate));
    }

    /// <summary>The dataset batches are drawn from.</summary>
    public IDataset<TItem> Dataset { get; }

    /// <inheritdoc/>
    protected override TBatch MakeBatch(int[] indices, Generator rng)
    {
        var items = new TItem[indices.Length];
        for (int i = 0; i < items.Length; i++) items[i] = Dataset[indices[i]];
        return _collate(items);
    }
}

/// <summary>A training and a validation loader (fastai's DataLoaders); the validation loader is never shuffled.</summary>
public sealed class DataLoaders : IDataLoaders
{
    /// <summary>Pairs two existing loaders.</summary>
    public DataLoaders(IBatchLoader train, IBatchLoader valid)
    {
        Train = train ?? throw new ArgumentNullException(nameof(train));
        Valid = valid ?? throw new ArgumentNullException(nameof(valid));
    }

    /// <summary>The training loader.</summary>
    public IBatchLoader Train { get; }

    /// <summary>The validation loader.</summary>
    public IBatchLoader Valid { get; }

    /// <summary>
    /// Loaders over a training and a validation dataset: train shuffled with <paramref name="batchSize"/>, valid in order with
    /// <paramref name="validBatchSize"/> (default twice the batch size, as lesson 15's get_dls); batch transforms apply to train
    /// only unless <paramref name="validBatchTransform"/> is given.
    /// </summary>
    public static DataLoaders FromDatasets(IDataset<Tensor[]> train, IDataset<Tensor[]> valid, int batchSize, int? validBatchSize = null,
        bool shuffle = true, bool dropLast = false, long? seed = null, int workers = 0, ITransform? itemTransform = null,
        ITransform? batchTransform = null, ITransform? validItemTransform = null, ITransform? validBatchTransform = null)
    {
        var t = new DataLoader(train, batchSize, shuffle, dropLast, seed: seed, workers: workers,
            itemTransform: itemTransform, batchTransform: batchTransform);
        var v = new DataLoader(valid, validBatchSize ?? 2 * batchSize, shuffle: false, dropLast: false, seed: t.Seed, workers: workers,
            itemTransform: validItemTransform, batchTransform: validBatchTransform);
        return new DataLoaders(t, v);
    }

    /// <summary>Deconstructs into (train, valid).</summary>
    public void Deconstruct(out IBatchLoader train, out IBatchLoader valid) { train = Train; valid = Valid; }
}

/// <summary>Conveniences on loaders: first batch, one batch.</summary>
public static class LoaderExtensions
{
    /// <summary>The first batch of a new pass (fastai's first / one_batch); the pass is stopped afterwards.</summary>
    public static TBatch OneBatch<TBatch>(this IEnumerable<TBatch> loader)
    {
        using var e = loader.GetEnumerator();
        if (!e.MoveNext()) throw new InvalidOperationException("OneBatch: the loader yields no batches (empty dataset, or every batch dropped).");
        return e.Current;
    }

    /// <summary>The first batch of a new pass (same as <see cref="OneBatch{TBatch}"/>).</summary>
    public static Batch First(this IBatchLoader loader) => OneBatch(loader);
}
