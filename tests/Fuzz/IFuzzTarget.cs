namespace VirtioFsd.Fuzz;

/// <summary>
/// One fuzz target: a parser of hostile input driven with generated cases. A case is a pure function
/// of its seed (the same seed replays the same case), so a crasher is saved as its seed alone.
/// </summary>
public interface IFuzzTarget : IDisposable
{
    /// <summary>The name the command line and the crasher files use.</summary>
    string Name { get; }

    /// <summary>
    /// Runs the case <paramref name="seed"/> and checks the target's invariants; a broken invariant
    /// throws (<see cref="FuzzInvariantException"/> or whatever escaped the code under test).
    /// </summary>
    void RunCase(long seed);
}

/// <summary>An invariant the code under test broke on a case (a crasher).</summary>
public sealed class FuzzInvariantException(string message) : Exception(message)
{
    public static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new FuzzInvariantException(message);
        }
    }
}

/// <summary>
/// The shared frame of a case: a seeded <see cref="Random"/>, and the fd table compared before and
/// after. The first case is preceded by a throw-away warm-up case, because the runtime opens some
/// descriptors once and keeps them (its epoll, lazily loaded assemblies).
/// </summary>
public abstract class FuzzTarget : IFuzzTarget
{
    private bool _warm;

    public abstract string Name { get; }

    public void RunCase(long seed)
    {
        if (!_warm)
        {
            _warm = true;
            try
            {
                Run(new Random(0), 0);
            }
#pragma warning disable CA1031 // A failing warm-up case is found again when its seed is run for real.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
        Prepare();
        Dictionary<string, string> before = FdTable.Snapshot();
        Run(new Random(unchecked((int)seed ^ (int)(seed >> 32))), seed);
        string? leaked = FdTable.Added(before);
        for (int settle = 0; leaked is not null && settle < 5; settle++)
        {
            // The runtime opens short-lived descriptors of its own now and then (pipe pairs seen in long runs,
            // never reproducible by seed): a leak is what is still open after a moment.
            Thread.Sleep(100);
            leaked = FdTable.Added(before);
        }
        FuzzInvariantException.Check(leaked is null, $"leaked fds: {leaked}");
    }

    /// <summary>Work before the fd snapshot (resetting a tree).</summary>
    protected virtual void Prepare()
    {
    }

    /// <summary>The case itself; throws on a broken invariant.</summary>
    protected abstract void Run(Random rng, long seed);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}
