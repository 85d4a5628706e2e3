namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// The <see cref="InodeTable"/>'s least-recently-used list of unborrowed handle inodes whose fd stays open, linked
/// through the inodes' own fields: putting an inode in the list allocates nothing, where a LinkedList node cost 48 bytes
/// for every handle inode the guest ever looked up. Guarded by the table's lock.
/// </summary>
internal sealed class InodeFdCache
{
    private Inode? _first;
    private Inode? _last;

    public int Count { get; private set; }

    /// <summary>Appends <paramref name="inode"/> as the most recently used; it must not be in the list.</summary>
    public void AddLast(Inode inode)
    {
        if (inode.InCache)
        {
            throw new InvalidOperationException($"node {inode.Id.Value} is already in the fd cache");
        }
        inode.CachePrevious = _last;
        inode.CacheNext = null;
        if (_last is null)
        {
            _first = inode;
        }
        else
        {
            _last.CacheNext = inode;
        }
        _last = inode;
        inode.InCache = true;
        Count++;
    }

    /// <summary>Takes <paramref name="inode"/> out of the list if it is in it.</summary>
    public void Remove(Inode inode)
    {
        if (!inode.InCache)
        {
            return;
        }
        if (inode.CachePrevious is null)
        {
            _first = inode.CacheNext;
        }
        else
        {
            inode.CachePrevious.CacheNext = inode.CacheNext;
        }
        if (inode.CacheNext is null)
        {
            _last = inode.CachePrevious;
        }
        else
        {
            inode.CacheNext.CachePrevious = inode.CachePrevious;
        }
        inode.CachePrevious = null;
        inode.CacheNext = null;
        inode.InCache = false;
        Count--;
    }

    /// <summary>Takes the least recently used inode out of the list; null when it is empty.</summary>
    public Inode? RemoveFirst()
    {
        Inode? first = _first;
        if (first is not null)
        {
            Remove(first);
        }
        return first;
    }
}
