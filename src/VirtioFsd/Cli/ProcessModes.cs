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

/// <summary>What a system call outside the allow-list does (--seccomp); <see cref="Trap"/> and <see cref="Kill"/> are refused for now.</summary>
public enum SeccompMode
{
    None,
    Log,
    Trap,
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
