using VirtioFsd.Fuzz;

namespace VirtioFsd.Tests.Fuzz;

/// <summary>
/// A fixed-seed run of every fuzz target (tests/Fuzz), sized to take seconds: the same cases on every
/// run, so a failure names the seed to replay with <c>scripts/fuzz.sh TARGET --replay SEED</c>.
/// Long runs: <c>scripts/fuzz.sh TARGET --seconds N</c>.
/// </summary>
[Collection(FuzzCollection.Name)]
public class FuzzSmokeTests
{
    /// <summary>Target, first seed, case count. The FUSE count covers every opcode (one per case, in rotation) six times.</summary>
    public static readonly TheoryData<string, long, long> SmokeRuns = new()
    {
        { FuzzTargets.VhostUserMessages, 1, 60 },
        { FuzzTargets.DescriptorChains, 1, 300 },
        { FuzzTargets.FuseRequests, 1, 6 * FuzzTargetOpcodeCount() },
    };

    [Theory]
    [MemberData(nameof(SmokeRuns))]
    public void Fixed_seed_run_breaks_no_invariant(string target, long seed, long cases)
    {
        // VIRTIOFSD_LONG_TESTS=1: fifty times as many cases (scripts/fuzz.sh is the open-ended run).
        cases *= Faults.ProcUse.LongTests ? 50 : 1;
        FuzzRunResult result = FuzzRunner.Run(target, seed, cases, duration: null);
        Assert.Equal(cases, result.Cases);
        Assert.True(result.Crashes.Count == 0,
            string.Join("\n\n", result.Crashes.Select(c => $"{c.Target} seed {c.Seed}: {c.Failure}")));
    }

    [Fact]
    public void Every_registered_target_has_a_smoke_run()
    {
        var smoked = SmokeRuns.Select(row => (string)row[0]).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(FuzzTargets.Names);
        foreach (string target in FuzzTargets.Names)
        {
            Assert.True(smoked.Contains(target), $"fuzz target {target} has no smoke run in FuzzSmokeTests.SmokeRuns");
        }
    }

    [Fact]
    public void A_case_is_a_function_of_its_seed()
    {
        // Replaying a saved seed only helps if the same seed builds the same case: the FUSE target's
        // per-opcode rotation and every random choice come from the seed alone.
        foreach (string target in FuzzTargets.Names)
        {
            using IFuzzTarget t = FuzzTargets.Create(target);
            Assert.Null(FuzzRunner.RunOne(t, 12345));
            Assert.Null(FuzzRunner.RunOne(t, 12345));
        }
    }

    private static long FuzzTargetOpcodeCount() => Enum.GetValues<VirtioFsd.Fuse.Abi.FuseOpcode>().Length;
}
