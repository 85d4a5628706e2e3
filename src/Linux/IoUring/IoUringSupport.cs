namespace VirtioFsd.Linux.IoUring;

/// <summary>Whether io_uring can be used here, and if not, a sentence saying why (for the daemon's log).</summary>
public readonly record struct IoUringAvailability(bool IsAvailable, string Reason, uint Features)
{
    public override string ToString() => IsAvailable ? "io_uring available" : $"io_uring unavailable: {Reason}";
}

/// <summary>
/// Detects io_uring before the daemon commits to it, so that it can log one clear line and fall
/// back to a synchronous engine instead of failing on the first request.
/// </summary>
public static class IoUringSupport
{
    /// <summary>The sysctl (Linux 6.6): 0 enabled, 1 only for CAP_SYS_ADMIN or kernel.io_uring_group, 2 disabled.</summary>
    public const string DisabledSysctlPath = "/proc/sys/kernel/io_uring_disabled";

    /// <summary>Operations the daemon's engine prepares; all must be implemented by the kernel.</summary>
    public static ReadOnlySpan<IoUringOp> EngineOps =>
    [
        IoUringOp.Nop, IoUringOp.Readv, IoUringOp.Writev, IoUringOp.Read, IoUringOp.Write,
        IoUringOp.ReadFixed, IoUringOp.WriteFixed, IoUringOp.Fsync, IoUringOp.Fallocate,
        IoUringOp.OpenAt2, IoUringOp.Statx, IoUringOp.Close, IoUringOp.MkdirAt, IoUringOp.UnlinkAt,
        IoUringOp.RenameAt, IoUringOp.LinkAt, IoUringOp.SymlinkAt, IoUringOp.PollAdd,
        IoUringOp.AsyncCancel, IoUringOp.Timeout, IoUringOp.LinkTimeout,
    ];

    /// <summary>Probes with the engine's operation set.</summary>
    public static IoUringAvailability Detect() => Detect(EngineOps, DisabledSysctlPath);

    /// <summary>
    /// Reads the sysctl at <paramref name="sysctlPath"/> (absent on kernels before 6.6), creates a
    /// small ring, and checks <see cref="Ring.RequiredFeatures"/> and <paramref name="requiredOps"/>.
    /// </summary>
    public static IoUringAvailability Detect(ReadOnlySpan<IoUringOp> requiredOps, string sysctlPath)
    {
        int disabled = ReadDisabledSysctl(sysctlPath);
        if (disabled == 2)
        {
            return new(false, $"disabled by the administrator ({sysctlPath} = 2)", 0);
        }

        if (!Ring.TryCreate(4, default, out Ring? ring, out int error))
        {
            return new(false, DescribeSetupError(error, disabled, sysctlPath), 0);
        }
        using (ring)
        {
            var missing = new List<string>();
            foreach (IoUringOp op in requiredOps)
            {
                if (!ring.IsSupported(op))
                {
                    missing.Add(op.ToString());
                }
            }
            if (missing.Count > 0)
            {
                return new(false, $"the kernel lacks io_uring operations {string.Join(", ", missing)} (needs Linux 5.15 or later)", ring.Features);
            }
            return new(true, "", ring.Features);
        }
    }

    /// <summary>Maps an io_uring_setup failure to the reason an operator can act on.</summary>
    public static string DescribeSetupError(int error, int disabledSysctl, string sysctlPath) => -error switch
    {
        Errno.ENOSYS => "io_uring_setup is not implemented (ENOSYS): a kernel built without CONFIG_IO_URING, or a seccomp filter (e.g. a container runtime's default profile) that blocks it",
        Errno.EPERM when disabledSysctl == 1 => $"not permitted (EPERM): {sysctlPath} = 1 allows io_uring only to CAP_SYS_ADMIN or members of kernel.io_uring_group",
        Errno.EPERM => "not permitted (EPERM): a seccomp filter or security module denies io_uring_setup",
        Errno.EACCES => "denied (EACCES) by a security module",
        Errno.ENOMEM => "the kernel could not allocate the ring (ENOMEM); on kernels before 5.12 raise RLIMIT_MEMLOCK",
        Errno.EMFILE or Errno.ENFILE => $"out of file descriptors ({Errno.Describe(error)})",
        Errno.EOPNOTSUPP => "the kernel lacks required io_uring features (single mmap, no-drop CQ, stable submission, EXT_ARG waits; needs Linux 5.11 or later)",
        _ => $"io_uring_setup failed: {Errno.Describe(error)}",
    };

    /// <summary>The sysctl's value, or 0 when the file is absent or unreadable (kernels before 6.6 have no such switch).</summary>
    public static int ReadDisabledSysctl(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), out int v) ? v : 0;
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
