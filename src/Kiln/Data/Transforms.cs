namespace Kiln.Data;

/// <summary>
/// A data transform: maps an input tensor to a new one (never modifying its argument), drawing any randomness from
/// the generator it is given only, so a seeded generator reproduces it exactly. Image transforms take a batch [N,C,H,W] or
/// a single image [C,H,W] (or [H,W]).
/// </summary>
public interface ITransform
{
    /// <summary>The transformed input (a new tensor; the argument is left as it was).</summary>
    Tensor Apply(Tensor x, Generator rng);
}

/// <summary>Factories and helpers for transforms.</summary>
public static partial class Transforms
{
    /// <summary>Applies the transforms in order, sharing one generator (lesson 7's list of transforms).</summary>
    public static ITransform Compose(params ITransform[] transforms) => new Compose(transforms);

    /// <summary>A transform from a function of (input, generator).</summary>
    public static ITransform FromFunc(Func<Tensor, Generator, Tensor> f) => new FuncTransform(f);

    /// <summary>Applies <paramref name="t"/> with a generator seeded by <paramref name="seed"/>.</summary>
    public static Tensor Apply(this ITransform t, Tensor x, long seed) => t.Apply(x, new Generator(seed));

    sealed class FuncTransform(Func<Tensor, Generator, Tensor> f) : ITransform
    {
        public Tensor Apply(Tensor x, Generator rng) => f(x, rng);
    }
}

/// <summary>Several transforms applied in order with one generator.</summary>
public sealed class Compose : ITransform
{
    /// <summary>Composes the given transforms (applied first to last).</summary>
    public Compose(params ITransform[] transforms)
    {
        ArgumentNullException.ThrowIfNull(transforms);
        foreach (var t in transforms) ArgumentNullException.ThrowIfNull(t, nameof(transforms));
        Steps = (ITransform[])transforms.Clone();
    }

    /// <summary>The transforms, in the order they run.</summary>
    public IReadOnlyList<ITransform> Steps { get; }

    /// <inheritdoc/>
    public Tensor Apply(Tensor x, Generator rng)
    {
        foreach (var t in Steps) x = t.Apply(x, rng);
        return x;
    }
}
