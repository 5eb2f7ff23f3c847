using System.Collections;

namespace Kiln.Nn;

/// <summary>
/// Runs its modules one after another, each on the previous one's output. Children are named "0", "1", ...; index with
/// <c>seq[0]</c>, enumerate, or build with a collection initializer: <c>new Sequential { new Linear(2, 8), new ReLU() }</c>.
/// </summary>
public sealed class Sequential : Module, IEnumerable<Module>
{
    readonly List<Module> _layers = [];

    /// <summary>A sequence of the given modules, named by position.</summary>
    public Sequential(params Module[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    /// <summary>Appends a module (named by its position) and returns this sequence.</summary>
    public Sequential Add(Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        _layers.Add(module);
        return this;
    }

    /// <summary>Number of modules.</summary>
    public int Count => _layers.Count;

    /// <summary>The module at position index (negative counts from the end).</summary>
    public Module this[int index]
    {
        get
        {
            int i = index < 0 ? index + _layers.Count : index;
            if ((uint)i >= (uint)_layers.Count)
                throw new ArgumentOutOfRangeException(nameof(index), index, $"Sequential: index {index} is out of range for {_layers.Count} modules");
            return _layers[i];
        }
    }

    /// <summary>A new Sequential over a range of these modules (the modules are shared, not copied).</summary>
    public Sequential this[Range range]
    {
        get
        {
            var (start, length) = range.GetOffsetAndLength(_layers.Count);
            return new Sequential([.. _layers.GetRange(start, length)]);
        }
    }

    /// <summary>Applies each module in order (through Call, so their hooks run).</summary>
    public override Tensor Forward(Tensor x)
    {
        foreach (var m in _layers) x = m.Call(x);
        return x;
    }

    /// <summary>Enumerates the modules in order.</summary>
    public IEnumerator<Module> GetEnumerator() => _layers.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
