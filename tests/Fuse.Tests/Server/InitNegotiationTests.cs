using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Server;

public class InitNegotiationTests
{
    private static FuseInitFlags Flags(FuseInitOut init) => (FuseInitFlags)(init.Flags | ((ulong)init.Flags2 << 32));

    [Fact]
    public void The_session_line_names_the_flags_as_the_enum_did_without_quotes()
    {
        var log = new LogCollector();
        var server = new FuseServer(new RecordingFileSystem(), new FuseServerOptions(), log.Logger);
        Assert.Equal(0, FuseExchange.Run(server, FuseRequestBuilder.Init(ServerHarness.GuestFlags)).Error);
        string line = Assert.Single(log.Events, e => e.MessageTemplate.Text.StartsWith("FUSE session up", StringComparison.Ordinal))
            .RenderMessage(System.Globalization.CultureInfo.InvariantCulture);
        // Before the flags were named without reflection, the enum rendered as "flags AsyncRead, PosixLocks, ...": log
        // scrapers see the same text.
        Assert.Contains("flags AsyncRead, PosixLocks, AtomicOTrunc, ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("\"", line, StringComparison.Ordinal);
    }

    [Fact]
    public void New_guest_is_negotiated_down_to_our_minor_with_1MiB_writes()
    {
        var h = new ServerHarness();
        FuseInitOut init = h.InitReply!.Read<FuseInitOut>();

        Assert.Equal(64, h.InitReply.Body.Length);
        Assert.Equal(7u, init.Major);
        Assert.Equal(FuseConstants.KernelMinorVersion, init.Minor);
        Assert.Equal(128u * 1024, init.MaxReadahead);
        Assert.Equal(1024u * 1024, init.MaxWrite);
        Assert.Equal(256, init.MaxPages);
        Assert.Equal(1u, init.TimeGran);
        Assert.True(init.MaxBackground > 0);
    }

    [Fact]
    public void Over_io_uring_is_negotiated_only_when_the_transport_asks_for_it()
    {
        FuseInitFlags without = Flags(new ServerHarness().InitReply!.Read<FuseInitOut>());
        FuseInitFlags with = Flags(new ServerHarness(new FuseServerOptions { OverIoUring = true }).InitReply!.Read<FuseInitOut>());
        FuseInitFlags notOffered = Flags(new ServerHarness(new FuseServerOptions { OverIoUring = true },
            guestFlags: ServerHarness.GuestFlags & ~FuseInitFlags.OverIoUring).InitReply!.Read<FuseInitOut>());

        Assert.False(without.HasFlag(FuseInitFlags.OverIoUring));
        Assert.True(with.HasFlag(FuseInitFlags.OverIoUring));
        Assert.False(notOffered.HasFlag(FuseInitFlags.OverIoUring));
    }

    [Fact]
    public void Older_guest_keeps_its_own_minor()
    {
        var h = new ServerHarness(initialize: false);
        FuseReply reply = h.Run(FuseRequestBuilder.Init(ServerHarness.GuestFlags, minor: 31));

        Assert.Equal(0, reply.Error);
        Assert.Equal(31u, reply.Read<FuseInitOut>().Minor);
    }

    [Fact]
    public void Default_options_enable_the_common_flags_locks_and_submounts_and_nothing_optional()
    {
        var h = new ServerHarness();
        FuseInitFlags flags = Flags(h.InitReply!.Read<FuseInitOut>());

        // The defaults are the daemon's: remote POSIX and flock locks, and submounts announced (the Rust daemon's default).
        FuseInitFlags expected = FuseInitFlags.AsyncRead | FuseInitFlags.ParallelDirOps | FuseInitFlags.BigWrites
            | FuseInitFlags.AutoInvalData | FuseInitFlags.AsyncDio | FuseInitFlags.AtomicOTrunc | FuseInitFlags.MaxPages
            | FuseInitFlags.InitExt | FuseInitFlags.CreateSuppGroup | FuseInitFlags.ExportSupport | FuseInitFlags.HasIoctlDir
            | FuseInitFlags.DoReadDirPlus | FuseInitFlags.ReadDirPlusAuto
            | FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks | FuseInitFlags.Submounts;
        Assert.Equal(expected, flags);
        Assert.Equal(h.Server.NegotiatedFlags, flags);
    }

