using System.Text;
using Serilog;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Serves a host directory to the guest: every FUSE node is a host inode held by an O_PATH fd (or by
/// file handle, see PassthroughFileSystem.Handles.cs), every name is resolved one component at a time below such an fd, and nothing the guest sends
/// can name a file outside the shared directory. Operations are split into partial files by group.
/// </summary>
public sealed partial class PassthroughFileSystem : IFileSystem, IDisposable
{
    /// <summary>How a name is resolved below a directory fd: that one component, no symlink, no /proc magic link, no "..".</summary>
    private const ulong ResolveConfined = Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_MAGICLINKS | Libc.RESOLVE_NO_SYMLINKS;

    private readonly PassthroughOptions _options;

    /// <summary>What the guest and the server agreed on at the last INIT (write-back cache, KILLPRIV_V2, submounts, ...).</summary>
    private long _negotiated;
    private readonly ILogger _log;
    private readonly InodeTable _inodes;
    private readonly HandleTable _handles;
    private readonly GuestFdQuota _quota;
    private readonly Credentials _credentials;

    /// <summary>O_PATH fd of /proc/self/fd: reopening "N" below it reopens our own fd N, whatever its inode's name is now.</summary>
    private readonly int _procSelfFd;

    /// <summary>Set once openat2 is found missing (Linux before 5.6): names are then opened with openat + O_NOFOLLOW.</summary>
    private volatile bool _noOpenat2;

    /// <summary>Set once the *xattrat syscalls are found missing (Linux before 6.13).</summary>
    private volatile bool _noXattrAt;

    /// <summary>Tests: take the paths of kernels without openat2 and *xattrat, which this machine's kernel would never reach.</summary>
    internal void UseLegacySyscalls()
    {
        _noOpenat2 = true;
        _noXattrAt = true;
    }

    /// <summary>Opens the shared directory. Throws if it cannot be opened (a startup error, not a guest one).</summary>
    public PassthroughFileSystem(PassthroughOptions options, ILogger log)
    {
        _options = options;
        _log = log.ForContext<PassthroughFileSystem>();
        _credentials = new Credentials(_log);
        _quota = options.GuestFdLimit is long limit ? new GuestFdQuota(limit) : GuestFdQuota.ForThisProcess();
        _handles = new HandleTable(_quota);

        // Modes from the guest are final (the guest kernel applied the caller's umask, or sent it
        // for us to apply): the daemon's own umask must not strip bits. umask is per process, as
        // in virtiofsd, which does the same at startup.
        Libc.Umask(0);

        _procSelfFd = options.ProcSelfFd is int given
            ? Libc.Fcntl(given, Libc.F_DUPFD_CLOEXEC, 0)
            : Libc.Openat(Libc.AT_FDCWD, "/proc/self/fd"u8, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (_procSelfFd < 0)
        {
            throw new IOException($"cannot open /proc/self/fd: {Errno.Describe(_procSelfFd)}");
        }
        int rootFd = Libc.Openat(Libc.AT_FDCWD, Encoding.UTF8.GetBytes(options.SharedDirectory), Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (rootFd < 0)
        {
            Libc.Close(_procSelfFd);
            throw new IOException($"cannot open shared directory '{options.SharedDirectory}': {Errno.Describe(rootFd)}");
        }
        int r = Libc.StatxFd(rootFd, out Statx st);
        if (r < 0)
        {
            Libc.Close(rootFd);
            Libc.Close(_procSelfFd);
            throw new IOException($"cannot stat shared directory '{options.SharedDirectory}': {Errno.Describe(r)}");
        }
        try
        {
            _handleMode = ProbeFileHandles(rootFd, st);
        }
        catch
        {
            CloseMountFds();
            Libc.Close(rootFd);
            Libc.Close(_procSelfFd);
            throw;
        }
        _inodes = new InodeTable(rootFd, KeyOf(st), options.InodeFdCacheSize, OpenInodeByHandle, _quota);
    }

    /// <summary>Number of live node ids, the root included (for tests and diagnostics).</summary>
    public int NodeCount => _inodes.Count;

    /// <summary>Long-lived fds the guest makes the daemon hold now, and its quota (for tests and diagnostics).</summary>
    public (long Held, long Limit) GuestFds => (_quota.Held, _quota.Limit);

    /// <summary>0, or -ENFILE when the guest holds its whole fd quota (the request that would open one more fails).</summary>
    private int GuestFdRoom() => _quota.HasRoom(_log) ? 0 : -Errno.ENFILE;

    /// <summary>Number of open handles (for tests and diagnostics).</summary>
    public int HandleCount => _handles.Count;

    /// <summary>
    /// Takes what the filesystem can do of <paramref name="capable"/> and remembers the result as the session's: the
    /// negotiated flags, not the options, decide write-back handling, KILLPRIV_V2 and submount announcements.
    /// </summary>
    public FuseInitFlags Init(FuseInitFlags capable)
    {
        // KILLPRIV (v1) would make us clear SUID on every write without a flag saying when; never taken.
        FuseInitFlags unsupported = FuseInitFlags.HandleKillPriv;
        if (!_options.PosixAcl || !_options.Xattr)
        {
            unsupported |= FuseInitFlags.PosixAcl | FuseInitFlags.DontMask;
        }
        FuseInitFlags enabled = capable & ~unsupported;
        Volatile.Write(ref _negotiated, (long)enabled);
        return enabled;
    }

    /// <summary>Whether the session has <paramref name="flag"/>.</summary>
    private bool Negotiated(FuseInitFlags flag) => ((FuseInitFlags)Volatile.Read(ref _negotiated) & flag) == flag;

    public void Destroy()
    {
        _handles.Clear();
        _inodes.Clear();
    }

    public void Dispose()
    {
        _handles.Dispose();
        _inodes.Dispose();
        CloseMountFds();
        Libc.Close(_procSelfFd);
    }

    /// <summary>
    /// The common start of every operation on a name in a directory: the name must be one plain
    /// component (Names.Validate) and the directory a live node. Returns 0 with the directory
    /// borrowed (the caller gives it back with <c>_inodes.Return</c>) or -errno with nothing borrowed.
    /// </summary>
    private int BorrowParent(NodeId parent, ReadOnlySpan<byte> name, out Inode dir)
    {
        dir = null!;
        int r = Names.Validate(name);
        if (r < 0)
        {
            return r;
        }
        Inode? borrowed = _inodes.Borrow(parent);
        if (borrowed is null)
        {
            return -Errno.ESTALE;
        }
        dir = borrowed;
        return 0;
    }

    /// <summary>What a lookup's statx asks for: the attributes, the mount (part of the key) and the birth time.</summary>
    private const uint IdentityStatx = Libc.STATX_BASIC_STATS | Libc.STATX_MNT_ID | Libc.STATX_BTIME;

    /// <summary>The birth time in nanoseconds, or 0 where the filesystem did not report one.</summary>
    private static long BirthOf(in Statx st) =>
        (st.Mask & Libc.STATX_BTIME) == 0 ? 0 : (st.Btime.Sec * 1_000_000_000) + st.Btime.Nsec;

    private static InodeKey KeyOf(in Statx st) =>
        new(((ulong)st.DevMajor << 32) | st.DevMinor, st.Ino, st.MntId);

    /// <summary>new_encode_dev (include/linux/kdev_t.h): the 32-bit dev_t fuse_attr.rdev carries.</summary>
    private static uint EncodeDev(uint major, uint minor) => (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);

    /// <summary>new_decode_dev: the guest's 32-bit rdev to major/minor, then glibc's 64-bit makedev for mknodat.</summary>
    private static ulong DecodeDevToHost(uint rdev)
    {
        ulong major = (rdev & 0xfff00) >> 8;
        ulong minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
        return ((major & 0xfffff000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffffff00) << 12) | (minor & 0xff);
    }

    private static FileAttr ToAttr(in Statx st, bool isSubmountRoot)
    {
        return new FileAttr
        {
            Ino = st.Ino,
            Size = st.Size,
            Blocks = st.Blocks,
            Atime = st.Atime.Sec,
            AtimeNsec = st.Atime.Nsec,
            Mtime = st.Mtime.Sec,
            MtimeNsec = st.Mtime.Nsec,
            Ctime = st.Ctime.Sec,
            CtimeNsec = st.Ctime.Nsec,
            Mode = st.Mode,
            Nlink = st.Nlink,
            Uid = st.Uid,
            Gid = st.Gid,
            Rdev = EncodeDev(st.RdevMajor, st.RdevMinor),
            BlkSize = st.BlkSize,
            Flags = isSubmountRoot ? FuseConstants.AttrSubmount : 0,
        };
    }

    /// <summary>Attributes of an inode through its O_PATH fd.</summary>
    private static int StatInode(Inode inode, out FileAttr attr)
    {
        int r = Libc.StatxFd(inode.Fd, out Statx st);
        attr = r < 0 ? default : ToAttr(st, inode.IsSubmountRoot);
        return r;
    }

    /// <summary>
    /// Opens the inode behind our fd <paramref name="fd"/> again through /proc/self/fd/N with real
    /// access flags. The magic link leads to the very inode the fd holds, whatever was renamed or
    /// swapped in at its old name since the lookup. Returns the new fd or -errno.
    /// </summary>
    private int ReopenFd(int fd, int flags)
    {
        Span<byte> digits = stackalloc byte[16];
        int n = FdName(fd, digits);
        return Libc.Openat(_procSelfFd, digits[..n], (flags & ~Libc.O_NOFOLLOW) | Libc.O_CLOEXEC);
    }

    /// <summary>The decimal name of fd N in /proc/self/fd.</summary>
    private static int FdName(int fd, Span<byte> digits)
    {
        fd.TryFormat(digits, out int n, provider: System.Globalization.CultureInfo.InvariantCulture);
        return n;
    }

    /// <summary>
    /// "/proc/self/fd/N" for path-only syscalls that must act on the inode held by fd N: the last
    /// resort for xattrs of special files on kernels before 6.13, which needs /proc visible at that path.
    /// </summary>
    private static int ProcPath(int fd, Span<byte> path)
    {
        ReadOnlySpan<byte> prefix = "/proc/self/fd/"u8;
        prefix.CopyTo(path);
        fd.TryFormat(path[prefix.Length..], out int n, provider: System.Globalization.CultureInfo.InvariantCulture);
        return prefix.Length + n;
    }

    /// <summary>Opens one name below a directory fd as O_PATH without following it (a symlink yields the link itself).</summary>
    private int OpenPathBeneath(int dirFd, ReadOnlySpan<byte> name)
    {
        const int flags = Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;
        if (!_noOpenat2)
        {
            int fd = Libc.Openat2(dirFd, name, flags, 0, ResolveConfined);
            if (fd != -Errno.ENOSYS)
            {
                return fd;
            }
            _noOpenat2 = true;
        }
        // The name is a single validated component and O_NOFOLLOW stops at a final symlink,
        // so plain openat cannot leave the directory either.
        return Libc.Openat(dirFd, name, flags);
    }

    /// <summary>
    /// Adds a lookup for the host inode behind the O_PATH <paramref name="fd"/> (ownership passes to the table)
    /// and fills the entry. <paramref name="parent"/> decides whether a directory is a submount root.
    /// </summary>
    /// <summary>Whether an inode is the root of a mount inside its parent's: a directory on another mount or device.</summary>
    private static bool IsMountRootBelow(uint type, InodeKey key, InodeKey parent) =>
        type == Libc.S_IFDIR && (key.MountId != parent.MountId || key.Dev != parent.Dev);

    private int EntryFromPathFd(Inode parent, int fd, out Entry entry)
    {
        entry = default;
        int r = Libc.StatxFd(fd, out Statx st);
        if (r < 0)
        {
            Libc.Close(fd);
            return r;
        }
        InodeKey key = KeyOf(st);
        uint type = st.Mode & Libc.S_IFMT;
        bool submount = Negotiated(FuseInitFlags.Submounts) && IsMountRootBelow(type, key, parent.Key);
        r = HandleFor(fd, st, out FileHandle? handle, out int mountFd);
        if (r < 0)
        {
            Libc.Close(fd);
            return r;
        }
        Inode inode = _inodes.AddLookup(fd, key, type, submount, handle, mountFd, BirthOf(st));
        try
        {
            entry = new Entry { Node = inode.Id, Generation = 0, Attr = ToAttr(st, inode.IsSubmountRoot) };
            return 0;
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    /// <summary>
    /// LOOKUP of a validated name below <paramref name="parent"/>: by file handle without opening anything where the
    /// inode can be held by handle (see <see cref="LookupByHandle"/>), else by opening it O_PATH.
    /// </summary>
    private int LookupName(Inode parent, ReadOnlySpan<byte> name, out Entry entry)
    {
        entry = default;
        if (_handleMode != InodeFileHandleMode.Never)
        {
            int r = Libc.StatxAt(parent.Fd, name, Libc.AT_SYMLINK_NOFOLLOW, IdentityStatx, out Statx st);
            if (r < 0)
            {
                return r;
            }
            r = LookupByHandle(parent, name, st, out entry);
            if (r <= 0)
            {
                return r;
            }
        }
        int room = GuestFdRoom();
        if (room < 0)
        {
            return room;
        }
        int fd = OpenPathBeneath(parent.Fd, name);
        return fd < 0 ? fd : EntryFromPathFd(parent, fd, out entry);
    }

    /// <summary>
    /// A new lookup held by file handle alone: the name's statx <paramref name="st"/> (taken by the caller with
    /// AT_SYMLINK_NOFOLLOW) and name_to_handle_at of the same single component, no open and no close. Returns 0 with
    /// the entry, 1 when the name must go the open way (a mount point, which the open way announces as a submount; a
    /// filesystem or mount without handles; a mount that changed in between), or -errno.
    /// </summary>
    /// <remarks>
    /// Sound for the same reasons as the open way: one validated component, no symlink followed, so neither call can
    /// leave <paramref name="parent"/>. Should the name be replaced between the two calls, the key (from the statx) and
    /// the handle (from name_to_handle_at) name different inodes; nothing is opened now, and the first request that
    /// opens the node by handle finds an inode whose statx is not the key and answers ESTALE (OpenInodeByHandle), as
    /// for any inode deleted on the host. The table still compares handles for a known key (recycled inode numbers).
    /// </remarks>
    private int LookupByHandle(Inode parent, ReadOnlySpan<byte> name, in Statx st, out Entry entry)
    {
        entry = default;
        InodeKey key = KeyOf(st);
        if (key.MountId != parent.Key.MountId || key.Dev != parent.Key.Dev)
        {
            return 1;
        }
        int mountFd = MountFdFor(key.MountId);
        if (mountFd < 0 || Libc.NameToHandleAt(parent.Fd, name, 0, out FileHandle? handle, out int mountId) < 0
            || (ulong)mountId != key.MountId)
        {
            return 1; // the open way decides: an fd inode, or Mandatory's refusal
        }
        entry = AddHandleInode(key, st, handle, mountFd);
        return 0;
    }

    /// <summary>One guest lookup of a handle inode found (or created) without opening it; its entry.</summary>
    private Entry AddHandleInode(InodeKey key, in Statx st, FileHandle? handle, int mountFd)
    {
        Inode inode = _inodes.AddLookup(-1, key, st.Mode & Libc.S_IFMT, isSubmountRoot: false, handle, mountFd, BirthOf(st));
        try
        {
            return new Entry { Node = inode.Id, Generation = 0, Attr = ToAttr(st, inode.IsSubmountRoot) };
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    /// <summary>
    /// LOOKUP of a validated name whose inode the table may already hold, without opening it: one
    /// statx of the name below <paramref name="parent"/> with AT_SYMLINK_NOFOLLOW (a symlink is the
    /// link itself; a single component cannot leave the directory, and "." / ".." never come here).
    /// Returns 0 with the entry (one lookup added) when the name is a known inode on the parent's own
    /// mount and device; 1 when it is not (unknown, a mount point, a recycled identity: the caller takes
    /// the full <see cref="LookupName"/> way, which opens, refuses or announces it as before); or statx's -errno.
    /// </summary>
    /// <remarks>
    /// Why answering with the known inode is sound, even if the name is replaced concurrently: a known
    /// inode's O_PATH fd pins it, so its (dev, ino) cannot be freed and reused while the key is in the
    /// table, and the statx result therefore names that very inode as the name's target at the moment of
    /// the statx. A handle inode with no fd open is not pinned, but a recycled inode number belongs to an
    /// inode born later: the same key with the same birth time is that very inode. Answering with it orders this LOOKUP before any later replacement, exactly as if the
    /// open of the full way had run at that moment; the key is the inode's own, never one taken from a
    /// name. A name replaced before the statx yields the new inode's key, which the table does not hold
    /// (or holds for that new inode), so it goes the full way and gets the new inode. The file type check
    /// only guards filesystems whose inode numbers are not stable identities.
    /// </remarks>
    private int TryLookupKnownName(Inode parent, ReadOnlySpan<byte> name, out Entry entry)
    {
        entry = default;
        int r = Libc.StatxAt(parent.Fd, name, Libc.AT_SYMLINK_NOFOLLOW, IdentityStatx, out Statx st);
        if (r < 0)
        {
            return r;
        }
        InodeKey key = KeyOf(st);
        if (key.MountId != parent.Key.MountId || key.Dev != parent.Key.Dev)
        {
            return 1;
        }
        // An unpinned handle inode's key may be a recycled inode number: its birth time tells, and where the filesystem
        // has none the full way compares handles.
        Inode? known = _inodes.AddLookupIfKnown(key, requirePinned: true, birth: BirthOf(st), openFd: false);
        if (known is null)
        {
            return 1;
        }
        try
        {
            if (known.FileType != (st.Mode & Libc.S_IFMT))
            {
                // Same identity, other type: a recycled inode number the table has not caught up with.
                _inodes.Forget(known.Id, 1);
                return 1;
            }
            entry = new Entry { Node = known.Id, Generation = 0, Attr = ToAttr(st, known.IsSubmountRoot) };
            return 0;
        }
        finally
        {
            _inodes.Return(known);
        }
    }

    /// <summary>
    /// Clears SUID, and SGID when group-executable, and security.capability, as the kernel does
    /// for a write or truncate by a process without CAP_FSETID (fs/attr.c setattr_should_drop_suidgid).
    /// <paramref name="fd"/> must be a real (not O_PATH) fd.
    /// </summary>
    private static int KillPrivileges(int fd)
    {
        int r = Libc.StatxFd(fd, out Statx st);
        if (r < 0)
        {
            return r;
        }
        uint mode = st.Mode;
        uint kill = mode & Libc.S_ISUID;
        if ((mode & (Libc.S_ISGID | Libc.S_IXGRP)) == (Libc.S_ISGID | Libc.S_IXGRP))
        {
            kill |= Libc.S_ISGID;
        }
        if (kill != 0)
        {
            r = Libc.Fchmod(fd, mode & 0xfff & ~kill);
            if (r < 0)
            {
                return r;
            }
        }
        r = Libc.Fremovexattr(fd, "security.capability"u8);
        return r == -Errno.ENODATA || r == -Errno.EOPNOTSUPP ? 0 : r;
    }
}
