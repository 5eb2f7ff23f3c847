namespace Kiln.Optim;

/// <summary>
/// Plain stochastic gradient descent, p -= lr * p.Grad (lesson 4's BasicOptim). A minimal optimizer; momentum, weight
/// decay and parameter groups belong to the full optimizer family.
/// </summary>
public sealed class SGD
{
    readonly Tensor[] _parameters;

    /// <summary>The tensors this optimizer updates.</summary>
    public IReadOnlyList<Tensor> Parameters => _parameters;

    /// <summary>Learning rate (settable, e.g. by a schedule).</summary>
    public float Lr { get; set; }

    /// <summary>An optimizer over parameters (e.g. <c>model.Parameters()</c>) with learning rate lr.</summary>
    public SGD(IEnumerable<Tensor> parameters, float lr)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = [.. parameters];
        if (_parameters.Length == 0) throw new ArgumentException("SGD: got an empty parameter list");
        for (int i = 0; i < _parameters.Length; i++)
            if (_parameters[i].DType != DType.Float32)
                throw new ArgumentException($"SGD: parameter {i} must be float32, got {_parameters[i].DType.Name()}");
        if (!(lr >= 0)) throw new ArgumentException($"SGD: learning rate must be non-negative, got {lr}");
        Lr = lr;
    }

    /// <summary>Updates every parameter that has a gradient in place (not recorded): p -= lr * p.Grad.</summary>
    public void Step()
    {
        using var _ = Autograd.NoGrad();
        foreach (var p in _parameters)
            if (p.Grad is Tensor g) p.AddInPlace(g, -Lr);
    }

    /// <summary>Clears the gradients (sets them to null, or zeroes them in place when setToNull is false).</summary>
    public void ZeroGrad(bool setToNull = true)
    {
        foreach (var p in _parameters) p.ZeroGrad(setToNull);
    }
}
