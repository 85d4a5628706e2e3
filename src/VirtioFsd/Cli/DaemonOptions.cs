using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Cli;

/// <summary>
/// Everything the command line decided, validated; the daemon runs from this alone. Each layer's settings are that
/// layer's own record (the FUSE server's, the filesystem's, the device's), carried here as they are: a default lives
/// in one place, the record that owns the setting, and the command line only overrides what it was given.
/// </summary>
public sealed record DaemonOptions
{
    /// <summary>What the FUSE server negotiates and enforces (--cache, --writeback, --readonly, id translation, ...).</summary>
    public FuseServerOptions Fuse { get; init; } = new();

    /// <summary>The share and how it is served (--shared-dir, --xattr, --inode-file-handles, ...).</summary>
    public required PassthroughOptions FileSystem { get; init; }

    /// <summary>How the device serves its queues (--tag, --io-engine, --queue-poll-us, --thread-pool-size).</summary>
    public DeviceOptions Device { get; init; } = new();

    /// <summary>The shared directory (<see cref="PassthroughOptions.SharedDirectory"/>).</summary>
    public string SharedDir => FileSystem.SharedDirectory;

    /// <summary>Unix socket path to listen on (--socket-path), or null when <see cref="ListenFd"/> is given.</summary>
    public string? SocketPath { get; init; }

    /// <summary>An already-listening socket passed by the parent (--fd), or null.</summary>
    public int? ListenFd { get; init; }

    /// <summary>--socket-group: group owning the socket at <see cref="SocketPath"/> (mode 0770 then, else 0700).</summary>
    public string? SocketGroup { get; init; }

    /// <summary>--sandbox: namespace by default, as the Rust virtiofsd (for a normal user inside a user namespace).</summary>
    public SandboxMode Sandbox { get; init; } = SandboxMode.Namespace;

    /// <summary>--seccomp: kill by default, as the Rust virtiofsd.</summary>
    public SeccompMode Seccomp { get; init; } = SeccompMode.Kill;

    /// <summary>--modcaps: changes to the capabilities a daemon started as root keeps (see Sandbox/CapabilityDrop).</summary>
    public IReadOnlyList<CapabilityChange> ModCaps { get; init; } = [];

    /// <summary>--uid-map: the uid_map of the user namespace an unprivileged namespace sandbox runs in; empty: the daemon's own uid only.</summary>
    public IReadOnlyList<IdMapRange> UidMap { get; init; } = [];

    /// <summary>--gid-map: the gid_map of that user namespace; empty: the daemon's own gid only.</summary>
    public IReadOnlyList<IdMapRange> GidMap { get; init; } = [];

    public LogLevel LogLevel { get; init; } = LogLevel.Info;

    /// <summary>--syslog: log to /dev/log instead of stderr.</summary>
    public bool Syslog { get; init; }

    /// <summary>--rlimit-nofile: null = the default (min(1,000,000, fs.nr_open)), 0 = leave unchanged.</summary>
    public ulong? RlimitNofile { get; init; }
}
