using VirtioFsd.Cli;
using VirtioFsd.Linux;

namespace VirtioFsd.Sandbox;

/// <summary>
/// --seccomp log: a classic BPF filter installed on every thread (SECCOMP_FILTER_FLAG_TSYNC, as the .NET
/// runtime's threads exist already) that lets the system calls of <see cref="AllowList"/> through and makes
/// the kernel log any other one (SECCOMP_RET_LOG: audit log / dmesg, the call still runs). The log mode is
/// how the allow-list is grown; kill and trap stay refused until the list is known complete for the runtime
/// and every code path, since a missing entry would kill the daemon in the middle of a guest request.
/// </summary>
internal static class SeccompFilter
{
    private const ushort BpfLdWAbs = 0x20;   // BPF_LD | BPF_W | BPF_ABS
    private const ushort BpfJeqK = 0x15;     // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort BpfRetK = 0x06;     // BPF_RET | BPF_K
    private const uint OffsetNr = 0;         // struct seccomp_data.nr
    private const uint OffsetArch = 4;       // struct seccomp_data.arch

    /// <summary>
    /// x86_64 numbers (asm/unistd_64.h) of what the daemon and the .NET runtime use: file and xattr
    /// operations of the passthrough filesystem (with the *xattrat calls 463-466 of Linux 6.13), memory
    /// and signals of the runtime (tgkill for GC suspension, membarrier for FlushProcessWriteBuffers),
    /// sockets already connected, io_uring. readlink (89), the scheduler calls (140-147) and the
    /// *xattrat calls were found with this very log mode, running the daemon under a guest.
    /// </summary>
    public static readonly int[] AllowList =
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
        28, 32, 33, 35, 39, 42, 43, 44, 45, 46, 47, 48, 51, 52, 54, 55, 56, 60, 61, 63, 72, 73, 74, 75, 77, 79,
        81, 87, 89, 91, 93, 95, 96, 97, 98, 99, 100, 102, 104, 107, 108, 110, 111, 115, 116, 122, 123, 128, 131,
        137, 138, 140, 141, 142, 143, 144, 145, 146, 147, 157, 158, 186, 187, 188, 189, 190, 191, 192, 193, 194,
        195, 196, 197, 198, 199, 202, 203, 204, 217, 218, 219, 221, 228, 229, 230, 231, 232, 233, 234, 247, 257,
        258, 259, 260, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271, 273, 274, 275, 276, 280, 281, 283, 285,
        286, 287, 288, 290, 291, 292, 293, 295, 296, 302, 303, 304, 306, 307, 309, 316, 318, 319, 324, 326, 327,
        328, 332, 334, 425, 426, 427, 435, 437, 439, 441, 463, 464, 465, 466,
    ];

    /// <summary>Builds the program for an action on calls outside the list (and on any foreign architecture).</summary>
    public static Libc.SockFilter[] Build(uint defaultAction)
    {
        var program = new List<Libc.SockFilter>
        {
            new() { Code = BpfLdWAbs, K = OffsetArch },
            new() { Code = BpfJeqK, K = Libc.AUDIT_ARCH_X86_64, JumpTrue = 1, JumpFalse = 0 },
            new() { Code = BpfRetK, K = defaultAction },
            new() { Code = BpfLdWAbs, K = OffsetNr },
        };
        // One compare + return per entry keeps every jump at distance 0 or 1 (BPF jump offsets are 8-bit).
        foreach (int nr in AllowList)
        {
            program.Add(new() { Code = BpfJeqK, K = (uint)nr, JumpTrue = 0, JumpFalse = 1 });
            program.Add(new() { Code = BpfRetK, K = Libc.SECCOMP_RET_ALLOW });
        }
        program.Add(new() { Code = BpfRetK, K = defaultAction });
        return [.. program];
    }

    /// <summary>Installs the filter for <paramref name="mode"/> on all threads; returns 0 or -errno.</summary>
    public static long Install(SeccompMode mode)
    {
        uint action = mode switch
        {
            SeccompMode.Log => Libc.SECCOMP_RET_LOG,
            SeccompMode.Trap => Libc.SECCOMP_RET_TRAP,
            SeccompMode.Kill => Libc.SECCOMP_RET_KILL_PROCESS,
            _ => Libc.SECCOMP_RET_ALLOW,
        };
        if (mode == SeccompMode.None)
        {
            return 0;
        }
        // Without CAP_SYS_ADMIN a filter needs no_new_privs; TSYNC carries it to the other threads.
        int r = Libc.Prctl(Libc.PR_SET_NO_NEW_PRIVS, 1);
        if (r < 0)
        {
            return r;
        }
        long t = Libc.SeccompSetFilter(Libc.SECCOMP_FILTER_FLAG_TSYNC, Build(action));
        return t > 0 ? -Errno.EBUSY : t;
    }
}
