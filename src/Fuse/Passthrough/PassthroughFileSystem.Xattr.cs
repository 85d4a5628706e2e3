using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Extended attributes of the inode a node holds, never of a name: the O_PATH fd cannot be used
/// directly (f*xattr refuse O_PATH fds), so the call goes, in order of preference,
/// <list type="number">
/// <item>through the *xattrat syscalls (Linux 6.13) on "N" below the /proc/self/fd directory fd: the
/// magic link leads to the held inode itself (for a symlink node: the link, not its target), and
/// works inside a sandbox since that fd was opened before it;</item>
/// <item>for regular files and directories, through a fresh O_RDONLY reopen and the f*xattr calls;</item>
/// <item>for other types (symlinks, FIFOs, sockets, devices: none of which may be opened), through
/// the "/proc/self/fd/N" path, which needs /proc visible there (not inside a sandbox on old kernels).</item>
/// </list>
/// Disabled: ENOSYS, which makes the guest stop asking.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    private const int ProcPathMax = 32;

    private enum XattrOp
    {
        Get,
        Set,
        List,
        Remove,
    }

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
        r = HostXattrName(name, out byte[]? mapped);
        return r < 0 ? r : XattrCall(node, XattrOp.Set, mapped ?? name, value, default, (int)flags);
    }

    public int GetXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name, Span<byte> value)
    {
        int r = CheckXattrName(name);
        if (r < 0)
        {
            return r;
        }
        r = HostXattrName(name, out byte[]? mapped);
        return r < 0 ? r : XattrCall(node, XattrOp.Get, mapped ?? name, default, value, 0);
    }

    public int ListXattr(in RequestContext ctx, NodeId node, Span<byte> list)
    {
        if (!_options.Xattr)
        {
            return -Errno.ENOSYS;
        }
        if (_options.XattrMap is { } map)
        {
            return ListMapped(node, list, map);
        }
        int len = XattrCall(node, XattrOp.List, default, default, list, 0);
        if (len <= 0 || _options.PosixAcl || list.IsEmpty)
        {
            // The size query cannot know which names will be hidden, so it may overstate: harmless.
            return len;
        }
        return RemoveAclNames(list[..len]);
    }

    public int RemoveXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name)
    {
        int r = CheckXattrName(name);
        if (r < 0)
        {
            return r;
        }
        r = HostXattrName(name, out byte[]? mapped);
        return r < 0 ? r : XattrCall(node, XattrOp.Remove, mapped ?? name, default, default, 0);
    }

    /// <summary>--xattrmap for a name from the guest: 0 with the host name (null: unchanged), or EPERM / ENOTSUP.</summary>
    private int HostXattrName(ReadOnlySpan<byte> name, out byte[]? hostName)
    {
        hostName = null;
        if (_options.XattrMap is not { } map)
        {
            return 0;
        }
        XattrMap.Verdict v = map.MapClient(name, out byte[] mapped);
        if (v != XattrMap.Verdict.Pass)
        {
            return v == XattrMap.Verdict.Deny ? -Errno.EPERM : -Errno.EOPNOTSUPP;
        }
        if (mapped.Length > Libc.XattrNameMax)
        {
            return -Errno.ERANGE;
        }
        hostName = mapped;
        return 0;
    }

    /// <summary>
    /// LISTXATTR under --xattrmap: the whole host list is read (so that a size query can answer the mapped size),
    /// rewritten by the map's server rules, then copied out.
    /// </summary>
    private int ListMapped(NodeId node, Span<byte> list, XattrMap map)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Libc.XattrListMax);
        try
        {
            int len = XattrCall(node, XattrOp.List, default, default, buffer.AsSpan(0, Libc.XattrListMax), 0);
            if (len < 0)
            {
                return len;
            }
            len = map.MapServerList(buffer.AsSpan(0, len));
            if (!_options.PosixAcl)
            {
                len = RemoveAclNames(buffer.AsSpan(0, len));
            }
            if (list.IsEmpty)
            {
                return len;
            }
            if (len > list.Length)
            {
                return -Errno.ERANGE;
            }
            buffer.AsSpan(0, len).CopyTo(list);
            return len;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// --security-label: stores the label the guest sent with a create-type request (FUSE_SECURITY_CTX) on the new
    /// node, as the daemon (the security. namespace needs CAP_SYS_ADMIN, not the caller's rights). If it cannot be
    /// stored the creation is undone (the name removed, the node forgotten) and the error returned: the guest's
    /// security module must never see an unlabeled file it believes labeled. <paramref name="name"/> is empty for
    /// an O_TMPFILE, which has none.
    /// </summary>
    private int ApplySecurityLabel(in RequestContext ctx, Inode dir, ReadOnlySpan<byte> name, ref Entry entry, int r)
    {
        if (r < 0 || ctx.SecurityLabel is not { } label)
        {
            return r;
        }
        int x = HostXattrName(label.Name, out byte[]? mappedName);
        x = x < 0 ? x : XattrCall(entry.Node, XattrOp.Set, mappedName ?? label.Name, label.Value, default, 0);
        if (x >= 0)
        {
            return r;
        }
        _log.Warning("Cannot store the security label {Name:l} on a new file ({Error}); the creation is undone",
            System.Text.Encoding.UTF8.GetString(label.Name), Errno.Describe(x));
        if (!name.IsEmpty)
        {
            bool isDirectory = (entry.Attr.Mode & Libc.S_IFMT) == Libc.S_IFDIR;
            Libc.Unlinkat(dir.Fd, name, isDirectory ? Libc.AT_REMOVEDIR : 0);
        }
        _inodes.Forget(entry.Node, 1);
        entry = default;
        return x;
    }

    private int XattrCall(NodeId node, XattrOp op, ReadOnlySpan<byte> name, ReadOnlySpan<byte> input, Span<byte> output, int flags)
    {
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            if (!_noXattrAt)
            {
                Span<byte> digits = stackalloc byte[16];
                int n = FdName(inode.Fd, digits);
                // at_flags 0: follow the final magic link, which lands on the held inode and goes no further.
                int r = op switch
                {
                    XattrOp.Get => Libc.GetxattrAt(_procSelfFd, digits[..n], 0, name, output),
                    XattrOp.Set => Libc.SetxattrAt(_procSelfFd, digits[..n], 0, name, input, flags),
                    XattrOp.List => Libc.ListxattrAt(_procSelfFd, digits[..n], 0, output),
                    _ => Libc.RemovexattrAt(_procSelfFd, digits[..n], 0, name),
                };
                if (r != -Errno.ENOSYS)
                {
                    return r;
                }
                _noXattrAt = true;
            }
            if (inode.IsRegular || inode.IsDirectory)
            {
                int fd = OpenVerified(inode, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_NOCTTY | (inode.IsDirectory ? Libc.O_DIRECTORY : 0));
                if (fd < 0)
                {
                    return fd;
                }
                int r = op switch
                {
                    XattrOp.Get => Libc.Fgetxattr(fd, name, output),
                    XattrOp.Set => Libc.Fsetxattr(fd, name, input, flags),
                    XattrOp.List => Libc.Flistxattr(fd, output),
                    _ => Libc.Fremovexattr(fd, name),
                };
                Libc.Close(fd);
                return r;
            }
            Span<byte> path = stackalloc byte[ProcPathMax];
            int len = ProcPath(inode.Fd, path);
            return op switch
            {
                XattrOp.Get => Libc.Getxattr(path[..len], name, output),
                XattrOp.Set => Libc.Setxattr(path[..len], name, input, flags),
                XattrOp.List => Libc.Listxattr(path[..len], output),
                _ => Libc.Removexattr(path[..len], name),
            };
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