    [Fact]
    public void Options_add_their_flags()
    {
        var h = new ServerHarness(new FuseServerOptions
        {
            Writeback = true,
            KillPrivV2 = true,
            Xattr = true,
            PosixAcl = true,
            AnnounceSubmounts = true,
            PosixLocks = true,
            FlockLocks = true,
            AllowMmap = true,
            ReadDirPlus = false,
            Cache = CacheMode.Always,
        });
        FuseInitFlags flags = Flags(h.InitReply!.Read<FuseInitOut>());

        foreach (FuseInitFlags f in new[]
        {
            FuseInitFlags.WritebackCache, FuseInitFlags.HandleKillPrivV2, FuseInitFlags.PosixAcl, FuseInitFlags.DontMask,
            FuseInitFlags.SetXattrExt, FuseInitFlags.Submounts, FuseInitFlags.PosixLocks, FuseInitFlags.FlockLocks,
            FuseInitFlags.DirectIoAllowMmap, FuseInitFlags.CacheSymlinks,
        })
        {
            Assert.True(flags.HasFlag(f), $"{f} missing from {flags}");
        }

        Assert.False(flags.HasFlag(FuseInitFlags.DoReadDirPlus));
        Assert.False(flags.HasFlag(FuseInitFlags.ReadDirPlusAuto));
        Assert.False(flags.HasFlag(FuseInitFlags.SecurityCtx));
        Assert.False(flags.HasFlag(FuseInitFlags.HasInodeDax));
    }

    [Fact]
    public void Read_only_never_offers_writeback_and_acl_needs_xattr()
    {
        var h = new ServerHarness(new FuseServerOptions { Writeback = true, ReadOnly = true, PosixAcl = true, Xattr = false });
        FuseInitFlags flags = Flags(h.InitReply!.Read<FuseInitOut>());

        Assert.False(flags.HasFlag(FuseInitFlags.WritebackCache));
        Assert.False(flags.HasFlag(FuseInitFlags.PosixAcl));
    }

    [Fact]
    public void Only_flags_the_guest_offered_are_enabled()
    {
        var h = new ServerHarness(new FuseServerOptions { Writeback = true }, guestFlags: FuseInitFlags.AsyncRead | FuseInitFlags.BigWrites);
        FuseInitOut init = h.InitReply!.Read<FuseInitOut>();

        Assert.Equal(FuseInitFlags.AsyncRead | FuseInitFlags.BigWrites, Flags(init));
        Assert.Equal(0, init.MaxPages);
    }

