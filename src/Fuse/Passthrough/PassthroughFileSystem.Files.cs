using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>Open files: OPEN, READ/WRITE straight between the request's buffers and the file, and the per-handle calls.</summary>
public sealed partial class PassthroughFileSystem
{
    /// <summary>__O_TMPFILE without O_DIRECTORY (asm-generic/fcntl.h): never meaningful on OPEN.</summary>
    private const int OTmpfileBit = 0x400000;

    /// <summary>
    /// The guest's open flags as the host open gets them. Creation and controlling-tty flags are
    /// the daemon's business (O_CREAT/O_EXCL/O_NOCTTY), O_NOFOLLOW is meaningless on a reopen of
    /// a held inode, and O_PATH/O_TMPFILE never belong on OPEN. (What the write-back cache changes,
    /// O_WRONLY and O_APPEND, the server has already changed: it is a property of the session.)
    /// </summary>
    private int AdjustOpenFlags(uint guestFlags)
    {
        int f = (int)guestFlags & ~(Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOCTTY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC | Libc.O_PATH | OTmpfileBit);
        if (!_options.PreserveNoatime)
        {
            // As the Rust virtiofsd unless --preserve-noatime: the daemon's CAP_FOWNER would let any guest user
            // skip atime updates on files it does not own, which the guest kernel cannot check for it.
            f &= ~Libc.O_NOATIME;
        }
        return f;
    }

