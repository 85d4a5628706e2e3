using VirtioFsd.Fuse.Abi;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// Everything the server knows of each opcode, in one table (as libfuse's fuse_ll_ops): the handler, the fixed
/// reply body it needs, and the traits the decoder checks before calling it. A new FUSE operation is one line here
/// and its handler.
/// </summary>
public sealed partial class FuseServer
{
    /// <summary>A handler that always completes before it returns: 0 (<see cref="Replied"/>) or -errno.</summary>
    private delegate int SyncHandler(FuseServer server, in Call call);

    /// <summary>A handler whose result may complete later (file I/O through an engine, a waiting lock).</summary>
    private delegate ValueTask<int> AsyncHandler(FuseServer server, in Call call);

    [Flags]
    private enum Traits
    {
        None = 0,

        /// <summary>Changes the share: --readonly answers EROFS before the handler runs.</summary>
        Modifies = 1,

        /// <summary>Never answered, even when malformed (fuse.h: FORGET, BATCH_FORGET, INTERRUPT; NOTIFY_REPLY).</summary>
        NoReply = 2,

        /// <summary>Extended attributes: without --xattr answered ENOSYS once, so the guest stops asking.</summary>
        Xattr = 4,

        /// <summary>The new inode belongs to the caller: --translate-uid/gid forbid-guest refuses it for a forbidden caller.</summary>
        CreatesInode = 8,
    }

    /// <summary>One row of the table.</summary>
    private sealed record Operation(string Name, SyncHandler? Sync, AsyncHandler? Async, int MinimumReply, Traits Traits)
    {
        /// <summary>The handler's result may complete after <see cref="Handle"/> returns.</summary>
        public bool MayCompleteLater => Async is not null;

        public bool Has(Traits trait) => (Traits & trait) == trait;
    }

    private static readonly int EntryReply = RequestReader.SizeOf<FuseEntryOut>();
    private static readonly int AttrReply = RequestReader.SizeOf<FuseAttrOut>();
    private static readonly int OpenReply = RequestReader.SizeOf<FuseOpenOut>();
    private static readonly int WriteReply = RequestReader.SizeOf<FuseWriteOut>();
    private static readonly int XattrSizeReply = RequestReader.SizeOf<FuseGetXattrOut>();

    /// <summary>Indexed by opcode; null rows (BMAP, SETUPMAPPING, REMOVEMAPPING, STATX, unknown numbers) are ENOSYS.</summary>
    private static readonly Operation?[] Operations = BuildTable();

    /// <summary>The row of <paramref name="opcode"/>, or null when the server does not implement it.</summary>
    private static Operation? OperationOf(FuseOpcode opcode) => (uint)opcode < (uint)Operations.Length ? Operations[(int)opcode] : null;

    /// <summary>The opcode's fuse.h name for logs, or its number when it has no row.</summary>
    internal static string NameOf(FuseOpcode opcode) => OperationOf(opcode)?.Name ?? $"opcode {(uint)opcode}";

    /// <summary>Whether --readonly refuses the opcode (tests check the table against what each handler does).</summary>
    internal static bool Modifies(FuseOpcode opcode) => OperationOf(opcode)?.Has(Traits.Modifies) == true;

    /// <summary>
    /// The table, read through an instance field on the request path: under NativeAOT every read of a static field
    /// whose class has a static constructor first checks that it ran (a measurable share of a 4 KiB READ).
    /// </summary>
    private readonly Operation?[] operations = Operations;

    /// <summary>The row of <paramref name="opcode"/> (the instance's copy of <see cref="OperationOf"/>).</summary>
    private Operation? RowOf(FuseOpcode opcode) => (uint)opcode < (uint)operations.Length ? operations[(int)opcode] : null;

    /// <summary>Opcodes answered without a reply whatever happens.</summary>
    private bool IsNoReply(FuseOpcode opcode) => RowOf(opcode)?.Has(Traits.NoReply) == true;

