using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// POSIX record locks of one inode, one open file description (OFD) per guest lock owner.
/// </summary>
/// <remarks>
/// The guest sends, with every GETLK/SETLK/SETLKW, the lock owner of the caller (the kernel's
/// fl_owner: one per process's file table) and with FLUSH the owner whose fd is being closed.
/// POSIX locks belong to (process, inode), not to an fd: the same owner never conflicts with itself,
/// even through two opens, and any close by the owner drops all of its locks on that file.
/// Open-file-description locks (F_OFD_*) have exactly that shape when each owner gets its own
/// description of the inode: so the daemon opens one per (inode, owner), takes the owner's locks
/// on it, and closes it on FLUSH. Two owners therefore conflict as two processes would, on the
/// host too (OFD locks and classic POSIX locks of host processes see each other).
/// Limits: no deadlock detection (EDEADLK) across owners, as OFD locks have none; a write lock
/// needs the daemon to be able to open the file read-write.
/// </remarks>
internal sealed class PosixLockOwners
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Owner> _owners = new();

    /// <summary>One owner's description. Borrowed while a lock call uses its fd, so a racing FLUSH cannot close it (and let the number be reused) under the call.</summary>
    internal sealed class Owner(int fd)
    {
        public int Fd { get; } = fd;

        /// <summary>The guest pid that last locked through this owner, reported by GETLK.</summary>
        public uint Pid { get; set; }

        internal int Borrows;

        internal bool Closed;
    }

    /// <summary>
    /// Borrows the owner's description, opened on first use by <paramref name="open"/> (fd or -errno)
    /// when <paramref name="create"/>; null with <paramref name="error"/> 0 if it has none and none was wanted.
    /// </summary>
    public Owner? Borrow(ulong owner, uint pid, bool create, Func<int> open, out int error)
    {
        error = 0;
        lock (_lock)
        {
            if (_owners.TryGetValue(owner, out Owner? known))
            {
                if (pid != 0)
                {
                    known.Pid = pid;
                }
                known.Borrows++;
                return known;
            }
            if (!create)
            {
                return null;
            }
            int fd = open();
            if (fd < 0)
            {
                error = fd;
                return null;
            }
            Owner added = new(fd) { Pid = pid, Borrows = 1 };
            _owners.Add(owner, added);
            return added;
        }
    }

    public void Return(Owner owner)
    {
        bool close;
        lock (_lock)
        {
            owner.Borrows--;
            close = owner.Closed && owner.Borrows == 0;
        }
        if (close)
        {
            Libc.Close(owner.Fd);
        }
    }

    /// <summary>
    /// The pid to report for a conflicting lock held through this daemon: the only other owner's
    /// pid when there is exactly one, else 0 (unknown), since an OFD lock does not say which description holds it.
    /// </summary>
    public uint GuessPidOfOther(ulong owner)
    {
        lock (_lock)
        {
            uint pid = 0;
            int others = 0;
            foreach (KeyValuePair<ulong, Owner> kv in _owners)
            {
                if (kv.Key != owner)
                {
                    others++;
                    pid = kv.Value.Pid;
                }
            }
            return others == 1 ? pid : 0;
        }
    }

    /// <summary>FLUSH: closing the owner's description drops all its locks on the inode, as close(2) would.</summary>
    public void Close(ulong owner)
    {
        Owner? close = null;
        lock (_lock)
        {
            if (_owners.Remove(owner, out Owner? known))
            {
                known.Closed = true;
                if (known.Borrows == 0)
                {
                    close = known;
                }
            }
        }
        if (close is not null)
        {
            Libc.Close(close.Fd);
        }
    }

    public void CloseAll()
    {
        List<Owner> close = new();
        lock (_lock)
        {
            foreach (Owner o in _owners.Values)
            {
                o.Closed = true;
                if (o.Borrows == 0)
                {
                    close.Add(o);
                }
            }
            _owners.Clear();
        }
        foreach (Owner o in close)
        {
            Libc.Close(o.Fd);
        }
    }
}
