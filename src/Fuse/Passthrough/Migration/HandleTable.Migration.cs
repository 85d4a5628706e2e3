namespace VirtioFsd.Fuse.Passthrough;

// Live migration: the open handles on the source; handles under the guest's numbers on the destination.
internal sealed partial class HandleTable
{
    public List<(ulong Id, OpenFile File)> Snapshot()
    {
        lock (_lock)
        {
            return [.. _handles.Select(h => (h.Key, h.Value))];
        }
    }

    /// <summary>A handle under the number the guest uses for it; the file's fd passes to the table. False if the number is taken.</summary>
    public bool Restore(ulong id, OpenFile file)
    {
        lock (_lock)
        {
            if (!_handles.TryAdd(id, file))
            {
                return false;
            }
            _next = Math.Max(_next, id + 1);
        }
        _quota?.Add();
        return true;
    }

    /// <summary>Handle numbers up to <paramref name="maxId"/> were the source's: new opens never reuse them.</summary>
    public void ReserveIds(ulong maxId)
    {
        lock (_lock)
        {
            _next = Math.Max(_next, maxId + 1);
        }
    }
}
