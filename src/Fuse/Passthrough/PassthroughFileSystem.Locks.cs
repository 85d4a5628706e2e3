using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// GETLK / SETLK / SETLKW. POSIX record locks map each guest lock owner to its own open file
/// description of the inode and use OFD locks on it (see <see cref="PosixLockOwners"/> for why and
/// the limits); flock(2) locks belong to an open file, which is exactly a FUSE handle, so they go
/// on the handle's own fd.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    /// <summary>OFFSET_MAX as the guest sends it for "to end of file" (fuse_file_lock.end).</summary>
    private const ulong LockToEnd = long.MaxValue;

    public int GetLock(in RequestContext ctx, NodeId node, HandleId handle, ulong owner, in FileLock request, out FileLock conflicting)
    {
        conflicting = default;
        int r = ToFlock(request, out Flock lk);
        if (r < 0)
        {
            return r;
        }
        if (lk.Type == Libc.F_UNLCK)
        {
            return -Errno.EINVAL;
        }
        OpenFile? file = _handles.Borrow(handle, node);
        if (file is null)
        {
            return -Errno.EBADF;
        }
        Inode? inode = _inodes.Borrow(node);
        try
        {
            if (inode is null)
            {
                return -Errno.ESTALE;
            }
            PosixLockOwners.Owner? description = BorrowOwner(inode, owner, request.Pid, file, create: true, out r);
            if (description is null)
            {
                return r;
            }
            r = Libc.FcntlLock(description.Fd, Libc.F_OFD_GETLK, ref lk);
            inode.Locks.Return(description);
            if (r < 0)
            {
                return r;
            }
            conflicting = FromFlock(lk);
            if (lk.Type != Libc.F_UNLCK)
            {
                // -1 marks an OFD lock (ours): name the other owner if it is unambiguous. A host
                // process's lock carries a host pid, meaningless in the guest.
                conflicting.Pid = inode.Locks.GuessPidOfOther(owner);
            }
            return 0;
        }
        finally
        {
            if (inode is not null)
            {
                _inodes.Return(inode);
            }
            _handles.Return(file);
        }
    }

    public int SetLock(in RequestContext ctx, NodeId node, HandleId handle, ulong owner, in FileLock request, bool wait, bool isFlock,
        CancellationToken cancel = default)
    {
        OpenFile? file = _handles.Borrow(handle, node);
        if (file is null)
        {
            return -Errno.EBADF;
        }
        Inode? inode = _inodes.Borrow(node);
        try
        {
            if (inode is null)
            {
                return -Errno.ESTALE;
            }
            return isFlock ? SetFlock(file, request, wait, cancel) : SetPosixLock(inode, file, owner, request, wait, cancel);
        }
        finally
        {
            if (inode is not null)
            {
                _inodes.Return(inode);
            }
            _handles.Return(file);
        }
    }

    private static int SetFlock(OpenFile file, in FileLock request, bool wait, CancellationToken cancel)
    {
        int op = request.Type switch
        {
            (uint)Libc.F_RDLCK => Libc.LOCK_SH,
            (uint)Libc.F_WRLCK => Libc.LOCK_EX,
            (uint)Libc.F_UNLCK => Libc.LOCK_UN,
            _ => -1,
        };
        if (op < 0)
        {
            return -Errno.EINVAL;
        }
        if (!wait || op == Libc.LOCK_UN)
        {
            return Libc.Flock(file.Fd, op | Libc.LOCK_NB);
        }
        int fd = file.Fd;
        return WaitForLock(() => Libc.Flock(fd, op | Libc.LOCK_NB), cancel);
    }

    /// <summary>The longest pause between two attempts of a waiting lock: how late a released lock can be noticed.</summary>
    private const int LockRetryMaxMs = 20;

    /// <summary>
    /// A waiting lock as a polling loop of non-blocking attempts (1, 2, 4 ... 20 ms apart) that ends
    /// with -EINTR when <paramref name="cancel"/> fires. A blocking F_OFD_SETLKW or flock() could only
    /// be cut short by a signal to the waiting thread, which the .NET runtime's own signal handling
    /// makes unsafe; a wait that cannot end would hang GET_VRING_BASE and the device reset for ever.
    /// The price: no FIFO order among waiters, and up to 20 ms between release and grant.
    /// </summary>
    private static int WaitForLock(Func<int> attempt, CancellationToken cancel)
    {
        int delay = 1;
        while (true)
        {
            int r = attempt();
            if (r != -Errno.EAGAIN && r != -Errno.EACCES)
            {
                return r;
            }
            if (cancel.WaitHandle.WaitOne(delay))
            {
                return -Errno.EINTR;
            }
            delay = Math.Min(delay * 2, LockRetryMaxMs);
        }
    }

    private int SetPosixLock(Inode inode, OpenFile file, ulong owner, in FileLock request, bool wait, CancellationToken cancel)
    {
        int r = ToFlock(request, out Flock lk);
        if (r < 0)
        {
            return r;
        }
        // fcntl(2): a read lock needs a readable fd, a write lock a writable one, whatever fd the daemon locks with.
        if ((lk.Type == Libc.F_RDLCK && !file.CanRead) || (lk.Type == Libc.F_WRLCK && !file.CanWrite))
        {
            return -Errno.EBADF;
        }
        // Unlocking for an owner that holds nothing here is a no-op, as fcntl would report: no description is opened for it.
        PosixLockOwners.Owner? description = BorrowOwner(inode, owner, request.Pid, file, create: lk.Type != Libc.F_UNLCK, out r);
        if (description is null)
        {
            return r;
        }
        try
        {
            if (!wait || lk.Type == Libc.F_UNLCK)
            {
                return Libc.FcntlLock(description.Fd, Libc.F_OFD_SETLK, ref lk);
            }
            int fd = description.Fd;
            Flock wanted = lk;
            return WaitForLock(() => Libc.FcntlLock(fd, Libc.F_OFD_SETLK, ref wanted), cancel);
        }
        finally
        {
            inode.Locks.Return(description);
        }
    }

    /// <summary>The owner's lock description of the inode, borrowed: read-write when the daemon may, else with the handle's access.</summary>
    private PosixLockOwners.Owner? BorrowOwner(Inode inode, ulong owner, uint pid, OpenFile file, bool create, out int error)
    {
        return inode.Locks.Borrow(owner, pid, create, () =>
        {
            int fd = OpenVerified(inode, Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_NOCTTY);
            return fd >= 0 ? fd : OpenVerified(inode, (file.Flags & Libc.O_ACCMODE) | Libc.O_NONBLOCK | Libc.O_NOCTTY);
        }, out error);
    }

    /// <summary>fuse_file_lock (inclusive end, OFFSET_MAX = to EOF) to struct flock (start + length, 0 = to EOF).</summary>
    private static int ToFlock(in FileLock request, out Flock lk)
    {
        lk = default;
        if (request.Type is not ((uint)Libc.F_RDLCK or (uint)Libc.F_WRLCK or (uint)Libc.F_UNLCK))
        {
            return -Errno.EINVAL;
        }
        if (request.Start > long.MaxValue || request.End < request.Start)
        {
            return -Errno.EINVAL;
        }
        lk.Type = (short)request.Type;
        lk.Whence = Libc.SEEK_SET;
        lk.Start = (long)request.Start;
        lk.Len = request.End >= LockToEnd ? 0 : (long)(request.End - request.Start + 1);
        // l_pid must be 0 for OFD locks (fcntl(2)).
        lk.Pid = 0;
        return 0;
    }

    private static FileLock FromFlock(in Flock lk)
    {
        if (lk.Type == Libc.F_UNLCK)
        {
            return new FileLock { Type = (uint)Libc.F_UNLCK };
        }
        ulong start = (ulong)lk.Start;
        ulong end = lk.Len == 0 ? LockToEnd : start + (ulong)lk.Len - 1;
        return new FileLock { Start = start, End = end, Type = (uint)lk.Type };
    }
}
