using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// How many long-lived fds the guest may make the daemon hold: inode fds (pinned, borrowed or cached) and open
/// file handles. It stays a reserve below the process's fd limit, so that the daemon's own work (a queue restart's
/// ring and eventfds, a new frontend connection, a reopen for OPEN, a log line) always finds a free slot; the guest
/// request that would go past it gets ENFILE, as with the Rust virtiofsd, and nothing else fails.
/// </summary>
internal sealed class GuestFdQuota
{
    private readonly long _limit;
    private long _held;
    private int _logged;

    public GuestFdQuota(long limit) => _limit = limit;

    /// <summary>
    /// The quota for this process: its soft RLIMIT_NOFILE, less the fds it holds already (the runtime's mapped
    /// assemblies, the listening socket, the shared directory: ~100 for a .NET process) and a reserve of 1/16 of the
    /// limit, at least 160: what 17 queues need on a restart (kick, call, ring, stop eventfd each) and a connection.
    /// </summary>
    public static GuestFdQuota ForThisProcess()
    {
        if (Libc.GetRlimit(Libc.RLIMIT_NOFILE, out Libc.RLimit rl) < 0 || rl.Current >= long.MaxValue)
        {
            return new GuestFdQuota(long.MaxValue);
        }
        long soft = (long)rl.Current;
        return new GuestFdQuota(Math.Max(16, soft - OpenFdsNow() - Reserve(soft)));
    }

    /// <summary>The fds kept free for the daemon's own use under a limit of <paramref name="soft"/>.</summary>
    public static long Reserve(long soft) => Math.Max(160, soft / 16);

    private static long OpenFdsNow()
    {
        try
        {
            return Directory.GetFiles("/proc/self/fd").Length;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    public long Limit => _limit;

    public long Held => Interlocked.Read(ref _held);

    /// <summary>Whether one more guest fd fits; false (logged once) when the quota is used up.</summary>
    public bool HasRoom(Serilog.ILogger log)
    {
        if (Interlocked.Read(ref _held) < _limit)
        {
            return true;
        }
        if (Interlocked.Exchange(ref _logged, 1) == 0)
        {
            log.Warning("The guest holds {Held} fds, its quota under the fd limit; further opens get ENFILE until it lets go (raise --rlimit-nofile)", _limit);
        }
        return false;
    }

    public void Add() => Interlocked.Increment(ref _held);

    public void Remove() => Interlocked.Decrement(ref _held);
}
