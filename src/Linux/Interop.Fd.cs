using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>Descriptor basics: close, read/write family, dup, fcntl.</summary>
public static unsafe partial class Libc
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_ACCMODE = 3;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_TRUNC = 0x200;
    public const int O_APPEND = 0x400;
    public const int O_NONBLOCK = 0x800;
    public const int O_DSYNC = 0x1000;
    public const int O_DIRECT = 0x4000;
    public const int O_LARGEFILE = 0x8000;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_NOATIME = 0x40000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_SYNC = 0x101000;
    public const int O_PATH = 0x200000;
    public const int O_TMPFILE = 0x410000;

    public const int F_DUPFD_CLOEXEC = 1030;
    public const int F_GETFD = 1;
    public const int F_SETFD = 2;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int FD_CLOEXEC = 1;

    /// <summary>RWF_NOWAIT (linux/fs.h, 4.14): fail with EAGAIN rather than block.</summary>
    public const int RWF_NOWAIT = 0x00000008;

    /// <summary>POSIX_FADV_DONTNEED (linux/fadvise.h): drop the range's clean pages from the page cache.</summary>
    public const int POSIX_FADV_DONTNEED = 4;

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    private static partial int CloseRaw(int fd);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadRaw(int fd, void* buf, nuint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteRaw(int fd, void* buf, nuint count);

    [LibraryImport(Lib, EntryPoint = "pread64", SetLastError = true)]
    private static partial nint PreadRaw(int fd, void* buf, nuint count, long offset);

    [LibraryImport(Lib, EntryPoint = "pwrite64", SetLastError = true)]
    private static partial nint PwriteRaw(int fd, void* buf, nuint count, long offset);

    [LibraryImport(Lib, EntryPoint = "preadv64", SetLastError = true)]
    private static partial nint PreadvRaw(int fd, IoVec* iov, int iovcnt, long offset);

    [LibraryImport(Lib, EntryPoint = "pwritev64", SetLastError = true)]
    private static partial nint PwritevRaw(int fd, IoVec* iov, int iovcnt, long offset);

    [LibraryImport(Lib, EntryPoint = "preadv64v2", SetLastError = true)]
    private static partial nint Preadv2Raw(int fd, IoVec* iov, int iovcnt, long offset, int flags);

    [LibraryImport(Lib, EntryPoint = "pwritev64v2", SetLastError = true)]
    private static partial nint Pwritev2Raw(int fd, IoVec* iov, int iovcnt, long offset, int flags);

    [LibraryImport(Lib, EntryPoint = "posix_fadvise64")]
    private static partial int FadviseRaw(int fd, long offset, long length, int advice);

    [LibraryImport(Lib, EntryPoint = "dup", SetLastError = true)]
    private static partial int DupRaw(int fd);

    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlRaw(int fd, int cmd, nint arg);

    /// <summary>close(2). EINTR is not retried: on Linux the fd is gone either way.</summary>
    public static int Close(int fd) => Check(CloseRaw(fd));

    public static long Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            long r;
            do
            {
                r = Check((long)ReadRaw(fd, p, (nuint)buffer.Length));
            }
            while (r == -Errno.EINTR);
            return r;
        }
    }

    /// <summary>
    /// A small file (a /proc or /sys value) read whole into <paramref name="buffer"/>: the byte count, or -errno. For
    /// start-up, where File.ReadAllText's stream and decoder set-up cost ~0.3 ms before the socket was ready.
    /// </summary>
    public static int ReadSmallFile(string path, Span<byte> buffer) => ReadAllAndClose(OpenAbsolute(path, O_RDONLY | O_CLOEXEC), buffer);

    /// <summary><see cref="ReadSmallFile"/> for <paramref name="name"/> relative to the directory <paramref name="dirfd"/>.</summary>
    public static int ReadSmallFileAt(int dirfd, ReadOnlySpan<byte> name, Span<byte> buffer) =>
        ReadAllAndClose(Openat(dirfd, name, O_RDONLY | O_CLOEXEC), buffer);

    /// <summary>Reads <paramref name="fd"/> (or passes on its -errno) until end of file or a full buffer, then closes it.</summary>
    private static int ReadAllAndClose(int fd, Span<byte> buffer)
    {
        if (fd < 0)
        {
            return fd;
        }
        int total = 0;
        while (total < buffer.Length)
        {
            long n = Read(fd, buffer[total..]);
            if (n <= 0)
            {
                total = n < 0 ? (int)n : total;
                break;
            }
            total += (int)n;
        }
        Close(fd);
        return total;
    }

    public static long Write(int fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            long r;
            do
            {
                r = Check((long)WriteRaw(fd, p, (nuint)buffer.Length));
            }
            while (r == -Errno.EINTR);
            return r;
        }
    }

    public static long Pread(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* p = buffer)
        {
            return Check((long)PreadRaw(fd, p, (nuint)buffer.Length, offset));
        }
    }

    public static long Pwrite(int fd, ReadOnlySpan<byte> buffer, long offset)
    {
        fixed (byte* p = buffer)
        {
            return Check((long)PwriteRaw(fd, p, (nuint)buffer.Length, offset));
        }
    }

    /// <summary>preadv(2) straight into the given segments (e.g. mapped guest memory).</summary>
    public static long Preadv(int fd, ReadOnlySpan<IoVec> iov, long offset)
    {
        fixed (IoVec* p = iov)
        {
            return Check((long)PreadvRaw(fd, p, iov.Length, offset));
        }
    }

    /// <summary>pwritev(2) straight from the given segments.</summary>
    public static long Pwritev(int fd, ReadOnlySpan<IoVec> iov, long offset)
    {
        fixed (IoVec* p = iov)
        {
            return Check((long)PwritevRaw(fd, p, iov.Length, offset));
        }
    }

    /// <summary>
    /// preadv2(2) (Linux 4.6, glibc 2.26) with RWF_* flags. With <see cref="RWF_NOWAIT"/> it fails with
    /// EAGAIN instead of blocking (data not in the page cache) and may return a short count for
    /// the part that was cached; filesystems without non-blocking reads (tmpfs on 6.18) give EOPNOTSUPP.
    /// </summary>
    public static long Preadv2(int fd, ReadOnlySpan<IoVec> iov, long offset, int flags)
    {
        fixed (IoVec* p = iov)
        {
            return Check((long)Preadv2Raw(fd, p, iov.Length, offset, flags));
        }
    }

    /// <summary>pwritev2(2) with RWF_* flags; buffered RWF_NOWAIT writes are EOPNOTSUPP on ext4 and tmpfs (6.18).</summary>
    public static long Pwritev2(int fd, ReadOnlySpan<IoVec> iov, long offset, int flags)
    {
        fixed (IoVec* p = iov)
        {
            return Check((long)Pwritev2Raw(fd, p, iov.Length, offset, flags));
        }
    }

    /// <summary>posix_fadvise(2); it returns the error number itself (not via errno), made negative here.</summary>
    public static int Fadvise(int fd, long offset, long length, int advice) => -FadviseRaw(fd, offset, length, advice);

    public static int Dup(int fd) => Check(DupRaw(fd));

    public static int Fcntl(int fd, int cmd, nint arg) => Check(FcntlRaw(fd, cmd, arg));

    public static int SetNonBlocking(int fd, bool nonBlocking)
    {
        int flags = Fcntl(fd, F_GETFL, 0);
        if (flags < 0)
        {
            return flags;
        }
        int wanted = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        return wanted == flags ? 0 : Fcntl(fd, F_SETFL, wanted);
    }
}
