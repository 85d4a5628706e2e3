namespace VirtioFsd.Cli;

/// <summary>How the process isolates itself from the host (--sandbox); see docs/sandbox.md.</summary>
public enum SandboxMode
{
    /// <summary>No isolation: the process sees the host filesystem (the default for non-root users).</summary>
    None,

    /// <summary>chroot(2) into the shared directory (whole process: threads share one fs_struct).</summary>
    Chroot,

    /// <summary>New mount, pid, ipc, uts and net namespaces; the shared directory becomes / by pivot_root(2).</summary>
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
