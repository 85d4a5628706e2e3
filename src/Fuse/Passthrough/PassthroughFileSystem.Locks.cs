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

    public ValueTask<int> SetLock(in RequestContext ctx, NodeId node, HandleId handle, ulong owner, in FileLock request, bool wait, bool isFlock,
        CancellationToken cancel)
    {
        OpenFile? file = _handles.Borrow(handle, node);
        if (file is null)
        {
            return new(-Errno.EBADF);
        }
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            _handles.Return(file);
            return new(-Errno.ESTALE);
        }
        LockAttempt? attempt = isFlock ? FlockAttempt(file, request, out int r) : PosixAttempt(inode, file, owner, request, out r);
        if (attempt is null)
        {
            ReturnLockBorrows(inode, file);
            return new(r);
        }
        r = attempt.Try();
        if (!wait || !attempt.MayWait || (r != -Errno.EAGAIN && r != -Errno.EACCES))
        {
            attempt.End();
            ReturnLockBorrows(inode, file);
            return new(r);
        }
        return WaitForLock(attempt, inode, file, cancel);
    }

    private void ReturnLockBorrows(Inode inode, OpenFile file)
    {
        _inodes.Return(inode);
        _handles.Return(file);
    }

    /// <summary>The longest pause between two attempts of a waiting lock: how late a released lock can be noticed.</summary>
    private const int LockRetryMaxMs = 20;

    /// <summary>
    /// A waiting lock as non-blocking attempts 1, 2, 4 ... 20 ms apart, with no thread held in between; it ends with
    /// -EINTR once <paramref name="cancel"/> fires. A blocking F_OFD_SETLKW or flock() would hold a thread per waiter
    /// and could be cut short only by a signal to that thread, which the .NET runtime's own signal handling makes
    /// unsafe; a wait that cannot end would hang GET_VRING_BASE and the device reset for ever. The price: no FIFO
    /// order among waiters, and up to 20 ms between release and grant. The file and inode stay borrowed meanwhile.
    /// </summary>
    private async ValueTask<int> WaitForLock(LockAttempt attempt, Inode inode, OpenFile file, CancellationToken cancel)
    {
        try
        {
            int delay = 1;
            while (true)
            {
                if (!await Pause(delay, cancel).ConfigureAwait(false))
                {
                    return -Errno.EINTR;
                }
                int r = attempt.Try();
                if (r != -Errno.EAGAIN && r != -Errno.EACCES)
                {
                    return r;
                }
                delay = Math.Min(delay * 2, LockRetryMaxMs);
            }
        }
        finally
        {
            attempt.End();
            ReturnLockBorrows(inode, file);
        }
    }

    /// <summary>Waits <paramref name="milliseconds"/>; false when <paramref name="cancel"/> fired instead.</summary>
    private static async Task<bool> Pause(int milliseconds, CancellationToken cancel)
    {
        await Task.Delay(milliseconds, cancel).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return !cancel.IsCancellationRequested;
    }

    /// <summary>One lock request as a repeatable non-blocking attempt, and what it holds until it ends.</summary>
    private abstract class LockAttempt
    {
        /// <summary>False for an unlock, which never waits.</summary>
        public abstract bool MayWait { get; }

        /// <summary>One non-blocking try: 0, -EAGAIN/-EACCES while another owner holds a conflicting lock, or -errno.</summary>
        public abstract int Try();

        /// <summary>Gives back what the attempt borrowed; called once.</summary>
        public virtual void End()
        {
        }
    }

    private sealed class FlockLockAttempt(int fd, int operation) : LockAttempt
    {
        public override bool MayWait => operation != Libc.LOCK_UN;

        public override int Try() => Libc.Flock(fd, operation | Libc.LOCK_NB);
    }

    private sealed class PosixLockAttempt(PosixLockOwners locks, PosixLockOwners.Owner description, Flock wanted) : LockAttempt
    {
        private Flock _wanted = wanted;

        public override bool MayWait => _wanted.Type != Libc.F_UNLCK;

        public override int Try() => Libc.FcntlLock(description.Fd, Libc.F_OFD_SETLK, ref _wanted);

        public override void End() => locks.Return(description);
    }

    private static LockAttempt? FlockAttempt(OpenFile file, in FileLock request, out int error)
    {
        error = 0;
        int op = request.Type switch
        {
            (uint)Libc.F_RDLCK => Libc.LOCK_SH,
            (uint)Libc.F_WRLCK => Libc.LOCK_EX,
            (uint)Libc.F_UNLCK => Libc.LOCK_UN,
            _ => -1,
        };
        if (op < 0)
        {
            error = -Errno.EINVAL;
            return null;
        }
        return new FlockLockAttempt(file.Fd, op);
    }

    private PosixLockAttempt? PosixAttempt(Inode inode, OpenFile file, ulong owner, in FileLock request, out int error)
    {
        error = ToFlock(request, out Flock lk);
        if (error < 0)
        {
            return null;
        }
        // fcntl(2): a read lock needs a readable fd, a write lock a writable one, whatever fd the daemon locks with.
        if ((lk.Type == Libc.F_RDLCK && !file.CanRead) || (lk.Type == Libc.F_WRLCK && !file.CanWrite))
        {
            error = -Errno.EBADF;
            return null;
        }
        // Unlocking for an owner that holds nothing here is a no-op, as fcntl would report: no description is opened for it.
        PosixLockOwners.Owner? description = BorrowOwner(inode, owner, request.Pid, file, create: lk.Type != Libc.F_UNLCK, out error);
        return description is null ? null : new PosixLockAttempt(inode.Locks, description, lk);
    }

    /// <summary>The owner's lock description of the inode, borrowed: read-write when the daemon may, else with the handle's access.</summary>
    private PosixLockOwners.Owner? BorrowOwner(Inode inode, ulong owner, uint pid, OpenFile file, bool create, out int error)
    {
        if (!create && inode.LocksIfAny is null)
        {
            // No lock request ever reached this inode: no owner has a description to find.
            error = 0;
            return null;
        }
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
