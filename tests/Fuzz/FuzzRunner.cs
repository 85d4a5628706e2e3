using System.Diagnostics;

namespace VirtioFsd.Fuzz;

/// <summary>A crasher: the target, the case seed that reproduces it and what went wrong.</summary>
public sealed record FuzzCrash(string Target, long Seed, string Failure);

/// <summary>What a run did.</summary>
public sealed record FuzzRunResult(string Target, long Cases, TimeSpan Elapsed, IReadOnlyList<FuzzCrash> Crashes)
{
    public double CasesPerSecond => Elapsed.TotalSeconds > 0 ? Cases / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Runs consecutive case seeds (<c>seed, seed + 1, ...</c>) of one target, for a number of cases or
/// until a deadline, and collects crashers instead of stopping at the first.
/// </summary>
public static class FuzzRunner
{
    public static FuzzRunResult Run(string target, long firstSeed, long? cases, TimeSpan? duration, Action<FuzzCrash>? onCrash = null,
        int maxCrashes = 20)
    {
        using IFuzzTarget t = FuzzTargets.Create(target);
        var crashes = new List<FuzzCrash>();
        var clock = Stopwatch.StartNew();
        long done = 0;
        for (long seed = firstSeed; ; seed++)
        {
            if ((cases is long n && done >= n) || (duration is TimeSpan d && clock.Elapsed >= d) || crashes.Count >= maxCrashes)
            {
                break;
            }
            FuzzCrash? crash = RunOne(t, seed);
            done++;
            if (crash is not null)
            {
                crashes.Add(crash);
                onCrash?.Invoke(crash);
            }
        }
        return new FuzzRunResult(target, done, clock.Elapsed, crashes);
    }

    /// <summary>Runs one case; null when every invariant held.</summary>
    public static FuzzCrash? RunOne(IFuzzTarget target, long seed)
    {
        ArgumentNullException.ThrowIfNull(target);
        try
        {
            target.RunCase(seed);
            return null;
        }
#pragma warning disable CA1031 // Any exception out of a case is a finding to report with its seed, not a reason to stop.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return new FuzzCrash(target.Name, seed, e.ToString());
        }
    }
}
