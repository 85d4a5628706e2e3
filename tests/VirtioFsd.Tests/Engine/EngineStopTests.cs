using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Engine;

/// <summary>Stopping a queue (GET_VRING_BASE) while file I/O is in flight.</summary>
[Collection(EngineCollection.Name)]
public class EngineStopTests
{
    public static TheoryData<DaemonEngine> Engines => new() { DaemonEngine.Sync, DaemonEngine.IoUring, DaemonEngine.IoUringAllTransfers };

    [SkippableTheory]
    [MemberData(nameof(Engines))]
    public void Get_vring_base_returns_only_after_every_popped_request_is_answered(DaemonEngine engine)
    {
        const int Reads = 64;
        const int Size = 128 * 1024;
        using var dir = new TempDirectory("virtiofsd-engine-stop-");
        string path = dir.Combine("cold");
        var content = new byte[Reads * Size];
        new Random(7).NextBytes(content);
        File.WriteAllBytes(path, content);
        using var h = new DeviceHarness(dir.Path, engine, 1, Reads, Size);
        QueueDriver driver = h.Drivers[0];
        FuseCalls.Init(driver);
        ulong node = FuseCalls.Ok(FuseCalls.Lookup(driver, 1, "cold"));
        ulong fh = FuseCalls.Ok(FuseCalls.Open(driver, node, Libc.O_RDONLY));
        DropFromPageCache(path);
        ushort answeredBefore = driver.UsedIndex;

        // Cold reads: the io_uring engine has them in flight in the ring when the stop arrives.
        int launched = driver.Launch(Enumerable.Range(0, Reads).Select(i => FuseCalls.ReadCall((node, fh), (ulong)(i * Size), Size, data =>
            Assert.Equal(content.AsSpan(i * Size, Size).ToArray(), data), tolerateCancel: true)));
        uint consumed = h.StopQueue(1);

        Assert.Equal(Reads, launched);
        // Everything the device popped was answered before GET_VRING_BASE returned: nothing of it is in flight any more.
        Assert.Equal((ushort)consumed, driver.UsedIndex);
        // (How many it popped before the stop arrived is up to the scheduler; each of them is answered.)
        Assert.Equal((int)(ushort)(consumed - answeredBefore), driver.ReapAvailable());
    }

    private static void DropFromPageCache(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        int fd = (int)f.SafeFileHandle.DangerousGetHandle();
        Assert.Equal(0, Libc.Fsync(fd));
        Assert.Equal(0, Libc.Fadvise(fd, 0, 0, Libc.POSIX_FADV_DONTNEED));
    }
}

/// <summary>A queue started without a kick fd (VHOST_USER_VRING_NOFD_MASK) is polled by either engine.</summary>
[Collection(EngineCollection.Name)]
public class EngineKicklessTests
{
    public static TheoryData<DaemonEngine> Engines => new() { DaemonEngine.Sync, DaemonEngine.IoUring, DaemonEngine.IoUringAllTransfers };

    [SkippableTheory]
    [MemberData(nameof(Engines))]
    public void Requests_on_a_queue_without_kick_fd_are_served(DaemonEngine engine)
    {
        using var dir = new TempDirectory("virtiofsd-engine-kickless-");
        var content = new byte[1 << 20];
        new Random(9).NextBytes(content);
        File.WriteAllBytes(dir.Combine("f"), content);
        using var h = new DeviceHarness(dir.Path, engine, 1, 16, 64 * 1024, withoutKickFd: true);
        QueueDriver driver = h.Drivers[0];
        FuseCalls.Init(driver);
        ulong node = FuseCalls.Ok(FuseCalls.Lookup(driver, 1, "f"));
        ulong fh = FuseCalls.Ok(FuseCalls.Open(driver, node, Libc.O_RDONLY));

        int answered = driver.Run(Enumerable.Range(0, 16).Select(i => FuseCalls.ReadCall((node, fh), (ulong)(i * 65536), 65536, data =>
            Assert.Equal(content.AsSpan(i * 65536, 65536).ToArray(), data))), 16);

        Assert.Equal(16, answered);
        Assert.Equal(0, FuseCalls.Release(driver, node, fh));
    }
}
