using VirtioFsd.Lifecycle;

namespace VirtioFsd.Tests.Lifecycle;

/// <summary>When the idle trimmer trims: once after each stretch of work, never while idle, sleeping longer the longer the daemon is unused.</summary>
public class IdlePolicyTests
{
    private const long Busy = IdlePolicy.IdleCpuMicroseconds * 10;
    private const long Quiet = IdlePolicy.IdleCpuMicroseconds / 10;

    [Fact]
    public void Trims_in_the_first_quiet_window_after_work_and_only_then()
    {
        var policy = new IdlePolicy();
        Assert.False(policy.TrimAfter(Quiet));
        Assert.False(policy.TrimAfter(Busy));
        Assert.False(policy.TrimAfter(Busy));
        Assert.True(policy.TrimAfter(Quiet));
        Assert.False(policy.TrimAfter(Quiet));
        Assert.False(policy.TrimAfter(IdlePolicy.IdleCpuMicroseconds));
        Assert.True(policy.TrimAfter(0));
    }

    [Fact]
    public void Sleeps_doubling_while_idle_up_to_the_cap_and_samples_often_again_once_there_is_work()
    {
        var policy = new IdlePolicy();
        Assert.Equal(IdlePolicy.Window, policy.Interval);
        var seen = new List<TimeSpan>();
        for (int i = 0; i < 12; i++)
        {
            policy.TrimAfter(Quiet);
            seen.Add(policy.Interval);
        }
        Assert.Equal(IdlePolicy.Window * 2, seen[0]);
        Assert.Equal(IdlePolicy.Window * 4, seen[1]);
        Assert.Equal(IdlePolicy.MaxInterval, seen[^1]);
        Assert.All(seen, s => Assert.True(s <= IdlePolicy.MaxInterval));

        policy.TrimAfter(Busy);
        Assert.Equal(IdlePolicy.Window, policy.Interval);
    }
}
