namespace Kiln.Nn;

public static partial class F
{
    /// <summary>
    /// Looks up rows of weight [num, dim] for int32 indices of any shape: result indices.shape + [dim]. The gradient
    /// scatter-adds each output row into its weight row; rows at paddingIdx (when given) get no gradient.
    /// </summary>
    public static Tensor Embedding(Tensor indices, Tensor weight, int? paddingIdx = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(weight);
        if (indices.DType != DType.Int32) throw new ArgumentException($"Embedding: indices must be int32, got {indices.DType.Name()}");
        if (weight.Dim != 2 || weight.DType != DType.Float32) throw new ArgumentException($"Embedding: weight must be a 2-d float32 [num, dim] tensor, got {weight.DType.Name()} {Shapes.Str(weight._shape)}");
        int num = weight._shape[0], dim = weight._shape[1];
        int? pad = paddingIdx is int p ? (p < 0 ? p + num : p) : null;
        if (pad is int pp && (pp < 0 || pp >= num)) throw new ArgumentException($"Embedding: paddingIdx {paddingIdx} is outside the {num} rows");
        var idx = indices.ToIntArray();
        for (int i = 0; i < idx.Length; i++)
            if ((uint)idx[i] >= (uint)num)
                throw new ArgumentException($"Embedding: index {idx[i]} at flat position {i} of indices {Shapes.Str(indices._shape)} is outside the {num} rows of weight {Shapes.Str(weight._shape)}");
        var wc = weight.Contiguous();
        var ws = wc.Storage.Floats!;
        var y = TensorMemory.NewFloats(idx.Length * dim, zeroed: false);
        for (int i = 0; i < idx.Length; i++) ws.AsSpan(wc._offset + idx[i] * dim, dim).CopyTo(y.AsSpan(i * dim, dim));
        int[] outShape = [.. indices._shape, dim];
        var yt = Tensor.Wrap(y, outShape);
        return Tensor.Record(yt, "Embedding", wc, g =>
        {
            var gc = g.Contiguous();
            var gs = gc.Storage.Floats!;
            var gw = TensorMemory.NewFloats(num * dim, zeroed: true);
            for (int i = 0; i < idx.Length; i++)
            {
                if (idx[i] == pad) continue;
                System.Numerics.Tensors.TensorPrimitives.Add(gw.AsSpan(idx[i] * dim, dim), gs.AsSpan(gc._offset + i * dim, dim), gw.AsSpan(idx[i] * dim, dim));
            }
            return Tensor.Wrap(gw, num, dim);
        });
    }
}
