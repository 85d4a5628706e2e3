using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>memfd_create(2), mmap(2), munmap(2), ftruncate(2): guest memory shared with QEMU.</summary>
public static unsafe partial class Libc
{
    public const int PROT_NONE = 0;
    public const int PROT_READ = 1;
    public const int PROT_WRITE = 2;
    public const int MAP_SHARED = 0x01;
    public const int MAP_PRIVATE = 0x02;
    public const int MAP_FIXED = 0x10;
    public const int MAP_ANONYMOUS = 0x20;
    public const int MAP_NORESERVE = 0x4000;
    public const int MAP_POPULATE = 0x8000;
    public const uint MFD_CLOEXEC = 1;
    public const uint MFD_ALLOW_SEALING = 2;

    // fcntl(2) file sealing (linux/fcntl.h: F_LINUX_SPECIFIC_BASE 1024 + 9 / + 10).
    public const int F_ADD_SEALS = 1033;
    public const int F_GET_SEALS = 1034;
    public const int F_SEAL_SEAL = 0x1;
    public const int F_SEAL_SHRINK = 0x2;
    public const int F_SEAL_GROW = 0x4;

    /// <summary>MAP_FAILED is (void*)-1.</summary>
    public static readonly nint MapFailed = -1;

    [LibraryImport(Lib, EntryPoint = "mmap64", SetLastError = true)]
    private static partial nint MmapRaw(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Lib, EntryPoint = "munmap", SetLastError = true)]
    private static partial int MunmapRaw(nint addr, nuint length);

    [LibraryImport(Lib, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MemfdCreateRaw(string name, uint flags);

    [LibraryImport(Lib, EntryPoint = "ftruncate64", SetLastError = true)]
    private static partial int FtruncateRaw(int fd, long length);

    /// <summary>mmap(2); returns the address, or a negative errno (never MAP_FAILED).</summary>
    public static nint Mmap(nint addr, ulong length, int prot, int flags, int fd, long offset)
    {
        nint p = MmapRaw(addr, (nuint)length, prot, flags, fd, offset);
        return p == MapFailed ? -Marshal.GetLastPInvokeError() : p;
    }

    public static int Munmap(nint addr, ulong length) => Check(MunmapRaw(addr, (nuint)length));

    public static int MemfdCreate(string name, uint flags) => Check(MemfdCreateRaw(name, flags));

    public static int Ftruncate(int fd, long length) => Check(FtruncateRaw(fd, length));

    /// <summary>The seals of a memfd (F_SEAL_* bits), or -EINVAL for a file that cannot carry seals.</summary>
    public static int FileSeals(int fd) => Fcntl(fd, F_GET_SEALS, 0);
}
