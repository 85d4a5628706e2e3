using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>
/// Capabilities of the calling thread (capget/capset, linux/capability.h), the prctl options that read and
/// drop the bounding and ambient sets (linux/prctl.h), and what delivering a signal to one thread of this
/// process needs (gettid, tgkill, rt_sigaction, mprotect). The kernel keeps capabilities per thread; see
/// <see cref="Capabilities.AllThreadsCapabilities"/> for changing them on every thread. Numbers are x86_64's.
/// </summary>
/// <remarks>
/// Unsafe: each pointer handed to the kernel is a local of the wrapper (header, data, sigaction), live and
/// unmoved for exactly the duration of the syscall.
/// </remarks>
public static unsafe partial class Libc
{
    public const int PR_CAPBSET_READ = 23;
    public const int PR_CAPBSET_DROP = 24;
    public const int PR_CAP_AMBIENT = 47;
    public const int PR_CAP_AMBIENT_CLEAR_ALL = 4;

    /// <summary>_LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.</summary>
    public const uint CapabilityVersion3 = 0x20080522;

    public const long SysCapset = 126;
    public const long SysPrctl = 157;
    public const long SysRtSigreturn = 15;
    private const long SysCapget = 125;
    private const long SysGettid = 186;
    private const long SysTgkill = 234;
    private const long SysRtSigaction = 13;

    /// <summary>SA_RESTART | SA_RESTORER (x86_64 requires a restorer that calls rt_sigreturn).</summary>
    public const ulong SA_RESTART = 0x10000000;
    public const ulong SA_RESTORER = 0x04000000;

    public const int PROT_EXEC = 0x4;

    [StructLayout(LayoutKind.Sequential)]
    private struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    /// <summary>One 32-bit word of each set (<c>struct __user_cap_data_struct</c>); version 3 passes two.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    /// <summary>The kernel's <c>struct sigaction</c> for rt_sigaction(2) on x86_64 (not glibc's).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct KernelSigaction
    {
        public nint Handler;
        public ulong Flags;
        public nint Restorer;
        public ulong Mask;
    }

    [LibraryImport(Lib, EntryPoint = "mprotect", SetLastError = true)]
    private static partial int MprotectRaw(nint addr, nuint length, int prot);

    /// <summary>The calling thread's effective, permitted and inheritable sets (capget with pid 0); 0 or -errno.</summary>
    public static int CapGetThread(out ulong effective, out ulong permitted, out ulong inheritable)
    {
        var header = new CapHeader { Version = CapabilityVersion3 };
        CapData* data = stackalloc CapData[2];
        int r = (int)Check(SyscallRaw(SysCapget, (long)&header, (long)data, 0, 0, 0, 0));
        effective = data[0].Effective | ((ulong)data[1].Effective << 32);
        permitted = data[0].Permitted | ((ulong)data[1].Permitted << 32);
        inheritable = data[0].Inheritable | ((ulong)data[1].Inheritable << 32);
        return r;
    }

    /// <summary>1 when <paramref name="capability"/> is in the calling thread's bounding set, 0 when not, -EINVAL past the last.</summary>
    public static int CapBoundingRead(int capability) => Prctl(PR_CAPBSET_READ, (nuint)capability);

    /// <summary>The calling thread's id (gettid(2)).</summary>
    public static int GetTid() => (int)SyscallRaw(SysGettid, 0, 0, 0, 0, 0, 0);

    /// <summary>tgkill(2): <paramref name="signal"/> to thread <paramref name="tid"/> of this process only.</summary>
    public static int Tgkill(int tid, int signal) => (int)Check(SyscallRaw(SysTgkill, GetPid(), tid, signal, 0, 0, 0));

    /// <summary>rt_sigaction(2) with the kernel's structure: sets <paramref name="action"/> (unless null) and returns the previous one.</summary>
    public static int RtSigaction(int signal, KernelSigaction? action, out KernelSigaction previous)
    {
        KernelSigaction act = action ?? default;
        KernelSigaction old = default;
        int r = (int)Check(SyscallRaw(SysRtSigaction, signal, action is null ? 0 : (long)&act, (long)&old, sizeof(ulong), 0, 0));
        previous = old;
        return r;
    }

    /// <summary>System call <paramref name="number"/> with no arguments (a test hook makes one seccomp must stop); result or -errno.</summary>
    public static long SyscallNoArguments(long number) => Check(SyscallRaw(number, 0, 0, 0, 0, 0, 0));

    public static int Mprotect(nint addr, ulong length, int prot) => Check(MprotectRaw(addr, (nuint)length, prot));
}
