using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>File-descriptor operations of the passthrough filesystem: directory reading, sync, space, seeking.</summary>
/// <remarks>
/// Unsafe: every pointer handed to the kernel comes from a <c>fixed</c> span or a local of the
/// wrapper itself, so it stays valid and pinned for exactly the duration of the syscall, and each
/// buffer's length is passed from the same span.
/// </remarks>
public static unsafe partial class Libc
{
    public const int SEEK_SET = 0;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    private const long SYS_getdents64_x64 = 217;
    private const long SYS_getdents64_arm64 = 61;

    [LibraryImport(Lib, EntryPoint = "fstatfs64", SetLastError = true)]
    private static partial int FstatfsRaw(int fd, StatFsBuf* buf);

    [LibraryImport(Lib, EntryPoint = "fsync", SetLastError = true)]
    private static partial int FsyncRaw(int fd);

    [LibraryImport(Lib, EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdatasyncRaw(int fd);

    [LibraryImport(Lib, EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncfsRaw(int fd);

    [LibraryImport(Lib, EntryPoint = "fallocate64", SetLastError = true)]
    private static partial int FallocateRaw(int fd, int mode, long offset, long len);

    [LibraryImport(Lib, EntryPoint = "lseek64", SetLastError = true)]
    private static partial long LseekRaw(int fd, long offset, int whence);

    [LibraryImport(Lib, EntryPoint = "copy_file_range", SetLastError = true)]
    private static partial nint CopyFileRangeRaw(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    [LibraryImport(Lib, EntryPoint = "fchmod", SetLastError = true)]
    private static partial int FchmodRaw(int fd, uint mode);

    [LibraryImport(Lib, EntryPoint = "umask")]
    private static partial uint UmaskRaw(uint mask);

    /// <summary>
    /// getdents64(2) into <paramref name="buffer"/>: packed <c>struct linux_dirent64</c> records
    /// (u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, name NUL). Returns bytes filled, 0 at the end, or -errno.
    /// Called through <c>syscall</c> because older glibc lacks a wrapper.
    /// </summary>
    public static int Getdents64(int fd, Span<byte> buffer)
    {
        long nr = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? SYS_getdents64_arm64 : SYS_getdents64_x64;
        fixed (byte* p = buffer)
        {
            return (int)Check(SyscallRaw(nr, fd, (long)p, buffer.Length, 0, 0, 0));
        }
    }

    public static int Fstatfs(int fd, out StatFsBuf buf)
    {
        buf = default;
        fixed (StatFsBuf* b = &buf)
        {
            return Check(FstatfsRaw(fd, b));
        }
    }

    public static int Fsync(int fd) => Check(FsyncRaw(fd));

    public static int Fdatasync(int fd) => Check(FdatasyncRaw(fd));

    /// <summary>syncfs(2): flushes the whole filesystem the fd lives on.</summary>
    public static int Syncfs(int fd) => Check(SyncfsRaw(fd));

    public static int Fallocate(int fd, int mode, long offset, long length) => Check(FallocateRaw(fd, mode, offset, length));

    public static long Lseek(int fd, long offset, int whence) => Check(LseekRaw(fd, offset, whence));

    /// <summary>copy_file_range(2) with explicit offsets (the fds' own positions are not used or moved).</summary>
    public static long CopyFileRange(int fdIn, long offsetIn, int fdOut, long offsetOut, ulong length, uint flags)
    {
        return Check((long)CopyFileRangeRaw(fdIn, &offsetIn, fdOut, &offsetOut, (nuint)length, flags));
    }

    public static int Fchmod(int fd, uint mode) => Check(FchmodRaw(fd, mode));

    /// <summary>umask(2): process-wide; returns the previous mask.</summary>
    public static uint Umask(uint mask) => UmaskRaw(mask);
}
