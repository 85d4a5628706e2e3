using VirtioFsd.Fuzz;

namespace VirtioFsd.Tests.Fuzz;

/// <summary>Every crasher a fuzz run saved (tests/Fuzz/crashers/TARGET.txt) replayed: each must now pass.</summary>
[Collection(FuzzCollection.Name)]
public class FuzzRegressionTests
{
    public static TheoryData<string, long> SavedCrashers()
    {
        var data = new TheoryData<string, long>();
        foreach ((string target, long seed) in Crashers.Saved())
        {
            data.Add(target, seed);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SavedCrashers))]
    public void Saved_crasher_no_longer_crashes(string target, long seed)
    {
        using IFuzzTarget t = FuzzTargets.Create(target);
        FuzzCrash? crash = FuzzRunner.RunOne(t, seed);
        Assert.True(crash is null, crash?.Failure);
    }

    [Fact]
    public void Crasher_files_name_registered_targets_and_parse()
    {
        foreach ((string target, _) in Crashers.Saved())
        {
            Assert.Contains(target, FuzzTargets.Names);
        }
        Assert.Equal([7L, 42L], Crashers.Parse("# note\n7 # found 2026-11-21: something\n\n42\n"));
    }
}
