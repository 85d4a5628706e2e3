using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// Per-thread filesystem credentials. The kernel keeps credentials per task (thread); glibc's
/// setgroups/setfsuid wrappers broadcast the change to every thread of the process (POSIX
/// semantics, via SIGSETXID), so these go straight to the syscall to affect only the calling thread.
/// </summary>
/// <remarks>
/// Unsafe: every pointer handed to the kernel comes from a <c>fixed</c> span or a local of the
/// wrapper itself, so it stays valid and pinned for exactly the duration of the syscall, and each
/// buffer's length is passed from the same span.
/// </remarks>
public static unsafe partial class Libc
{
    private static readonly bool IsArm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    // arch/x86/entry/syscalls/syscall_64.tbl vs include/uapi/asm-generic/unistd.h (arm64).
    private static long SysSetfsuid => IsArm64 ? 151 : 122;
    private static long SysSetfsgid => IsArm64 ? 152 : 123;
    private static long SysGetgroups => IsArm64 ? 158 : 115;
    private static long SysSetgroups => IsArm64 ? 159 : 116;

    [LibraryImport(Lib, EntryPoint = "geteuid")]
    private static partial uint GeteuidRaw();

    [LibraryImport(Lib, EntryPoint = "getegid")]
    private static partial uint GetegidRaw();

    public static uint Geteuid() => GeteuidRaw();

    public static uint Getegid() => GetegidRaw();

    /// <summary>setfsuid(2) for this thread only. Returns the PREVIOUS fsuid (the call never reports errors;
    /// pass uint.MaxValue to read the current value without changing it).</summary>
    public static uint SetFsUidThread(uint uid) => (uint)SyscallRaw(SysSetfsuid, uid, 0, 0, 0, 0, 0);

    /// <summary>setfsgid(2) for this thread only; same return convention as <see cref="SetFsUidThread"/>.</summary>
    public static uint SetFsGidThread(uint gid) => (uint)SyscallRaw(SysSetfsgid, gid, 0, 0, 0, 0, 0);

    /// <summary>getgroups(2) of this thread: the count filled, or with an empty span the count needed; -errno.</summary>
    public static int GetGroupsThread(Span<uint> groups)
    {
        fixed (uint* p = groups)
        {
            return (int)Check(SyscallRaw(SysGetgroups, groups.Length, groups.IsEmpty ? 0 : (long)p, 0, 0, 0, 0));
        }
    }

    /// <summary>setgroups(2) for this thread only (needs CAP_SETGID).</summary>
    public static int SetGroupsThread(ReadOnlySpan<uint> groups)
    {
        fixed (uint* p = groups)
        {
            return (int)Check(SyscallRaw(SysSetgroups, groups.Length, groups.IsEmpty ? 0 : (long)p, 0, 0, 0, 0));
        }
    }
}
