namespace Kiln.Nn;

/// <summary>
/// A lookup table of numEmbeddings rows of size embeddingDim: int32 indices of any shape map to their rows
/// (result indices.shape + [embeddingDim]). Weight starts N(0, 1) as PyTorch; the paddingIdx row (if any) starts at zero
/// and receives no gradient.
/// </summary>
public sealed class Embedding : Module
{
    /// <summary>Number of rows.</summary>
    public int NumEmbeddings { get; }

    /// <summary>Size of each row.</summary>
    public int EmbeddingDim { get; }

    /// <summary>Row excluded from gradient updates (normalised to be non-negative), or null.</summary>
    public int? PaddingIdx { get; }

    /// <summary>The table [numEmbeddings, embeddingDim].</summary>
    public Tensor Weight { get; }

    /// <summary>Creates the table, drawing N(0, 1) values from generator (default generator when null).</summary>
    public Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx = null, Generator? generator = null)
    {
        if (numEmbeddings <= 0 || embeddingDim <= 0)
            throw new ArgumentException($"Embedding: numEmbeddings and embeddingDim must be positive, got {numEmbeddings} and {embeddingDim}");
        if (paddingIdx is int p && (p >= numEmbeddings || p < -numEmbeddings))
            throw new ArgumentException($"Embedding: paddingIdx {p} must be within [-{numEmbeddings}, {numEmbeddings})");
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        PaddingIdx = paddingIdx is int q ? (q < 0 ? q + numEmbeddings : q) : null;
        var w = Tensor.Randn([numEmbeddings, embeddingDim], generator);
        if (PaddingIdx is int pi) w.Storage.Floats.AsSpan(pi * embeddingDim, embeddingDim).Clear();
        Weight = RegisterParameter("weight", w)!;
    }

    /// <summary>Looks up the rows of int32 indices.</summary>
    public override Tensor Forward(Tensor indices) => F.Embedding(indices, Weight, PaddingIdx);

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{NumEmbeddings}, {EmbeddingDim}" + (PaddingIdx is int p ? $", paddingIdx: {p}" : "");
}
