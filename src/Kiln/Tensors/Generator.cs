namespace Kiln;

/// <summary>
/// A seedable random number generator (xoshiro256**, seeded through SplitMix64). Numbers are drawn sequentially on the
/// calling thread, so the same seed gives the same tensors whatever the thread count.
/// </summary>
public sealed class Generator
{
    ulong _s0, _s1, _s2, _s3;
    double? _spareNormal;

    /// <summary>The process-wide generator used when no generator is passed (seed it with <see cref="Tensor.ManualSeed"/>).</summary>
    public static Generator Default { get; } = new(0x5EED);

    /// <summary>Creates a generator from a seed.</summary>
    public Generator(long seed) => ManualSeed(seed);

    /// <summary>Resets the generator to the state given by seed.</summary>
    public Generator ManualSeed(long seed)
    {
        ulong x = (ulong)seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
        _spareNormal = null;
        return this;
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next raw 64-bit value.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform float in [0, 1).</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Standard normal sample (Box-Muller; pairs are cached).</summary>
    public double NextNormal()
    {
        if (_spareNormal is double s)
        {
            _spareNormal = null;
            return s;
        }
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Uniform integer in [low, high) without modulo bias.</summary>
    public int NextInt(int low, int high)
    {
        if (high <= low) throw new ArgumentException($"NextInt: empty range [{low}, {high})");
        ulong range = (ulong)((long)high - low);
        ulong limit = ulong.MaxValue - ulong.MaxValue % range;
        ulong v;
        do v = NextUInt64(); while (v >= limit);
        return (int)(low + (long)(v % range));
    }
}
