namespace Kiln;

/// <summary>Autograd switches: the thread-local grad mode (like torch.no_grad / torch.enable_grad).</summary>
public static class Autograd
{
    [ThreadStatic] static int _disabledDepth;

    /// <summary>True when ops on this thread record the graph for Backward.</summary>
    public static bool IsGradEnabled => _disabledDepth == 0;

    /// <summary>Stops graph recording on this thread until the returned scope is disposed: <c>using (Autograd.NoGrad()) { ... }</c>.</summary>
    public static GradScope NoGrad()
    {
        _disabledDepth++;
        return new GradScope(-1);
    }

    /// <summary>Turns recording back on inside a NoGrad region until the returned scope is disposed.</summary>
    public static GradScope EnableGrad()
    {
        int saved = _disabledDepth;
        _disabledDepth = 0;
        return new GradScope(saved);
    }

    /// <summary>Restores the grad mode that held before the scope began.</summary>
    public readonly struct GradScope : IDisposable
    {
        readonly int _restore;
        internal GradScope(int restore) => _restore = restore;

        /// <summary>Ends the scope.</summary>
        public void Dispose()
        {
            if (_restore < 0) _disabledDepth--;
            else _disabledDepth = _restore;
        }
    }
}
