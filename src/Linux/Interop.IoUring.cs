using System.Runtime.InteropServices;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Linux;

/// <summary>
/// io_uring_setup(2), io_uring_enter(2), io_uring_register(2) through libc's <c>syscall</c>:
/// glibc has no wrappers for them and we do not want a liburing dependency.
/// </summary>
public static unsafe partial class Libc
{
    // The io_uring syscalls were added after the per-architecture tables were unified, so they
    // carry the same numbers on x86_64 and arm64 (arch/x86/entry/syscalls/syscall_64.tbl,
    // include/uapi/asm-generic/unistd.h).
    public const long SYS_io_uring_setup = 425;
    public const long SYS_io_uring_enter = 426;
    public const long SYS_io_uring_register = 427;

    /// <summary>
    /// <c>long syscall(long number, ...)</c>. It is variadic in C; declaring it with six fixed
    /// integer arguments is sound on x86_64 and Linux arm64 because variadic integer arguments
    /// travel in the same registers as fixed ones, and glibc's implementation is a register shuffle
    /// that never looks at %al (the vector-register count of the SysV variadic convention).
    /// </summary>
    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    private static partial long SyscallRaw(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    /// <summary>io_uring_setup(2): returns the ring fd or -errno; the kernel fills <paramref name="p"/>.</summary>
    public static int IoUringSetup(uint entries, ref IoUringParams p)
    {
        // Sound: p is pinned for the call and the kernel reads/writes exactly sizeof(io_uring_params).
        fixed (IoUringParams* pp = &p)
        {
            return (int)Check(SyscallRaw(SYS_io_uring_setup, entries, (long)pp, 0, 0, 0, 0));
        }
    }

    /// <summary>
    /// io_uring_enter(2): returns the number of SQEs consumed or -errno. EINTR is returned, not
    /// retried, because the caller must recompute how many SQEs remain and how long to wait.
    /// </summary>
    public static int IoUringEnter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize) =>
        (int)Check(SyscallRaw(SYS_io_uring_enter, fd, toSubmit, minComplete, flags, (long)arg, (long)argSize));

    /// <summary>io_uring_register(2): returns the opcode's result (often 0) or -errno.</summary>
    public static int IoUringRegister(int fd, uint opcode, void* arg, uint count)
    {
        long r;
        do
        {
            // Registration pins pages and may be interrupted by a signal before it finishes; it
            // then undoes itself and reports EINTR, so retrying is safe.
            r = Check(SyscallRaw(SYS_io_uring_register, fd, opcode, (long)arg, count, 0, 0));
        }
        while (r == -Errno.EINTR);
        return (int)r;
    }
}
