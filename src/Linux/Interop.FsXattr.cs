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

    /// <summary>getxattr(2) on a path (NUL-free, no terminator); an empty <paramref name="value"/> asks for the size.</summary>
    public static int Getxattr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name, Span<byte> value)
    {
        Span<byte> p = stackalloc byte[PathMax];
        Span<byte> n = stackalloc byte[XattrNameMax + 2];
        int r = ToCString(path, p);
        if (r == 0)
        {
            r = ToCString(name, n);
        }
        if (r < 0)
        {
            return r == -Errno.ENAMETOOLONG ? -Errno.ERANGE : r;
        }
        fixed (byte* pp = p)
        fixed (byte* pn = n)
        fixed (byte* pv = value)
        {
            return (int)Check((long)GetxattrRaw(pp, pn, value.IsEmpty ? null : pv, (nuint)value.Length));
        }
    }

    public static int Setxattr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags)
    {
        Span<byte> p = stackalloc byte[PathMax];
        Span<byte> n = stackalloc byte[XattrNameMax + 2];
        int r = ToCString(path, p);
        if (r == 0)
        {
            r = ToCString(name, n);
        }
        if (r < 0)
        {
            return r == -Errno.ENAMETOOLONG ? -Errno.ERANGE : r;
        }
        fixed (byte* pp = p)
        fixed (byte* pn = n)
        fixed (byte* pv = value)
        {
            return Check(SetxattrRaw(pp, pn, pv, (nuint)value.Length, flags));
        }
    }

    public static int Listxattr(ReadOnlySpan<byte> path, Span<byte> list)
    {
        Span<byte> p = stackalloc byte[PathMax];
        int r = ToCString(path, p);
        if (r < 0)
        {
            return r;
        }
        fixed (byte* pp = p)
        fixed (byte* pl = list)
        {
            return (int)Check((long)ListxattrRaw(pp, list.IsEmpty ? null : pl, (nuint)list.Length));
        }
    }

    public static int Removexattr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name)
    {
        Span<byte> p = stackalloc byte[PathMax];
        Span<byte> n = stackalloc byte[XattrNameMax + 2];
        int r = ToCString(path, p);
        if (r == 0)
        {
            r = ToCString(name, n);
        }
        if (r < 0)
        {
            return r == -Errno.ENAMETOOLONG ? -Errno.ERANGE : r;
        }
        fixed (byte* pp = p)
        fixed (byte* pn = n)
        {
            return Check(RemovexattrRaw(pp, pn));
        }
    }

    public static int Fremovexattr(int fd, ReadOnlySpan<byte> name)
    {
        Span<byte> n = stackalloc byte[XattrNameMax + 2];
        int r = ToCString(name, n);
        if (r < 0)
        {
            return r == -Errno.ENAMETOOLONG ? -Errno.ERANGE : r;
        }
        fixed (byte* pn = n)
        {
            return Check(FremovexattrRaw(fd, pn));
        }
    }
}
