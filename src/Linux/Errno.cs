namespace VirtioFsd.Linux;

/// <summary>
/// Linux errno values (asm-generic/errno-base.h and errno.h, x86_64).
/// Syscall wrappers in this library return a negative errno on failure, the kernel's own
/// convention, so failures are values and never exceptions.
/// </summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int E2BIG = 7;
    public const int EBADF = 9;
    public const int ECHILD = 10;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int EXDEV = 18;
    public const int ENODEV = 19;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int ENOTTY = 25;
    public const int ETXTBSY = 26;
    public const int EFBIG = 27;
    public const int ENOSPC = 28;
    public const int ESPIPE = 29;
    public const int EROFS = 30;
    public const int EMLINK = 31;
    public const int EPIPE = 32;
    public const int ERANGE = 34;
    public const int EDEADLK = 35;
    public const int ENAMETOOLONG = 36;
    public const int ENOLCK = 37;
    public const int ENOSYS = 38;
    public const int ENOTEMPTY = 39;
    public const int ELOOP = 40;
    public const int ENODATA = 61;
    public const int EOVERFLOW = 75;
    public const int EPROTO = 71;
    public const int EBADMSG = 74;
    public const int EOPNOTSUPP = 95;
    public const int ENOTSUP = EOPNOTSUPP;
    public const int EADDRINUSE = 98;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    public const int ESTALE = 116;
    public const int EDQUOT = 122;
    public const int ECANCELED = 125;

    /// <summary>Human-readable name for log lines, e.g. "ENOENT (2)".</summary>
    public static string Describe(int errno)
    {
        int e = Math.Abs(errno);
        return $"{System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(e)} ({e})";
    }
}
