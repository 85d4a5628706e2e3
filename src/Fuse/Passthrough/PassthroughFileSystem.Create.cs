using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Operations that create an inode (mknod, mkdir, symlink, create, tmpfile) run with the caller's
/// fs credentials (<see cref="Credentials"/>) so the host kernel sets owner, group and SGID as a
/// local filesystem would. LINK creates no inode and runs as the daemon.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    /// <summary>The permission bits a create may carry (S_ISUID|S_ISGID|S_ISVTX|0777).</summary>
    private const uint ModeBits = 0xfff;

    /// <summary>PATH_MAX including the NUL: the longest symlink target the kernel stores.</summary>
    private const int SymlinkMax = 4095;

    public int Mknod(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, uint rdev, out Entry entry)
    {
        entry = default;
        uint type = mode & Libc.S_IFMT;
        ulong dev = 0;
        switch (type)
        {
            case 0:
                type = Libc.S_IFREG;
                break;
            case Libc.S_IFREG:
            case Libc.S_IFIFO:
            case Libc.S_IFSOCK:
                break;
            case Libc.S_IFCHR:
            case Libc.S_IFBLK:
                // A device node in the share would let the guest reach host devices through any
                // other user of the directory; only when the operator allows it, and only for guest root.
                if (_options.DeviceNodes != DeviceNodePolicy.AllowForRoot || ctx.Uid != 0)
                {
                    return -Errno.EPERM;
                }
                dev = DecodeDevToHost(rdev);
                break;
            default:
                return -Errno.EPERM;
        }
        int r = BorrowParent(parent, name, out Inode dir);
        if (r < 0)
        {
            return r;
        }
        try
        {
            r = GuestFdRoom();
            if (r < 0)
            {
                return r;
            }
            uint perm = mode & ModeBits & ~ctx.Umask;
            using (Credentials.Scope scope = _credentials.Enter(ctx))
            {
                r = scope.Error < 0 ? scope.Error : Libc.Mknodat(dir.Fd, name, type | perm, dev);
            }
            r = r < 0 ? r : LookupName(dir, name, out entry);
            return ApplySecurityLabel(ctx, dir, name, ref entry, r);
        }
        finally
        {
            _inodes.Return(dir);
        }
    }

    public int Mkdir(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, out Entry entry)
    {
        entry = default;
        int r = BorrowParent(parent, name, out Inode dir);
        if (r < 0)
        {
            return r;
        }
        try
        {
            r = GuestFdRoom();
            if (r < 0)
            {
                return r;
            }
            using (Credentials.Scope scope = _credentials.Enter(ctx))
            {
                r = scope.Error < 0 ? scope.Error : Libc.Mkdirat(dir.Fd, name, mode & ModeBits & ~ctx.Umask);
            }
            r = r < 0 ? r : LookupName(dir, name, out entry);
            return ApplySecurityLabel(ctx, dir, name, ref entry, r);
        }
        finally
        {
            _inodes.Return(dir);
        }
    }

    /// <summary>SYMLINK: the target is stored verbatim; the daemon never resolves it.</summary>
    public int Symlink(in RequestContext ctx, ReadOnlySpan<byte> linkTarget, NodeId parent, ReadOnlySpan<byte> name, out Entry entry)
    {
        entry = default;
        int r = Names.Validate(name);
        if (r < 0)
        {
            return r;
        }
        if (linkTarget.IsEmpty || linkTarget.Contains((byte)0))
        {
            return -Errno.EINVAL;
        }
        if (linkTarget.Length > SymlinkMax)
        {
            return -Errno.ENAMETOOLONG;
        }
        Inode? dir = _inodes.Borrow(parent);
        if (dir is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            r = GuestFdRoom();
            if (r < 0)
            {
                return r;
            }
            using (Credentials.Scope scope = _credentials.Enter(ctx))
            {
                r = scope.Error < 0 ? scope.Error : Libc.Symlinkat(linkTarget, dir.Fd, name);
            }
            r = r < 0 ? r : LookupName(dir, name, out entry);
            return ApplySecurityLabel(ctx, dir, name, ref entry, r);
        }
        finally
        {
            _inodes.Return(dir);
        }
    }

    public int Link(in RequestContext ctx, NodeId node, NodeId newParent, ReadOnlySpan<byte> newName, out Entry entry)
    {
        entry = default;
        int r = Names.Validate(newName);
        if (r < 0)
        {
            return r;
        }
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        Inode? dir = _inodes.Borrow(newParent);
        try
        {
            if (dir is null)
            {
                return -Errno.ESTALE;
            }
            if (inode.IsDirectory)
            {
                return -Errno.EPERM;
            }
            // linkat(fd, "", AT_EMPTY_PATH) links the inode the O_PATH fd holds (a symlink stays a
            // symlink); it needs CAP_DAC_READ_SEARCH. Without it, the /proc magic link does the same
            // for anything but a symlink (AT_SYMLINK_FOLLOW would then follow the link's target).
            r = Libc.Linkat(inode.Fd, default, dir.Fd, newName, Libc.AT_EMPTY_PATH);
            if (r == -Errno.ENOENT && !inode.IsSymlink)
            {
                Span<byte> digits = stackalloc byte[16];
                int n = FdName(inode.Fd, digits);
                r = Libc.Linkat(_procSelfFd, digits[..n], dir.Fd, newName, Libc.AT_SYMLINK_FOLLOW);
            }
            return r < 0 ? r : LookupName(dir, newName, out entry);
        }
        finally
        {
            if (dir is not null)
            {
                _inodes.Return(dir);
            }
            _inodes.Return(inode);
        }
    }

    /// <summary>
    /// CREATE: a new regular file, opened. The file is created with O_EXCL whatever the guest
    /// asked, so an existing name (a FIFO or device swapped in, a symlink) is never opened by the
    /// create itself; without the guest's O_EXCL an existing file is then opened as OPEN would.
    /// </summary>
    public int Create(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, uint flags, out Entry entry, out OpenResult result)
    {
        entry = default;
        result = default;
        int r = BorrowParent(parent, name, out Inode dir);
        if (r < 0)
        {
            return r;
        }
        try
        {
            int openFlags = AdjustOpenFlags(flags);
            r = GuestFdRoom();
            if (r < 0)
            {
                return r;
            }
            int fd;
            using (Credentials.Scope scope = _credentials.Enter(ctx))
            {
                fd = scope.Error < 0
                    ? scope.Error
                    : OpenBeneath(dir.Fd, name, openFlags | Libc.O_CREAT | Libc.O_EXCL, mode & ModeBits & ~ctx.Umask);
            }
            if (fd == -Errno.EEXIST && ((int)flags & Libc.O_EXCL) == 0)
            {
                return OpenExisting(ctx, dir, name, flags, out entry, out result);
            }
            if (fd < 0)
            {
                return fd;
            }
            r = AddOpenedFile(dir, fd, openFlags, out entry, out result);
            return ApplySecurityLabelToOpened(ctx, dir, name, ref entry, ref result, r);
        }
        finally
        {
            _inodes.Return(dir);
        }
    }

    /// <summary>TMPFILE: an unnamed regular file in the directory (O_TMPFILE), opened; it can be given a name with LINK.</summary>
    public int Tmpfile(in RequestContext ctx, NodeId parent, uint mode, uint flags, out Entry entry, out OpenResult result)
    {
        entry = default;
        result = default;
        Inode? dir = _inodes.Borrow(parent);
        if (dir is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            int openFlags = AdjustOpenFlags(flags);
            if ((openFlags & Libc.O_ACCMODE) == Libc.O_RDONLY)
            {
                // O_TMPFILE requires write access (open(2)).
                return -Errno.EINVAL;
            }
            int r = GuestFdRoom();
            if (r < 0)
            {
                return r;
            }
            int fd;
            using (Credentials.Scope scope = _credentials.Enter(ctx))
            {
                fd = scope.Error < 0
                    ? scope.Error
                    : OpenBeneath(dir.Fd, "."u8, (openFlags & ~Libc.O_DIRECTORY) | Libc.O_TMPFILE, mode & ModeBits & ~ctx.Umask);
            }
            r = fd < 0 ? fd : AddOpenedFile(dir, fd, openFlags, out entry, out result);
            return ApplySecurityLabelToOpened(ctx, dir, default, ref entry, ref result, r);
        }
        finally
        {
            _inodes.Return(dir);
        }
    }

    private int OpenExisting(in RequestContext ctx, Inode dir, ReadOnlySpan<byte> name, uint flags, out Entry entry, out OpenResult result)
    {
        result = default;
        int r = LookupName(dir, name, out entry);
        if (r < 0)
        {
            return r;
        }
        r = Open(ctx, entry.Node, flags & ~(uint)(Libc.O_CREAT | Libc.O_EXCL), out result);
        if (r < 0)
        {
            _inodes.Forget(entry.Node, 1);
            entry = default;
        }
        return r;
    }

    /// <summary><see cref="ApplySecurityLabel"/> for CREATE and TMPFILE: undoing also releases the new handle.</summary>
    private int ApplySecurityLabelToOpened(in RequestContext ctx, Inode dir, ReadOnlySpan<byte> name, ref Entry entry, ref OpenResult result, int r)
    {
        if (r < 0 || ctx.SecurityLabel is null)
        {
            return r;
        }
        NodeId node = entry.Node;
        r = ApplySecurityLabel(ctx, dir, name, ref entry, r);
        if (r < 0)
        {
            _handles.Remove(result.Handle, node);
            result = default;
        }
        return r;
    }

    /// <summary>
    /// A new fd from create/tmpfile becomes the node: the very inode created, not whatever has the name now. Held by
    /// file handle where possible (the fd's own statx and handle: nothing more is opened); else its O_PATH reopen.
    /// </summary>
    private int AddOpenedFile(Inode dir, int fd, int openFlags, out Entry entry, out OpenResult result)
    {
        entry = default;
        result = default;
        int r = _handleMode != InodeFileHandleMode.Never ? EntryFromOpenFileByHandle(dir, fd, out entry) : 1;
        if (r > 0)
        {
            int pathFd = ReopenFd(fd, Libc.O_PATH);
            r = pathFd < 0 ? pathFd : EntryFromPathFd(dir, pathFd, out entry);
        }
        if (r < 0)
        {
            Libc.Close(fd);
            return r;
        }
        if ((entry.Attr.Mode & Libc.S_IFMT) != Libc.S_IFREG)
        {
            Libc.Close(fd);
            _inodes.Forget(entry.Node, 1);
            entry = default;
            return -Errno.EACCES;
        }
        result = new OpenResult { Handle = AddHandle(entry.Node, fd, openFlags, isDirectory: false) };
        return 0;
    }

    /// <summary>
    /// The node of a file just created and open as <paramref name="fd"/>, held by its file handle alone: 0 with the
    /// entry, 1 when it cannot be held by handle here (the caller takes the O_PATH way), or -errno.
    /// </summary>
    private int EntryFromOpenFileByHandle(Inode dir, int fd, out Entry entry)
    {
        entry = default;
        int r = Libc.StatxFd(fd, out Statx st);
        if (r < 0)
        {
            return r;
        }
        InodeKey key = KeyOf(st);
        int mountFd = MountFdFor(key.MountId);
        if (key.MountId != dir.Key.MountId || mountFd < 0
            || Libc.NameToHandleAt(fd, default, Libc.AT_EMPTY_PATH, out FileHandle? handle, out _) < 0)
        {
            return 1;
        }
        entry = AddHandleInode(key, st, handle, mountFd);
        return 0;
    }

    /// <summary>openat2 of one name confined below the directory, never following a symlink; openat + O_NOFOLLOW before Linux 5.6.</summary>
    private int OpenBeneath(int dirFd, ReadOnlySpan<byte> name, int flags, uint mode)
    {
        flags |= Libc.O_NOFOLLOW | Libc.O_CLOEXEC | Libc.O_NOCTTY;
        if (!_noOpenat2)
        {
            int fd = Libc.Openat2(dirFd, name, flags, mode, ResolveConfined);
            if (fd != -Errno.ENOSYS)
            {
                return fd;
            }
            _noOpenat2 = true;
        }
        return Libc.Openat(dirFd, name, flags, mode);
    }
}
