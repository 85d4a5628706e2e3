using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// Extended attributes. The path forms (which act on the final path component without
/// following it when the l-variants are used) serve O_PATH fds through their /proc/self/fd
/// magic link; the f-forms serve real open files.
/// </summary>
/// <remarks>
/// Unsafe: every pointer handed to the kernel comes from a <c>fixed</c> span or a local of the
/// wrapper itself, so it stays valid and pinned for exactly the duration of the syscall, and each
/// buffer's length is passed from the same span.
/// </remarks>
public static unsafe partial class Libc
{
    public const int XATTR_CREATE = 1;
    public const int XATTR_REPLACE = 2;

    /// <summary>XATTR_NAME_MAX (linux/limits.h).</summary>
    public const int XattrNameMax = 255;

    /// <summary>XATTR_LIST_MAX (linux/limits.h): the longest list listxattr returns.</summary>
    public const int XattrListMax = 65536;

    [LibraryImport(Lib, EntryPoint = "getxattr", SetLastError = true)]
    private static partial nint GetxattrRaw(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport(Lib, EntryPoint = "setxattr", SetLastError = true)]
    private static partial int SetxattrRaw(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Lib, EntryPoint = "listxattr", SetLastError = true)]
    private static partial nint ListxattrRaw(byte* path, byte* list, nuint size);

    [LibraryImport(Lib, EntryPoint = "removexattr", SetLastError = true)]
    private static partial int RemovexattrRaw(byte* path, byte* name);

    [LibraryImport(Lib, EntryPoint = "fremovexattr", SetLastError = true)]
    private static partial int FremovexattrRaw(int fd, byte* name);

    [LibraryImport(Lib, EntryPoint = "fgetxattr", SetLastError = true)]
    private static partial nint FgetxattrRaw(int fd, byte* name, byte* value, nuint size);

    [LibraryImport(Lib, EntryPoint = "fsetxattr", SetLastError = true)]
    private static partial int FsetxattrRaw(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Lib, EntryPoint = "flistxattr", SetLastError = true)]
    private static partial nint FlistxattrRaw(int fd, byte* list, nuint size);

    // Linux 6.13 *xattrat syscalls (unified numbers, x86_64 and arm64 alike).
    private const long SYS_setxattrat = 463;
    private const long SYS_getxattrat = 464;
    private const long SYS_listxattrat = 465;
    private const long SYS_removexattrat = 466;

    /// <summary><c>struct xattr_args</c> (linux/xattr.h, 16 bytes).</summary>
    private struct XattrArgs
    {
        public ulong Value;
        public uint Size;
        public uint Flags;
    }

    /// <summary>
    /// An xattr name longer than XATTR_NAME_MAX is -ERANGE (what the kernel answers), not the
    /// -ENAMETOOLONG of <see cref="CString.Copy(ReadOnlySpan{byte}, Span{byte})"/>. The wrappers taking a
    /// path and a name have always mapped it for an over-long path too; kept so.
    /// </summary>
    private static int XattrNameError(int r) => r == -Errno.ENAMETOOLONG ? -Errno.ERANGE : r;

    /// <summary>
    /// getxattrat(2) (Linux 6.13) of a name relative to <paramref name="dirfd"/>; -ENOSYS on older kernels.
    /// An empty <paramref name="value"/> asks for the size.
    /// </summary>
    public static int GetxattrAt(int dirfd, ReadOnlySpan<byte> path, int atFlags, ReadOnlySpan<byte> name, Span<byte> value)
    {
        Span<byte> p = stackalloc byte[PathMax], n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(path, p, name, n);
        fixed (byte* pp = p, pn = n, pv = value)
        {
            XattrArgs args = new() { Value = value.IsEmpty ? 0 : (ulong)pv, Size = (uint)value.Length };
            return r < 0 ? XattrNameError(r) : (int)Check(SyscallRaw(SYS_getxattrat, dirfd, (long)pp, atFlags, (long)pn, (long)&args, sizeof(XattrArgs)));
        }
    }

    /// <summary>setxattrat(2) (Linux 6.13); -ENOSYS on older kernels.</summary>
    public static int SetxattrAt(int dirfd, ReadOnlySpan<byte> path, int atFlags, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags)
    {
        Span<byte> p = stackalloc byte[PathMax], n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(path, p, name, n);
        fixed (byte* pp = p, pn = n, pv = value)
        {
            XattrArgs args = new() { Value = (ulong)pv, Size = (uint)value.Length, Flags = (uint)flags };
            return r < 0 ? XattrNameError(r) : (int)Check(SyscallRaw(SYS_setxattrat, dirfd, (long)pp, atFlags, (long)pn, (long)&args, sizeof(XattrArgs)));
        }
    }

    /// <summary>listxattrat(2) (Linux 6.13); -ENOSYS on older kernels.</summary>
    public static int ListxattrAt(int dirfd, ReadOnlySpan<byte> path, int atFlags, Span<byte> list)
    {
        Span<byte> p = stackalloc byte[PathMax];
        int r = CString.Copy(path, p);
        fixed (byte* pp = p, pl = list)
        {
            return r < 0 ? r : (int)Check(SyscallRaw(SYS_listxattrat, dirfd, (long)pp, atFlags, list.IsEmpty ? 0 : (long)pl, list.Length, 0));
        }
    }

    /// <summary>removexattrat(2) (Linux 6.13); -ENOSYS on older kernels.</summary>
    public static int RemovexattrAt(int dirfd, ReadOnlySpan<byte> path, int atFlags, ReadOnlySpan<byte> name)
    {
        Span<byte> p = stackalloc byte[PathMax], n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(path, p, name, n);
        fixed (byte* pp = p, pn = n)
        {
            return r < 0 ? XattrNameError(r) : (int)Check(SyscallRaw(SYS_removexattrat, dirfd, (long)pp, atFlags, (long)pn, 0, 0));
        }
    }

    public static int Fgetxattr(int fd, ReadOnlySpan<byte> name, Span<byte> value)
    {
        Span<byte> n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(name, n);
        fixed (byte* pn = n, pv = value)
        {
            return r < 0 ? XattrNameError(r) : (int)Check((long)FgetxattrRaw(fd, pn, value.IsEmpty ? null : pv, (nuint)value.Length));
        }
    }

    public static int Fsetxattr(int fd, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags)
    {
        Span<byte> n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(name, n);
        fixed (byte* pn = n, pv = value)
        {
            return r < 0 ? XattrNameError(r) : Check(FsetxattrRaw(fd, pn, pv, (nuint)value.Length, flags));
        }
    }

    public static int Flistxattr(int fd, Span<byte> list)
    {
        fixed (byte* pl = list)
        {
            return (int)Check((long)FlistxattrRaw(fd, list.IsEmpty ? null : pl, (nuint)list.Length));
        }
    }

    /// <summary>getxattr(2) on a path (NUL-free, no terminator); an empty <paramref name="value"/> asks for the size.</summary>
    public static int Getxattr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name, Span<byte> value)
    {
        Span<byte> p = stackalloc byte[PathMax], n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(path, p, name, n);
        fixed (byte* pp = p, pn = n, pv = value)
        {
            return r < 0 ? XattrNameError(r) : (int)Check((long)GetxattrRaw(pp, pn, value.IsEmpty ? null : pv, (nuint)value.Length));
        }
    }

    public static int Setxattr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags)
    {
        Span<byte> p = stackalloc byte[PathMax], n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(path, p, name, n);
        fixed (byte* pp = p, pn = n, pv = value)
        {
            return r < 0 ? XattrNameError(r) : Check(SetxattrRaw(pp, pn, pv, (nuint)value.Length, flags));
        }
    }

    public static int Listxattr(ReadOnlySpan<byte> path, Span<byte> list)
    {
        Span<byte> p = stackalloc byte[PathMax];
        int r = CString.Copy(path, p);
        fixed (byte* pp = p, pl = list)
        {
            return r < 0 ? r : (int)Check((long)ListxattrRaw(pp, list.IsEmpty ? null : pl, (nuint)list.Length));
        }
    }

    public static int Removexattr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name)
    {
        Span<byte> p = stackalloc byte[PathMax], n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(path, p, name, n);
        fixed (byte* pp = p, pn = n)
        {
            return r < 0 ? XattrNameError(r) : Check(RemovexattrRaw(pp, pn));
        }
    }

    public static int Fremovexattr(int fd, ReadOnlySpan<byte> name)
    {
        Span<byte> n = stackalloc byte[XattrNameMax + 2];
        int r = CString.Copy(name, n);
        fixed (byte* pn = n)
        {
            return r < 0 ? XattrNameError(r) : Check(FremovexattrRaw(fd, pn));
        }
    }
}
