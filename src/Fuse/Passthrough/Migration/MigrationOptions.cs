namespace VirtioFsd.Fuse.Passthrough.Migration;

/// <summary>--migration-mode: how the inodes the guest knows are described to the destination.</summary>
public enum MigrationMode
{
    /// <summary>find-paths (the default): each inode's path below the shared directory, found at switch-over.</summary>
    FindPaths,

    /// <summary>file-handles: each inode's file handle (source and destination on the same filesystem; needs CAP_DAC_READ_SEARCH).</summary>
    FileHandles,
}

/// <summary>--migration-on-error: what happens to an inode that cannot be migrated.</summary>
public enum MigrationErrorPolicy
{
    /// <summary>abort (the default): the migration fails and the guest keeps running where it was.</summary>
    Abort,

    /// <summary>guest-error: the migration goes on; the guest gets errors (ESTALE, EBADF) on what could not be moved.</summary>
    GuestError,
}

/// <summary>--migration-state-format: the format of the state this daemon sends as a source (a destination reads both).</summary>
public enum MigrationStateFormat
{
    /// <summary>native (the default): this daemon's own format (docs/migration.md "What the state carries").</summary>
    Native,

    /// <summary>rust-1.13: what a Rust virtiofsd 1.13 destination reads (its PassthroughFs::V2, postcard).</summary>
    Rust113,
}

/// <summary>The Rust virtiofsd's migration options, same names and defaults, and --migration-state-format, which is this daemon's.</summary>
public sealed record MigrationOptions
{
    public MigrationMode Mode { get; init; } = MigrationMode.FindPaths;

    public MigrationErrorPolicy OnError { get; init; } = MigrationErrorPolicy.Abort;

    /// <summary>--migration-verify-handles (find-paths only): the source sends each inode's file handle too, and the destination
    /// refuses a path that leads to another inode (the same filesystem on both sides).</summary>
    public bool VerifyHandles { get; init; }

    /// <summary>--migration-confirm-paths (find-paths only): the source checks each path at switch-over. This daemon finds and checks
    /// every path at switch-over in any case (see docs/migration.md), so the option changes nothing here.</summary>
    public bool ConfirmPaths { get; init; }

    /// <summary>--migration-state-format: the source cannot know which daemon the destination runs, so the user says.</summary>
    public MigrationStateFormat StateFormat { get; init; } = MigrationStateFormat.Native;
}
