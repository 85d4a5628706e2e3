using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// The *at family used by the passthrough filesystem: every path is a single name relative to an
/// O_PATH directory fd, so nothing is ever resolved from the process's root or cwd. Names are given
/// without a terminating NUL; <see cref="CString"/> adds it into a stack buffer (and refuses embedded
/// NULs with -EINVAL, over-long names with -ENAMETOOLONG); each wrapper returns that error before the
/// buffer reaches the kernel, since under SkipLocalsInit it is only written on success.
/// </summary>
/// <remarks>
/// Unsafe: every pointer handed to the kernel comes from a <c>fixed</c> span or a local of the
/// wrapper itself, so it stays valid and pinned for exactly the duration of the syscall, and each
/// buffer's length is passed from the same span.
/// </remarks>
public static unsafe partial class Libc
{
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    public const int AT_EACCESS = 0x200;
    public const int AT_SYMLINK_FOLLOW = 0x400;
    public const int AT_EMPTY_PATH = 0x1000;

    // linux/openat2.h
    public const ulong RESOLVE_NO_XDEV = 0x01;
    public const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    public const ulong RESOLVE_NO_SYMLINKS = 0x04;
    public const ulong RESOLVE_BENEATH = 0x08;

    // linux/stat.h
    public const uint STATX_BASIC_STATS = 0x7ff;
    public const uint STATX_MNT_ID = 0x1000;

    /// <summary>STATX_BTIME (linux/stat.h): the birth time, which tells a recycled inode number from the inode it was.</summary>
    public const uint STATX_BTIME = 0x800;

    public const uint S_IFIFO = 0x1000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFLNK = 0xA000;
    public const uint S_ISUID = 0x800;
    public const uint S_ISGID = 0x400;
    public const uint S_IXGRP = 0x8;

    // linux/fs.h renameat2 flags
    public const uint RENAME_NOREPLACE = 1;
    public const uint RENAME_EXCHANGE = 2;
    public const uint RENAME_WHITEOUT = 4;

    /// <summary>utimensat(2) special nanosecond values (linux/stat.h).</summary>
    public const long UTIME_NOW = (1L << 30) - 1;
    public const long UTIME_OMIT = (1L << 30) - 2;

    // Numbers added after the syscall tables were unified: the same on x86_64 and arm64.
    private const long SYS_openat2 = 437;
    private const long SYS_faccessat2 = 439;

    /// <summary>Longest name or path the wrappers accept (PATH_MAX 4096 including the NUL).</summary>
    private const int PathMax = 4096;

    [LibraryImport(Lib, EntryPoint = "openat", SetLastError = true)]
    private static partial int OpenatRaw(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport(Lib, EntryPoint = "statx", SetLastError = true)]
    private static partial int StatxRaw(int dirfd, byte* path, int flags, uint mask, Statx* buf);

    [LibraryImport(Lib, EntryPoint = "readlinkat", SetLastError = true)]
    private static partial nint ReadlinkatRaw(int dirfd, byte* path, byte* buf, nuint size);

    [LibraryImport(Lib, EntryPoint = "mkdirat", SetLastError = true)]
    private static partial int MkdiratRaw(int dirfd, byte* path, uint mode);

    [LibraryImport(Lib, EntryPoint = "mknodat", SetLastError = true)]
    private static partial int MknodatRaw(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport(Lib, EntryPoint = "symlinkat", SetLastError = true)]
    private static partial int SymlinkatRaw(byte* target, int dirfd, byte* path);

    [LibraryImport(Lib, EntryPoint = "linkat", SetLastError = true)]
    private static partial int LinkatRaw(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport(Lib, EntryPoint = "renameat2", SetLastError = true)]
    private static partial int Renameat2Raw(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, uint flags);

    [LibraryImport(Lib, EntryPoint = "unlinkat", SetLastError = true)]
    private static partial int UnlinkatRaw(int dirfd, byte* path, int flags);

    [LibraryImport(Lib, EntryPoint = "fchmodat", SetLastError = true)]
    private static partial int FchmodatRaw(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport(Lib, EntryPoint = "fchownat", SetLastError = true)]
    private static partial int FchownatRaw(int dirfd, byte* path, uint owner, uint group, int flags);

    [LibraryImport(Lib, EntryPoint = "utimensat", SetLastError = true)]
    private static partial int UtimensatRaw(int dirfd, byte* path, Timespec* times, int flags);

