using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>Every opcode reaches the filesystem with the arguments the guest encoded, and its reply is encoded back.</summary>
public class OpcodeDecodingTests
{
    private const string Ctx = "ctx=1000/1000/4242";

    private readonly ServerHarness h = new(new FuseServerOptions { Xattr = true, PosixLocks = true, FlockLocks = true });

    private static FuseRequestBuilder Req(FuseOpcode op, ulong node = 5) => new(op, node, unique: 77);

    [Fact]
    public void Lookup_replies_an_entry_with_the_cache_timeouts()
    {
        var (reply, call) = h.RunOne(Req(FuseOpcode.Lookup).AddName("hello.txt"));

        Assert.Equal($"Lookup {Ctx} parent=5 name=hello.txt", call);
        Assert.Equal(0, reply.Error);
        Assert.Equal(77ul, reply.Header.Unique);
        FuseEntryOut entry = reply.Read<FuseEntryOut>();
        Assert.Equal(128, reply.Body.Length);
        Assert.Equal(7ul, entry.NodeId);
        Assert.Equal(3ul, entry.Generation);
        Assert.Equal(1ul, entry.EntryValid); // CacheMode.Auto: 1 s
        Assert.Equal(1ul, entry.AttrValid);
        Assert.Equal(70ul, entry.Attr.Ino);
        Assert.Equal(123ul, entry.Attr.Size);
        Assert.Equal(0x81a4u, entry.Attr.Mode);
    }

    [Fact]
    public void Filesystem_errors_become_error_replies()
    {
        h.Fs.Result = -Errno.ENOENT;
        var (reply, _) = h.RunOne(Req(FuseOpcode.Lookup).AddName("missing"));

        Assert.Equal(-Errno.ENOENT, reply.Error);
        Assert.Equal(16u, reply.Length);
    }

    [Fact]
    public void Forget_and_batch_forget_reach_the_filesystem_without_reply()
    {
        var (reply, call) = h.RunOne(Req(FuseOpcode.Forget, 9).Add(new FuseForgetIn { Nlookup = 4 }));
        Assert.Equal("Forget node=9 count=4", call);
        Assert.Equal(0u, reply.Length);

        FuseReply batch = h.Run(Req(FuseOpcode.BatchForget, 0)
            .Add(new FuseBatchForgetIn { Count = 2 })
            .Add(new FuseForgetOne { NodeId = 10, Nlookup = 1 })
            .Add(new FuseForgetOne { NodeId = 11, Nlookup = ulong.MaxValue }), requestCuts: [20, 50, 60]);
        Assert.Equal(0u, batch.Length);
        Assert.Equal(new[] { "Forget node=10 count=1", $"Forget node=11 count={ulong.MaxValue}" }, h.Fs.Calls.TakeLast(2).ToArray());
    }

    [Fact]
    public void GetAttr_passes_the_handle_only_with_GETATTR_FH()
    {
        var (reply, call) = h.RunOne(Req(FuseOpcode.GetAttr).Add(new FuseGetAttrIn { GetAttrFlags = 0, Fh = 99 }));
        Assert.Equal($"GetAttr {Ctx} node=5 fh=none", call);
        Assert.Equal(104, reply.Body.Length);
        Assert.Equal(70ul, reply.Read<FuseAttrOut>().Attr.Ino);
        Assert.Equal(1ul, reply.Read<FuseAttrOut>().AttrValid);

        (_, call) = h.RunOne(Req(FuseOpcode.GetAttr).Add(new FuseGetAttrIn { GetAttrFlags = FuseConstants.GetAttrFh, Fh = 99 }));
        Assert.Equal($"GetAttr {Ctx} node=5 fh=99", call);
    }

    [Fact]
    public void SetAttr_decodes_every_field()
    {
        var setAttr = new FuseSetAttrIn
        {
            Valid = FuseConstants.FattrMode | FuseConstants.FattrSize | FuseConstants.FattrFh | FuseConstants.FattrAtime | FuseConstants.FattrMtime,
            Fh = 8,
            Size = 4096,
            LockOwner = 17,
            Atime = 100,
            AtimeNsec = 5,
            Mtime = 200,
            MtimeNsec = 6,
            Mode = 0x1ed,
            Uid = 33,
            Gid = 44,
        };
        var (reply, call) = h.RunOne(Req(FuseOpcode.SetAttr).Add(setAttr));

        Assert.Equal($"SetAttr {Ctx} node=5 fh=8 valid=79 mode=755 uid=33 gid=44 size=4096 atime=100.5 mtime=200.6 owner=17", call);
        Assert.Equal(0, reply.Error);
        Assert.Equal(104, reply.Body.Length);
    }

