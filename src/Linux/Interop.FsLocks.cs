namespace VirtioFsd.Linux;

/// <summary>
/// Open-file-description byte-range locks (fcntl F_OFD_*, Linux 3.15): owned by the open file
/// description rather than the process, so a daemon can hold locks for many guest owners at once.
/// </summary>
/// <remarks>
/// Unsafe: every pointer handed to the kernel comes from a <c>fixed</c> span or a local of the
/// wrapper itself, so it stays valid and pinned for exactly the duration of the syscall, and each
/// buffer's length is passed from the same span.
/// </remarks>
public static unsafe partial class Libc
{
    // asm-generic/fcntl.h
    public const int F_OFD_GETLK = 36;
    public const int F_OFD_SETLK = 37;
    public const int F_OFD_SETLKW = 38;
    public const short F_RDLCK = 0;
    public const short F_WRLCK = 1;
    public const short F_UNLCK = 2;

    /// <summary>fcntl(fd, F_OFD_*, &amp;lock). The blocking form returns -EINTR when interrupted (not retried: the caller decides).</summary>
    public static int FcntlLock(int fd, int command, ref Flock lk)
    {
        fixed (Flock* p = &lk)
        {
            return Fcntl(fd, command, (nint)p);
        }
    }
}
