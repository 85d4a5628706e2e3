using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

// Live migration: a consistent copy of the known nodes on the source; nodes under their own ids on the destination.
internal sealed partial class InodeTable
{
    /// <summary>Whether the guest knows no node but the root (a destination that has served nothing yet).</summary>
    public bool IsFresh
    {
        get
        {
            lock (_lock)
            {
                return _byId.Count == 1;
            }
        }
    }

    /// <summary>Every node but the root with its lookup count, each borrowed (with its fd open, or null if it could not be
    /// opened again: deleted on the host); the caller returns each borrowed one.</summary>
    public List<(NodeId Id, ulong Lookups, Inode? Borrowed, uint FileType, bool IsSubmountRoot)> SnapshotBorrowed()
    {
        List<Inode> nodes;
        lock (_lock)
        {
            nodes = [.. _byId.Values.Where(i => i != _root)];
        }
        var result = new List<(NodeId, ulong, Inode?, uint, bool)>(nodes.Count);
        foreach (Inode inode in nodes)
        {
            ulong lookups;
            lock (_lock)
            {
                lookups = inode.Lookups;
            }
            result.Add((inode.Id, lookups, Borrow(inode.Id), inode.FileType, inode.IsSubmountRoot));
        }
        return result;
    }

    /// <summary>
    /// A node under the id the guest knows it by (the destination, before the guest's first request). The fd passes to
    /// the table; the inode comes back borrowed (give it back with <see cref="Return"/>). The id must be unused.
    /// </summary>
    public Inode Restore(NodeId id, ulong lookups, int fd, InodeKey key, uint fileType, bool isSubmountRoot, FileHandle? handle, int mountFd)
    {
        lock (_lock)
        {
            if (_byId.ContainsKey(id.Value))
            {
                throw new InvalidOperationException($"node {id.Value} restored twice");
            }
            var inode = new Inode(id, key, fd, fileType, isSubmountRoot, handle, handle is null ? -1 : mountFd) { Lookups = lookups };
            inode.Borrows++;
            _byId.Add(id.Value, inode);
            // Two nodes the source knew as distinct may lead to one host inode here (renamed on the source, then
            // another name took its place): the first keeps the key, the second is reachable by id only.
            _byKey.TryAdd(inode);
            _quota?.Add();
            _nextId = Math.Max(_nextId, id.Value + 1);
            _peak = Math.Max(_peak, _byId.Count);
            return inode;
        }
    }

    /// <summary>Node ids up to <paramref name="maxId"/> were the source's: new lookups never reuse them (lost ones included).</summary>
    public void ReserveIds(ulong maxId)
    {
        lock (_lock)
        {
            _nextId = Math.Max(_nextId, maxId + 1);
        }
    }
}
