namespace VirtioFsd.Cli;

/// <summary>
/// How the process isolates itself from the host (--sandbox); docs/sandbox.md has the details. Both
/// sandboxes run in a re-executed child while the launch stage keeps the pid file and the socket; root's
/// capabilities are dropped in every mode (Sandbox/CapabilityDrop), and no mode confines what the daemon
/// reaches through descriptors it holds.
/// </summary>
public enum SandboxMode
{
    /// <summary>No isolation: the host filesystem is visible; confinement rests on the filesystem's own checks. Default for non-root users.</summary>
    None,

    /// <summary>
    /// chroot(2) into the share (the whole process: threads share one fs_struct). Guarantees only that path
    /// names resolve inside the share; host processes, network and mounts stay reachable otherwise.
    /// </summary>
    Chroot,

    /// <summary>
    /// New mount, pid, ipc, uts and net namespaces, the share made / by pivot_root(2) and the old root
    /// detached: no path names anything of the host, no other process is visible, no network. Default for root.
    /// </summary>
    Namespace,
}

/// <summary>What a system call outside the allow-list does (--seccomp), as libseccomp's actions in the Rust virtiofsd.</summary>
public enum SeccompMode
{
    /// <summary>No filter.</summary>
    None,

    /// <summary>The call runs and the kernel logs it (audit log, dmesg): how the allow-list is grown.</summary>
    Log,

    /// <summary>SIGSYS to the calling thread; no handler is installed, so the process ends with a core dump.</summary>
    Trap,

    /// <summary>The whole process is killed at once (SECCOMP_RET_KILL_PROCESS). The default.</summary>
    Kill,
}

/// <summary>--log-level, the names of the Rust virtiofsd (env_logger levels).</summary>
public enum LogLevel
{
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}