    /// <summary>openat(2) of one name relative to <paramref name="dirfd"/>; returns the fd or -errno.</summary>
    public static int Openat(int dirfd, ReadOnlySpan<byte> name, int flags, uint mode = 0)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        if (r < 0)
        {
            return r;
        }
        fixed (byte* p = c)
        {
            do
            {
                r = Check(OpenatRaw(dirfd, p, flags, mode));
            }
            while (r == -Errno.EINTR);
            return r;
        }
    }

    /// <summary>openat2(2) with RESOLVE_* confinement; returns the fd or -errno (-ENOSYS before Linux 5.6).</summary>
    public static int Openat2(int dirfd, ReadOnlySpan<byte> name, int flags, uint mode, ulong resolve)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        if (r < 0)
        {
            return r;
        }
        // The kernel rejects a mode without O_CREAT/O_TMPFILE in openat2 (EINVAL), unlike openat.
        bool takesMode = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
        OpenHow how = new() { Flags = (ulong)(uint)flags, Mode = takesMode ? mode : 0, Resolve = resolve };
        fixed (byte* p = c)
        {
            long l;
            do
            {
                l = Check(SyscallRaw(SYS_openat2, dirfd, (long)p, (long)&how, sizeof(OpenHow), 0, 0));
            }
            while (l == -Errno.EINTR);
            return (int)l;
        }
    }

    /// <summary>statx(2) of a name relative to <paramref name="dirfd"/> (empty name + AT_EMPTY_PATH: the fd itself).</summary>
    public static int StatxAt(int dirfd, ReadOnlySpan<byte> name, int flags, uint mask, out Statx buf)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        buf = default;
        fixed (byte* p = c)
        fixed (Statx* b = &buf)
        {
            return r < 0 ? r : Check(StatxRaw(dirfd, p, flags, mask, b));
        }
    }

    /// <summary>statx of the fd itself, never following a symlink it refers to.</summary>
    public static int StatxFd(int fd, out Statx buf) =>
        StatxAt(fd, default, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_MNT_ID | STATX_BTIME, out buf);

    /// <summary>readlinkat(2); returns the length written (not NUL-terminated) or -errno.</summary>
    public static int Readlinkat(int dirfd, ReadOnlySpan<byte> name, Span<byte> target)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        fixed (byte* p = c, t = target)
        {
            return r < 0 ? r : (int)Check((long)ReadlinkatRaw(dirfd, p, t, (nuint)target.Length));
        }
    }

    public static int Mkdirat(int dirfd, ReadOnlySpan<byte> name, uint mode)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        fixed (byte* p = c)
        {
            return r < 0 ? r : Check(MkdiratRaw(dirfd, p, mode));
        }
    }

    public static int Mknodat(int dirfd, ReadOnlySpan<byte> name, uint mode, ulong dev)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        fixed (byte* p = c)
        {
            return r < 0 ? r : Check(MknodatRaw(dirfd, p, mode, dev));
        }
    }

    /// <summary>symlinkat(2): the target is stored as given, never resolved.</summary>
    public static int Symlinkat(ReadOnlySpan<byte> target, int dirfd, ReadOnlySpan<byte> name)
    {
        Span<byte> t = stackalloc byte[PathMax], c = stackalloc byte[PathMax];
        int r = CString.Copy(target, t, name, c);
        fixed (byte* pt = t, p = c)
        {
            return r < 0 ? r : Check(SymlinkatRaw(pt, dirfd, p));
        }
    }

    public static int Linkat(int olddirfd, ReadOnlySpan<byte> oldName, int newdirfd, ReadOnlySpan<byte> newName, int flags)
    {
        Span<byte> o = stackalloc byte[PathMax], n = stackalloc byte[PathMax];
        int r = CString.Copy(oldName, o, newName, n);
        fixed (byte* po = o, pn = n)
        {
            return r < 0 ? r : Check(LinkatRaw(olddirfd, po, newdirfd, pn, flags));
        }
    }

    public static int Renameat2(int olddirfd, ReadOnlySpan<byte> oldName, int newdirfd, ReadOnlySpan<byte> newName, uint flags)
    {
        Span<byte> o = stackalloc byte[PathMax], n = stackalloc byte[PathMax];
        int r = CString.Copy(oldName, o, newName, n);
        fixed (byte* po = o, pn = n)
        {
            return r < 0 ? r : Check(Renameat2Raw(olddirfd, po, newdirfd, pn, flags));
        }
    }

    public static int Unlinkat(int dirfd, ReadOnlySpan<byte> name, int flags)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        fixed (byte* p = c)
        {
            return r < 0 ? r : Check(UnlinkatRaw(dirfd, p, flags));
        }
    }

    public static int Fchmodat(int dirfd, ReadOnlySpan<byte> name, uint mode, int flags)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        fixed (byte* p = c)
        {
            return r < 0 ? r : Check(FchmodatRaw(dirfd, p, mode, flags));
        }
    }

    /// <summary>fchownat(2); uint.MaxValue leaves the owner or group unchanged.</summary>
    public static int Fchownat(int dirfd, ReadOnlySpan<byte> name, uint owner, uint group, int flags)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        fixed (byte* p = c)
        {
            return r < 0 ? r : Check(FchownatRaw(dirfd, p, owner, group, flags));
        }
    }

    /// <summary>utimensat(2) with [atime, mtime]; AT_EMPTY_PATH with an empty name acts on the fd itself.</summary>
    public static int Utimensat(int dirfd, ReadOnlySpan<byte> name, Timespec atime, Timespec mtime, int flags)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        Timespec* times = stackalloc Timespec[2];
        times[0] = atime;
        times[1] = mtime;
        fixed (byte* p = c)
        {
            return r < 0 ? r : Check(UtimensatRaw(dirfd, p, times, flags));
        }
    }

    /// <summary>faccessat2(2) (Linux 5.8): honours AT_EACCESS and AT_EMPTY_PATH, unlike the old faccessat.</summary>
    public static int Faccessat2(int dirfd, ReadOnlySpan<byte> name, int mode, int flags)
    {
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        fixed (byte* p = c)
        {
            return r < 0 ? r : (int)Check(SyscallRaw(SYS_faccessat2, dirfd, (long)p, mode, flags, 0, 0));
        }
    }
}
