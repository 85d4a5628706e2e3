using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// The size of a file about to be mapped as guest memory. Touching a MAP_SHARED page past the end
/// of its file raises SIGBUS, which would kill the daemon, so a region must fit in its file.
/// </summary>
public static unsafe partial class Libc
{
    private const int SeekCurForMapping = 1; // SEEK_CUR (unistd.h)
    private const int SeekEndForMapping = 2; // SEEK_END (unistd.h)

    [LibraryImport(Lib, EntryPoint = "lseek64", SetLastError = true)]
    private static partial long LseekForMappingRaw(int fd, long offset, int whence);

    /// <summary>
    /// Size of the file behind <paramref name="fd"/> (memfd, hugetlbfs or tmpfs file) or -errno
    /// (ESPIPE for something that has no size). The file offset is put back afterwards because
    /// the open file description is shared with the frontend.
    /// </summary>
    public static long MappableFileSize(int fd)
    {
        long current = Check(LseekForMappingRaw(fd, 0, SeekCurForMapping));
        if (current < 0)
        {
            return current;
        }
        long end = Check(LseekForMappingRaw(fd, 0, SeekEndForMapping));
        LseekForMappingRaw(fd, current, 0 /* SEEK_SET */);
        return end;
    }
}
