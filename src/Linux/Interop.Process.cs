using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// Process-wide state the executable sets up at start: identity (getuid/geteuid/getpid), resource
/// limits (getrlimit/setrlimit), prctl(2), signals to other processes (kill(2)), children
/// (waitpid(2), pidfd_open(2)), pipes (pipe2(2)) and group lookup (getgrnam(3)). Values from x86_64 asm-generic headers.
/// </summary>
public static unsafe partial class Libc
{
    /// <summary>RLIMIT_NOFILE from asm-generic/resource.h.</summary>
    public const int RLIMIT_NOFILE = 7;

    /// <summary>RLIM_INFINITY: (rlim_t)-1.</summary>
    public const ulong RLIM_INFINITY = ulong.MaxValue;

    /// <summary>prctl options from linux/prctl.h.</summary>
    public const int PR_SET_PDEATHSIG = 1;
    public const int PR_SET_SECCOMP = 22;
    public const int PR_SET_NO_NEW_PRIVS = 38;

    /// <summary>Signal numbers (asm-generic/signal.h, x86_64).</summary>
    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    /// <summary><c>struct rlimit</c>: two rlim_t (unsigned long) values.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport(Lib, EntryPoint = "getuid")]
    private static partial uint ProcGetUidRaw();

    [LibraryImport(Lib, EntryPoint = "geteuid")]
    private static partial uint ProcGetEuidRaw();

    [LibraryImport(Lib, EntryPoint = "getpid")]
    private static partial int ProcGetPidRaw();

    [LibraryImport(Lib, EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int ProcGetRlimitRaw(int resource, RLimit* limit);

    [LibraryImport(Lib, EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int ProcSetRlimitRaw(int resource, RLimit* limit);

    [LibraryImport(Lib, EntryPoint = "prctl", SetLastError = true)]
    private static partial int ProcPrctlRaw(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport(Lib, EntryPoint = "kill", SetLastError = true)]
    private static partial int ProcKillRaw(int pid, int signal);

    /// <summary>waitpid(2) option: return 0 at once when the child has not changed state.</summary>
    public const int WNOHANG = 1;

    [LibraryImport(Lib, EntryPoint = "waitpid", SetLastError = true)]
    private static partial int ProcWaitPidRaw(int pid, int* status, int options);

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    private static partial long ProcPidfdOpenRaw(long number, long pid, long flags);

    [LibraryImport(Lib, EntryPoint = "pipe2", SetLastError = true)]
    private static partial int ProcPipe2Raw(int* fds, int flags);

    [LibraryImport(Lib, EntryPoint = "getgrnam", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint ProcGetGrNamRaw(string name);

    [LibraryImport(Lib, EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int ProcSchedSetAffinityRaw(int pid, nuint size, ulong* mask);

    /// <summary>
    /// sched_setaffinity(0, ...): pins the calling thread to one CPU (below 1024, the size of glibc's
    /// cpu_set_t). Returns 0 or -errno (EINVAL for a CPU outside the allowed set).
    /// </summary>
    public static int PinCurrentThread(int cpu)
    {
        if (cpu is < 0 or >= 1024)
        {
            return -Errno.EINVAL;
        }
        ulong* mask = stackalloc ulong[16];
        new Span<ulong>(mask, 16).Clear();
        mask[cpu / 64] = 1UL << (cpu % 64);
        return Check(ProcSchedSetAffinityRaw(0, 16 * sizeof(ulong), mask));
    }

    public static uint GetUid() => ProcGetUidRaw();

    public static uint GetEuid() => ProcGetEuidRaw();

    public static int GetPid() => ProcGetPidRaw();

    public static int GetRlimit(int resource, out RLimit limit)
    {
        RLimit l;
        int r = Check(ProcGetRlimitRaw(resource, &l));
        limit = r < 0 ? default : l;
        return r;
    }

    public static int SetRlimit(int resource, RLimit limit) => Check(ProcSetRlimitRaw(resource, &limit));

    public static int Prctl(int option, nuint arg2, nuint arg3 = 0, nuint arg4 = 0, nuint arg5 = 0) =>
        Check(ProcPrctlRaw(option, arg2, arg3, arg4, arg5));

    public static int Kill(int pid, int signal) => Check(ProcKillRaw(pid, signal));

    /// <summary>
    /// waitpid(2) (EINTR retried): the pid that changed state (0 with WNOHANG when none did) or -errno;
    /// <paramref name="status"/> is the raw wait status, see <see cref="ExitCodeOf"/>.
    /// </summary>
    public static int WaitPid(int pid, out int status, int options)
    {
        int s = 0;
        int r;
        do
        {
            r = Check(ProcWaitPidRaw(pid, &s, options));
        }
        while (r == -Errno.EINTR);
        status = s;
        return r;
    }

    /// <summary>
    /// A wait status as a shell reports it: the exit status, or 128 + the signal that ended the process
    /// (what <see cref="System.Diagnostics.Process.ExitCode"/> gives too).
    /// </summary>
    public static int ExitCodeOf(int status) => (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);

    /// <summary>pidfd_open(2) (syscall 434, Linux 5.3): a descriptor that polls readable once the process has exited, or -errno.</summary>
    public static int PidfdOpen(int pid) => (int)Check(ProcPidfdOpenRaw(434, pid, 0));

    /// <summary>pipe2(2): fd0 is the read end, fd1 the write end.</summary>
    public static int Pipe2(int flags, out int readFd, out int writeFd)
    {
        int* fds = stackalloc int[2];
        int r = Check(ProcPipe2Raw(fds, flags));
        readFd = r < 0 ? -1 : fds[0];
        writeFd = r < 0 ? -1 : fds[1];
        return r;
    }

    /// <summary>
    /// The gid of a group by name through getgrnam(3) (so NSS sources count), or -ENOENT.
    /// Not thread-safe (static result buffer): call it at start-up only.
    /// </summary>
    public static long GetGroupId(string name)
    {
        nint group = ProcGetGrNamRaw(name);
        if (group == 0)
        {
            int e = Marshal.GetLastPInvokeError();
            return e == 0 ? -Errno.ENOENT : -e;
        }
        // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; ... }: gr_gid at offset 16 on x86_64.
        return (uint)Marshal.ReadInt32(group, 2 * sizeof(nint));
    }
}
