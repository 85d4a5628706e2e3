using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>Node operations: lookup and forget, attributes, symlink reading, access, statfs.</summary>
public sealed partial class PassthroughFileSystem
{
    // fuse.h FATTR_* bits of fuse_setattr_in.valid.

    /// <summary>
    /// LOOKUP. A name whose inode the guest already knows is answered from one statx (see
    /// <see cref="TryLookupKnownName"/>), any other goes the full open way. "." is the directory itself. ".." of the root is the root (the guest can never see
    /// above its root); elsewhere ".." is answered only with an inode the guest already knows (it
    /// must have walked down through it), so even a directory moved out of the share on the host
    /// cannot lead the guest to a new inode outside it.
    /// </summary>
    public int Lookup(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, out Entry entry)
    {
        entry = default;
        Inode? dir = _inodes.Borrow(parent);
        if (dir is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            if (!dir.IsDirectory)
            {
                return -Errno.ENOTDIR;
            }
            if (Names.IsDot(name) || (Names.IsDotDot(name) && dir.Id == NodeId.Root))
            {
                return RelookupKnown(dir.Key, out entry);
            }
            if (Names.IsDotDot(name))
            {
                return LookupDotDot(dir, out entry);
            }
            int r = Names.Validate(name);
            if (r < 0)
            {
                return r;
            }
            // A known inode costs one statx instead of open + statx + close. ENOENT from statx is the
            // answer the open would give for one component; any other error goes the full way, so
            // LOOKUP's errors stay those of the open.
            r = TryLookupKnownName(dir, name, out entry);
            return r == 0 || r == -Errno.ENOENT ? r : LookupName(dir, name, out entry);
        }
        finally
        {
            _inodes.Return(dir);
        }
    }

    private int LookupDotDot(Inode dir, out Entry entry)
    {
        entry = default;
        int fd = Libc.Openat(dir.Fd, ".."u8, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            return fd;
        }
        int r = Libc.StatxFd(fd, out Statx st);
        FileHandle? handle = null;
        if (r == 0 && _handleMode != InodeFileHandleMode.Never)
        {
            // The parent found by key must be that very inode, not one whose number the filesystem reused.
            _ = Libc.NameToHandleAt(fd, default, Libc.AT_EMPTY_PATH, out handle, out _);
        }
        Libc.Close(fd);
        return r < 0 ? r : RelookupKnown(KeyOf(st), out entry, handle);
    }

    /// <summary>Adds a lookup to an inode the table already holds; -ENOENT if it holds none with that identity.</summary>
    private int RelookupKnown(InodeKey key, out Entry entry, FileHandle? expected = null)
    {
        entry = default;
        Inode? inode = _inodes.AddLookupIfKnown(key, expected: expected);
        if (inode is null)
        {
            return -Errno.ENOENT;
        }
        try
        {
            int r = StatInode(inode, out FileAttr attr);
            if (r < 0)
            {
                _inodes.Forget(inode.Id, 1);
                return r;
            }
            entry = new Entry { Node = inode.Id, Attr = attr };
            return 0;
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    public void Forget(NodeId node, ulong count) => _inodes.Forget(node, count);

    public int GetAttr(in RequestContext ctx, NodeId node, HandleId? handle, out FileAttr attr)
    {
        attr = default;
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            return StatInode(inode, out attr);
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    public int ReadLink(in RequestContext ctx, NodeId node, Span<byte> target)
    {
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            if (!inode.IsSymlink)
            {
                return -Errno.EINVAL;
            }
            // readlinkat(fd, "") reads the link an O_PATH fd refers to (Linux 2.6.39).
            int n = Libc.Readlinkat(inode.Fd, default, target);
            // readlink truncates silently; a full buffer may mean the target did not fit.
            return n == target.Length ? -Errno.ERANGE : n;
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    public int Access(in RequestContext ctx, NodeId node, uint mask)
    {
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            if ((mask & ~7u) != 0)
            {
                return -Errno.EINVAL;
            }
            using Credentials.Scope scope = _credentials.Enter(ctx);
            if (scope.Error < 0)
            {
                return scope.Error;
            }
            // AT_EACCESS: check with the fsuid/fsgid just taken, not the real ids.
            return Libc.Faccessat2(inode.Fd, default, (int)mask, Libc.AT_EACCESS | Libc.AT_EMPTY_PATH | Libc.AT_SYMLINK_NOFOLLOW);
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    public int StatFs(in RequestContext ctx, NodeId node, out StatFs stat)
    {
        stat = default;
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            int r = Libc.Fstatfs(inode.Fd, out StatFsBuf b);
            if (r < 0)
            {
                return r;
            }
            stat = new StatFs
            {
                Blocks = b.Blocks,
                Bfree = b.Bfree,
                Bavail = b.Bavail,
                Files = b.Files,
                Ffree = b.Ffree,
                Bsize = (uint)b.Bsize,
                Namelen = (uint)b.Namelen,
                Frsize = (uint)b.Frsize,
            };
            return 0;
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    /// <summary>SYNCFS: syncfs(2) on the filesystem of the node (the guest sends it per submount, so each host mount is reached).</summary>
    public int SyncFs(in RequestContext ctx, NodeId node)
    {
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            if (!inode.IsDirectory && !inode.IsRegular)
            {
                return -Errno.EINVAL;
            }
            // syncfs needs a real fd, not O_PATH; O_NONBLOCK so nothing can make the open wait.
            int fd = ReopenFd(inode.Fd, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_NOCTTY);
            if (fd < 0)
            {
                return fd;
            }
            int r = Libc.Syncfs(fd);
            Libc.Close(fd);
            return r;
        }
        finally
        {
            _inodes.Return(inode);
        }
    }
}
