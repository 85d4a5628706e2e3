using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// Mount-namespace plumbing for the sandbox: mount(2), umount2(2), pivot_root(2), chroot(2),
/// chdir(2)/fchdir(2) and an open(2) of an absolute path. Constants from linux/mount.h (x86_64).
/// </summary>
public static unsafe partial class Libc
{
    public const ulong MS_RDONLY = 1;
    public const ulong MS_NOSUID = 2;
    public const ulong MS_NODEV = 4;
    public const ulong MS_NOEXEC = 8;
    public const ulong MS_REMOUNT = 32;
    public const ulong MS_BIND = 4096;
    public const ulong MS_REC = 16384;
    public const ulong MS_PRIVATE = 1 << 18;
    public const ulong MS_SLAVE = 1 << 19;
    public const ulong MS_RELATIME = 1 << 21;

    /// <summary>umount2 flag: lazy detach (linux/fs.h MNT_DETACH = 2).</summary>
    public const int MNT_DETACH = 2;

    /// <summary>__NR_pivot_root on x86_64 (glibc has no wrapper).</summary>
    private const long SysPivotRoot = 155;

    [LibraryImport(Lib, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SbMountRaw(string? source, string target, string? fsType, ulong flags, nint data);

    [LibraryImport(Lib, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SbUmount2Raw(string target, int flags);

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long SbSyscallPivotRaw(long number, string newRoot, string putOld);

    [LibraryImport(Lib, EntryPoint = "chroot", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SbChrootRaw(string path);

    [LibraryImport(Lib, EntryPoint = "chdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SbChdirRaw(string path);

    [LibraryImport(Lib, EntryPoint = "fchdir", SetLastError = true)]
    private static partial int SbFchdirRaw(int fd);

    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SbOpenRaw(string path, int flags, uint mode);

    public static int Mount(string? source, string target, string? fsType, ulong flags) =>
        Check(SbMountRaw(source, target, fsType, flags, 0));

    /// <summary>mount(2) with a filesystem-specific option string (e.g. FUSE's "fd=N,rootmode=40000,...").</summary>
    public static int Mount(string? source, string target, string fsType, ulong flags, string data)
    {
        byte[] bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(data) + 1];
        System.Text.Encoding.UTF8.GetBytes(data, bytes);
        // Sound: the NUL-terminated copy is pinned for the call; the kernel copies the page of options in.
        fixed (byte* p = bytes)
        {
            return Check(SbMountRaw(source, target, fsType, flags, (nint)p));
        }
    }

    public static int Umount2(string target, int flags) => Check(SbUmount2Raw(target, flags));

    /// <summary>pivot_root(2) through syscall(2); "." for both arguments stacks the old root under the new one.</summary>
    public static int PivotRoot(string newRoot, string putOld) => (int)Check(SbSyscallPivotRaw(SysPivotRoot, newRoot, putOld));

    public static int Chroot(string path) => Check(SbChrootRaw(path));

    public static int Chdir(string path) => Check(SbChdirRaw(path));

    public static int Fchdir(int fd) => Check(SbFchdirRaw(fd));

    /// <summary>open(2) of a path (for start-up: the shared directory, /proc/self/fd, a pid file); retries EINTR.</summary>
    public static int OpenAbsolute(string path, int flags, uint mode = 0)
    {
        int r;
        do
        {
            r = Check(SbOpenRaw(path, flags, mode));
        }
        while (r == -Errno.EINTR);
        return r;
    }
}
