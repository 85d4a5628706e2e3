using Serilog;
using VirtioFsd.Linux;

namespace VirtioFsd.VhostUser.Server;

/// <summary>
/// The listening Unix socket a front-end connects to: either bound here to a path (--socket-path), or
/// handed over already listening by the parent (--fd=N, as libvirt and Kata do). Accepts one connection
/// at a time; accepting can be interrupted through a stop eventfd.
/// </summary>
public sealed class VhostUserListener : IDisposable
{
    private readonly UnixFd _fd;
    private readonly string? _boundPath;
    private readonly ILogger _log;

    private VhostUserListener(UnixFd fd, string? boundPath, ILogger log)
    {
        _fd = fd;
        _boundPath = boundPath;
        _log = log;
    }

    public int Fd => _fd.Value;

    /// <summary>The path this listener created (and removes on dispose), or null for an inherited fd.</summary>
    public string? SocketPath => _boundPath;

    /// <summary>
    /// Binds and listens on <paramref name="path"/>. A stale socket file (nobody accepting on it) is removed
    /// first; a path a live daemon is listening on is refused with -EADDRINUSE. <paramref name="afterBind"/>
    /// runs between bind and listen (chown/chmod for --socket-group) so no front-end can connect before
    /// the permissions are final; a negative return from it aborts. Returns 0 or -errno.
    /// </summary>
    public static int TryBind(string path, ILogger log, out VhostUserListener? listener, Func<string, int>? afterBind = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(log);
        listener = null;
        int r = RemoveStaleSocket(path, log);
        if (r < 0)
        {
            return r;
        }
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            return fd;
        }
        var owned = new UnixFd(fd);
        r = Libc.BindUnix(fd, path);
        if (r < 0)
        {
            owned.Dispose();
            return r;
        }
        r = afterBind?.Invoke(path) ?? 0;
        if (r >= 0)
        {
            // Backlog 1: one front-end at a time is all a vhost-user device serves.
            r = Libc.Listen(fd, 1);
        }
        if (r < 0)
        {
            owned.Dispose();
            Libc.Unlink(path);
            return r;
        }
        listener = new VhostUserListener(owned, path, log.ForContext<VhostUserListener>());
        return 0;
    }

    /// <summary>
    /// Adopts an inherited listening socket (--fd=N). Checks it is a listening Unix stream socket, marks it
    /// close-on-exec, and takes ownership. Returns 0 or -errno (ENOTSOCK/EINVAL when it is something else).
    /// </summary>
    public static int TryAdopt(int fd, ILogger log, out VhostUserListener? listener)
    {
        ArgumentNullException.ThrowIfNull(log);
        listener = null;
        int r = Libc.GetSockOptInt(fd, Libc.SOL_SOCKET, Libc.SO_DOMAIN, out int domain);
        if (r < 0)
        {
            return r;
        }
        if (Libc.GetSockOptInt(fd, Libc.SOL_SOCKET, Libc.SO_TYPE, out int type) < 0
            || Libc.GetSockOptInt(fd, Libc.SOL_SOCKET, Libc.SO_ACCEPTCONN, out int accepting) < 0
            || domain != Libc.AF_UNIX || type != Libc.SOCK_STREAM || accepting == 0)
        {
            return -Errno.EINVAL;
        }
        Libc.Fcntl(fd, Libc.F_SETFD, Libc.FD_CLOEXEC);
        listener = new VhostUserListener(new UnixFd(fd), null, log.ForContext<VhostUserListener>());
        return 0;
    }

    /// <summary>
    /// Waits for the next front-end. Returns 0 with the connection, -ECANCELED when <paramref name="stopFd"/>
    /// became readable first, or -errno.
    /// </summary>
    public int Accept(int stopFd, out UnixFd? connection)
    {
        connection = null;
        Span<Libc.PollFd> pfds = stackalloc Libc.PollFd[2];
        while (true)
        {
            pfds[0] = new Libc.PollFd { Fd = _fd.Value, Events = Libc.POLLIN };
            pfds[1] = new Libc.PollFd { Fd = stopFd, Events = Libc.POLLIN };
            int r = Libc.Poll(pfds[..(stopFd >= 0 ? 2 : 1)], -1);
            if (r == -Errno.EINTR)
            {
                continue;
            }
            if (r < 0)
            {
                return r;
            }
            if (stopFd >= 0 && pfds[1].Revents != 0)
            {
                return -Errno.ECANCELED;
            }
            int fd = Libc.Accept4(_fd.Value, Libc.SOCK_CLOEXEC);
            if (fd == -Errno.EINTR || fd == -Errno.EAGAIN || fd == -Libc.ECONNABORTED)
            {
                continue;
            }
            if (fd < 0)
            {
                return fd;
            }
            _log.Information("vhost-user: front-end connected");
            connection = new UnixFd(fd);
            return 0;
        }
    }

    public void Dispose()
    {
        _fd.Dispose();
        if (_boundPath != null)
        {
            Libc.Unlink(_boundPath);
        }
    }

    private static int RemoveStaleSocket(string path, ILogger log)
    {
        int st = Libc.StatxAt(Libc.AT_FDCWD, System.Text.Encoding.UTF8.GetBytes(path), Libc.AT_SYMLINK_NOFOLLOW,
            Libc.STATX_BASIC_STATS, out Statx stat);
        if (st == -Errno.ENOENT)
        {
            return 0;
        }
        if (st < 0)
        {
            return st;
        }
        if ((stat.Mode & Libc.S_IFMT) != Libc.S_IFSOCK)
        {
            // Never delete what is not a socket: a mistyped --socket-path must not cost the user a file.
            log.Error("vhost-user: {Path} exists and is not a socket", path);
            return -Errno.EEXIST;
        }
        int probe = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (probe < 0)
        {
            return probe;
        }
        int r = Libc.ConnectUnix(probe, path);
        Libc.Close(probe);
        if (r == 0)
        {
            log.Error("vhost-user: {Path} is in use by a running back-end", path);
            return -Errno.EADDRINUSE;
        }
        if (r == -Libc.ECONNREFUSED)
        {
            // Left behind by a back-end that died: nobody listens on it any more.
            log.Information("vhost-user: removing stale socket {Path}", path);
            int u = Libc.Unlink(path);
            return u == -Errno.ENOENT ? 0 : u;
        }
        return 0;
    }
}
