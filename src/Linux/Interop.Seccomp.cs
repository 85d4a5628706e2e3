using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// seccomp(2) with a classic BPF program (linux/seccomp.h, linux/filter.h, linux/audit.h; x86_64).
/// </summary>
public static unsafe partial class Libc
{
    /// <summary>__NR_seccomp on x86_64 (glibc has no wrapper).</summary>
    private const long SysSeccomp = 317;

    public const uint SECCOMP_SET_MODE_FILTER = 1;

    /// <summary>Apply the filter to every thread of the process, not only the caller.</summary>
    public const uint SECCOMP_FILTER_FLAG_TSYNC = 1;

    public const uint SECCOMP_RET_KILL_PROCESS = 0x80000000;
    public const uint SECCOMP_RET_TRAP = 0x00030000;
    public const uint SECCOMP_RET_LOG = 0x7ffc0000;
    public const uint SECCOMP_RET_ALLOW = 0x7fff0000;

    /// <summary>AUDIT_ARCH_X86_64 = EM_X86_64 (62) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.</summary>
    public const uint AUDIT_ARCH_X86_64 = 0xC000003E;

    /// <summary><c>struct sock_filter</c>: one classic BPF instruction (8 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockFilter
    {
        public ushort Code;
        public byte JumpTrue;
        public byte JumpFalse;
        public uint K;
    }

    /// <summary><c>struct sock_fprog</c>: length, padding to the pointer's alignment, pointer (16 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SockFprog
    {
        public ushort Length;
        private readonly ushort _pad0;
        private readonly uint _pad1;
        public SockFilter* Filter;
    }

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    private static partial long SeccompSyscallRaw(long number, uint operation, uint flags, SockFprog* program);

    /// <summary>
    /// seccomp(SECCOMP_SET_MODE_FILTER, flags, program). Returns 0 or -errno; with TSYNC a positive
    /// result is the id of a thread that could not be synchronized.
    /// </summary>
    public static long SeccompSetFilter(uint flags, ReadOnlySpan<SockFilter> program)
    {
        if (program.Length is 0 or > ushort.MaxValue)
        {
            return -Errno.EINVAL;
        }
        fixed (SockFilter* p = program)
        {
            // The kernel copies the program during the call; p stays pinned until it returns.
            var prog = new SockFprog { Length = (ushort)program.Length, Filter = p };
            return Check(SeccompSyscallRaw(SysSeccomp, SECCOMP_SET_MODE_FILTER, flags, &prog));
        }
    }
}
