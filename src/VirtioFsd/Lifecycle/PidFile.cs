using System.Globalization;
using System.Text;
using VirtioFsd.Linux;

namespace VirtioFsd.Lifecycle;

/// <summary>
/// PATH.pid next to --socket-path, held with an exclusive flock(2) for the life of the process: a
/// second instance for the same socket fails to take the lock and refuses to start instead of
/// unlinking a socket a live daemon is serving. The lock dies with the process, so a crash never
/// leaves a stale lock behind (only a stale file, which the next instance reuses).
/// </summary>
internal sealed class PidFile : IDisposable
{
    private readonly UnixFd _fd;

    private PidFile(string path, UnixFd fd)
    {
        Path = path;
        _fd = fd;
    }

    public string Path { get; }

    /// <summary>Creates or reuses the file, locks it and writes our pid. Returns 0 or -errno (-EWOULDBLOCK when another instance holds it).</summary>
    public static int TryAcquire(string path, out PidFile? pidFile)
    {
        ArgumentNullException.ThrowIfNull(path);
        pidFile = null;
        // No O_TRUNC: the file may belong to a live instance until we hold the lock.
        int fd = Libc.OpenAbsolute(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC | Libc.O_NOFOLLOW, 0x180); // 0600
        if (fd < 0)
        {
            return fd;
        }
        var owned = new UnixFd(fd);
        int r = Libc.Flock(fd, Libc.LOCK_EX | Libc.LOCK_NB);
        if (r >= 0)
        {
            r = Libc.Ftruncate(fd, 0);
        }
        if (r >= 0)
        {
            byte[] text = Encoding.ASCII.GetBytes(Libc.GetPid().ToString(CultureInfo.InvariantCulture) + "\n");
            long w = Libc.Pwrite(fd, text, 0);
            r = w < 0 ? (int)w : 0;
        }
        if (r < 0)
        {
            owned.Dispose();
            return r;
        }
        pidFile = new PidFile(path, owned);
        return 0;
    }

    /// <summary>Removes the file while still holding the lock (so no other instance sees it half-gone), then unlocks.</summary>
    public void Dispose()
    {
        if (_fd.IsValid)
        {
            Libc.Unlink(Path);
            _fd.Dispose();
        }
    }
}
