using System.Runtime.InteropServices;
using System.Text;

namespace VirtioFsd.Linux;

/// <summary>
/// Unix stream sockets (socket(2), bind(2), listen(2), accept4(2), connect(2), getsockopt(2)):
/// the vhost-user control channel. Values from x86_64 sys/socket.h and linux/un.h.
/// </summary>
public static unsafe partial class Libc
{
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_CLOEXEC = O_CLOEXEC;
    public const int SOCK_NONBLOCK = O_NONBLOCK;
    public const int SOL_SOCKET = 1;
    public const int SO_TYPE = 3;
    public const int SO_DOMAIN = 39;
    public const int SO_ACCEPTCONN = 30;
    public const int SHUT_RDWR = 2;

    // Socket errnos not (yet) in Errno.cs (asm-generic/errno.h).
    public const int ECONNABORTED = 103;
    public const int ECONNREFUSED = 111;

    /// <summary>sizeof(sockaddr_un.sun_path) (linux/un.h UNIX_PATH_MAX = 108), terminating NUL included.</summary>
    public const int UnixPathMax = 108;

    /// <summary><c>struct sockaddr_un</c>: a family and a NUL-terminated path.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SockAddrUn
    {
        public ushort Family;
        public fixed byte Path[UnixPathMax];
    }

    [LibraryImport(Lib, EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketRaw(int domain, int type, int protocol);

    [LibraryImport(Lib, EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketPairRaw(int domain, int type, int protocol, int* sv);

    [LibraryImport(Lib, EntryPoint = "bind", SetLastError = true)]
    private static partial int BindRaw(int fd, SockAddrUn* addr, uint len);

    [LibraryImport(Lib, EntryPoint = "connect", SetLastError = true)]
    private static partial int ConnectRaw(int fd, SockAddrUn* addr, uint len);

    [LibraryImport(Lib, EntryPoint = "listen", SetLastError = true)]
    private static partial int ListenRaw(int fd, int backlog);

    [LibraryImport(Lib, EntryPoint = "accept4", SetLastError = true)]
    private static partial int Accept4Raw(int fd, void* addr, uint* len, int flags);

    [LibraryImport(Lib, EntryPoint = "shutdown", SetLastError = true)]
    private static partial int ShutdownRaw(int fd, int how);

    [LibraryImport(Lib, EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOptRaw(int fd, int level, int name, void* value, uint* len);

    public static int Socket(int domain, int type, int protocol) => Check(SocketRaw(domain, type, protocol));

    /// <summary>socketpair(2) of two connected Unix stream sockets; -errno on failure.</summary>
    public static int SocketPair(int type, out int fd0, out int fd1)
    {
        int* sv = stackalloc int[2];
        int r = Check(SocketPairRaw(AF_UNIX, type, 0, sv));
        fd0 = r < 0 ? -1 : sv[0];
        fd1 = r < 0 ? -1 : sv[1];
        return r;
    }

    /// <summary>bind(2) to a filesystem Unix socket path; -ENAMETOOLONG if it does not fit sun_path.</summary>
    public static int BindUnix(int fd, string path)
    {
        SockAddrUn addr;
        int r = FillSockAddr(&addr, path);
        return r < 0 ? r : Check(BindRaw(fd, &addr, (uint)sizeof(SockAddrUn)));
    }

    /// <summary>connect(2) to a filesystem Unix socket path (retries EINTR).</summary>
    public static int ConnectUnix(int fd, string path)
    {
        SockAddrUn addr;
        int r = FillSockAddr(&addr, path);
        if (r < 0)
        {
            return r;
        }
        do
        {
            r = Check(ConnectRaw(fd, &addr, (uint)sizeof(SockAddrUn)));
        }
        while (r == -Errno.EINTR);
        return r;
    }

    public static int Listen(int fd, int backlog) => Check(ListenRaw(fd, backlog));

    /// <summary>accept4(2) without the peer address; returns the new fd or -errno.</summary>
    public static int Accept4(int fd, int flags) => Check(Accept4Raw(fd, null, null, flags));

    public static int Shutdown(int fd, int how) => Check(ShutdownRaw(fd, how));

    /// <summary>getsockopt(2) for an int-valued option; returns 0 or -errno.</summary>
    public static int GetSockOptInt(int fd, int level, int name, out int value)
    {
        int v = 0;
        uint len = sizeof(int);
        int r = Check(GetSockOptRaw(fd, level, name, &v, &len));
        value = v;
        return r;
    }

    private static int FillSockAddr(SockAddrUn* addr, string path)
    {
        *addr = default;
        addr->Family = AF_UNIX;
        int bytes = Encoding.UTF8.GetByteCount(path);
        if (bytes == 0 || bytes >= UnixPathMax || path.Contains('\0', StringComparison.Ordinal))
        {
            return bytes == 0 || bytes >= UnixPathMax ? -Errno.ENAMETOOLONG : -Errno.EINVAL;
        }
        // Writing at most UnixPathMax - 1 bytes into the fixed buffer; the zeroed struct supplies the NUL.
        Encoding.UTF8.GetBytes(path, new Span<byte>(addr->Path, UnixPathMax - 1));
        return 0;
    }
}
