using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough.Migration;

/// <summary>
/// Whether an open file description holds locks: /proc/PID/fdinfo/N lists each lock held through fd N ("lock:" lines,
/// fs/proc/fd.c seq_show → show_fd_locks), POSIX OFD and flock(2) locks alike. Read relative to the filesystem's
/// /proc/self/fd handle, so it works inside the sandbox too.
/// </summary>
internal static class HeldLocks
{
    /// <summary>Locks held through <paramref name="fd"/>, or -errno when fdinfo cannot be read.</summary>
    public static int Count(int procSelfFd, int fd)
    {
        Span<byte> name = stackalloc byte[32];
        "../fdinfo/"u8.CopyTo(name);
        fd.TryFormat(name[10..], out int digits, provider: System.Globalization.CultureInfo.InvariantCulture);
        int info = Libc.Openat(procSelfFd, name[..(10 + digits)], Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (info < 0)
        {
            return info;
        }
        try
        {
            byte[] text = new byte[16 * 1024];
            int length = 0;
            while (length < text.Length)
            {
                long n = Libc.Read(info, text.AsSpan(length));
                if (n <= 0)
                {
                    break;
                }
                length += (int)n;
            }
            int count = 0;
            foreach (Range line in text.AsSpan(0, length).Split((byte)'\n'))
            {
                if (text.AsSpan(0, length)[line].StartsWith("lock:"u8))
                {
                    count++;
                }
            }
            return count;
        }
        finally
        {
            Libc.Close(info);
        }
    }
}
