namespace VirtioFsd.Cli;

/// <summary>Cache policy (--cache): entry/attr timeouts and open flags the guest gets.</summary>
public enum CacheMode
{
    Never,
    Metadata,
    Auto,
    Always,
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
}
