using VirtioFsd.VhostUser.Tests.Support;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests.Server;

public sealed class NegotiationTests : HandlerTestBase
{
    [Fact]
    public void Offers_split_ring_features_and_the_implemented_protocol_features_only()
    {
        ulong features = Frontend.GetFeatures();
        Assert.Equal(Proto.FeatureVersion1 | Proto.FeatureIndirectDesc | Proto.FeatureEventIdx | Proto.FeatureProtocolFeatures
            | Proto.FeatureLogAll, features);
        ulong protocol = Frontend.GetProtocolFeatures();
        // DEVICE_STATE only with a device that has state to move (this test device has none).
        Assert.Equal(Proto.ProtoMq | Proto.ProtoLogShmfd | Proto.ProtoReplyAck | Proto.ProtoBackendReq | Proto.ProtoBackendSendFd
            | Proto.ProtoConfigureMemSlots | Proto.ProtoResetDevice | Proto.ProtoStatus, protocol);
        // CONFIG must not be offered without a config space (QEMU 7.1-8.0 abort on it).
        Assert.Equal(0UL, protocol & Proto.ProtoConfig);
    }

    [Fact]
    public void Handshake_reports_queue_count_and_memory_slots()
    {
        Assert.Equal(2, Frontend.Initialize());
        Assert.Equal(509UL, Frontend.GetMaxMemSlots());
        Assert.NotNull(Frontend.BackendChannel);
        Assert.Equal(Frontend.NegotiatedFeatures, Backend.NegotiatedFeatures);
    }

    [Fact]
    public void The_backend_channel_reaches_the_device_and_carries_backend_requests_to_the_frontend()
    {
        Frontend.Initialize();
        Assert.NotNull(Backend.BackendChannel);
        // VHOST_USER_BACKEND_CONFIG_CHANGE_MSG (2), no body: the frontend side receives it as sent.
        Assert.Equal(0, Backend.BackendChannel!.Send(2, 1, [], []));
        Reply? r = Frontend.BackendChannel!.Receive();
        Assert.Equal(2u, r!.Request);
        Assert.Equal(1u, r.Flags);
        Frontend.Socket.Dispose();
        Assert.True(Harness.WaitForEnd());
        Assert.Null(Backend.BackendChannel);
    }

    [Fact]
    public void Set_features_with_a_bit_never_offered_is_nacked_and_the_connection_lives()
    {
        Frontend.Initialize();
        Assert.NotEqual(0UL, Acked(Req.SetFeatures, U64(Frontend.BackendFeatures | (1UL << 40))));
        Assert.Equal(Frontend.BackendFeatures, Frontend.GetFeatures());
        Assert.Contains(Harness.Sink.Lines, l => l.Contains("never offered", StringComparison.Ordinal));
    }

    [Fact]
    public void Set_features_with_a_bit_never_offered_and_no_ack_wanted_drops_the_connection()
    {
        Frontend.GetFeatures();
        Frontend.Socket.Send(Req.SetFeatures, Proto.Version, U64(1UL << 40), []);
        AssertDisconnected("never offered");
    }

    [Fact]
    public void Set_protocol_features_with_a_bit_never_offered_is_refused()
    {
        Frontend.GetFeatures();
        Assert.NotEqual(0UL, Acked(Req.SetProtocolFeatures, U64(Proto.ProtoInflightShmfd)));
    }

