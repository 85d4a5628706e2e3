using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough.Migration;

/// <summary>
/// Whether a file is locked, asked through a description of its own: F_OFD_GETLK for a whole-file write lock reports
/// any POSIX or OFD lock (the guest's, held on the daemon's other descriptions, conflict with it), and a non-blocking
/// exclusive flock(2), undone at once, any flock lock. It works in every sandbox (no /proc needed), and cannot tell the
/// guest's locks from a host process's on the same file: both count.
/// </summary>
internal static class LockProbe
{
    /// <summary>True when <paramref name="fd"/>'s file (a fresh, private description) has a lock of anyone on it.</summary>
    public static bool IsLocked(int fd)
    {
        var probe = new Flock { Type = Libc.F_WRLCK, Whence = 0, Start = 0, Len = 0 };
        if (Libc.FcntlLock(fd, Libc.F_OFD_GETLK, ref probe) == 0 && probe.Type != Libc.F_UNLCK)
        {
            return true;
        }
        int r = Libc.Flock(fd, Libc.LOCK_EX | Libc.LOCK_NB);
        if (r == 0)
        {
            Libc.Flock(fd, Libc.LOCK_UN);
            return false;
        }
        return r == -Errno.EAGAIN; // EWOULDBLOCK is EAGAIN on Linux
    }
}
