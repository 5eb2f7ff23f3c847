namespace Kiln;

/// <summary>Element type of a tensor.</summary>
public enum DType
{
    /// <summary>32-bit float: values, activations, parameters.</summary>
    Float32,
    /// <summary>32-bit signed integer: labels and indices.</summary>
    Int32,
    /// <summary>Boolean (stored as 0/1): comparison results and masks.</summary>
    Bool,
}

/// <summary>Helpers on <see cref="DType"/>.</summary>
public static class DTypeExtensions
{
    /// <summary>True for dtypes stored as integers (Int32 and Bool).</summary>
    public static bool IsIntegral(this DType d) => d != DType.Float32;

    /// <summary>PyTorch-style lower-case name ("float32", "int32", "bool").</summary>
    public static string Name(this DType d) => d switch
    {
        DType.Float32 => "float32",
        DType.Int32 => "int32",
        _ => "bool",
    };
}
