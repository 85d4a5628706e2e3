using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// The identity of the whole process: glibc's setresuid/setresgid/setgroups wrappers change every thread
/// (they broadcast the change with SIGSETXID, as POSIX asks), unlike the per-thread raw syscalls of
/// <c>Interop.FsCredentials</c> that serve one request. Used once, while the sandbox is set up.
/// </summary>
/// <remarks>Unsafe: setgroups gets no pointer (size 0, NULL), so nothing is handed to the kernel to read.</remarks>
public static unsafe partial class Libc
{
    [LibraryImport(Lib, EntryPoint = "setresuid", SetLastError = true)]
    private static partial int ProcSetresuidRaw(uint ruid, uint euid, uint suid);

    [LibraryImport(Lib, EntryPoint = "setresgid", SetLastError = true)]
    private static partial int ProcSetresgidRaw(uint rgid, uint egid, uint sgid);

    [LibraryImport(Lib, EntryPoint = "setgroups", SetLastError = true)]
    private static partial int ProcSetgroupsRaw(nuint size, uint* list);

    /// <summary>setresuid(2) on every thread; 0 or -errno (EINVAL: the id has no mapping in this user namespace).</summary>
    public static int SetResUidAllThreads(uint uid) => Check(ProcSetresuidRaw(uid, uid, uid));

    /// <summary>setresgid(2) on every thread; 0 or -errno.</summary>
    public static int SetResGidAllThreads(uint gid) => Check(ProcSetresgidRaw(gid, gid, gid));

    /// <summary>setgroups(0, NULL) on every thread: no supplementary groups; 0 or -errno.</summary>
    public static int ClearGroupsAllThreads() => Check(ProcSetgroupsRaw(0, null));
}
