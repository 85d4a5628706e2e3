using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>SETATTR: mode, owner, size and times, each applied to the inode itself and never through a symlink.</summary>
public sealed partial class PassthroughFileSystem
{
    public int SetAttr(in RequestContext ctx, NodeId node, HandleId? handle, in SetAttrRequest request, out FileAttr attr)
    {
        attr = default;
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        OpenFile? file = null;
        try
        {
            if (handle is HandleId h)
            {
                file = _handles.Borrow(h, node);
                if (file is null)
                {
                    return -Errno.EBADF;
                }
            }
            int r = ApplySetAttr(ctx, inode, file, request);
            return r < 0 ? r : StatInode(inode, out attr);
        }
        finally
        {
            if (file is not null)
            {
                _handles.Return(file);
            }
            _inodes.Return(inode);
        }
    }

    private int ApplySetAttr(in RequestContext ctx, Inode inode, OpenFile? file, in SetAttrRequest request)
    {
        uint valid = request.Valid;
        int r;
        if ((valid & FuseConstants.FattrMode) != 0)
        {
            // A symlink has no mode of its own to change; following it would change its target
            // (maybe outside the share), so refuse as fchmodat(AT_SYMLINK_NOFOLLOW) does.
            if (inode.IsSymlink)
            {
                return -Errno.EOPNOTSUPP;
            }
            r = file is not null && !file.IsDirectory
                ? Libc.Fchmod(file.Fd, request.Mode & 0xfff)
                : ChmodInode(inode, request.Mode & 0xfff);
            if (r < 0)
            {
                return r;
            }
        }
        if ((valid & (FuseConstants.FattrUid | FuseConstants.FattrGid)) != 0)
        {
            uint uid = (valid & FuseConstants.FattrUid) != 0 ? request.Uid : uint.MaxValue;
            uint gid = (valid & FuseConstants.FattrGid) != 0 ? request.Gid : uint.MaxValue;
            // On the O_PATH fd itself: for a symlink this changes the link (lchown), never its target.
            // chown clears SUID/SGID on its own (fs/open.c chown_common).
            r = Libc.Fchownat(inode.Fd, default, uid, gid, Libc.AT_EMPTY_PATH | Libc.AT_SYMLINK_NOFOLLOW);
            if (r < 0)
            {
                return r;
            }
        }
        if ((valid & FuseConstants.FattrSize) != 0)
        {
            r = Truncate(ctx, inode, file, request);
            if (r < 0)
            {
                return r;
            }
        }
        if ((valid & (FuseConstants.FattrAtime | FuseConstants.FattrMtime)) != 0)
        {
            r = SetTimes(inode, file, request);
            if (r < 0)
            {
                return r;
            }
        }
        return 0;
    }

    private int ChmodInode(Inode inode, uint mode)
    {
        // fchmod does not take O_PATH fds; chmod through the /proc magic link reaches the inode itself.
        Span<byte> digits = stackalloc byte[16];
        int n = FdName(inode.Fd, digits);
        return Libc.Fchmodat(_procSelfFd, digits[..n], mode, 0);
    }

    /// <summary>
    /// Size change through the handle if given, else through a write-only reopen of a regular file.
    /// SUID/SGID are cleared when the guest asks (FATTR_KILL_SUIDGID, killpriv v2) or, without v2,
    /// when the caller is not guest root: a local truncate by a process without CAP_FSETID clears
    /// them, while the daemon itself runs with CAP_FSETID and the kernel would keep them.
    /// </summary>
    private int Truncate(in RequestContext ctx, Inode inode, OpenFile? file, in SetAttrRequest request)
    {
        if (request.Size > long.MaxValue)
        {
            return -Errno.EFBIG;
        }
        if (inode.IsDirectory)
        {
            return -Errno.EISDIR;
        }
        if (!inode.IsRegular)
        {
            return -Errno.EINVAL;
        }
        bool kill = (request.Valid & FuseConstants.FattrKillSuidgid) != 0 || (!Negotiated(FuseInitFlags.HandleKillPrivV2) && ctx.Uid != 0);
        int fd = file?.Fd ?? -1;
        bool own = false;
        if (file is null || !file.CanWrite)
        {
            fd = ReopenFd(inode.Fd, Libc.O_WRONLY | Libc.O_NONBLOCK | Libc.O_NOCTTY);
            if (fd < 0)
            {
                return fd;
            }
            own = true;
        }
        try
        {
            if (kill)
            {
                int k = KillPrivileges(fd);
                if (k < 0)
                {
                    return k;
                }
            }
            return Libc.Ftruncate(fd, (long)request.Size);
        }
        finally
        {
            if (own)
            {
                Libc.Close(fd);
            }
        }
    }

    /// <summary>Times: an omitted one is UTIME_OMIT, FATTR_*_NOW is UTIME_NOW, otherwise the given value.</summary>
    private static int SetTimes(Inode inode, OpenFile? file, in SetAttrRequest request)
    {
        uint valid = request.Valid;
        Timespec atime = TimeOf(valid, FuseConstants.FattrAtime, FuseConstants.FattrAtimeNow, request.Atime, request.AtimeNsec);
        Timespec mtime = TimeOf(valid, FuseConstants.FattrMtime, FuseConstants.FattrMtimeNow, request.Mtime, request.MtimeNsec);
        if (atime.Nsec is < 0 || mtime.Nsec is < 0)
        {
            return -Errno.EINVAL;
        }
        if (file is not null)
        {
            return Libc.Utimensat(file.Fd, default, atime, mtime, Libc.AT_EMPTY_PATH);
        }
        // On the O_PATH fd itself, never following a symlink it refers to.
        return Libc.Utimensat(inode.Fd, default, atime, mtime, Libc.AT_EMPTY_PATH | Libc.AT_SYMLINK_NOFOLLOW);
    }

    private static Timespec TimeOf(uint valid, uint setBit, uint nowBit, long sec, uint nsec)
    {
        if ((valid & setBit) == 0)
        {
            return new Timespec { Nsec = Libc.UTIME_OMIT };
        }
        if ((valid & nowBit) != 0)
        {
            return new Timespec { Nsec = Libc.UTIME_NOW };
        }
        // A nanosecond count of a billion or more is invalid; it must not alias UTIME_NOW/OMIT.
        return nsec >= 1_000_000_000 ? new Timespec { Nsec = -1 } : new Timespec { Sec = sec, Nsec = nsec };
    }
}
