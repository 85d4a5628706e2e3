using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// FUSE node ids to host inodes. Node ids come from a counter (never host inode numbers, which
/// collide across filesystems); a host inode seen again under another name gets the same node id.
/// One lock guards all counts: every operation under it is a dictionary or list access, and fds are
/// opened and closed outside it.
/// </summary>
/// <remarks>
/// Inodes with a file handle hold an fd only while borrowed and, after that, in a cache of at most
/// <c>cacheSize</c> fds (least recently used closed first); a borrow of one without an fd opens it again by
/// handle. So the daemon's fds grow with the requests in flight and the cache, not with the inodes the guest knows.
/// </remarks>
internal sealed partial class InodeTable : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Inode> _byId = new();
    private readonly InodesByKey _byKey = new();
    private readonly InodeFdCache _cache = new();
    private readonly int _cacheSize;
    private readonly Func<Inode, int> _openByHandle;
    private readonly GuestFdQuota? _quota;
    private readonly Inode _root;
    private ulong _nextId = NodeId.Root.Value + 1;

    /// <summary>The most nodes known since the memory was last given back (see <see cref="ShrinkLocked"/>).</summary>
    private int _peak;

    /// <summary>Below this many nodes at the peak, shrinking is not worth a full collection.</summary>
    private const int ShrinkFloor = 65536;

    /// <param name="openByHandle">Opens a handle inode's O_PATH fd again; returns the fd or -errno.</param>
    /// <param name="quota">Counts every inode fd but the root's against the guest's fd quota.</param>
    public InodeTable(int rootFd, InodeKey rootKey, int cacheSize = 0, Func<Inode, int>? openByHandle = null, GuestFdQuota? quota = null)
    {
        _quota = quota;
        _root = new Inode(NodeId.Root, rootKey, rootFd, Libc.S_IFDIR, isSubmountRoot: false) { Lookups = ulong.MaxValue };
        _byId.Add(NodeId.Root.Value, _root);
        _byKey.TryAdd(_root);
        _cacheSize = Math.Max(0, cacheSize);
        _openByHandle = openByHandle ?? (_ => -Errno.ESTALE);
    }

    public Inode Root => _root;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byId.Count;
            }
        }
    }

    /// <summary>Handle inodes whose fd sits in the cache, unborrowed (for tests and diagnostics).</summary>
    public int CachedFds
    {
        get
        {
            lock (_lock)
            {
                return _cache.Count;
            }
        }
    }

    /// <summary>
    /// Takes a reference for the duration of one request, with <see cref="Inode.Fd"/> open; null for an unknown or
    /// forgotten node id, or a handle inode that cannot be opened again (deleted on the host: ESTALE).
    /// </summary>
    public Inode? Borrow(NodeId id)
    {
        Inode? inode;
        lock (_lock)
        {
            if (!_byId.TryGetValue(id.Value, out inode))
            {
                return null;
            }
            TakeLocked(inode);
            if (inode.HeldFd >= 0)
            {
                return inode;
            }
        }
        return Reopen(inode, undoLookup: false);
    }

    /// <summary>
    /// As <see cref="Borrow"/>, without opening a handle inode's fd: <see cref="Inode.HeldFd"/> may be -1, and the caller
    /// then reaches the inode by its handle itself (OPEN opens it with the guest's flags in one open_by_handle_at).
    /// </summary>
    public Inode? BorrowIdentity(NodeId id)
    {
        lock (_lock)
        {
            if (!_byId.TryGetValue(id.Value, out Inode? inode))
            {
                return null;
            }
            TakeLocked(inode);
            return inode;
        }
    }

    /// <summary>Ends a <see cref="Borrow"/> (or the borrow implied by <see cref="AddLookup"/>'s result).</summary>
    public void Return(Inode inode)
    {
        bool close;
        int evict = -1;
        lock (_lock)
        {
            inode.Borrows--;
            close = inode.Dropped && inode.Borrows == 0;
            if (!close && inode.Borrows == 0 && inode.Handle is not null && inode.HeldFd >= 0)
            {
                evict = CacheLocked(inode);
            }
        }
        if (close)
        {
            CloseInode(inode);
        }
        if (evict >= 0)
        {
            Libc.Close(evict);
        }
    }

    /// <summary>
    /// Records one guest lookup of the host inode behind <paramref name="fd"/> (an O_PATH fd whose ownership passes
    /// to the table), with its file <paramref name="handle"/> if it is to be held by handle. A handle inode may come
    /// without an fd (<paramref name="fd"/> -1: found by name without opening it); its first borrower opens it by
    /// handle. Returns the inode, borrowed: the caller must <see cref="Return"/> it.
    /// </summary>
    public Inode AddLookup(int fd, InodeKey key, uint fileType, bool isSubmountRoot, FileHandle? handle = null, int mountFd = -1,
        long birth = 0)
    {
        if (fd < 0 && handle is null)
        {
            throw new ArgumentException("an inode without a file handle needs an fd", nameof(fd));
        }
        Inode inode;
        bool closeNew = false;
        lock (_lock)
        {
            if (_byKey.TryGetValue(key, out Inode? known) && !IsRecycled(known, handle))
            {
                // Same host inode under another name (hard link) or looked up again: one node id.
                inode = known;
                AddLookupLocked(inode);
                TakeLocked(inode);
                if (inode.HeldFd < 0 && fd >= 0)
                {
                    inode.HeldFd = fd; // a handle inode without an fd takes this one instead of opening another
                    _quota?.Add();
                }
                else
                {
                    closeNew = fd >= 0;
                }
            }
            else
            {
                // A known key whose handle differs is a deleted inode whose number the filesystem gave to a new
                // file: the old node keeps its id (its handle now gives ESTALE) but no longer owns the key.
                inode = new Inode(new NodeId(_nextId++), key, fd, fileType, isSubmountRoot, handle, handle is null ? -1 : mountFd, birth)
                {
                    Lookups = 1,
                };
                _byId.Add(inode.Id.Value, inode);
                _byKey.Set(inode);
                inode.Borrows++;
                if (fd >= 0)
                {
                    _quota?.Add();
                }
                _peak = Math.Max(_peak, _byId.Count);
            }
        }
        if (closeNew)
        {
            Libc.Close(fd);
        }
        return inode;
    }

    /// <summary>
    /// Finds a known inode by host identity and adds a lookup to it (borrowed, with its fd open); null if unknown.
    /// A handle inode is found only if its handle is <paramref name="expected"/> (when given) and, with
    /// <paramref name="requirePinned"/>, only while its fd is open: an open fd pins the inode, so the key cannot
    /// belong to a recycled inode number, while an unpinned one's could, unless its <paramref name="birth"/> (non-zero)
    /// is the one it was born with: a recycled number belongs to an inode born later.
    /// </summary>
    /// <remarks>With <paramref name="openFd"/> false the inode comes back borrowed without opening its fd (the caller
    /// needs only the identity, e.g. a LOOKUP answered from the name's statx).</remarks>
    public Inode? AddLookupIfKnown(InodeKey key, bool requirePinned = false, FileHandle? expected = null, long birth = 0,
        bool openFd = true)
    {
        Inode? inode;
        lock (_lock)
        {
            if (!_byKey.TryGetValue(key, out inode))
            {
                return null;
            }
            if (inode.Handle is not null
                && ((expected is not null && !inode.Handle.Equals(expected))
                    || (requirePinned && inode.HeldFd < 0 && (birth == 0 || inode.Birth != birth))))
            {
                return null;
            }
            AddLookupLocked(inode);
            TakeLocked(inode);
            if (inode.HeldFd >= 0 || !openFd)
            {
                return inode;
            }
        }
        return Reopen(inode, undoLookup: true);
    }

    /// <summary>
    /// FORGET: drops <paramref name="count"/> lookups. More than the node has (a hostile or confused
    /// guest) just drops them all; unknown ids and the root are ignored.
    /// </summary>
    public void Forget(NodeId id, ulong count)
    {
        if (id == NodeId.Root || count == 0)
        {
            return;
        }
        Inode? close = null;
        bool shrink = false;
        lock (_lock)
        {
            if (!_byId.TryGetValue(id.Value, out Inode? inode))
            {
                return;
            }
            inode.Lookups = count >= inode.Lookups ? 0 : inode.Lookups - count;
            if (inode.Lookups == 0)
            {
                Drop(inode);
                if (inode.Borrows == 0)
                {
                    close = inode;
                }
                shrink = ShrinkLocked();
            }
        }
        if (close is not null)
        {
            CloseInode(close);
        }
        if (shrink)
        {
            GiveMemoryBack();
        }
    }

    /// <summary>DESTROY: forgets every node except the root.</summary>
    public void Clear()
    {
        List<Inode> close = new();
        bool shrink;
        lock (_lock)
        {
            foreach (Inode inode in _byId.Values.ToList())
            {
                if (inode == _root)
                {
                    continue;
                }
                inode.Lookups = 0;
                Drop(inode);
                if (inode.Borrows == 0)
                {
                    close.Add(inode);
                }
            }
            shrink = ShrinkLocked();
        }
        foreach (Inode inode in close)
        {
            CloseInode(inode);
        }
        if (shrink)
        {
            GiveMemoryBack();
        }
    }

    /// <summary>
    /// After the guest forgot most of a large tree (a quarter of a peak of at least 64 Ki nodes is left), the
    /// dictionaries are trimmed and the caller is told to give the memory back: without it, the heap a walk of a
    /// million files grew (~500 MiB) stays resident after every FORGET.
    /// </summary>
    private bool ShrinkLocked()
    {
        if (_peak < ShrinkFloor || _byId.Count * 4 > _peak)
        {
            return false;
        }
        _byId.TrimExcess();
        _byKey.TrimExcess();
        _peak = _byId.Count;
        return true;
    }

    /// <summary>A compacting, decommitting full collection, at most once per shrink (rare: see <see cref="ShrinkLocked"/>).</summary>
    private static void GiveMemoryBack() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    public void Dispose()
    {
        Clear();
        _root.LocksIfAny?.CloseAll();
        Libc.Close(_root.Fd);
    }

    private static bool IsRecycled(Inode known, FileHandle? handle) =>
        known.Handle is not null && handle is not null && !known.Handle.Equals(handle);

    private static void AddLookupLocked(Inode inode)
    {
        if (inode.Lookups != ulong.MaxValue)
        {
            inode.Lookups++;
        }
    }

    /// <summary>One more borrower; an inode in the fd cache leaves it (borrowed fds are never evicted).</summary>
    private void TakeLocked(Inode inode)
    {
        inode.Borrows++;
        _cache.Remove(inode);
    }

    /// <summary>Puts an unborrowed handle inode's fd into the cache; returns the fd it evicts, or -1.</summary>
    private int CacheLocked(Inode inode)
    {
        _cache.AddLast(inode);
        if (_cache.Count <= _cacheSize)
        {
            return -1;
        }
        Inode oldest = _cache.RemoveFirst()!;
        int fd = oldest.HeldFd;
        oldest.HeldFd = -1;
        _quota?.Remove();
        return fd;
    }

    /// <summary>
    /// Opens a borrowed handle inode's fd (outside the lock). On failure the borrow, and with
    /// <paramref name="undoLookup"/> the lookup just added, are given back and the result is null.
    /// </summary>
    private Inode? Reopen(Inode inode, bool undoLookup)
    {
        int fd = _openByHandle(inode);
        if (fd < 0)
        {
            if (undoLookup)
            {
                Forget(inode.Id, 1);
            }
            Return(inode);
            return null;
        }
        bool extra;
        lock (_lock)
        {
            // Another borrower may have opened it meanwhile; a borrowed inode's fd is never evicted.
            extra = inode.HeldFd >= 0;
            if (!extra)
            {
                inode.HeldFd = fd;
                _quota?.Add();
            }
        }
        if (extra)
        {
            Libc.Close(fd);
        }
        return inode;
    }

    private void Drop(Inode inode)
    {
        inode.Dropped = true;
        _byId.Remove(inode.Id.Value);
        _byKey.RemoveIfHolder(inode);
        _cache.Remove(inode);
    }

    private void CloseInode(Inode inode)
    {
        inode.LocksIfAny?.CloseAll();
        if (inode.HeldFd >= 0)
        {
            Libc.Close(inode.HeldFd);
            inode.HeldFd = -1;
            _quota?.Remove();
        }
    }
}
