using System.Buffers.Binary;
using VirtioFsd.VhostUser.Tests.Support;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests.Server;

/// <summary>Ring setup validation and the started/enabled life cycle (vhost-user.rst "Ring states").</summary>
public sealed class VringTests : HandlerTestBase
{
    private const ulong BufferArea = 0x80000;

    [Theory]
    [InlineData(100u)]
    [InlineData(0u)]
    [InlineData(2048u)]
    [InlineData(65536u)]
    public void Queue_size_must_be_a_power_of_two_within_the_backend_maximum(uint size)
    {
        Init();
        Assert.NotEqual(0UL, Acked(Req.SetVringNum, State(0, size)));
        Assert.Equal(0UL, Acked(Req.SetVringNum, State(0, 1024)));
    }

    [Theory]
    [InlineData(Req.SetVringNum)]
    [InlineData(Req.SetVringBase)]
    [InlineData(Req.SetVringEnable)]
    public void Queue_index_out_of_range_is_refused(uint request)
    {
        Init();
        Assert.NotEqual(0UL, Acked(request, State(2, 1)));
        Assert.NotEqual(0UL, Acked(request, State(255, 1)));
        Assert.Contains(Harness.Sink.Lines, l => l.Contains("out of range", StringComparison.Ordinal));
    }

    [Fact]
    public void Vring_fd_for_a_queue_out_of_range_is_refused_and_the_fd_closed()
    {
        Init();
        var before = FdTable.Snapshot();
        using (var fd = new VirtioFsd.Linux.UnixFd(VirtioFsd.Linux.Libc.EventFd(0, VirtioFsd.Linux.Libc.EFD_CLOEXEC)))
        {
            Assert.NotEqual(0UL, Acked(Req.SetVringKick, U64(7), [fd.Value]));
            Assert.NotEqual(0UL, Acked(Req.SetVringCall, U64(7 | (1UL << 9)), [fd.Value]));
        }
        FdTable.AssertNoneAdded(before);
    }

    [Fact]
    public void Get_vring_base_out_of_range_drops_the_connection()
    {
        Init();
        Frontend.Socket.Send(Req.GetVringBase, Proto.Version, State(9, 0), []);
        AssertDisconnected("out of range");
    }

    [Fact]
    public void Ring_addresses_outside_guest_memory_are_refused()
    {
        Init();
        Frontend.SetVringNum(0, 64);
        Frontend.ThrowOnNack = false;
        ulong inside = Ram.UserAddrOf(0x1000);
        ulong outside = Ram.UserAddrOf(0) + 0x100000; // first byte past the region
        Assert.NotEqual(0UL, SetAddr(outside, inside, inside + 0x800));
        Assert.NotEqual(0UL, SetAddr(inside, outside - 2, inside + 0x800)); // avail ring runs past the end
        Assert.NotEqual(0UL, SetAddr(inside + 8, inside + 0x400, inside + 0x800)); // misaligned table
        Assert.NotEqual(0UL, SetAddr(inside, inside + 0x400, inside + 0x800, flags: 2)); // unknown flag
        Assert.Equal(0UL, SetAddr(inside, inside + 0x400, inside + 0x800));
    }

