using VirtioFsd.Linux;
using VirtioFsd.Tests.Engine;
using VirtioFsd.Tests.Process;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// The memory table changes while FUSE requests are in flight on two queues: memory hot-plug (ADD_MEM_REG,
/// REM_MEM_REG), a SET_MEM_TABLE with the same layout, and a hostile REM_MEM_REG of the region holding the
/// rings and buffers. No crash; requests are answered correctly, or the queue breaks with a log line.
/// </summary>
public class MemoryChangeTests
{
    private const int Size = 128 * 1024;
    private const int Reads = 32;

    [SkippableTheory]
    [InlineData("io-uring")]
    [InlineData("sync")]
    public void Hot_plug_and_a_new_table_while_reads_are_in_flight_leave_every_read_answered_correctly(string engine)
    {
        using var t = new TempTree("virtiofsd-memory-change-");
        byte[] content = Content();
        File.WriteAllBytes(Path.Combine(t.Share, "data"), content);
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--io-engine", engine], selfCheck: false);
        using var device = QueueFrontend.Connect(t.Socket, 2, Reads, Size);
        (ulong node, ulong fh) = OpenData(device);

        for (int round = 0; round < 5; round++)
        {
            LaunchReads(device, node, fh, content);
            GuestRamRegion extra = device.Ram.AddRegion(device.Ram.Regions[0].GuestPhysEnd + (1UL << 30), 2UL << 20);
            device.Frontend.AddMemReg(extra);
            device.Frontend.SetMemTable();
            device.Frontend.RemMemReg(extra);
            device.Ram.RemoveRegion(extra);
            foreach (QueueDriver q in device.Drivers)
            {
                q.Run([], 1);
            }
        }
        // And the device still takes new work afterwards.
        Assert.Equal(0, FuseCalls.Getattr(device.Drivers[1], node));
        Assert.False(d.HasExited);
        Assert.DoesNotContain("ERROR", d.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Removing_the_region_that_holds_the_rings_while_reads_are_in_flight_does_not_crash_the_daemon()
    {
        using var t = new TempTree("virtiofsd-memory-change-");
        byte[] content = Content();
        File.WriteAllBytes(Path.Combine(t.Share, "data"), content);
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none"], selfCheck: false);
        using (var device = QueueFrontend.Connect(t.Socket, 2, Reads, Size))
        {
            (ulong node, ulong fh) = OpenData(device);
            // Every read is checked if answered: before the region goes, answers must be right.
            LaunchReads(device, node, fh, content);
            device.Frontend.ThrowOnNack = false;
            device.Frontend.RemMemReg(device.Ram.Regions[0]);
            // The connection is alive and answers: the daemon did not die with the memory.
            Assert.NotEqual(0UL, device.Frontend.GetFeatures());
            Assert.False(d.HasExited);
        }
        Assert.Equal(0, d.WaitForExit());
        Assert.Contains("queues stay stopped until memory is added", d.Stderr, StringComparison.Ordinal);
    }

    private static byte[] Content()
    {
        var content = new byte[Reads * Size];
        new Random(13).NextBytes(content);
        return content;
    }

    private static (ulong Node, ulong Fh) OpenData(QueueFrontend device)
    {
        FuseCalls.Init(device.Drivers[0]);
        ulong node = FuseCalls.Ok(FuseCalls.Lookup(device.Drivers[0], 1, "data"));
        return (node, FuseCalls.Ok(FuseCalls.Open(device.Drivers[0], node, Libc.O_RDONLY)));
    }

    private static void LaunchReads(QueueFrontend device, ulong node, ulong fh, byte[] content)
    {
        foreach (QueueDriver q in device.Drivers)
        {
            Assert.Equal(Reads, q.Launch(Enumerable.Range(0, Reads).Select(i => FuseCalls.ReadCall((node, fh), (ulong)(i * Size), Size,
                data => Assert.Equal(content.AsSpan(i * Size, Size).ToArray(), data)))));
        }
    }
}
