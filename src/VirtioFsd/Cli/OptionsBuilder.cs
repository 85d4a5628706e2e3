namespace VirtioFsd.Cli;

/// <summary>
/// Mutable collection point for settings from the long options and from the legacy <c>-o</c> form,
/// turned into the immutable <see cref="DaemonOptions"/> once everything is validated.
/// </summary>
internal sealed class OptionsBuilder
{
    public string? SharedDir { get; set; }

    /// <summary>Where <see cref="SharedDir"/> came from, for the conflict message.</summary>
    public string? SharedDirSource { get; set; }

    public string? SocketPath { get; set; }

    public int? ListenFd { get; set; }

    public string? SocketGroup { get; set; }

    public string Tag { get; set; } = "";

    public CacheMode Cache { get; set; } = CacheMode.Auto;

    public int ThreadPoolSize { get; set; }

    public bool Writeback { get; set; }

    public bool AllowDirectIo { get; set; }

    public bool AllowMmap { get; set; }

    public bool NoReadDirPlus { get; set; }

    public bool Xattr { get; set; }

    public bool PosixAcl { get; set; }

    public bool SecurityLabel { get; set; }

    public bool ReadOnly { get; set; }

    public bool AnnounceSubmounts { get; set; } = true;

    public bool KillPrivV2 { get; set; }

    public bool PreserveNoatime { get; set; }

    public SandboxMode? Sandbox { get; set; }

    /// <summary>--seccomp, or null for <see cref="DaemonOptions.Seccomp"/>'s default.</summary>
    public SeccompMode? Seccomp { get; set; }

    public LogLevel LogLevel { get; set; } = LogLevel.Info;

    public bool Syslog { get; set; }

    public ulong? RlimitNofile { get; set; }

    /// <summary>--io-engine, or null for <see cref="DaemonOptions.IoEngine"/>'s default.</summary>
    public IoEngine? IoEngine { get; set; }

    /// <summary>--queue-poll-us, or null for <see cref="DaemonOptions.QueuePollMicroseconds"/>'s default.</summary>
    public uint? QueuePollMicroseconds { get; set; }

    /// <summary>--xattrmap (or -o xattrmap), parsed.</summary>
    public VirtioFsd.Fuse.Passthrough.XattrMap? XattrMap { get; private set; }

    /// <summary>Parses and keeps an xattr mapping; returns the error message for <paramref name="option"/> if malformed.</summary>
    public string? SetXattrMap(string text, string option)
    {
        XattrMap = VirtioFsd.Fuse.Passthrough.XattrMap.Parse(text, out string? error);
        return XattrMap is null ? $"invalid value for {option}: {error}" : null;
    }

    /// <summary>--modcaps (or -o modcaps), parsed; empty when not given.</summary>
    public IReadOnlyList<CapabilityChange> ModCaps { get; private set; } = [];

    /// <summary>Parses and keeps a --modcaps list; returns the error message for <paramref name="option"/> if malformed.</summary>
    public string? SetModCaps(string text, string option)
    {
        IReadOnlyList<CapabilityChange>? changes = CapabilityChanges.Parse(text, out string? error);
        if (changes is null)
        {
            return $"invalid value for {option}: {error}";
        }
        ModCaps = changes;
        return null;
    }

    /// <summary>--translate-uid rules, in the order given.</summary>
    public List<VirtioFsd.Fuse.Server.IdRule> TranslateUid { get; } = [];

    /// <summary>--translate-gid rules, in the order given.</summary>
    public List<VirtioFsd.Fuse.Server.IdRule> TranslateGid { get; } = [];

    /// <summary>--uid-map ranges, in the order given.</summary>
    public List<IdMapRange> UidMap { get; } = [];

    /// <summary>--gid-map ranges, in the order given.</summary>
    public List<IdMapRange> GidMap { get; } = [];

    /// <summary>--inode-file-handles, or null for the default.</summary>
    public VirtioFsd.Fuse.Passthrough.InodeFileHandleMode? InodeFileHandles { get; set; }

    /// <summary>--inode-fd-cache-size, or null for the default.</summary>
    public int? InodeFdCacheSize { get; set; }

    public List<string> Warnings { get; } = [];

    /// <summary>
    /// Final options. Derived settings follow the Rust virtiofsd: --posix-acl and --security-label
    /// imply --xattr; cache=never disables READDIRPLUS (its entries would be dropped at once anyway).
    /// </summary>
    public DaemonOptions Build(string sharedDir, SandboxMode sandbox)
    {
        DaemonOptions options = BuildWithDefaults(sharedDir, sandbox);
        if (Seccomp is { } seccomp)
        {
            options = options with { Seccomp = seccomp };
        }
        if (IoEngine is { } engine)
        {
            options = options with { IoEngine = engine };
        }
        if (InodeFileHandles is { } handles)
        {
            options = options with { InodeFileHandles = handles };
        }
        if (TranslateUid.Count > 0 || TranslateGid.Count > 0)
        {
            options = options with { TranslateUid = [.. TranslateUid], TranslateGid = [.. TranslateGid] };
        }
        if (UidMap.Count > 0 || GidMap.Count > 0)
        {
            options = options with { UidMap = [.. UidMap], GidMap = [.. GidMap] };
        }
        if (InodeFdCacheSize is { } cache)
        {
            options = options with { InodeFdCacheSize = cache };
        }
        return QueuePollMicroseconds is { } poll ? options with { QueuePollMicroseconds = poll } : options;
    }

    private DaemonOptions BuildWithDefaults(string sharedDir, SandboxMode sandbox) => new()
    {
        SharedDir = sharedDir,
        SocketPath = SocketPath,
        ListenFd = ListenFd,
        SocketGroup = SocketGroup,
        Tag = Tag,
        Cache = Cache,
        ThreadPoolSize = ThreadPoolSize,
        Writeback = Writeback,
        AllowDirectIo = AllowDirectIo,
        AllowMmap = AllowMmap,
        ReadDirPlus = Cache != CacheMode.Never && !NoReadDirPlus,
        Xattr = Xattr || PosixAcl || SecurityLabel || XattrMap is not null,
        XattrMap = XattrMap,
        PosixAcl = PosixAcl,
        SecurityLabel = SecurityLabel,
        ReadOnly = ReadOnly,
        AnnounceSubmounts = AnnounceSubmounts,
        KillPrivV2 = KillPrivV2,
        PreserveNoatime = PreserveNoatime,
        Sandbox = sandbox,
        ModCaps = ModCaps,
        LogLevel = LogLevel,
        Syslog = Syslog,
        RlimitNofile = RlimitNofile,
    };
}
