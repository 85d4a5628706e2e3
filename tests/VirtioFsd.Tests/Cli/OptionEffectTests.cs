using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Escape;
using static VirtioFsd.Tests.Escape.EscapeShare;

namespace VirtioFsd.Tests.Cli;

/// <summary>
/// Options that change what the guest sees, checked through a real daemon process from the command line to the
/// guest's side of the device, so that an option dropped anywhere on the way (parser, options record, the
/// filesystem's or the server's settings) fails here.
/// </summary>
public sealed class OptionEffectTests : IDisposable
{
    private readonly TempDirectory _share = new("virtiofsd-option-effect-");

    public void Dispose() => _share.Dispose();

    private static FuseInitFlags InitFlags(FuseReply init)
    {
        FuseInitOut o = init.Read<FuseInitOut>();
        return (FuseInitFlags)(o.Flags | ((ulong)o.Flags2 << 32));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Allow_mmap_offers_direct_io_allow_mmap_to_the_guest(bool allowMmap)
    {
        string[] args = allowMmap ? ["--cache", "never", "--allow-mmap"] : ["--cache", "never"];
        using var d = DeviceUnderTest.Start(DeviceKind.SandboxNone, _share.Path, init: false, extraArgs: args);
        FuseInitFlags flags = InitFlags(d.Client.Init(DeviceUnderTest.GuestFlags | FuseInitFlags.DirectIoAllowMmap));
        Assert.Equal(allowMmap, flags.HasFlag(FuseInitFlags.DirectIoAllowMmap));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void O_noatime_from_the_guest_reaches_the_host_only_with_preserve_noatime(bool preserve)
    {
        // relatime updates atime on a read when it is older than mtime or a day: both hold here.
        string file = _share.Combine("f");
        File.WriteAllText(file, "content");
        DateTime old = DateTime.UtcNow.AddDays(-3);
        File.SetLastWriteTimeUtc(file, old.AddHours(-1));
        File.SetLastAccessTimeUtc(file, old);
        using var d = DeviceUnderTest.Start(DeviceKind.SandboxNone, _share.Path, extraArgs: preserve ? ["--preserve-noatime"] : []);
        FuseDeviceClient c = d.Client;

        ulong node = c.Call(FuseOpcode.Lookup, 1, N("f")).NodeId;
        ulong fh = c.Call(FuseOpcode.Open, node, FuseBytes.Of(new FuseOpenIn { Flags = (uint)(Libc.O_RDONLY | Libc.O_NOATIME) })).Fh;
        FuseReply read = c.Call(FuseOpcode.Read, node, FuseBytes.Of(new FuseReadIn { Fh = fh, Size = 100 }));
        Assert.Equal("content"u8.ToArray(), read.Body);
        Assert.Equal(0, c.Call(FuseOpcode.Release, node, FuseBytes.Of(new FuseReleaseIn { Fh = fh })).Error);

        bool atimeKept = File.GetLastAccessTimeUtc(file) < DateTime.UtcNow.AddDays(-1);
        Assert.Equal(preserve, atimeKept);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("kata-share")]
    public void Tag_is_served_in_the_config_space_and_config_is_offered_only_with_it(string? tag)
    {
        // The daemon's socket lives in a run directory of its own; the share is the class's.
        using var runDir = new Process.TempTree("virtiofsd-option-effect-run-");
        string socket = runDir.Socket;
        List<string> args = ["--shared-dir", _share.Path, "--socket-path", socket, "--sandbox", "none"];
        if (tag is not null)
        {
            args.AddRange(["--tag", tag]);
        }
        using var daemon = Process.DaemonProcess.Start(args, selfCheck: false);
        daemon.WaitForLog("Waiting for vhost-user socket connection");
        using var ram = VhostUserFrontend.GuestRam.Single(4UL << 20);
        using var frontend = VhostUserFrontend.VhostUserFrontend.Connect(socket, ram);
        frontend.GetFeatures();
        bool offered = (frontend.GetProtocolFeatures() & VhostUserFrontend.Proto.ProtoConfig) != 0;
        Assert.True(offered == (tag is not null), $"protocol features {frontend.BackendProtocolFeatures:x}");
        if (tag is not null)
        {
            frontend.SetFeatures(frontend.BackendFeatures);
            frontend.SetProtocolFeatures(frontend.BackendProtocolFeatures);
            byte[] space = frontend.GetConfig(0, 40);
            Assert.Equal(tag, System.Text.Encoding.UTF8.GetString(space, 0, 36).TrimEnd('\0'));
            Assert.Equal(16u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(space.AsSpan(36)));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Security_label_stores_the_guests_label_on_files_it_creates(bool securityLabel)
    {
        using var d = DeviceUnderTest.Start(DeviceKind.SandboxNone, _share.Path, init: false,
            extraArgs: securityLabel ? ["--security-label"] : []);
        FuseDeviceClient c = d.Client;
        FuseInitFlags flags = InitFlags(c.Init(DeviceUnderTest.GuestFlags));
        Assert.Equal(securityLabel, flags.HasFlag(FuseInitFlags.SecurityCtx));

        // As a Linux guest with SELinux sends them once SECURITY_CTX is on: the context follows the request body.
        byte[] label = SecurityContextRecord.Of("security.selinux", "system_u:object_r:httpd_sys_content_t:s0");
        byte[] mkdir = [.. FuseBytes.Of(new FuseMkdirIn { Mode = 0x1ed }), .. N("dir")];
        Assert.Equal(0, c.Start(FuseOpcode.Mkdir, 1, mkdir, extensions: securityLabel ? label : null).Wait().Error);
        byte[] create = [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = 0x81a4 }), .. N("file")];
        Assert.Equal(0, c.Start(FuseOpcode.Create, 1, create, extensions: securityLabel ? label : null).Wait().Error);

        foreach (string name in new[] { "dir", "file" })
        {
            byte[] value = new byte[256];
            int n = Libc.Getxattr(System.Text.Encoding.UTF8.GetBytes(_share.Combine(name)), "security.selinux"u8, value);
            if (securityLabel)
            {
                Assert.Equal("system_u:object_r:httpd_sys_content_t:s0", System.Text.Encoding.UTF8.GetString(value, 0, n).TrimEnd('\0'));
            }
            else
            {
                Assert.True(n < 0, $"{name} got a label without --security-label");
            }
        }
    }

    /// <summary>
    /// --thread-pool-size N: at most N kernel workers run a queue's blocking file operations. 32 reads of 1 MiB in
    /// flight go to io_uring's workers at once (reads that large are punted, IOSQE_ASYNC); the file's pages are
    /// dropped first, so each read blocks on the disk and the kernel adds a worker for the next (it adds one only
    /// when a worker sleeps). Workers stay for a few seconds after, so counting the daemon's iou-wrk threads then
    /// shows how many there were.
    /// </summary>
    [SkippableTheory]
    [InlineData(null)]
    [InlineData(1)]
    public void Thread_pool_size_bounds_the_io_uring_workers_per_queue(int? poolSize)
    {
        Engine.IoUringRequirement.SkipUnlessAvailable();
        const int Payload = 1 << 20, Reads = 32;
        string data = _share.Combine("data");
        File.WriteAllBytes(data, new byte[Payload * Reads]);
        void DropPages()
        {
            int fd = Libc.Openat(Libc.AT_FDCWD, System.Text.Encoding.UTF8.GetBytes(data), Libc.O_RDONLY | Libc.O_CLOEXEC);
            Assert.True(fd >= 0);
            Assert.Equal(0, Libc.Fsync(fd));
            Assert.Equal(0, Libc.Fadvise(fd, 0, 0, Libc.POSIX_FADV_DONTNEED));
            Libc.Close(fd);
        }
        // The daemon's socket lives in a run directory of its own; the share is the class's.
        using var runDir = new Process.TempTree("virtiofsd-option-effect-run-");
        string socket = runDir.Socket;
        List<string> args = ["--shared-dir", _share.Path, "--socket-path", socket, "--sandbox", "none", "--io-engine", "io-uring"];
        if (poolSize is { } n)
        {
            args.AddRange(["--thread-pool-size", n.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        using var daemon = Process.DaemonProcess.Start(args, selfCheck: false);
        using var device = Engine.QueueFrontend.Connect(socket, 1, Reads, Payload);
        Engine.QueueDriver q = device.Drivers[0];
        Engine.FuseCalls.Init(q);
        ulong node = Engine.FuseCalls.Ok(Engine.FuseCalls.Lookup(q, 1, "data"));
        ulong fh = Engine.FuseCalls.Ok(Engine.FuseCalls.Open(q, node, Libc.O_RDONLY));
        for (int round = 0; round < 4; round++)
        {
            DropPages();
            q.Run(Enumerable.Range(0, Reads).Select(k => new Engine.FuseCall
            {
                Opcode = FuseOpcode.Read,
                Node = node,
                Args = FuseBytes.Of(new FuseReadIn { Fh = fh, Offset = (ulong)k * Payload, Size = Payload }),
                ReplyPayloadBytes = Payload,
                Verify = (header, _, data) => Assert.Equal(0, header.Error),
            }), Reads);
        }
        int workers = Directory.GetDirectories($"/proc/{daemon.Pid}/task")
            .Count(t => File.ReadAllText(Path.Combine(t, "comm")).StartsWith("iou-wrk", StringComparison.Ordinal));
        if (poolSize is { } limit)
        {
            Assert.InRange(workers, 1, limit);
        }
        else
        {
            Assert.True(workers > 1, $"without a limit {Reads} reads in flight ran on {workers} io_uring workers");
        }
    }

    [Fact]
    public void Translate_uid_and_gid_change_owners_both_ways_and_forbid_guest_refuses()
    {
        string hostOwned = _share.Combine("by-1000");
        string rootOwned = _share.Combine("by-root");
        File.WriteAllText(hostOwned, "x");
        File.WriteAllText(rootOwned, "x");
        Assert.Equal(0, Libc.Chown(hostOwned, 1000, 1000));
        // The guest's root acts as host 1000 now, which must be able to create in the share.
        Assert.Equal(0, Libc.Chown(_share.Path, 1000, 1000));
        using var d = DeviceUnderTest.Start(DeviceKind.SandboxNone, _share.Path, extraArgs:
        [
            "--translate-uid", "forbid-guest:5:1", "--translate-uid", "map:0:1000:1", "--translate-uid", "squash-host:0:65534:1",
            "--translate-gid", "map:0:1000:1",
        ]);
        FuseDeviceClient c = d.Client;

        // Host 1000 is the guest's root; host root is squashed to nobody.
        FuseEntryOut e = c.Call(FuseOpcode.Lookup, 1, N("by-1000")).Read<FuseEntryOut>();
        Assert.Equal((0u, 0u), (e.Attr.Uid, e.Attr.Gid));
        Assert.Equal(65534u, c.Call(FuseOpcode.Lookup, 1, N("by-root")).Read<FuseEntryOut>().Attr.Uid);

        // What the guest's root creates belongs to host 1000.
        byte[] create = [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = 0x81a4 }), .. N("made")];
        FuseReply made = c.Call(FuseOpcode.Create, 1, create);
        Assert.Equal(0u, made.Read<FuseEntryOut>().Attr.Uid);
        Assert.Equal((1000u, 1000u), HostOwner(_share.Combine("made")));

        // A forbidden guest uid creates nothing, and is given to no file.
        byte[] mkdir = [.. FuseBytes.Of(new FuseMkdirIn { Mode = 0x1ed }), .. N("by-5")];
        Assert.Equal(-Errno.EPERM, c.Call(FuseOpcode.Mkdir, 1, mkdir, uid: 5, gid: 5).Error);
        Assert.False(Directory.Exists(_share.Combine("by-5")));
        var chown = new FuseSetAttrIn { Valid = Fuse.Abi.FuseConstants.FattrUid, Uid = 5 };
        Assert.Equal(-Errno.EPERM, c.Call(FuseOpcode.SetAttr, made.NodeId, FuseBytes.Of(chown)).Error);
        // A chown to the guest's root gives the file host 1000.
        Assert.Equal(0, Libc.Chown(_share.Combine("made"), 0, 0));
        chown = new FuseSetAttrIn { Valid = Fuse.Abi.FuseConstants.FattrUid, Uid = 0 };
        Assert.Equal(0u, c.Call(FuseOpcode.SetAttr, made.NodeId, FuseBytes.Of(chown)).Read<FuseAttrOut>().Attr.Uid);
        Assert.Equal(1000u, HostOwner(_share.Combine("made")).Uid);
    }

    private static (uint Uid, uint Gid) HostOwner(string path)
    {
        Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD, System.Text.Encoding.UTF8.GetBytes(path), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Statx st));
        return (st.Uid, st.Gid);
    }
}