    private ulong SetAddr(ulong desc, ulong avail, ulong used, uint flags = 0)
    {
        byte[] body = new byte[40];
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), desc);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), used);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(24), avail);
        return Acked(Req.SetVringAddr, body);
    }

    [Fact]
    public void Ring_starts_only_once_enabled_when_protocol_features_are_negotiated()
    {
        Init();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        Frontend.StartQueue(q, enable: false);
        Assert.Equal(0, Backend.RunningQueues);
        Frontend.SetVringEnable(0, true);
        Assert.Equal(1, Backend.RunningQueues);
        Frontend.SetVringEnable(0, false);
        Assert.Equal(0, Backend.RunningQueues);
        Frontend.SetVringEnable(0, true);
        Assert.Equal(1, Backend.RunningQueues);
        Assert.NotEqual(0UL, Acked(Req.SetVringEnable, State(0, 2)));
    }

    [Fact]
    public void Without_protocol_features_rings_start_enabled()
    {
        Frontend.GetFeatures();
        Frontend.SetOwner();
        Frontend.SetFeatures(Proto.FeatureVersion1);
        Frontend.SetMemTable();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        // No SET_VRING_ENABLE is sent (StartQueue skips it without PROTOCOL_FEATURES): the kick starts the ring.
        Frontend.StartQueue(q);
        // No REPLY_ACK without protocol features: a request with a reply orders us after the server's work.
        Frontend.GetFeatures();
        Assert.Equal(1, Backend.RunningQueues);
        EchoOnce(DriverQueue.For(Ram, q), q, BufferArea, BufferArea + 0x1000);
    }

    [Fact]
    public void Get_vring_base_stops_the_ring_and_nothing_touches_it_until_restarted()
    {
        Init();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        Frontend.StartQueue(q);
        var driver = DriverQueue.For(Ram, q, eventIdx: true);
        EchoOnce(driver, q, BufferArea, BufferArea + 0x1000);
        EchoOnce(driver, q, BufferArea, BufferArea + 0x1000);
        Assert.Equal(2u, Frontend.GetVringBase(0));
        Assert.Equal(0, Backend.RunningQueues);

        // Stopped: a chain made available and kicked is not consumed, no used entry, no call. (A call
        // signalled before the stop may still be pending: GET_VRING_BASE returned, so none can follow.)
        q.TryConsumeCall();
        ushort usedBefore = driver.ReadUsedIndex();
        driver.AddChain([new DriverBuffer(BufferArea, 10)], [new DriverBuffer(BufferArea + 0x1000, 10)]);
        q.Notify();
        Assert.Equal(2u, Frontend.GetVringBase(0));
        Assert.Equal(usedBefore, driver.ReadUsedIndex());
        Assert.False(q.TryConsumeCall());

        // Restart as QEMU does after a stop: base from GET_VRING_BASE, new kick.
        Frontend.SetVringBase(0, 2);
        Frontend.SetVringFd(Req.SetVringKick, 0, q.Kick.Value);
        Assert.Equal(1, Backend.RunningQueues);
        q.Notify();
        DriverUsedElement e = RoundTripTests.WaitUsed(driver, q);
        Assert.Equal(10u, e.Length);
    }

    [Fact]
    public void Kick_without_fd_makes_the_backend_poll_the_ring()
    {
        Init();
        using FrontendQueue q = FrontendQueue.Allocate(1, 64, Alloc);
        Frontend.SetVringNum(1, 64);
        Frontend.SetVringBase(1, 0);
        Frontend.SetVringAddr(1, q.DescGpa, q.AvailGpa, q.UsedGpa);
        Frontend.SetVringFd(Req.SetVringKick, 1, -1);
        Frontend.SetVringFd(Req.SetVringCall, 1, q.Call.Value);
        Frontend.SetVringEnable(1, true);
        Assert.Equal(1, Backend.RunningQueues);
        var driver = DriverQueue.For(Ram, q, eventIdx: true);
        EchoOnce(driver, q, BufferArea, BufferArea + 0x1000);
    }

    [Fact]
    public void Changing_the_call_fd_of_a_running_ring_keeps_it_running_on_the_new_fd()
    {
        Init();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        using FrontendQueue other = FrontendQueue.Allocate(0, 64, new GuestAllocator(0x40000, 0x50000));
        Frontend.StartQueue(q);
        var driver = DriverQueue.For(Ram, q, eventIdx: true);
        EchoOnce(driver, q, BufferArea, BufferArea + 0x1000);
        Frontend.SetVringFd(Req.SetVringCall, 0, other.Call.Value);
        Assert.Equal(1, Backend.RunningQueues);
        driver.AddChain([new DriverBuffer(BufferArea, 10)], [new DriverBuffer(BufferArea + 0x1000, 10)]);
        q.Notify();
        Assert.True(other.WaitForCall(10_000));
        Assert.True(driver.TryGetUsed(out _));
    }

    [Fact]
    public void Reset_device_stops_rings_and_resets_the_backend()
    {
        Init();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        Frontend.StartQueue(q);
        Assert.Equal(1, Backend.RunningQueues);
        Frontend.ResetDevice();
        Assert.Equal(0, Backend.RunningQueues);
        Assert.Equal(1, Backend.ResetCount);
        // Rings must be set up again from scratch.
        Frontend.SetFeatures(Frontend.NegotiatedFeatures);
        Frontend.SetVringFd(Req.SetVringKick, 0, q.Kick.Value);
        Assert.Equal(0, Backend.RunningQueues);
        Frontend.StartQueue(q);
        Assert.Equal(1, Backend.RunningQueues);
    }

    [Fact]
    public void Disconnect_stops_every_ring_resets_the_backend_and_closes_every_fd()
    {
        var before = FdTable.Snapshot();
        Init();
        using (FrontendQueue q0 = FrontendQueue.Allocate(0, 64, Alloc))
        using (FrontendQueue q1 = FrontendQueue.Allocate(1, 64, Alloc))
        {
            Frontend.StartQueue(q0);
            Frontend.StartQueue(q1);
            Frontend.SetVringFd(Req.SetVringErr, 0, q0.Call.Value);
            Assert.Equal(2, Backend.RunningQueues);
            Frontend.Socket.Dispose();
            Frontend.BackendChannel?.Dispose();
            Assert.True(Harness.WaitForEnd());
        }
        Assert.Equal(VirtioFsd.VhostUser.Server.ConnectionEnd.PeerClosed, Harness.End);
        Assert.Equal(0, Backend.RunningQueues);
        Assert.Equal(2, Backend.StopCount);
        Assert.Equal(1, Backend.ResetCount);
        FdTable.AssertNoneAdded(before);
    }
}
