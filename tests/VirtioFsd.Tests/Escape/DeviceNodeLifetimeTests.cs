using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using static VirtioFsd.Tests.Escape.EscapeShare;

namespace VirtioFsd.Tests.Escape;

/// <summary>
/// Node ids and file handles the guest invents, forgets or races through the whole device: stale,
/// random and forgotten ids and handles are refused; FORGET with huge counts, of the root, in a huge
/// batch, and racing operations on the same inode leave the device serving. A SETLKW still waiting
/// when the queue stops is answered (EINTR) so the stop returns.
/// </summary>
[Collection(EscapeCollection.Name)]
public class DeviceNodeLifetimeTests
{
    private static readonly int[] UnknownNode = [-Errno.ENOENT, -Errno.ESTALE];

    public static TheoryData<DeviceKind> Kinds => DeviceEscapeTests.Kinds;

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Stale_random_and_forgotten_ids_and_handles_are_refused(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;
        byte[] getattr = FuseBytes.Of(new FuseGetAttrIn());
        foreach (ulong invented in new ulong[] { 0, 2, 12345, 1UL << 40, ulong.MaxValue })
        {
            Assert.Contains(c.Call(FuseOpcode.GetAttr, invented, getattr).Error, UnknownNode);
            Assert.Contains(c.Call(FuseOpcode.Lookup, invented, N("f")).Error, UnknownNode);
            Assert.Contains(c.Call(FuseOpcode.Open, invented, FuseBytes.Of(new FuseOpenIn())).Error, UnknownNode);
        }
        // Forgotten: one LOOKUP, one FORGET of it, and the id is gone.
        ulong f = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        ulong fh = c.Call(FuseOpcode.Open, f, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR })).Fh;
        c.Send(FuseOpcode.Forget, f, FuseBytes.Of(new FuseForgetIn { Nlookup = 1 }));
        Assert.Contains(c.Call(FuseOpcode.GetAttr, f, getattr).Error, UnknownNode);
        // Handles: invented ones, one of another node, and one already released.
        foreach (ulong invented in new ulong[] { 0, 777, ulong.MaxValue })
        {
            Assert.Equal(-Errno.EBADF, c.Call(FuseOpcode.Read, 1, FuseBytes.Of(new FuseReadIn { Fh = invented, Size = 16 })).Error);
        }
        ulong g = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        ulong gh = c.Call(FuseOpcode.Open, g, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR })).Fh;
        Assert.Equal(0, c.Call(FuseOpcode.Release, g, FuseBytes.Of(new FuseReleaseIn { Fh = gh })).Error);
        Assert.Equal(-Errno.EBADF, c.Call(FuseOpcode.Read, g, FuseBytes.Of(new FuseReadIn { Fh = gh, Size = 16 })).Error);
        Assert.Equal(-Errno.EBADF, c.Call(FuseOpcode.Write, g, [.. FuseBytes.Of(new FuseWriteIn { Fh = gh, Size = 1 }), (byte)'x']).Error);
        ulong dir = c.Call(FuseOpcode.Lookup, 1, N("d")).NodeId;
        Assert.Equal(-Errno.EBADF, c.Call(FuseOpcode.ReadDir, dir, FuseBytes.Of(new FuseReadIn { Fh = 4242, Size = 4096 })).Error);
        // A handle is its node's: presented with another node it is refused.
        Assert.Equal(-Errno.EBADF, c.Call(FuseOpcode.Read, 1, FuseBytes.Of(new FuseReadIn { Fh = fh, Size = 64 })).Error);
        Assert.Equal("file content", File.ReadAllText(share.Host("f")));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Forget_with_huge_counts_of_the_root_and_in_a_huge_batch_leaves_the_device_serving(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;
        byte[] getattr = FuseBytes.Of(new FuseGetAttrIn());
        ulong f = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        c.Send(FuseOpcode.Forget, f, FuseBytes.Of(new FuseForgetIn { Nlookup = ulong.MaxValue }));
        c.Send(FuseOpcode.Forget, 1, FuseBytes.Of(new FuseForgetIn { Nlookup = ulong.MaxValue }));
        c.Send(FuseOpcode.Forget, ulong.MaxValue, FuseBytes.Of(new FuseForgetIn { Nlookup = 1 }));
        Assert.Equal(0, c.Call(FuseOpcode.GetAttr, 1, getattr).Error);
        Assert.Contains(c.Call(FuseOpcode.GetAttr, f, getattr).Error, UnknownNode);

        // 60,000 entries (960 KB): known, unknown and root ids, counts of 1 and of 2^64-1.
        ulong known = c.Call(FuseOpcode.Lookup, 1, N("d")).NodeId;
        const int Count = 60_000;
        var batch = new List<byte>(FuseBytes.Of(new FuseBatchForgetIn { Count = Count }));
        var random = new Random(7);
        for (int i = 0; i < Count; i++)
        {
            ulong node = (i % 4) switch { 0 => 1, 1 => known, 2 => (ulong)random.NextInt64(), _ => (ulong)i };
            batch.AddRange(FuseBytes.Of(new FuseForgetOne { NodeId = node, Nlookup = i % 3 == 0 ? ulong.MaxValue : 1 }));
        }
        c.Send(FuseOpcode.BatchForget, 0, [.. batch]);
        // A batch whose count claims more than it carries.
        c.Send(FuseOpcode.BatchForget, 0, [.. FuseBytes.Of(new FuseBatchForgetIn { Count = uint.MaxValue }), .. FuseBytes.Of(new FuseForgetOne { NodeId = 1, Nlookup = 1 })]);
        Assert.Equal(0, c.Call(FuseOpcode.GetAttr, 1, getattr).Error);
        ulong again = c.Call(FuseOpcode.Lookup, 1, N("d")).NodeId;
        Assert.Equal(0, c.Call(FuseOpcode.GetAttr, again, getattr).Error);
        Assert.Equal(0, c.Call(FuseOpcode.Mkdir, again, [.. FuseBytes.Of(new FuseMkdirIn { Mode = 0b111_101_101 }), .. N("after")]).Error);
        Assert.True(Directory.Exists(share.Host("d/after")));
        Assert.True(d.IsAlive);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Forget_racing_operations_on_the_same_inode_never_breaks_the_device(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;
        byte[] getattr = FuseBytes.Of(new FuseGetAttrIn());
        long node = (long)c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        // CI: 300 rounds per thread; VIRTIOFSD_LONG_TESTS=1: 10,000.
        int iterations = Faults.ProcUse.LongTests ? 10_000 : 300;
        var unexpected = new System.Collections.Concurrent.ConcurrentBag<string>();
        Task[] workers =
        [
            .. Enumerable.Range(0, 2).Select(w => Task.Factory.StartNew(() =>
            {
                for (int i = 0; i < iterations; i++)
                {
                    FuseReply lookup = c.Call(FuseOpcode.Lookup, 1, N("f"));
                    if (lookup.Error != 0)
                    {
                        unexpected.Add($"LOOKUP {lookup.Error}");
                        continue;
                    }
                    Interlocked.Exchange(ref node, (long)lookup.NodeId);
                    int e = c.Call(FuseOpcode.GetAttr, lookup.NodeId, getattr).Error;
                    if (e != 0 && !UnknownNode.Contains(e))
                    {
                        unexpected.Add($"GETATTR {e}");
                    }
                    FuseReply open = c.Call(FuseOpcode.Open, lookup.NodeId, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDONLY }));
                    if (open.Error == 0)
                    {
                        c.Call(FuseOpcode.Release, lookup.NodeId, FuseBytes.Of(new FuseReleaseIn { Fh = open.Fh }));
                    }
                    else if (!UnknownNode.Contains(open.Error))
                    {
                        unexpected.Add($"OPEN {open.Error}");
                    }
                }
            }, TaskCreationOptions.LongRunning)),
            Task.Factory.StartNew(() =>
            {
                // FORGETs on the high-priority queue, as the guest sends them, racing the request queue.
                for (int i = 0; i < 2 * iterations; i++)
                {
                    c.Send(FuseOpcode.Forget, (ulong)Interlocked.Read(ref node), FuseBytes.Of(new FuseForgetIn { Nlookup = (ulong)(i % 3) }));
                }
            }, TaskCreationOptions.LongRunning),
        ];
        await Task.WhenAll(workers);
        Assert.Empty(unexpected);
        ulong last = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        Assert.Equal(0, c.Call(FuseOpcode.GetAttr, last, getattr).Error);
        Assert.True(d.IsAlive);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_waiting_setlkw_is_answered_eintr_when_its_queue_stops(DeviceKind kind)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(kind, share.Share);
        FuseDeviceClient c = d.Client;
        ulong f = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        ulong holder = c.Call(FuseOpcode.Open, f, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR })).Fh;
        ulong waiter = c.Call(FuseOpcode.Open, f, FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR })).Fh;
        var write = new FuseFileLock { Start = 0, End = 99, Type = (uint)Libc.F_WRLCK };
        Assert.Equal(0, c.Call(FuseOpcode.SetLk, f, FuseBytes.Of(new FuseLkIn { Fh = holder, Owner = 1, Lk = write })).Error);
        FuseDeviceClient.Pending blocked = c.Start(FuseOpcode.SetLkW, f, FuseBytes.Of(new FuseLkIn { Fh = waiter, Owner = 2, Lk = write }));
        // A request after it on the same queue is served: the wait does not hold the queue.
        Assert.Equal(0, c.Call(FuseOpcode.GetAttr, f, FuseBytes.Of(new FuseGetAttrIn())).Error);
        Assert.False(blocked.TryGet(out _));
        // GET_VRING_BASE returns only once every request taken from the queue is answered.
        c.StopRequestQueue();
        Assert.True(blocked.TryGet(out FuseReply? answer), "the queue stopped with the SETLKW unanswered");
        Assert.Equal(-Errno.EINTR, answer.Error);
    }
}
