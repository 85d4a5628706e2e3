using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Tests.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Engine;

/// <summary>READ, WRITE, FSYNC and FALLOCATE through the FUSE server give the same results whatever runs the I/O.</summary>
public class EngineFileIoTests
{
    public static TheoryData<EngineKind> Engines => new() { EngineKind.Sync, EngineKind.Deferred, EngineKind.Ring, EngineKind.RingAll };

    public static TheoryData<EngineKind> QueuingEngines => new() { EngineKind.Deferred, EngineKind.RingAll };

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Written_data_reads_back_byte_for_byte(EngineKind kind)
    {
        using var s = new EngineSession(kind);
        (ulong node, ulong fh) = s.Create("data");
        byte[] data = Pattern(200_000, 1);
        for (int off = 0; off < data.Length; off += 32768)
        {
            s.Write(node, fh, (ulong)(4096 + off), data[off..Math.Min(off + 32768, data.Length)]);
        }

        var back = new List<byte>();
        for (int off = 0; off < data.Length; off += 65536)
        {
            back.AddRange(s.Read(node, fh, (ulong)(4096 + off), 65536));
        }

        Assert.Equal(data, back.ToArray());
        Assert.Equal(data, File.ReadAllBytes(s.Host("data"))[4096..]);
        Assert.Equal(0, s.Release(node, fh));
        if (kind is EngineKind.Deferred or EngineKind.RingAll)
        {
            Assert.True(s.Transport.Submitted >= 7 + 4, $"only {s.Transport.Submitted} operations went to the engine");
        }
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Reads_at_the_end_of_the_file_are_as_short_as_the_file(EngineKind kind)
    {
        using var s = new EngineSession(kind);
        (ulong node, ulong fh) = s.Create("short");
        byte[] data = Pattern(5000, 2);
        s.Write(node, fh, 0, data);

        Assert.Equal(data, s.Read(node, fh, 0, 8192));
        Assert.Equal(data[4000..], s.Read(node, fh, 4000, 8192));
        Assert.Empty(s.Read(node, fh, 5000, 4096));
        Assert.Empty(s.Read(node, fh, 1 << 30, 4096));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Data_not_in_the_page_cache_reads_correctly(EngineKind kind)
    {
        using var s = new EngineSession(kind);
        (ulong node, ulong fh) = s.Create("cold");
        byte[] data = Pattern(1 << 20, 3);
        File.WriteAllBytes(s.Host("cold"), data);
        using (var f = new FileStream(s.Host("cold"), FileMode.Open, FileAccess.Read))
        {
            f.Flush(flushToDisk: true);
            Assert.Equal(0, Libc.Fsync((int)f.SafeFileHandle.DangerousGetHandle()));
            Assert.Equal(0, Libc.Fadvise((int)f.SafeFileHandle.DangerousGetHandle(), 0, 0, Libc.POSIX_FADV_DONTNEED));
        }
        long before = s.Transport.Submitted;

        byte[] back = s.Read(node, fh, 0, 1 << 20);

        Assert.Equal(data, back);
        if (kind == EngineKind.Ring)
        {
            // The inline RWF_NOWAIT read found the pages gone (EAGAIN) and handed the rest to the ring.
            Assert.True(s.Transport.Submitted > before, "the cold read never went to the ring");
        }
    }

    [Fact]
    public void Large_cached_reads_go_to_the_ring_and_small_ones_stay_inline()
    {
        using var s = new EngineSession(EngineKind.Ring);
        (ulong node, ulong fh) = s.Create("big");
        byte[] data = Pattern(1 << 20, 5);
        File.WriteAllBytes(s.Host("big"), data);
        Assert.Equal(data[..4096], s.Read(node, fh, 0, 4096)); // in the page cache from here on
        long before = s.Transport.Submitted;

        Assert.Equal(data[4096..(4096 + 128 * 1024)], s.Read(node, fh, 4096, 128 * 1024));
        Assert.Equal(before, s.Transport.Submitted);

        Assert.Equal(data[1000..(1000 + 512 * 1024)], s.Read(node, fh, 1000, 512 * 1024));
        Assert.Equal(before + 1, s.Transport.Submitted);

        // Past the end: as short as the file, whoever copies.
        Assert.Equal(data[(768 * 1024)..], s.Read(node, fh, 768 * 1024, 512 * 1024));
        Assert.Equal(0, s.Release(node, fh));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Fsync_and_fallocate_reach_the_host_file(EngineKind kind)
    {
        using var s = new EngineSession(kind);
        (ulong node, ulong fh) = s.Create("alloc");
        long before = s.Transport.Submitted;

        FuseReply fallocate = s.Run(s.Request(FuseOpcode.Fallocate, node).Add(new FuseFallocateIn { Fh = fh, Offset = 0, Length = 1 << 20 }));
        FuseReply fsync = s.Run(s.Request(FuseOpcode.Fsync, node).Add(new FuseFsyncIn { Fh = fh }));
        FuseReply fdatasync = s.Run(s.Request(FuseOpcode.Fsync, node).Add(new FuseFsyncIn { Fh = fh, FsyncFlags = FuseConstants.FsyncFdatasync }));

        Assert.Equal(0, fallocate.Error);
        Assert.Equal(0, fsync.Error);
        Assert.Equal(0, fdatasync.Error);
        Assert.Equal(1 << 20, new FileInfo(s.Host("alloc")).Length);
        if (kind != EngineKind.Sync)
        {
            Assert.Equal(before + 3, s.Transport.Submitted);
        }
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void Unknown_handles_and_impossible_offsets_fail_as_with_the_synchronous_calls(EngineKind kind)
    {
        using var s = new EngineSession(kind);
        (ulong node, ulong fh) = s.Create("bad");

        Assert.Equal(-Errno.EBADF, s.Run(s.ReadRequest(node, fh + 100, 0, 4096)).Error);
        Assert.Equal(-Errno.EBADF, s.Run(s.WriteRequest(node, fh + 100, 0, [1, 2, 3])).Error);
        Assert.Equal(-Errno.EBADF, s.Run(s.Request(FuseOpcode.Fsync, node).Add(new FuseFsyncIn { Fh = fh + 100 })).Error);
        Assert.Equal(-Errno.EBADF, s.Run(s.Request(FuseOpcode.Fallocate, node).Add(new FuseFallocateIn { Fh = fh + 100, Length = 1 })).Error);
        Assert.Equal(-Errno.EBADF, s.Run(s.ReadRequest(1, fh, 0, 4096)).Error); // the handle belongs to another node
        Assert.Equal(-Errno.EINVAL, s.Run(s.ReadRequest(node, fh, ulong.MaxValue, 4096)).Error);
        Assert.Equal(-Errno.EINVAL, s.Run(s.WriteRequest(node, fh, (ulong)long.MaxValue + 1, [1])).Error);
        // offset + count past 2^63 - 1: rw_verify_area (fs/read_write.c) says EINVAL, inline or through the ring.
        Assert.Equal(-Errno.EINVAL, s.Run(s.ReadRequest(node, fh, long.MaxValue - 10, 4096)).Error);
        Assert.Equal(-Errno.EINVAL, s.Run(s.Request(FuseOpcode.Fallocate, node)
            .Add(new FuseFallocateIn { Fh = fh, Offset = ulong.MaxValue, Length = 1 })).Error);
    }

    [Theory]
    [MemberData(nameof(QueuingEngines))]
    public void Release_during_a_transfer_closes_the_fd_only_when_the_transfer_completes(EngineKind kind)
    {
        using var s = new EngineSession(kind);
        (ulong node, ulong fh) = s.Create("racing");
        byte[] data = Pattern(10000, 4);
        s.Write(node, fh, 0, data);
        int withHandle = s.OpenFdsOf("racing"); // the node's O_PATH fd and the handle's fd

        using FuseExchange read = s.Transport.Start(s.Server, s.ReadRequest(node, fh, 0, 16384).ToBytes(), [16, 16384]);
        Assert.False(read.IsCompleted);
        Assert.Equal(0, s.Release(node, fh));
        Assert.Equal(withHandle, s.OpenFdsOf("racing"));

        FuseReply reply = s.Transport.Wait(read);

        Assert.Equal(0, reply.Error);
        Assert.Equal(data, reply.Body);
        Assert.Equal(withHandle - 1, s.OpenFdsOf("racing"));
    }

    [Theory]
    [MemberData(nameof(QueuingEngines))]
    public void Many_transfers_in_flight_complete_out_of_order_into_their_own_replies(EngineKind kind)
    {
        using var s = new EngineSession(kind);
        (ulong node, ulong fh) = s.Create("many");
        byte[] data = Pattern(64 * 4096, 5);
        s.Write(node, fh, 0, data);

        var exchanges = new List<FuseExchange>();
        for (int i = 63; i >= 0; i--)
        {
            exchanges.Add(s.Transport.Start(s.Server, s.ReadRequest(node, fh, (ulong)(i * 4096), 4096).ToBytes(), [16, 1000, 3096]));
        }
        for (int i = 0; i < exchanges.Count; i++)
        {
            int block = 63 - i;
            FuseReply reply = s.Transport.Wait(exchanges[i]);
            Assert.Equal(0, reply.Error);
            Assert.Equal(data[(block * 4096)..((block + 1) * 4096)], reply.Body);
            exchanges[i].Dispose();
        }
        Assert.Equal(0, s.Release(node, fh));
        // The handle's fd is closed; what may stay is the node's O_PATH fd (fd inodes, or a handle inode's cached one).
        Assert.Equal(0, s.OpenFdsOf("many", ioOnly: true));
    }
}
