using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Tests.Support;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests.Server;

/// <summary>
/// A frontend that shrinks guest memory's file after SET_MEM_TABLE would make the daemon SIGBUS. A
/// sealed memfd (QEMU's default) cannot shrink; an unsealed one is accepted with a warning (refusing
/// it would refuse memory-backend-file setups). A region larger than its file is refused at map time
/// (MemoryTableTests.A_region_beyond_the_end_of_its_file_or_of_size_zero_is_refused).
/// </summary>
public sealed class MemorySealTests
{
    private const string Warning = "not sealed against shrinking";

    [Fact]
    public void A_sealed_memfd_is_taken_silently_and_cannot_be_shrunk_under_the_daemon()
    {
        using var ram = GuestRam.Single(0x40000);
        using var h = ServerHarness.OverSocketPair(ram);
        h.Frontend.Initialize();
        h.Frontend.SetMemTable();
        Assert.DoesNotContain(h.Sink.Lines, l => l.Contains(Warning, StringComparison.Ordinal));
        Assert.Equal(-Errno.EPERM, Libc.Ftruncate(ram.Regions[0].MemFd, 0x1000));
    }

    [Fact]
    public void An_unsealed_memfd_is_taken_with_a_warning_naming_the_risk()
    {
        using var ram = GuestRam.Single(0x40000, @sealed: false);
        using var h = ServerHarness.OverSocketPair(ram);
        h.Frontend.Initialize();
        h.Frontend.SetMemTable();
        Assert.Contains(h.Sink.Lines, l => l.Contains(Warning, StringComparison.Ordinal) && l.Contains("SIGBUS", StringComparison.Ordinal));
    }

    [Fact]
    public void Hot_plugged_unsealed_memory_is_warned_about_too()
    {
        using var ram = GuestRam.Single(0x40000);
        using var h = ServerHarness.OverSocketPair(ram);
        h.Frontend.Initialize();
        Assert.NotEqual(0UL, h.Frontend.NegotiatedProtocolFeatures & Proto.ProtoConfigureMemSlots);
        h.Frontend.AddMemReg(ram.Regions[0]);
        Assert.DoesNotContain(h.Sink.Lines, l => l.Contains(Warning, StringComparison.Ordinal));
        h.Frontend.AddMemReg(ram.AddRegion(0x100000, 0x10000, @sealed: false));
        Assert.Contains(h.Sink.Lines, l => l.Contains(Warning, StringComparison.Ordinal));
    }
}
