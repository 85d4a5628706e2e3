using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// FUSE node ids to host inodes. Node ids come from a counter (never host inode numbers, which
/// collide across filesystems); a host inode seen again under another name gets the same node id.
/// One lock guards all counts: every operation under it is a dictionary access, and fds are closed
/// outside it.
/// </summary>
internal sealed class InodeTable : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Inode> _byId = new();
    private readonly Dictionary<InodeKey, Inode> _byKey = new();
    private readonly Inode _root;
    private ulong _nextId = NodeId.Root.Value + 1;

    public InodeTable(int rootFd, InodeKey rootKey)
    {
        _root = new Inode(NodeId.Root, rootKey, rootFd, Libc.S_IFDIR, isSubmountRoot: false) { Lookups = ulong.MaxValue };
        _byId.Add(NodeId.Root.Value, _root);
        _byKey.Add(rootKey, _root);
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

    /// <summary>Takes a reference for the duration of one request; null for an unknown or forgotten node id.</summary>
    public Inode? Borrow(NodeId id)
    {
        lock (_lock)
        {
            if (!_byId.TryGetValue(id.Value, out Inode? inode))
            {
                return null;
            }
            inode.Borrows++;
            return inode;
        }
    }

    /// <summary>Ends a <see cref="Borrow"/> (or the borrow implied by <see cref="AddLookup"/>'s result).</summary>
    public void Return(Inode inode)
    {
        bool close;
        lock (_lock)
        {
            inode.Borrows--;
            close = inode.Dropped && inode.Borrows == 0;
        }
        if (close)
        {
            CloseInode(inode);
        }
    }

    /// <summary>
    /// Records one guest lookup of the host inode behind <paramref name="fd"/> (an O_PATH fd whose
    /// ownership passes to the table). Returns the inode, borrowed: the caller must <see cref="Return"/> it.
    /// </summary>
    public Inode AddLookup(int fd, InodeKey key, uint fileType, bool isSubmountRoot)
    {
        Inode inode;
        bool closeNew = false;
        lock (_lock)
        {
            if (_byKey.TryGetValue(key, out Inode? known))
            {
                // Same host inode under another name (hard link) or looked up again: one node id.
                inode = known;
                if (inode.Lookups != ulong.MaxValue)
                {
                    inode.Lookups++;
                }
                closeNew = true;
            }
            else
            {
                inode = new Inode(new NodeId(_nextId++), key, fd, fileType, isSubmountRoot) { Lookups = 1 };
                _byId.Add(inode.Id.Value, inode);
                _byKey.Add(key, inode);
            }
            inode.Borrows++;
        }
        if (closeNew)
        {
            Libc.Close(fd);
        }
        return inode;
    }

    /// <summary>Finds a known inode by host identity and adds a lookup to it (borrowed); null if unknown.</summary>
    public Inode? AddLookupIfKnown(InodeKey key)
    {
        lock (_lock)
        {
            if (!_byKey.TryGetValue(key, out Inode? inode))
            {
                return null;
            }
            if (inode.Lookups != ulong.MaxValue)
            {
                inode.Lookups++;
            }
            inode.Borrows++;
            return inode;
        }
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
            }
        }
        if (close is not null)
        {
            CloseInode(close);
        }
    }

    /// <summary>DESTROY: forgets every node except the root.</summary>
    public void Clear()
    {
        List<Inode> close = new();
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
        }
        foreach (Inode inode in close)
        {
            CloseInode(inode);
        }
    }

    public void Dispose()
    {
        Clear();
        _root.Locks.CloseAll();
        Libc.Close(_root.Fd);
    }

    private void Drop(Inode inode)
    {
        inode.Dropped = true;
        _byId.Remove(inode.Id.Value);
        _byKey.Remove(inode.Key);
    }

    private static void CloseInode(Inode inode)
    {
        inode.Locks.CloseAll();
        Libc.Close(inode.Fd);
    }
}
