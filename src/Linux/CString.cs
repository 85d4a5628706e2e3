namespace VirtioFsd.Linux;

/// <summary>
/// Turns a name given without a terminator (as FUSE hands them over) into a NUL-terminated C string
/// in a buffer the caller provides, normally a <c>stackalloc</c> of PATH_MAX or XATTR_NAME_MAX + 2
/// bytes, so the syscall wrappers allocate nothing.
/// </summary>
/// <remarks>
/// <c>[module: SkipLocalsInit]</c> is on (SkipLocalsInit.cs), so the buffer arrives uninitialised.
/// On success the name and its NUL are written and the kernel reads only up to that NUL; on failure
/// nothing is promised about the buffer's contents, so callers must not pass it to the kernel then
/// (every wrapper returns the error before using the pointer).
/// </remarks>
internal static class CString
{
    /// <summary>
    /// Copies <paramref name="name"/> into <paramref name="buffer"/> with a terminating NUL.
    /// Returns 0, -ENAMETOOLONG when the name and its NUL do not fit, or -EINVAL for an embedded NUL
    /// (the kernel would silently cut the name there). Length is checked first.
    /// </summary>
    public static int Copy(ReadOnlySpan<byte> name, Span<byte> buffer)
    {
        if (name.Length >= buffer.Length)
        {
            return -Errno.ENAMETOOLONG;
        }
        if (name.Contains((byte)0))
        {
            return -Errno.EINVAL;
        }
        name.CopyTo(buffer);
        buffer[name.Length] = 0;
        return 0;
    }

    /// <summary>
    /// Copies two names, each into its own buffer; the first failure is returned and the second name is
    /// then not looked at, so the first name's error wins (as the wrappers have always reported it).
    /// </summary>
    public static int Copy(ReadOnlySpan<byte> first, Span<byte> firstBuffer, ReadOnlySpan<byte> second, Span<byte> secondBuffer)
    {
        int r = Copy(first, firstBuffer);
        return r < 0 ? r : Copy(second, secondBuffer);
    }
}
