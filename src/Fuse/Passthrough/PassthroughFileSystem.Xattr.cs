using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Extended attributes through the inode's /proc/self/fd/N magic link: the path syscalls reach
/// the held inode itself (for a symlink node: the link, not its target), with no name lookup
/// in the share at all. Disabled: ENOSYS, which makes the guest stop asking.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    private const int ProcPathMax = 32;

    public int SetXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, uint flags)
    {
        int r = CheckXattrName(name);
        if (r < 0)
        {
            return r;
        }
        if ((flags & ~(uint)(Libc.XATTR_CREATE | Libc.XATTR_REPLACE)) != 0)
        {
            return -Errno.EINVAL;
        }
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            Span<byte> path = stackalloc byte[ProcPathMax];
            int n = ProcPath(inode.Fd, path);
            return Libc.Setxattr(path[..n], name, value, (int)flags);
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    public int GetXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name, Span<byte> value)
    {
        int r = CheckXattrName(name);
        if (r < 0)
        {
            return r;
        }
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            Span<byte> path = stackalloc byte[ProcPathMax];
            int n = ProcPath(inode.Fd, path);
            return Libc.Getxattr(path[..n], name, value);
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    public int ListXattr(in RequestContext ctx, NodeId node, Span<byte> list)
    {
        if (!_options.Xattr)
        {
            return -Errno.ENOSYS;
        }
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            Span<byte> path = stackalloc byte[ProcPathMax];
            int n = ProcPath(inode.Fd, path);
            int len = Libc.Listxattr(path[..n], list);
            if (len <= 0 || _options.PosixAcl)
            {
                return len;
            }
            // Hide the ACL names the guest may not use; the size query cannot know in advance, so it may overstate.
            return list.IsEmpty ? len : RemoveAclNames(list[..len]);
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    public int RemoveXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name)
    {
        int r = CheckXattrName(name);
        if (r < 0)
        {
            return r;
        }
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            Span<byte> path = stackalloc byte[ProcPathMax];
            int n = ProcPath(inode.Fd, path);
            return Libc.Removexattr(path[..n], name);
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    private int CheckXattrName(ReadOnlySpan<byte> name)
    {
        if (!_options.Xattr)
        {
            return -Errno.ENOSYS;
        }
        if (name.IsEmpty || name.Contains((byte)0))
        {
            return -Errno.EINVAL;
        }
        if (name.Length > Libc.XattrNameMax)
        {
            return -Errno.ERANGE;
        }
        return !_options.PosixAcl && IsAclName(name) ? -Errno.EOPNOTSUPP : 0;
    }

    private static bool IsAclName(ReadOnlySpan<byte> name) =>
        name.SequenceEqual("system.posix_acl_access"u8) || name.SequenceEqual("system.posix_acl_default"u8);

    /// <summary>Compacts a NUL-separated name list without the POSIX ACL names; returns the new length.</summary>
    private static int RemoveAclNames(Span<byte> list)
    {
        int write = 0;
        int read = 0;
        while (read < list.Length)
        {
            int end = list[read..].IndexOf((byte)0);
            int len = end < 0 ? list.Length - read : end + 1;
            ReadOnlySpan<byte> item = list.Slice(read, len);
            if (!IsAclName(end < 0 ? item : item[..^1]))
            {
                item.CopyTo(list[write..]);
                write += len;
            }
            read += len;
        }
        return write;
    }
}
