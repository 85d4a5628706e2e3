namespace VirtioFsd.Fuse.Server;

/// <summary>How long the guest may cache names, attributes and data (virtiofsd's --cache).</summary>
public enum CacheMode
{
    /// <summary>No caching: zero timeouts, FOPEN_DIRECT_IO on every file.</summary>
    Never,

    /// <summary>Metadata for a day, file data not cached (FOPEN_DIRECT_IO).</summary>
    Metadata,

    /// <summary>Timeouts of 1 s, page cache kept until the guest sees a change (the default).</summary>
    Auto,

    /// <summary>Timeouts of a day and FOPEN_KEEP_CACHE: the share is not changed behind the guest's back.</summary>
    Always,
}

/// <summary>What the server negotiates and enforces; the defaults are the daemon's (the Rust virtiofsd's).</summary>
public sealed record FuseServerOptions
{
    /// <summary>Largest WRITE/READ payload (fuse_init_out.max_write): 1 MiB, the FUSE_MAX_MAX_PAGES (256) limit of the guest.</summary>
    public const uint DefaultMaxWrite = 1024 * 1024;

    public CacheMode Cache { get; init; } = CacheMode.Auto;

    /// <summary>--writeback: FUSE_WRITEBACK_CACHE (never in read-only mode).</summary>
    public bool Writeback { get; init; }

    /// <summary>--allow-direct-io: pass O_DIRECT through; otherwise it is stripped from open flags.</summary>
    public bool AllowDirectIo { get; init; }

    /// <summary>--translate-uid: guest uids to host uids and back.</summary>
    public IdTranslation Uids { get; init; } = IdTranslation.Identity;

    /// <summary>--translate-gid: guest gids to host gids and back.</summary>
    public IdTranslation Gids { get; init; } = IdTranslation.Identity;

    /// <summary>--allow-mmap: FUSE_DIRECT_IO_ALLOW_MMAP (shared mmap on FOPEN_DIRECT_IO files).</summary>
    public bool AllowMmap { get; init; }

    /// <summary>
    /// --security-label: FUSE_SECURITY_CTX, so the guest sends the security label (e.g. security.selinux) of
    /// each file it creates, and the filesystem stores it on the new host inode.
    /// </summary>
    public bool SecurityLabel { get; init; }

    /// <summary>READDIRPLUS (off with --no-readdirplus).</summary>
    public bool ReadDirPlus { get; init; } = true;

    /// <summary>--xattr: extended attributes; otherwise the xattr opcodes get ENOSYS without reaching the filesystem.</summary>
    public bool Xattr { get; init; }

    /// <summary>--posix-acl: FUSE_POSIX_ACL with DONT_MASK and SETXATTR_EXT (needs <see cref="Xattr"/>).</summary>
    public bool PosixAcl { get; init; }

    /// <summary>--killpriv-v2: FUSE_HANDLE_KILLPRIV_V2.</summary>
    public bool KillPrivV2 { get; init; }

    /// <summary>--announce-submounts (on by default, as in the Rust virtiofsd 1.13): FUSE_SUBMOUNTS.</summary>
    public bool AnnounceSubmounts { get; init; } = true;

    /// <summary>FUSE_POSIX_LOCKS: fcntl locks go to the filesystem instead of staying local to the guest.</summary>
    public bool PosixLocks { get; init; } = true;

    /// <summary>FUSE_FLOCK_LOCKS: flock(2) locks go to the filesystem.</summary>
    public bool FlockLocks { get; init; } = true;

    /// <summary>--readonly: write-class requests get EROFS before reaching the filesystem.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>
    /// FUSE_OVER_IO_URING: offered only by a /dev/fuse transport that has its io_uring queues ready to
    /// register; a kernel that accepts it blocks every request until all queues are registered.
    /// </summary>
    public bool OverIoUring { get; init; }

    /// <summary>
    /// An open with O_DIRECT gets FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES (as libfuse's passthrough_hp):
    /// the caller's I/O bypasses the kernel's page cache either way, but without FOPEN_DIRECT_IO every
    /// O_DIRECT read first revalidates the attributes (a GETATTR after each write, FUSE_AUTO_INVAL_DATA) and
    /// writes hold the inode lock. Host mounts set it; virtio-fs keeps virtiofsd's replies.
    /// </summary>
    public bool DirectIoForODirect { get; init; }

    /// <summary>
    /// A LOOKUP of a missing name is answered with a negative entry (node id 0, valid for <see cref="EntryTimeout"/>)
    /// instead of ENOENT, as libfuse's passthrough_hp answers: the kernel keeps the miss in its dentry cache, so the
    /// same name looked up again within the timeout (an open(O_CREAT) after a stat, a search path probed twice) does
    /// not come back. A name made behind the kernel's back then stays unseen for up to that timeout, as a removed one
    /// stays seen. Host mounts set it; virtio-fs answers ENOENT, as the Rust virtiofsd does. No effect with a zero
    /// timeout (cache=never).
    /// </summary>
    public bool NegativeEntries { get; init; }

    /// <summary>fuse_init_out.max_write; clamped to [4 KiB, 1 MiB].</summary>
    public uint MaxWrite { get; init; } = DefaultMaxWrite;

    /// <summary>Entry (name) cache timeout for the cache mode (Rust virtiofsd: never 0, auto 1 s, metadata/always 1 day).</summary>
    public TimeSpan EntryTimeout => Cache switch
    {
        CacheMode.Never => TimeSpan.Zero,
        CacheMode.Auto => TimeSpan.FromSeconds(1),
        _ => TimeSpan.FromDays(1),
    };

    /// <summary>Attribute cache timeout; the same as <see cref="EntryTimeout"/>.</summary>
    public TimeSpan AttrTimeout => EntryTimeout;
}
