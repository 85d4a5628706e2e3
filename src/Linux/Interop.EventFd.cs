using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>eventfd(2): the kick and call notifications of vhost-user virtqueues.</summary>
public static unsafe partial class Libc
{
    public const int EFD_SEMAPHORE = 1;
    public const int EFD_CLOEXEC = O_CLOEXEC;
    public const int EFD_NONBLOCK = O_NONBLOCK;

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFdRaw(uint initval, int flags);

    public static int EventFd(uint initialValue, int flags) => Check(EventFdRaw(initialValue, flags));

    /// <summary>Adds <paramref name="value"/> to the eventfd counter (wakes a reader).</summary>
    public static long EventFdWrite(int fd, ulong value = 1)
    {
        long r;
        do
        {
            r = Check((long)WriteRaw(fd, &value, sizeof(ulong)));
        }
        while (r == -Errno.EINTR);
        return r;
    }

    /// <summary>Reads and resets the counter; returns the value or -errno (EAGAIN when nonblocking and zero).</summary>
    public static long EventFdRead(int fd, out ulong value)
    {
        ulong v = 0;
        long r;
        do
        {
            r = Check((long)ReadRaw(fd, &v, sizeof(ulong)));
        }
        while (r == -Errno.EINTR);
        value = v;
        return r;
    }
}