    /// <summary>
    /// OPEN of regular files only: the guest kernel serves FIFOs, sockets and device nodes itself
    /// (fuse init_special_inode), so an OPEN of one is hostile and gets EACCES; the daemon never
    /// opens a device or blocks on a FIFO. The inode is reopened through its own fd, so what is
    /// opened is the inode looked up, whatever now has its name; the type is still checked on the
    /// opened fd.
    /// </summary>
    public int Open(in RequestContext ctx, NodeId node, uint flags, out OpenResult result)
    {
        result = default;
        // A handle inode whose O_PATH fd is not open is opened with the guest's flags in one open_by_handle_at.
        Inode? inode = _inodes.BorrowIdentity(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            if (inode.IsDirectory)
            {
                return -Errno.EISDIR;
            }
            if (inode.IsSymlink)
            {
                return -Errno.ELOOP;
            }
            if (!inode.IsRegular)
            {
                return -Errno.EACCES;
            }
            int openFlags = AdjustOpenFlags(flags);
            // No O_NONBLOCK needed: the reopen reaches this very inode, and an inode's type never
            // changes, so this cannot be a FIFO. (On a regular file O_NONBLOCK would change only
            // one thing, and wrongly: an open that meets a lease would fail instead of waiting.)
            int room = GuestFdRoom();
            if (room < 0)
            {
                return room;
            }
            int fd = OpenVerified(inode, openFlags | Libc.O_NOCTTY);
            if (fd < 0)
            {
                return fd;
            }
            if ((openFlags & Libc.O_TRUNC) != 0 && !Negotiated(FuseInitFlags.HandleKillPrivV2) && ctx.Uid != 0)
            {
                // open(O_TRUNC) by a local process without CAP_FSETID clears SUID/SGID; the daemon has it.
                int k = KillPrivileges(fd);
                if (k < 0)
                {
                    Libc.Close(fd);
                    return k;
                }
            }
            result = new OpenResult { Handle = AddHandle(node, fd, openFlags, isDirectory: false) };
            return 0;
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    /// <summary>
    /// Reopens the inode and checks the fd is the same host inode and of the same type; returns the fd or -errno. A
    /// borrowed handle inode without an open fd (<see cref="InodeTable.BorrowIdentity"/>) is opened by its handle, or,
    /// where that fails (deleted while open), through its O_PATH fd as any other borrower would get it.
    /// </summary>
    private int OpenVerified(Inode inode, int flags)
    {
        int fd;
        if (inode.HeldFd >= 0)
        {
            fd = ReopenFd(inode.Fd, flags);
        }
        else
        {
            fd = Libc.OpenByHandleAt(inode.MountFd, inode.Handle!, (flags & ~Libc.O_NOFOLLOW) | Libc.O_CLOEXEC);
            if (fd < 0)
            {
                Inode? opened = _inodes.Borrow(inode.Id);
                if (opened is null)
                {
                    return -Errno.ESTALE;
                }
                try
                {
                    fd = ReopenFd(opened.Fd, flags);
                }
                finally
                {
                    _inodes.Return(opened);
                }
            }
        }
        if (fd < 0)
        {
            return fd;
        }
        int r = Libc.StatxFd(fd, out Statx st);
        if (r < 0 || KeyOf(st) != inode.Key || (st.Mode & Libc.S_IFMT) != inode.FileType)
        {
            Libc.Close(fd);
            return r < 0 ? r : -Errno.EACCES;
        }
        return fd;
    }

    public ValueTask<long> Read(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, ReadOnlySpan<IoVec> destination, IFileIo io)
    {
        if (offset > long.MaxValue)
        {
            return new(-Errno.EINVAL);
        }
        int r = LeaseFile(node, handle, forData: true, out FdLease lease);
        return r < 0 ? new(r) : io.Read(lease, destination, (long)offset);
    }

    /// <summary>
    /// WRITE. With <paramref name="killPrivileges"/> (the guest's FUSE_WRITE_KILL_SUIDGID, sent when
    /// a caller without CAP_FSETID writes a SUID/SGID file) the bits and security.capability are
    /// cleared first, as the kernel does before a local write (file_remove_privs); the daemon's own
    /// write would not, since it holds CAP_FSETID.
    /// </summary>
    public ValueTask<long> Write(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, ReadOnlySpan<IoVec> source, uint writeFlags,
        bool killPrivileges, IFileIo io)
    {
        if (offset > long.MaxValue)
        {
            return new(-Errno.EINVAL);
        }
        int r = LeaseFile(node, handle, forData: true, out FdLease lease);
        if (r < 0)
        {
            return new(r);
        }
        if (killPrivileges)
        {
            int k = KillPrivileges(lease.Fd);
            if (k < 0)
            {
                lease.Release();
                return new(k);
            }
        }
        return io.Write(lease, source, (long)offset);
    }

    /// <summary>
    /// Borrows the handle's fd as a lease an I/O engine releases when the kernel is done with it; a RELEASE racing the
    /// operation closes the fd only then. READ and WRITE (<paramref name="forData"/>) need a file, not a directory handle.
    /// </summary>
    private int LeaseFile(NodeId node, HandleId handle, bool forData, out FdLease lease)
    {
        lease = default;
        OpenFile? file = _handles.Borrow(handle, node);
        if (file is null)
        {
            return -Errno.EBADF;
        }
        if (forData && file.IsDirectory)
        {
            _handles.Return(file);
            return -Errno.EBADF;
        }
        lease = _handles.Lend(file);
        return 0;
    }

    /// <summary>
    /// FLUSH (every close(2) in the guest): drops the closing owner's POSIX locks on the inode, as
    /// close does, and closes a dup of the fd so a host filesystem that reports write-back errors
    /// at close (NFS, FUSE) reports them now.
    /// </summary>
    public int Flush(in RequestContext ctx, NodeId node, HandleId handle, ulong lockOwner)
    {
        OpenFile? file = _handles.Borrow(handle, node);
        if (file is null)
        {
            return -Errno.EBADF;
        }
        try
        {
            // The lock owners live in the inode's table entry, not behind its fd: a handle inode is not opened for this.
            Inode? inode = _inodes.BorrowIdentity(node);
            if (inode is not null)
            {
                inode.LocksIfAny?.Close(lockOwner);
                _inodes.Return(inode);
            }
            int dup = Libc.Dup(file.Fd);
            return dup < 0 ? dup : Libc.Close(dup);
        }
        finally
        {
            _handles.Return(file);
        }
    }

    /// <summary>RELEASE: the last reference to the guest's open file. The fd closes once no request uses it, which also drops its flock.</summary>
    public int Release(in RequestContext ctx, NodeId node, HandleId handle, uint flags, ulong lockOwner, bool releaseFlock)
    {
        if (releaseFlock)
        {
            OpenFile? file = _handles.Borrow(handle, node);
            if (file is not null)
            {
                // Unlock now even if a racing request keeps the fd open a little longer.
                Libc.Flock(file.Fd, Libc.LOCK_UN);
                _handles.Return(file);
            }
        }
        return _handles.Remove(handle, node) ? 0 : -Errno.EBADF;
    }

    public ValueTask<int> Fsync(in RequestContext ctx, NodeId node, HandleId handle, bool dataSync, IFileIo io)
    {
        int r = LeaseFile(node, handle, forData: false, out FdLease lease);
        return r < 0 ? new(r) : io.Fsync(lease, dataSync);
    }

    public ValueTask<int> Fallocate(in RequestContext ctx, NodeId node, HandleId handle, uint mode, ulong offset, ulong length, IFileIo io)
    {
        if (offset > long.MaxValue || length > long.MaxValue)
        {
            return new(-Errno.EINVAL);
        }
        int r = LeaseFile(node, handle, forData: false, out FdLease lease);
        return r < 0 ? new(r) : io.Fallocate(lease, (int)mode, (long)offset, (long)length);
    }

    /// <summary>LSEEK: SEEK_DATA / SEEK_HOLE (and SEEK_SET/SEEK_END) on the host file; SEEK_CUR has no meaning for a shared fd.</summary>
    public long Lseek(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, uint whence)
    {
        if (offset > long.MaxValue || whence is not (0 or 2 or (uint)Libc.SEEK_DATA or (uint)Libc.SEEK_HOLE))
        {
            return -Errno.EINVAL;
        }
        OpenFile? file = _handles.Borrow(handle, node);
        if (file is null)
        {
            return -Errno.EBADF;
        }
        try
        {
            // A directory handle's position belongs to its DirectoryStream (READDIR resumes from
            // it); SEEK_DATA/HOLE mean nothing on a directory anyway.
            return file.IsDirectory ? -Errno.EINVAL : Libc.Lseek(file.Fd, (long)offset, (int)whence);
        }
        finally
        {
            _handles.Return(file);
        }
    }

    public long CopyFileRange(in RequestContext ctx, NodeId nodeIn, HandleId handleIn, ulong offsetIn,
        NodeId nodeOut, HandleId handleOut, ulong offsetOut, ulong length, ulong flags)
    {
        if (flags != 0)
        {
            return -Errno.EINVAL;
        }
        if (offsetIn > long.MaxValue || offsetOut > long.MaxValue)
        {
            return -Errno.EINVAL;
        }
        OpenFile? input = _handles.Borrow(handleIn, nodeIn);
        if (input is null)
        {
            return -Errno.EBADF;
        }
        OpenFile? output = _handles.Borrow(handleOut, nodeOut);
        try
        {
            if (output is null)
            {
                return -Errno.EBADF;
            }
            return Libc.CopyFileRange(input.Fd, (long)offsetIn, output.Fd, (long)offsetOut, Math.Min(length, long.MaxValue), 0);
        }
        finally
        {
            if (output is not null)
            {
                _handles.Return(output);
            }
            _handles.Return(input);
        }
    }
}
