using System.Buffers.Binary;
using VirtioFsd.VhostUser.Tests.Support;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests.Server;

/// <summary>SET_MEM_TABLE validation and memory hot-plug (ADD_MEM_REG / REM_MEM_REG) under running queues.</summary>
public sealed class MemoryTableTests : HandlerTestBase
{
    private static void WriteRegion(Span<byte> dst, ulong gpa, ulong size, ulong uva, ulong offset)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(dst, gpa);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[8..], size);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], uva);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[24..], offset);
    }

    private static byte[] Table(params (ulong Gpa, ulong Size, ulong Uva, ulong Offset)[] regions)
    {
        byte[] body = new byte[8 + (32 * regions.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)regions.Length);
        for (int i = 0; i < regions.Length; i++)
        {
            WriteRegion(body.AsSpan(8 + (32 * i)), regions[i].Gpa, regions[i].Size, regions[i].Uva, regions[i].Offset);
        }
        return body;
    }

    [Fact]
    public void Nine_regions_drop_the_connection_and_their_fds_are_closed()
    {
        Frontend.Initialize();
        var before = FdTable.Snapshot();
        int fd = Ram.Regions[0].MemFd;
        var regions = Enumerable.Range(0, 9).Select(i => ((ulong)i * 0x1000, 0x1000UL, 0x10000000UL + ((ulong)i * 0x1000), 0UL)).ToArray();
        // Eight fds (the most SCM_RIGHTS may carry here) with a count of nine.
        Frontend.Socket.Send(Req.SetMemTable, Proto.Version, Table(regions), Enumerable.Repeat(fd, 8).ToArray());
        AssertDisconnected("9 regions");
        FdTable.AssertNoneAdded(before);
    }

    [Fact]
    public void Overlapping_regions_are_refused()
    {
        Frontend.Initialize();
        int fd = Ram.Regions[0].MemFd;
        ulong uva = Ram.Regions[0].UserAddr;
        Assert.NotEqual(0UL, Acked(Req.SetMemTable, Table((0, 0x80000, uva, 0), (0x40000, 0x40000, uva + 0x80000, 0x80000)), [fd, fd]));
        Assert.Equal(0UL, Acked(Req.SetMemTable, Table((0, 0x80000, uva, 0), (0x80000, 0x80000, uva + 0x80000, 0x80000)), [fd, fd]));
    }

    [Fact]
    public void A_region_beyond_the_end_of_its_file_or_of_size_zero_is_refused()
    {
        Frontend.Initialize();
        int fd = Ram.Regions[0].MemFd;
        ulong uva = Ram.Regions[0].UserAddr;
        Assert.NotEqual(0UL, Acked(Req.SetMemTable, Table((0, 0x200000, uva, 0)), [fd]));
        Assert.NotEqual(0UL, Acked(Req.SetMemTable, Table((0, 0, uva, 0)), [fd]));
        Assert.NotEqual(0UL, Acked(Req.SetMemTable, Table((ulong.MaxValue - 0xfff, 0x2000, uva, 0)), [fd]));
    }

    [Fact]
    public void Hot_plug_requests_need_configure_mem_slots()
    {
        Frontend.GetFeatures();
        Frontend.SetProtocolFeatures(Proto.ProtoReplyAck);
        byte[] body = new byte[40];
        WriteRegion(body.AsSpan(8), 0x100000, 0x1000, 0x20000000, 0);
        Assert.NotEqual(0UL, Acked(Req.AddMemReg, body, [Ram.Regions[0].MemFd]));
        Assert.NotEqual(0UL, Acked(Req.GetMaxMemSlots, []));
    }

    [Fact]
    public void Regions_added_and_removed_while_a_queue_runs_serve_buffers_and_leave_no_mapping_or_fd()
    {
        Init();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        Frontend.StartQueue(q);
        var driver = DriverQueue.For(Ram, q, eventIdx: true);
        EchoOnce(driver, q, 0x80000, 0x81000);
        var before = FdTable.Snapshot();
        for (int round = 0; round < 3; round++)
        {
            // Plug 1 MiB right after the first region: a buffer may now straddle both.
            GuestRamRegion added = Ram.AddRegion(0x100000, 0x100000);
            Frontend.AddMemReg(added);
            Assert.Equal(1, Backend.RunningQueues);
            EchoOnce(driver, q, 0x100000 - 50, 0x180000, length: 200);
            Frontend.RemMemReg(added);
            Ram.RemoveRegion(added);
            Assert.Equal(1, Backend.RunningQueues);
            EchoOnce(driver, q, 0x80000, 0x81000);
        }
        FdTable.AssertNoneAdded(before);
        Assert.Equal(7u, Frontend.GetVringBase(0));
    }

    [Fact]
    public void Removing_a_region_that_is_not_mapped_is_refused()
    {
        Init();
        byte[] body = new byte[40];
        WriteRegion(body.AsSpan(8), 0x200000, 0x1000, 0x20000000, 0);
        Assert.NotEqual(0UL, Acked(Req.RemMemReg, body));
    }

    [Fact]
    public void Removing_the_region_holding_the_rings_leaves_the_queue_stopped_until_memory_returns()
    {
        Frontend.Initialize();
        GuestRamRegion rings = Ram.AddRegion(0x200000, 0x10000);
        Frontend.SetMemTable();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, GuestAllocator.ForRegion(rings));
        Frontend.StartQueue(q);
        Assert.Equal(1, Backend.RunningQueues);
        Frontend.RemMemReg(rings);
        Assert.Equal(0, Backend.RunningQueues);
        Assert.Contains(Harness.Sink.Lines, l => l.Contains("no longer inside guest memory", StringComparison.Ordinal));
        Frontend.AddMemReg(rings);
        Assert.Equal(1, Backend.RunningQueues);
        EchoOnce(DriverQueue.For(Ram, q, eventIdx: true), q, 0x80000, 0x81000);
    }

    [Fact]
    public void Replacing_the_memory_table_while_a_queue_runs_restarts_it_where_it_was()
    {
        Init();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        Frontend.StartQueue(q);
        var driver = DriverQueue.For(Ram, q, eventIdx: true);
        EchoOnce(driver, q, 0x80000, 0x81000);
        Frontend.SetMemTable();
        Assert.Equal(2, Backend.StartCount);
        EchoOnce(driver, q, 0x80000, 0x81000);
        Assert.Equal(2u, Frontend.GetVringBase(0));
    }
}