    [Fact]
    public void ReadLink_replies_the_target_bytes()
    {
        h.Fs.Data = "../target"u8.ToArray();
        var (reply, call) = h.RunOne(Req(FuseOpcode.ReadLink));

        Assert.Equal($"ReadLink {Ctx} node=5 room=4096", call);
        Assert.Equal("../target"u8.ToArray(), reply.Body);
    }

    [Fact]
    public void Symlink_takes_the_name_then_the_target()
    {
        var (reply, call) = h.RunOne(Req(FuseOpcode.Symlink).AddName("link").AddName("/some/where"));

        Assert.Equal($"Symlink {Ctx} target=/some/where parent=5 name=link", call);
        Assert.Equal(7ul, reply.Read<FuseEntryOut>().NodeId);
    }

    [Fact]
    public void Mknod_and_mkdir_decode_mode_and_rdev()
    {
        var (_, call) = h.RunOne(Req(FuseOpcode.Mknod).Add(new FuseMknodIn { Mode = 0x11a4, Rdev = 7, Umask = 0x12 }).AddName("fifo"));
        Assert.Equal($"Mknod {Ctx} parent=5 name=fifo mode=10644 rdev=7", call);

        (_, call) = h.RunOne(Req(FuseOpcode.Mkdir).Add(new FuseMkdirIn { Mode = 0x41ed, Umask = 0x12 }).AddName("dir"));
        Assert.Equal($"Mkdir {Ctx} parent=5 name=dir mode=40755", call);
    }

    [Fact]
    public void Umask_reaches_the_filesystem_only_under_dont_mask()
    {
        var acl = new ServerHarness(new FuseServerOptions { Xattr = true, PosixAcl = true });
        var (_, call) = acl.RunOne(Req(FuseOpcode.Mkdir).Add(new FuseMkdirIn { Mode = 0x41ff, Umask = 0x12 }).AddName("dir"));

        Assert.Equal($"Mkdir {Ctx} umask=22 parent=5 name=dir mode=40777", call);
    }

    [Fact]
    public void Supplementary_group_extension_reaches_the_context()
    {
        var (reply, call) = h.RunOne(Req(FuseOpcode.Mkdir).Add(new FuseMkdirIn { Mode = 0x41ed }).AddName("d").AddSupplementaryGroups(4321));

        Assert.Equal(0, reply.Error);
        Assert.Equal($"Mkdir {Ctx} supp=4321 parent=5 name=d mode=40755", call);
    }

    [Fact]
    public void Unlink_rmdir_rename_rename2_link()
    {
        Assert.Equal($"Unlink {Ctx} parent=5 name=f", h.RunOne(Req(FuseOpcode.Unlink).AddName("f")).Call);
        Assert.Equal($"Rmdir {Ctx} parent=5 name=d", h.RunOne(Req(FuseOpcode.Rmdir).AddName("d")).Call);
        Assert.Equal($"Rename {Ctx} 5/a -> 6/b flags=0",
            h.RunOne(Req(FuseOpcode.Rename).Add(new FuseRenameIn { NewDir = 6 }).AddName("a").AddName("b")).Call);
        Assert.Equal($"Rename {Ctx} 5/a -> 6/b flags=2",
            h.RunOne(Req(FuseOpcode.Rename2).Add(new FuseRename2In { NewDir = 6, Flags = 2 }).AddName("a").AddName("b")).Call);

        var (reply, call) = h.RunOne(Req(FuseOpcode.Link).Add(new FuseLinkIn { OldNodeId = 12 }).AddName("hard"));
        Assert.Equal($"Link {Ctx} node=12 -> 5/hard", call);
        Assert.Equal(128, reply.Body.Length);
    }