    private static Operation?[] BuildTable()
    {
        var t = new Operation?[(int)FuseOpcode.Statx + 1];
        void Add(FuseOpcode opcode, string name, SyncHandler handler, int reply = 0, Traits traits = Traits.None)
            => t[(int)opcode] = new Operation(name, handler, null, reply, traits);
        void AddAsync(FuseOpcode opcode, string name, AsyncHandler handler, int reply = 0, Traits traits = Traits.None)
            => t[(int)opcode] = new Operation(name, null, handler, reply, traits);

        // INIT is decoded before the table is consulted (it is the only opcode served without a session).
        Add(FuseOpcode.Init, "INIT", static (s, in c) => s.Init(c.Request, c.Header));
        Add(FuseOpcode.Destroy, "DESTROY", static (s, in c) => s.Destroy());
        Add(FuseOpcode.Lookup, "LOOKUP", static (s, in c) => s.Lookup(c), EntryReply);
        Add(FuseOpcode.Forget, "FORGET", static (s, in c) => s.Forget(c), traits: Traits.NoReply);
        Add(FuseOpcode.BatchForget, "BATCH_FORGET", static (s, in c) => s.BatchForget(c), traits: Traits.NoReply);
        Add(FuseOpcode.GetAttr, "GETATTR", static (s, in c) => s.GetAttr(c), AttrReply);
        Add(FuseOpcode.SetAttr, "SETATTR", static (s, in c) => s.SetAttr(c), AttrReply, Traits.Modifies);
        Add(FuseOpcode.ReadLink, "READLINK", static (s, in c) => s.ReadLink(c));
        Add(FuseOpcode.Symlink, "SYMLINK", static (s, in c) => s.Symlink(c), EntryReply, Traits.Modifies | Traits.CreatesInode);
        Add(FuseOpcode.Mknod, "MKNOD", static (s, in c) => s.Mknod(c), EntryReply, Traits.Modifies | Traits.CreatesInode);
        Add(FuseOpcode.Mkdir, "MKDIR", static (s, in c) => s.Mkdir(c), EntryReply, Traits.Modifies | Traits.CreatesInode);
        Add(FuseOpcode.Unlink, "UNLINK", static (s, in c) => s.Unlink(c), traits: Traits.Modifies);
        Add(FuseOpcode.Rmdir, "RMDIR", static (s, in c) => s.Rmdir(c), traits: Traits.Modifies);
        Add(FuseOpcode.Rename, "RENAME", static (s, in c) => s.Rename(c, withFlags: false), traits: Traits.Modifies);
        Add(FuseOpcode.Rename2, "RENAME2", static (s, in c) => s.Rename(c, withFlags: true), traits: Traits.Modifies);
        Add(FuseOpcode.Link, "LINK", static (s, in c) => s.Link(c), EntryReply, Traits.Modifies);
        Add(FuseOpcode.Open, "OPEN", static (s, in c) => s.Open(c), OpenReply);
        Add(FuseOpcode.Create, "CREATE", static (s, in c) => s.Create(c), EntryReply + OpenReply, Traits.Modifies | Traits.CreatesInode);
        Add(FuseOpcode.Tmpfile, "TMPFILE", static (s, in c) => s.Tmpfile(c), EntryReply + OpenReply, Traits.Modifies | Traits.CreatesInode);
        AddAsync(FuseOpcode.Read, "READ", static (s, in c) => s.Read(c));
        AddAsync(FuseOpcode.Write, "WRITE", static (s, in c) => s.Write(c), WriteReply, Traits.Modifies);
        Add(FuseOpcode.Flush, "FLUSH", static (s, in c) => s.Flush(c));
        Add(FuseOpcode.Release, "RELEASE", static (s, in c) => s.Release(c));
        AddAsync(FuseOpcode.Fsync, "FSYNC", static (s, in c) => s.Fsync(c));
        Add(FuseOpcode.OpenDir, "OPENDIR", static (s, in c) => s.OpenDir(c), OpenReply);
        Add(FuseOpcode.ReadDir, "READDIR", static (s, in c) => s.ReadDir(c, plus: false));
        Add(FuseOpcode.ReadDirPlus, "READDIRPLUS", static (s, in c) => s.ReadDir(c, plus: true));
        Add(FuseOpcode.ReleaseDir, "RELEASEDIR", static (s, in c) => s.ReleaseDir(c));
        AddAsync(FuseOpcode.FsyncDir, "FSYNCDIR", static (s, in c) => s.FsyncDir(c));
        Add(FuseOpcode.StatFs, "STATFS", static (s, in c) => s.StatFs(c), RequestReader.SizeOf<FuseStatFsOut>());
        Add(FuseOpcode.Access, "ACCESS", static (s, in c) => s.Access(c));
        Add(FuseOpcode.SetXattr, "SETXATTR", static (s, in c) => s.SetXattr(c), traits: Traits.Modifies | Traits.Xattr);
        Add(FuseOpcode.GetXattr, "GETXATTR", static (s, in c) => s.GetXattr(c), XattrSizeReply, Traits.Xattr);
        Add(FuseOpcode.ListXattr, "LISTXATTR", static (s, in c) => s.ListXattr(c), XattrSizeReply, Traits.Xattr);
        Add(FuseOpcode.RemoveXattr, "REMOVEXATTR", static (s, in c) => s.RemoveXattr(c), traits: Traits.Modifies | Traits.Xattr);
        AddAsync(FuseOpcode.Fallocate, "FALLOCATE", static (s, in c) => s.Fallocate(c), traits: Traits.Modifies);
        Add(FuseOpcode.Lseek, "LSEEK", static (s, in c) => s.Lseek(c), RequestReader.SizeOf<FuseLseekOut>());
        Add(FuseOpcode.CopyFileRange, "COPY_FILE_RANGE", static (s, in c) => s.CopyFileRange(c), WriteReply, Traits.Modifies);
        Add(FuseOpcode.SyncFs, "SYNCFS", static (s, in c) => s.SyncFs(c));
        Add(FuseOpcode.GetLk, "GETLK", static (s, in c) => s.GetLock(c), RequestReader.SizeOf<FuseLkOut>());
        AddAsync(FuseOpcode.SetLk, "SETLK", static (s, in c) => s.SetLock(c, wait: false));
        AddAsync(FuseOpcode.SetLkW, "SETLKW", static (s, in c) => s.SetLock(c, wait: true));
        Add(FuseOpcode.Interrupt, "INTERRUPT", static (s, in c) => s.Interrupt(c), traits: Traits.NoReply);
        Add(FuseOpcode.Ioctl, "IOCTL", static (s, in c) => s.Ioctl(c), RequestReader.SizeOf<FuseIoctlOut>());
        Add(FuseOpcode.Poll, "POLL", static (s, in c) => s.Poll(c));
        Add(FuseOpcode.NotifyReply, "NOTIFY_REPLY", static (s, in c) => NoReply, traits: Traits.NoReply);

        // Not served, on purpose: STATX (7.39) is asked for only to learn fields beyond fuse_attr (btime), and
        // ENOSYS once makes the guest set no_statx and serve such stat calls from its attribute cache
        // (fs/fuse/dir.c fuse_update_get_attr); BMAP and the DAX mappings are for block and DAX devices.
        return t;
    }
}