    [Fact]
    public void Unknown_request_with_need_reply_gets_a_failure_ack_and_the_connection_lives()
    {
        Frontend.Initialize();
        Assert.NotEqual(0UL, Acked(99, []));
        Assert.NotEqual(0UL, Acked(Req.SetDeviceStateFd, U64(0))); // DEVICE_STATE not negotiated
        Assert.Equal(2UL, Frontend.GetQueueNum());
        Assert.Contains(Harness.Sink.Lines, l => l.Contains("request 99", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_request_without_need_reply_drops_the_connection()
    {
        Frontend.Socket.Send(99, Proto.Version, [], []);
        AssertDisconnected("request 99");
    }

    [Fact]
    public void Requests_behind_unnegotiated_protocol_features_are_refused()
    {
        // Protocol features never set: ADD_MEM_REG, GET_STATUS etc. are not available.
        Frontend.GetFeatures();
        Assert.NotEqual(0UL, Acked(Req.GetStatus, []));
        Assert.NotEqual(0UL, Acked(Req.ResetDevice, []));
        Assert.Equal(Frontend.BackendFeatures, Frontend.GetFeatures());
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(2u)]
    [InlineData(3u)]
    public void Bad_version_drops_the_connection(uint version)
    {
        Frontend.Socket.Send(Req.GetFeatures, version, [], []);
        AssertDisconnected("bad header flags");
    }

    [Fact]
    public void Wrong_body_size_drops_the_connection()
    {
        Frontend.Socket.Send(Req.SetFeatures, Proto.Version | Proto.NeedReplyFlag, new byte[4], []);
        AssertDisconnected("malformed SetFeatures");
    }

    [Fact]
    public void Fds_on_a_request_that_takes_none_drop_the_connection_and_are_closed()
    {
        var before = FdTable.Snapshot();
        using (var fd = new VirtioFsd.Linux.UnixFd(VirtioFsd.Linux.Libc.EventFd(0, VirtioFsd.Linux.Libc.EFD_CLOEXEC)))
        {
            Frontend.Socket.Send(Req.SetOwner, Proto.Version, [], [fd.Value, fd.Value]);
        }
        AssertDisconnected("carries 2 fds");
        // The two received duplicates were closed by the server: back to where we started.
        FdTable.AssertNoneAdded(before);
    }

    [Theory]
    [InlineData(Req.SetBackendReqFd, 0, 0)]
    [InlineData(Req.AddMemReg, 40, 0)]
    [InlineData(Req.SetVringKick, 8, 0)]
    [InlineData(Req.SetVringCall, 8, 2)]
    [InlineData(Req.SetMemTable, 8 + 32, 0)]
    [InlineData(Req.GetVringBase, 8, 1)]
    [InlineData(Req.SetVringAddr, 40, 1)]
    public void Wrong_fd_count_drops_the_connection_and_closes_what_came(uint request, int bodySize, int fdCount)
    {
        Frontend.Initialize();
        var before = FdTable.Snapshot();
        byte[] body = new byte[bodySize];
        if (request == Req.SetMemTable)
        {
            body[0] = 1; // one region announced
        }
        using (var fd = new VirtioFsd.Linux.UnixFd(VirtioFsd.Linux.Libc.EventFd(0, VirtioFsd.Linux.Libc.EFD_CLOEXEC)))
        {
            Frontend.Socket.Send(request, Proto.Version | Proto.NeedReplyFlag, body, Enumerable.Repeat(fd.Value, fdCount).ToArray());
        }
        AssertDisconnected("fds, expected");
        FdTable.AssertNoneAdded(before);
    }

    [Fact]
    public void Reset_owner_resets_like_reset_device()
    {
        Frontend.Initialize();
        Frontend.ResetOwner();
        Assert.Equal(1, Backend.ResetCount);
        Assert.Equal(Frontend.BackendFeatures, Frontend.GetFeatures());
    }

    [Fact]
    public void Status_round_trips()
    {
        Frontend.Initialize();
        Frontend.SetStatus(0x0f);
        Assert.Equal(0x0fUL, Frontend.GetStatus());
        Assert.NotEqual(0UL, Acked(Req.SetStatus, U64(0x100)));
    }

    [Fact]
    public void Set_config_is_refused_without_config_negotiated()
    {
        Frontend.Initialize();
        byte[] body = new byte[12 + 4];
        body[4] = 4;
        Assert.NotEqual(0UL, Acked(Req.GetConfig, body));
    }
}

public sealed class ConfigSpaceTests : HandlerTestBase
{
    private static readonly byte[] Space = [.. "myfs"u8, .. new byte[32], 1, 0, 0, 0];

    public ConfigSpaceTests()
        : base(new EchoBackend(configSpace: Space))
    {
    }

    [Fact]
    public void Config_is_offered_with_a_config_space_and_reads_back_zero_filled_past_its_end()
    {
        Frontend.Initialize();
        Assert.NotEqual(0UL, Frontend.NegotiatedProtocolFeatures & Proto.ProtoConfig);
        Assert.Equal(Space, Frontend.GetConfig(0, (uint)Space.Length));
        Assert.Equal([.. "fs"u8], Frontend.GetConfig(2, 2));
        byte[] tail = Frontend.GetConfig((uint)Space.Length - 2, 8);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0 }, tail);
        Assert.NotEqual(0UL, Acked(Req.SetConfig, new byte[12]));
    }

    [Fact]
    public void Config_range_beyond_256_bytes_drops_the_connection()
    {
        Frontend.Initialize();
        byte[] body = new byte[12];
        BitConverter.GetBytes(250u).CopyTo(body, 0);
        BitConverter.GetBytes(10u).CopyTo(body, 4);
        Frontend.Socket.Send(Req.GetConfig, Proto.Version, body, []);
        AssertDisconnected("exceeds 256");
    }
}
