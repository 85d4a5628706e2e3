namespace VirtioFsd.Fuse.Passthrough;

internal sealed partial class PosixLockOwners
{
    /// <summary>The open descriptions of every lock owner (where the owners' POSIX locks live), for the migration's lock check.</summary>
    public int[] OwnerFds()
    {
        lock (_lock)
        {
            return [.. _owners.Values.Where(o => !o.Closed).Select(o => o.Fd)];
        }
    }
}