    [Fact]
    public void Open_create_tmpfile_reply_handles()
    {
        var (reply, call) = h.RunOne(Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = 0x8002 }));
        Assert.Equal($"Open {Ctx} node=5 flags=8002", call);
        Assert.Equal(55ul, reply.Read<FuseOpenOut>().Fh);

        (reply, call) = h.RunOne(Req(FuseOpcode.Create).Add(new FuseCreateIn { Flags = 0x8241, Mode = 0x81a4 }).AddName("new"));
        Assert.Equal($"Create {Ctx} parent=5 name=new mode=100644 flags=8241", call);
        Assert.Equal(144, reply.Body.Length);
        Assert.Equal(7ul, reply.Read<FuseEntryOut>().NodeId);
        Assert.Equal(55ul, reply.Read<FuseOpenOut>(128).Fh);

        (reply, call) = h.RunOne(Req(FuseOpcode.Tmpfile).Add(new FuseCreateIn { Flags = 0x410002, Mode = 0x81a4 }).AddName("/"));
        Assert.Equal($"Tmpfile {Ctx} parent=5 mode=100644 flags=410002", call);
        Assert.Equal(144, reply.Body.Length);
    }

    [Fact]
    public void Open_flags_follow_the_options()
    {
        // O_DIRECT (0x4000) is stripped without --allow-direct-io.
        Assert.Equal($"Open {Ctx} node=5 flags=8000", h.RunOne(Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = 0xc000 })).Call);

        var direct = new ServerHarness(new FuseServerOptions { AllowDirectIo = true });
        Assert.Equal($"Open {Ctx} node=5 flags=c000", direct.RunOne(Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = 0xc000 })).Call);

        // Under the writeback cache O_WRONLY becomes O_RDWR and O_APPEND goes.
        var writeback = new ServerHarness(new FuseServerOptions { Writeback = true });
        Assert.Equal($"Open {Ctx} node=5 flags=8002", writeback.RunOne(Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = 0x8401 })).Call);
    }

    [Theory]
    [InlineData(CacheMode.Never, FuseConstants.FopenDirectIo, 0u, 0ul)]
    [InlineData(CacheMode.Metadata, FuseConstants.FopenDirectIo, FuseConstants.FopenCacheDir, 86400ul)]
    [InlineData(CacheMode.Auto, 0u, 0u, 1ul)]
    [InlineData(CacheMode.Always, FuseConstants.FopenKeepCache, FuseConstants.FopenCacheDir, 86400ul)]
    public void Cache_mode_sets_open_flags_and_timeouts(CacheMode mode, uint fileFlags, uint dirFlags, ulong timeout)
    {
        var s = new ServerHarness(new FuseServerOptions { Cache = mode });
        s.Fs.Opened = new() { Handle = new(1), OpenFlags = FuseConstants.FopenNonSeekable };

        Assert.Equal(fileFlags | FuseConstants.FopenNonSeekable, s.Run(Req(FuseOpcode.Open).Add(new FuseOpenIn())).Read<FuseOpenOut>().OpenFlags);
        Assert.Equal(dirFlags | FuseConstants.FopenNonSeekable, s.Run(Req(FuseOpcode.OpenDir).Add(new FuseOpenIn())).Read<FuseOpenOut>().OpenFlags);
        FuseEntryOut entry = s.Run(Req(FuseOpcode.Lookup).AddName("x")).Read<FuseEntryOut>();
        Assert.Equal(timeout, entry.EntryValid);
        Assert.Equal(timeout, entry.AttrValid);
        Assert.Equal(0u, entry.EntryValidNsec);
    }

    [Fact]
    public void Flush_release_fsync_fallocate_lseek_copy_file_range()
    {
        Assert.Equal($"Flush {Ctx} node=5 fh=3 owner=42", h.RunOne(Req(FuseOpcode.Flush).Add(new FuseFlushIn { Fh = 3, LockOwner = 42 })).Call);
        Assert.Equal($"Release {Ctx} node=5 fh=3 flags=8002 owner=42 flock=True",
            h.RunOne(Req(FuseOpcode.Release).Add(new FuseReleaseIn { Fh = 3, Flags = 0x8002, ReleaseFlags = FuseConstants.ReleaseFlockUnlock, LockOwner = 42 })).Call);
        Assert.Equal($"Fsync {Ctx} node=5 fh=3 datasync=True",
            h.RunOne(Req(FuseOpcode.Fsync).Add(new FuseFsyncIn { Fh = 3, FsyncFlags = FuseConstants.FsyncFdatasync })).Call);
        Assert.Equal($"Fallocate {Ctx} node=5 fh=3 mode=1 offset=10 length=20",
            h.RunOne(Req(FuseOpcode.Fallocate).Add(new FuseFallocateIn { Fh = 3, Mode = 1, Offset = 10, Length = 20 })).Call);

        var (reply, call) = h.RunOne(Req(FuseOpcode.Lseek).Add(new FuseLseekIn { Fh = 3, Offset = 5, Whence = 3 }));
        Assert.Equal($"Lseek {Ctx} node=5 fh=3 offset=5 whence=3", call);
        Assert.Equal(1005ul, reply.Read<FuseLseekOut>().Offset);

        (reply, call) = h.RunOne(Req(FuseOpcode.CopyFileRange).Add(new FuseCopyFileRangeIn
        {
            FhIn = 3, OffIn = 1, NodeIdOut = 8, FhOut = 4, OffOut = 2, Len = 65536, Flags = 0,
        }));
        Assert.Equal($"CopyFileRange {Ctx} 5/3@1 -> 8/4@2 length=65536 flags=0", call);
        Assert.Equal(65536u, reply.Read<FuseWriteOut>().Size);
    }

    [Fact]
    public void Directory_handles()
    {
        Assert.Equal($"OpenDir {Ctx} node=5 flags=10000", h.RunOne(Req(FuseOpcode.OpenDir).Add(new FuseOpenIn { Flags = 0x10000 })).Call);
        Assert.Equal($"ReleaseDir {Ctx} node=5 fh=3", h.RunOne(Req(FuseOpcode.ReleaseDir).Add(new FuseReleaseIn { Fh = 3 })).Call);
        Assert.Equal($"FsyncDir {Ctx} node=5 fh=3 datasync=False", h.RunOne(Req(FuseOpcode.FsyncDir).Add(new FuseFsyncIn { Fh = 3 })).Call);
    }

    [Fact]
    public void StatFs_and_access_and_syncfs()
    {
        var (reply, call) = h.RunOne(Req(FuseOpcode.StatFs));
        Assert.Equal($"StatFs {Ctx} node=5", call);
        FuseKstatfs st = reply.Read<FuseStatFsOut>().St;
        Assert.Equal((1000ul, 500ul, 400ul, 300ul, 200ul, 4096u, 255u, 4096u),
            (st.Blocks, st.Bfree, st.Bavail, st.Files, st.Ffree, st.Bsize, st.Namelen, st.Frsize));

        Assert.Equal($"Access {Ctx} node=5 mask=6", h.RunOne(Req(FuseOpcode.Access).Add(new FuseAccessIn { Mask = 6 })).Call);
        Assert.Equal($"SyncFs {Ctx} node=5", h.RunOne(Req(FuseOpcode.SyncFs).Add(new FuseSyncFsIn())).Call);
    }

    [Fact]
    public void Xattr_opcodes()
    {
        // SETXATTR_EXT comes only with --posix-acl: here the guest sends the 8-byte compat setxattr_in.
        var (reply, call) = h.RunOne(Req(FuseOpcode.SetXattr).AddBytes(BitConverter.GetBytes(3u)).AddBytes(BitConverter.GetBytes(1u))
            .AddName("user.k").AddBytes("v\0x"u8));
        Assert.Equal($"SetXattr {Ctx} node=5 name=user.k value=v\0x flags=1", call);
        Assert.Equal(0, reply.Error);

        h.Fs.Data = "value"u8.ToArray();
        (reply, call) = h.RunOne(Req(FuseOpcode.GetXattr).Add(new FuseGetXattrIn { Size = 0 }).AddName("user.k"));
        Assert.Equal($"GetXattr {Ctx} node=5 name=user.k room=0", call);
        Assert.Equal(5u, reply.Read<FuseGetXattrOut>().Size);

        (reply, _) = h.RunOne(Req(FuseOpcode.GetXattr).Add(new FuseGetXattrIn { Size = 100 }).AddName("user.k"));
        Assert.Equal("value"u8.ToArray(), reply.Body);

        (reply, _) = h.RunOne(Req(FuseOpcode.GetXattr).Add(new FuseGetXattrIn { Size = 3 }).AddName("user.k"));
        Assert.Equal(-Errno.ERANGE, reply.Error);

        h.Fs.Data = "user.a\0user.b\0"u8.ToArray();
        (reply, call) = h.RunOne(Req(FuseOpcode.ListXattr).Add(new FuseGetXattrIn { Size = 4096 }));
        Assert.Equal($"ListXattr {Ctx} node=5 room=4096", call);
        Assert.Equal(h.Fs.Data, reply.Body);

        Assert.Equal($"RemoveXattr {Ctx} node=5 name=user.k", h.RunOne(Req(FuseOpcode.RemoveXattr).AddName("user.k")).Call);
    }

    [Fact]
    public void SetXattr_uses_the_16_byte_header_once_setxattr_ext_is_negotiated()
    {
        var acl = new ServerHarness(new FuseServerOptions { Xattr = true, PosixAcl = true });
        var (reply, call) = acl.RunOne(Req(FuseOpcode.SetXattr).Add(new FuseSetXattrIn { Size = 2, Flags = 2, SetXattrFlags = 1 })
            .AddName("system.posix_acl_access").AddBytes("ab"u8));

        Assert.Equal(0, reply.Error);
        Assert.Equal($"SetXattr {Ctx} node=5 name=system.posix_acl_access value=ab flags=2", call);
    }

    [Fact]
    public void Xattr_opcodes_get_ENOSYS_without_the_xattr_option()
    {
        var plain = new ServerHarness();
        Assert.Equal(-Errno.ENOSYS, plain.RunRejected(Req(FuseOpcode.GetXattr).Add(new FuseGetXattrIn { Size = 0 }).AddName("user.k")).Error);
        Assert.Equal(-Errno.ENOSYS, plain.RunRejected(Req(FuseOpcode.ListXattr).Add(new FuseGetXattrIn { Size = 0 })).Error);
    }

    [Fact]
    public void Locks()
    {
        var lk = new FuseLkIn { Fh = 3, Owner = 77, Lk = new FuseFileLock { Start = 0, End = 99, Type = 1, Pid = 12 } };
        var (reply, call) = h.RunOne(Req(FuseOpcode.GetLk).Add(lk));
        Assert.Equal($"GetLock {Ctx} node=5 fh=3 owner=77 0-99 type=1 pid=12", call);
        FuseFileLock conflicting = reply.Read<FuseLkOut>().Lk;
        Assert.Equal((10ul, 20ul, 1u, 99u), (conflicting.Start, conflicting.End, conflicting.Type, conflicting.Pid));

        (reply, call) = h.RunOne(Req(FuseOpcode.SetLk).Add(lk));
        Assert.Equal($"SetLock {Ctx} node=5 fh=3 owner=77 0-99 type=1 wait=False flock=False", call);
        Assert.Equal(16u, reply.Length);

        lk.LkFlags = FuseConstants.LkFlock;
        (_, call) = h.RunOne(Req(FuseOpcode.SetLk).Add(lk));
        Assert.Equal($"SetLock {Ctx} node=5 fh=3 owner=77 0-99 type=1 wait=False flock=True", call);
    }

    [Fact]
    public void Lock_kinds_not_negotiated_at_init_get_ENOSYS_without_reaching_the_filesystem()
    {
        var lk = new FuseLkIn { Fh = 3, Owner = 77, Lk = new FuseFileLock { Start = 0, End = 99, Type = 1 } };
        var posixOnly = new ServerHarness(new FuseServerOptions { PosixLocks = true, FlockLocks = false });
        Assert.Equal(-Errno.ENOSYS, posixOnly.RunRejected(Req(FuseOpcode.SetLk).Add(lk with { LkFlags = FuseConstants.LkFlock })).Error);
        Assert.Equal(0, posixOnly.RunOne(Req(FuseOpcode.SetLk).Add(lk)).Reply.Error);
        var guestWithout = new ServerHarness(new FuseServerOptions { PosixLocks = true, FlockLocks = true },
            guestFlags: ServerHarness.GuestFlags & ~(FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks));
        Assert.Equal(-Errno.ENOSYS, guestWithout.RunRejected(Req(FuseOpcode.GetLk).Add(lk)).Error);
        Assert.Equal(-Errno.ENOSYS, guestWithout.RunRejected(Req(FuseOpcode.SetLk).Add(lk)).Error);
        Assert.Equal(-Errno.ENOSYS, guestWithout.RunRejected(Req(FuseOpcode.SetLkW).Add(lk)).Error);
    }

    [Fact]
    public void SetLkW_waits_without_holding_the_callers_thread_and_completes_later()
    {
        h.Fs.LockRelease.Reset();
        var lk = new FuseLkIn { Fh = 3, Owner = 77, Lk = new FuseFileLock { Start = 0, End = 99, Type = 1 } };
        using var exchange = new FuseExchange(Req(FuseOpcode.SetLkW).Add(lk).ToBytes());

        h.Server.Handle(exchange.Request);

        // Handle returned while the lock is still held elsewhere: nothing completed yet.
        Assert.False(exchange.IsCompleted);
        Assert.Equal(0, exchange.Completions);

        // Other requests keep flowing meanwhile.
        Assert.Equal(0, h.Run(Req(FuseOpcode.GetAttr).Add(new FuseGetAttrIn())).Error);

        h.Fs.LockRelease.Set();
        FuseReply reply = exchange.WaitForReply();
        Assert.Equal(0, reply.Error);
        Assert.Equal(77ul, reply.Header.Unique);
        Assert.Contains($"SetLock {Ctx} node=5 fh=3 owner=77 0-99 type=1 wait=True flock=False", h.Fs.Calls);
    }

    [Fact]
    public void Interrupt_of_a_waiting_SetLkW_answers_it_EINTR()
    {
        h.Fs.LockRelease.Reset();
        var lk = new FuseLkIn { Fh = 3, Owner = 77, Lk = new FuseFileLock { Start = 0, End = 99, Type = 1 } };
        using var exchange = new FuseExchange(Req(FuseOpcode.SetLkW).Add(lk).ToBytes());
        h.Server.Handle(exchange.Request);
        Assert.False(exchange.IsCompleted);

        // An INTERRUPT naming another unique changes nothing; one naming the waiting request ends it.
        Assert.Equal(0u, h.RunRejected(new FuseRequestBuilder(FuseOpcode.Interrupt, 0, 78).Add(new FuseInterruptIn { Unique = 12345 })).Length);
        Assert.False(exchange.IsCompleted);
        Assert.Equal(0u, h.RunRejected(new FuseRequestBuilder(FuseOpcode.Interrupt, 0, 79).Add(new FuseInterruptIn { Unique = 77 })).Length);
        FuseReply reply = exchange.WaitForReply();
        Assert.Equal(-Errno.EINTR, reply.Error);
        Assert.Equal(77ul, reply.Header.Unique);
        h.Fs.LockRelease.Set();
    }

    [Fact]
    public void A_stopping_transport_cancels_its_waiting_locks_only()
    {
        h.Fs.LockRelease.Reset();
        var lk = new FuseLkIn { Fh = 3, Owner = 77, Lk = new FuseFileLock { Start = 0, End = 99, Type = 1 } };
        using var mine = new FuseExchange(Req(FuseOpcode.SetLkW).Add(lk).ToBytes());
        using var other = new FuseExchange(new FuseRequestBuilder(FuseOpcode.SetLkW, 5, 78).Add(lk).ToBytes());
        h.Server.Handle(mine.Request);
        h.Server.Handle(other.Request);

        h.Server.CancelWaitingLocks(mine);
        Assert.Equal(-Errno.EINTR, mine.WaitForReply().Error);
        Assert.False(other.IsCompleted);
        h.Fs.LockRelease.Set();
        Assert.Equal(0, other.WaitForReply().Error);
    }

    [Fact]
    public void Interrupt_gets_no_reply_and_no_filesystem_call()
    {
        FuseReply reply = h.RunRejected(Req(FuseOpcode.Interrupt, 0).Add(new FuseInterruptIn { Unique = 76 }));
        Assert.Equal(0u, reply.Length);
    }

    [Fact]
    public void Ioctl_passes_input_and_returns_output()
    {
        h.Fs.Data = [1, 2, 3, 4];
        var (reply, call) = h.RunOne(Req(FuseOpcode.Ioctl).Add(new FuseIoctlIn { Fh = 3, Cmd = 0x80086601, InSize = 2, OutSize = 8 }).AddBytes([9, 8]));

        Assert.Equal($"Ioctl {Ctx} node=5 fh=3 flags=0 cmd=80086601 in=2 out=8", call);
        Assert.Equal(new byte[] { 9, 8 }, h.Fs.Received);
        Assert.Equal(5, reply.Read<FuseIoctlOut>().Result);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, reply.Body[16..]);
    }

    [Fact]
    public void Poll_statx_bmap_and_unknown_opcodes_get_ENOSYS()
    {
        Assert.Equal(-Errno.ENOSYS, h.RunRejected(Req(FuseOpcode.Poll).Add(new FusePollIn { Fh = 1 })).Error);
        Assert.Equal(-Errno.ENOSYS, h.RunRejected(Req(FuseOpcode.Statx).AddBytes(new byte[24])).Error);
        Assert.Equal(-Errno.ENOSYS, h.RunRejected(Req(FuseOpcode.Bmap).AddBytes(new byte[16])).Error);
        Assert.Equal(-Errno.ENOSYS, h.RunRejected(Req((FuseOpcode)9999)).Error);
    }
}
