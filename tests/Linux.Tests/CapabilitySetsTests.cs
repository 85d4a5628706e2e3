using VirtioFsd.Linux;
using VirtioFsd.Linux.Capabilities;

namespace VirtioFsd.Linux.Tests;

public class CapabilitySetsTests
{
    [Theory]
    [InlineData("chown", 0)]
    [InlineData("CAP_SYS_ADMIN", 21)]
    [InlineData("Mknod", 27)]
    [InlineData("cap_setfcap", 31)]
    [InlineData("checkpoint_restore", 40)]
    [InlineData("sys_flying", -1)]
    [InlineData("", -1)]
    [InlineData("cap_", -1)]
    public void Names_parse_case_insensitive_with_or_without_the_prefix(string name, int expected)
    {
        Assert.Equal(expected, CapabilityNames.Parse(name));
    }

    [Fact]
    public void A_set_is_described_by_name_in_bit_order()
    {
        Assert.Equal("CAP_CHOWN, CAP_SETUID, CAP_42", CapabilityNames.Describe((1UL << 0) | (1UL << 7) | (1UL << 42)));
        Assert.Equal("none", CapabilityNames.Describe(0UL));
    }

    [Fact]
    public void A_status_file_gives_all_five_sets_and_the_thread_name()
    {
        const string status = "Name:\t.NET Finalizer\nUmask:\t0022\nState:\tS (sleeping)\nCapInh:\t0000000000000000\n"
            + "CapPrm:\t00000000880000df\nCapEff:\t00000000880000df\nCapBnd:\t00000000880000df\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n";
        Assert.True(TaskDirectory.TryParse(7, status, out ThreadCapabilitySets sets));
        Assert.Equal(new ThreadCapabilitySets(7, ".NET Finalizer", 0, 0x880000df, 0x880000df, 0x880000df, 0), sets);
        Assert.True(sets.HoldsExactly(0x880000df));
        Assert.False(sets.HoldsExactly(0x880000dd));
        Assert.False((sets with { Ambient = 1 }).HoldsExactly(0x880000df));
        Assert.False((sets with { Bounding = 0x1fffeffffff }).HoldsExactly(0x880000df));
    }

    [Fact]
    public void A_status_file_without_every_set_is_not_read_as_empty_sets()
    {
        Assert.False(TaskDirectory.TryParse(7, "Name:\tx\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n", out _));
    }

    [Theory]
    [InlineData("Name:\tx\nCapInh:\tzz\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\n")]
    [InlineData("Name:\tx\nCapInh:\t\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\n")]
    [InlineData("Name:\tx\nCapInh:\t10000000000000000\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\n")]
    [InlineData("Name:\tx\nCapInh 0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\n")]
    [InlineData("")]
    public void A_set_that_is_not_a_64_bit_hexadecimal_number_is_not_read(string status)
    {
        Assert.False(TaskDirectory.TryParse(7, status, out _));
    }

    [Fact]
    public void Reading_a_threads_sets_allocates_only_its_name()
    {
        Assert.Equal(0, TaskDirectory.Open(out TaskDirectory? tasks));
        using (tasks)
        {
            int tid = Libc.GetTid();
            Assert.True(tasks!.TryRead(tid, out _));
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++)
            {
                Assert.True(tasks.TryRead(tid, out ThreadCapabilitySets sets));
                Assert.False(string.IsNullOrEmpty(sets.Name));
            }
            long perRead = (GC.GetAllocatedBytesForCurrentThread() - before) / 10;
            // The name (a thread name is at most 15 bytes) and nothing else; the string parse allocated ~30 KB.
            Assert.True(perRead <= 128, $"{perRead} bytes per read");
        }
    }

    [Fact]
    public void This_process_lists_its_own_threads_and_reads_its_own_sets()
    {
        Assert.Equal(0, TaskDirectory.Open(out TaskDirectory? tasks));
        using (tasks)
        {
            List<int> ids = tasks!.ThreadIds();
            Assert.Contains(Libc.GetTid(), ids);
            Assert.True(tasks.TryRead(Libc.GetTid(), out ThreadCapabilitySets sets));
            Assert.Equal(0, Libc.CapGetThread(out ulong effective, out ulong permitted, out ulong inheritable));
            Assert.Equal((effective, permitted, inheritable), (sets.Effective, sets.Permitted, sets.Inheritable));
            Assert.False(tasks.TryRead(int.MaxValue, out _));
        }
    }
}
