using VirtioFsd.Linux;
using VirtioFsd.Tests.Engine;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// The device in-process (<see cref="DeviceHarness"/>) loses its frontend with reads, writes and fsyncs
/// in flight on two queues: the connection ends and every descriptor it held (eventfds, memfds, io_uring
/// rings, open files, O_PATH inodes) is closed. The process variants (<see cref="DisconnectTests"/>)
/// prove the exit; this one counts this process's fds, which a daemon that exits could not show.
/// </summary>
[Collection(EngineCollection.Name)]
public class InProcessDisconnectTests
{
    public static TheoryData<DaemonEngine> Engines => new() { DaemonEngine.Sync, DaemonEngine.IoUring, DaemonEngine.IoUringAllTransfers };

    [SkippableTheory]
    [MemberData(nameof(Engines))]
    public void Disconnect_with_io_in_flight_on_two_queues_leaves_no_descriptor(DaemonEngine engine)
    {
        // The first run opens what the runtime keeps afterwards (assembly mappings, thread-pool fds).
        Scenario(engine);
        Dictionary<string, string> before = FdTable.Snapshot();

        Scenario(engine);

        FdTable.AssertNoneAdded(before);
    }

    private static void Scenario(DaemonEngine engine)
    {
        const int Size = 128 * 1024, Depth = 32;
        using var dir = new TempDirectory("virtiofsd-in-process-disconnect-");
        var content = new byte[Depth * Size];
        new Random(17).NextBytes(content);
        File.WriteAllBytes(dir.Combine("data"), content);
        using var h = new DeviceHarness(dir.Path, engine, 2, Depth, Size);
        QueueDriver reads = h.Drivers[0], writes = h.Drivers[1];
        FuseCalls.Init(reads);
        ulong node = FuseCalls.Ok(FuseCalls.Lookup(reads, 1, "data"));
        ulong fh = FuseCalls.Ok(FuseCalls.Open(reads, node, Libc.O_RDONLY));
        (int e, ulong wnode, ulong wfh) = FuseCalls.Create(writes, 1, "written");
        Assert.Equal(0, e);
        Assert.Equal(Depth, reads.Launch(Enumerable.Range(0, Depth).Select(i => FuseCalls.ReadCall((node, fh), (ulong)(i * Size), Size, _ => { }))));
        var data = new byte[Size];
        Assert.Equal(Depth, writes.Launch(Enumerable.Range(0, Depth).Select(i => i % 4 == 3
            ? FuseCalls.FsyncCall(wnode, wfh, _ => { })
            : FuseCalls.WriteCall(wnode, wfh, (ulong)(i * Size), data, (_, _) => { }))));
        // Leaving the using block disposes the harness: the frontend closes its socket first, mid-I/O.
    }
}
