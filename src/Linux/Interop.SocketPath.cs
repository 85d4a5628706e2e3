using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// Path operations the socket listener needs: remove a stale socket file (unlink(2)), give the socket
/// to a group (chown(2), chmod(2)), and lock a pid file so two daemons never share a socket (flock(2)).
/// </summary>
public static unsafe partial class Libc
{
    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    /// <summary>S_IFMT and S_IFSOCK from sys/stat.h.</summary>
    public const uint S_IFMT = 0xF000;
    public const uint S_IFSOCK = 0xC000;

    [LibraryImport(Lib, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UnlinkRaw(string path);

    [LibraryImport(Lib, EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChmodRaw(string path, uint mode);

    [LibraryImport(Lib, EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChownRaw(string path, uint owner, uint group);

    [LibraryImport(Lib, EntryPoint = "flock", SetLastError = true)]
    private static partial int FlockRaw(int fd, int operation);

    public static int Unlink(string path) => Check(UnlinkRaw(path));

    public static int Chmod(string path, uint mode) => Check(ChmodRaw(path, mode));

    /// <summary>chown(2); pass uint.MaxValue ((uid_t)-1) to leave the owner or group unchanged.</summary>
    public static int Chown(string path, uint owner, uint group) => Check(ChownRaw(path, owner, group));

    /// <summary>flock(2); EINTR is retried (a blocking lock interrupted by a signal).</summary>
    public static int Flock(int fd, int operation)
    {
        int r;
        do
        {
            r = Check(FlockRaw(fd, operation));
        }
        while (r == -Errno.EINTR);
        return r;
    }
}