    [Fact]
    public void Upper_flags_count_only_with_init_ext()
    {
        // CREATE_SUPP_GROUP sits in flags2; without INIT_EXT the guest's flags2 is not meant.
        var h = new ServerHarness(initialize: false);
        var init = new FuseInitIn { Major = 7, Minor = 40, Flags = (uint)FuseInitFlags.AsyncRead, Flags2 = (uint)((ulong)FuseInitFlags.CreateSuppGroup >> 32) };
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.Init, 0).Add(init));

        Assert.Equal(FuseInitFlags.AsyncRead, Flags(reply.Read<FuseInitOut>()));
    }

    [Fact]
    public void Filesystem_can_refuse_flags()
    {
        var h = new ServerHarness(initialize: false);
        h.Fs.InitMask = ~(FuseInitFlags.CreateSuppGroup | FuseInitFlags.ExportSupport);
        FuseReply reply = h.Run(FuseRequestBuilder.Init(ServerHarness.GuestFlags));
        FuseInitFlags flags = Flags(reply.Read<FuseInitOut>());

        Assert.False(flags.HasFlag(FuseInitFlags.CreateSuppGroup));
        Assert.False(flags.HasFlag(FuseInitFlags.ExportSupport));
        Assert.True(flags.HasFlag(FuseInitFlags.AsyncRead));
        Assert.StartsWith("Init ", h.Fs.Calls.Single());
    }

    [Fact]
    public void Pre_7_36_init_of_16_bytes_is_accepted()
    {
        var h = new ServerHarness(initialize: false);
        var init = new FuseInitIn { Major = 7, Minor = 31, MaxReadahead = 4096, Flags = (uint)FuseInitFlags.AsyncRead };
        byte[] prefix = FuseBytes.Of(init)[..16];
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.Init, 0).AddBytes(prefix));

        Assert.Equal(0, reply.Error);
        Assert.Equal(FuseInitFlags.AsyncRead, Flags(reply.Read<FuseInitOut>()));
    }

    [Fact]
    public void Too_old_guest_gets_EPROTO_and_newer_major_gets_our_version()
    {
        var h = new ServerHarness(initialize: false);
        Assert.Equal(-Errno.EPROTO, h.Run(FuseRequestBuilder.Init(FuseInitFlags.None, minor: 20)).Error);

        var init = new FuseInitIn { Major = 8, Minor = 1 };
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.Init, 0).Add(init));
        Assert.Equal(0, reply.Error);
        Assert.Equal(8, reply.Body.Length);
        Assert.Equal(7u, BitConverter.ToUInt32(reply.Body, 0));
        Assert.Equal(FuseConstants.KernelMinorVersion, BitConverter.ToUInt32(reply.Body, 4));
        Assert.Null(h.Server.NegotiatedFlags);
    }

    [Fact]
    public void Requests_before_init_get_EIO()
    {
        var h = new ServerHarness(initialize: false);
        FuseReply reply = h.RunRejected(new FuseRequestBuilder(FuseOpcode.Lookup).AddName("a"));

        Assert.Equal(-Errno.EIO, reply.Error);
        Assert.Equal(1ul, reply.Header.Unique);
    }

    [Fact]
    public void After_destroy_only_init_is_served()
    {
        var h = new ServerHarness();
        FuseReply destroyed = h.Run(new FuseRequestBuilder(FuseOpcode.Destroy, 0, unique: 9));
        Assert.Equal(0, destroyed.Error);
        Assert.Equal(16u, destroyed.Length);
        Assert.Equal("Destroy", h.Fs.Calls[^1]);

        Assert.Equal(-Errno.EIO, h.RunRejected(new FuseRequestBuilder(FuseOpcode.GetAttr).Add(new FuseGetAttrIn())).Error);

        Assert.Equal(0, h.Run(FuseRequestBuilder.Init(ServerHarness.GuestFlags)).Error);
        Assert.Equal(0, h.Run(new FuseRequestBuilder(FuseOpcode.GetAttr).Add(new FuseGetAttrIn())).Error);
    }

    [Fact]
    public void Second_init_without_destroy_resets_the_filesystem()
    {
        var h = new ServerHarness();
        Assert.DoesNotContain("Destroy", h.Fs.Calls);

        FuseReply reply = h.Run(FuseRequestBuilder.Init(FuseInitFlags.AsyncRead, unique: 2));

        Assert.Equal(0, reply.Error);
        Assert.Equal(new[] { "Destroy", "Init 1" }, h.Fs.Calls.Skip(1).ToArray());
        Assert.Equal(FuseInitFlags.AsyncRead, h.Server.NegotiatedFlags);
    }

    [Fact]
    public void Init_reply_that_does_not_fit_is_ERANGE_and_leaves_no_session()
    {
        var h = new ServerHarness(initialize: false);
        FuseReply reply = h.RunRejected(FuseRequestBuilder.Init(ServerHarness.GuestFlags), replySegments: [16, 40]);

        Assert.Equal(-Errno.ERANGE, reply.Error);
        Assert.Null(h.Server.NegotiatedFlags);
    }
}
