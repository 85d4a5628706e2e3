namespace VirtioFsd.Cli;

/// <summary>Cache policy (--cache): entry/attr timeouts and open flags the guest gets.</summary>
public enum CacheMode
{
    Never,
    Metadata,
    Auto,
    Always,
}

/// <summary>How queue workers do file I/O (READ/WRITE/FSYNC/FALLOCATE).</summary>
public enum IoEngine
{
    /// <summary>One thread per queue; every request runs to completion on it (blocking syscalls).</summary>
    Sync,

    /// <summary>One io_uring per request queue: many requests in flight per queue; falls back to Sync when io_uring is unavailable.</summary>
    IoUring,
}

/// <summary>Everything the command line decided, validated; the daemon runs from this alone.</summary>
public sealed record DaemonOptions
{
    public required string SharedDir { get; init; }

    /// <summary>Unix socket path to listen on (--socket-path), or null when <see cref="ListenFd"/> is given.</summary>
    public string? SocketPath { get; init; }

    /// <summary>An already-listening socket passed by the parent (--fd), or null.</summary>
    public int? ListenFd { get; init; }

    public string Tag { get; init; } = "";

    public CacheMode Cache { get; init; } = CacheMode.Auto;

    public int ThreadPoolSize { get; init; }

    public bool Writeback { get; init; }

    public bool AllowDirectIo { get; init; }

    public bool ReadDirPlus { get; init; } = true;

    public bool Xattr { get; init; }

    public bool PosixAcl { get; init; }

    public bool ReadOnly { get; init; }

    public bool AnnounceSubmounts { get; init; }

    public bool KillPrivV2 { get; init; }

    /// <summary>--allow-mmap: with cache=never/metadata, still let the guest mmap shared files (FUSE_DIRECT_IO_ALLOW_MMAP).</summary>
    public bool AllowMmap { get; init; }

    /// <summary>--security-label: accept the security context the guest sends on creation (FUSE_SECURITY_CTX).</summary>
    public bool SecurityLabel { get; init; }

    /// <summary>--preserve-noatime: keep O_NOATIME from the guest instead of dropping it.</summary>
    public bool PreserveNoatime { get; init; }

    /// <summary>--socket-group: group owning the socket at <see cref="SocketPath"/> (mode 0770 then, else 0700).</summary>
    public string? SocketGroup { get; init; }

    public SandboxMode Sandbox { get; init; } = SandboxMode.None;

    /// <summary>The queue workers' I/O engine (the option to select it is <c>--io-engine sync|io-uring</c>).</summary>
    public IoEngine IoEngine { get; init; } = IoEngine.IoUring;

    /// <summary>
    /// --queue-poll-us: how long an io_uring queue worker watches its ring for the next request before it
    /// sleeps until a kick (0: never). 30 us, as QEMU's iothread polling default (32 us).
    /// </summary>
    public uint QueuePollMicroseconds { get; init; } = 30;

    /// <summary>--inode-file-handles: Prefer by default, as the Rust virtiofsd since 1.13.3 (Kata passes it).</summary>
    public VirtioFsd.Fuse.Passthrough.InodeFileHandleMode InodeFileHandles { get; init; } = VirtioFsd.Fuse.Passthrough.InodeFileHandleMode.Prefer;

    /// <summary>--xattrmap: extended attribute names as the guest sees them and as the host stores them.</summary>
    public VirtioFsd.Fuse.Passthrough.XattrMap? XattrMap { get; init; }

    /// <summary>--translate-uid: rules applied at the FUSE boundary, first match decides.</summary>
    public IReadOnlyList<VirtioFsd.Fuse.Server.IdRule> TranslateUid { get; init; } = [];

    /// <summary>--translate-gid.</summary>
    public IReadOnlyList<VirtioFsd.Fuse.Server.IdRule> TranslateGid { get; init; } = [];

    /// <summary>--uid-map: the uid_map of the user namespace an unprivileged namespace sandbox runs in; empty: the daemon's own uid only.</summary>
    public IReadOnlyList<IdMapRange> UidMap { get; init; } = [];

    /// <summary>--gid-map: the gid_map of that user namespace; empty: the daemon's own gid only.</summary>
    public IReadOnlyList<IdMapRange> GidMap { get; init; } = [];

    /// <summary>--inode-fd-cache-size: open fds kept for handle inodes no request uses.</summary>
    public int InodeFdCacheSize { get; init; } = VirtioFsd.Fuse.Passthrough.PassthroughOptions.DefaultInodeFdCacheSize;

    /// <summary>--seccomp: kill by default, as the Rust virtiofsd.</summary>
    public SeccompMode Seccomp { get; init; } = SeccompMode.Kill;

    /// <summary>--modcaps: changes to the capabilities a daemon started as root keeps (see Sandbox/CapabilityDrop).</summary>
    public IReadOnlyList<CapabilityChange> ModCaps { get; init; } = [];

    public LogLevel LogLevel { get; init; } = LogLevel.Info;

    /// <summary>--syslog: log through syslog(3) instead of stderr.</summary>
    public bool Syslog { get; init; }

    /// <summary>--rlimit-nofile: null = the default (min(1,000,000, fs.nr_open)), 0 = leave unchanged.</summary>
    public ulong? RlimitNofile { get; init; }

    /// <summary>
    /// An O_PATH descriptor of this process's <c>/proc/self/fd</c> directory, opened before the sandbox
    /// hid <c>/proc</c>; null only when nothing opened it (unit tests). The filesystem reopens an
    /// O_PATH inode fd N as <c>openat(ProcSelfFd, "N", flags)</c>: after <c>--sandbox namespace</c>
    /// or <c>chroot</c> the path <c>/proc/self/fd/N</c> does not exist.
    /// </summary>
    public int? ProcSelfFd { get; init; }
}
