using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>name_to_handle_at(2) and open_by_handle_at(2): inodes named by file handles instead of held by fds.</summary>
/// <remarks>
/// Unsafe: the struct file_handle buffer is a stack local of the wrapper, MaxBytes past its 8-byte header, and
/// handle_bytes tells the kernel that size, so neither call writes or reads past it; the name is a fixed span.
/// </remarks>
public static unsafe partial class Libc
{
    /// <summary>struct file_handle's header: handle_bytes (u32) and handle_type (int), then f_handle.</summary>
    private const int FileHandleHeader = 8;

    [LibraryImport(Lib, EntryPoint = "name_to_handle_at", SetLastError = true)]
    private static partial int NameToHandleAtRaw(int dirfd, byte* name, byte* handle, int* mountId, int flags);

    [LibraryImport(Lib, EntryPoint = "open_by_handle_at", SetLastError = true)]
    private static partial int OpenByHandleAtRaw(int mountFd, byte* handle, int flags);

    /// <summary>
    /// The file handle of <paramref name="name"/> below <paramref name="dirfd"/> (empty name + AT_EMPTY_PATH: of
    /// the fd itself). Returns 0, or -errno: EOPNOTSUPP where the filesystem cannot export handles, EOVERFLOW for a
    /// handle larger than <see cref="FileHandle.MaxBytes"/>.
    /// </summary>
    public static int NameToHandleAt(int dirfd, ReadOnlySpan<byte> name, int flags, out FileHandle? handle, out int mountId)
    {
        handle = null;
        mountId = 0;
        Span<byte> c = stackalloc byte[PathMax];
        int r = CString.Copy(name, c);
        if (r < 0)
        {
            return r;
        }
        byte* buffer = stackalloc byte[FileHandleHeader + FileHandle.MaxBytes];
        *(uint*)buffer = FileHandle.MaxBytes;
        int mnt;
        fixed (byte* p = c)
        {
            r = Check(NameToHandleAtRaw(dirfd, p, buffer, &mnt, flags));
        }
        if (r < 0)
        {
            return r;
        }
        uint length = *(uint*)buffer;
        if (length > FileHandle.MaxBytes)
        {
            return -Errno.EOVERFLOW;
        }
        handle = new FileHandle(*(int*)(buffer + 4), new ReadOnlySpan<byte>(buffer + FileHandleHeader, (int)length));
        mountId = mnt;
        return 0;
    }

    /// <summary>
    /// Opens the inode <paramref name="handle"/> names on the filesystem of <paramref name="mountFd"/> (a real, not
    /// O_PATH, fd). Needs CAP_DAC_READ_SEARCH (EPERM without); ESTALE when the inode is gone. Returns the fd or -errno.
    /// </summary>
    public static int OpenByHandleAt(int mountFd, FileHandle handle, int flags)
    {
        byte* buffer = stackalloc byte[FileHandleHeader + FileHandle.MaxBytes];
        ReadOnlySpan<byte> bytes = handle.Bytes;
        *(uint*)buffer = (uint)bytes.Length;
        *(int*)(buffer + 4) = handle.Type;
        bytes.CopyTo(new Span<byte>(buffer + FileHandleHeader, bytes.Length));
        int r;
        do
        {
            r = Check(OpenByHandleAtRaw(mountFd, buffer, flags));
        }
        while (r == -Errno.EINTR);
        return r;
    }
}
