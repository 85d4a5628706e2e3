namespace VirtioFsd.Fuse.Passthrough;

/// <summary>Whether the guest may create character and block device nodes.</summary>
public enum DeviceNodePolicy
{
    /// <summary>MKNOD of S_IFCHR / S_IFBLK is refused with EPERM (the default: a device node in the share is a way out of it).</summary>
    Deny,

    /// <summary>A caller with guest uid 0 may create device nodes (the daemon opens none of them either way).</summary>
    AllowForRoot,
}

/// <summary>How inodes the guest knows are held (virtiofsd's --inode-file-handles).</summary>
public enum InodeFileHandleMode
{
    /// <summary>Every known inode holds an O_PATH fd for the node's life.</summary>
    Never,

    /// <summary>File handles where the filesystem and the daemon's capabilities allow (CAP_DAC_READ_SEARCH), fds elsewhere.</summary>
    Prefer,

    /// <summary>File handles for every inode: the filesystem refuses to start, and a lookup fails, where there are none.</summary>
    Mandatory,
}

/// <summary>
/// Settings of a <see cref="PassthroughFileSystem"/>, fixed for its lifetime; the defaults are the daemon's. What the
/// guest negotiates at INIT (write-back cache, KILLPRIV_V2, submounts) is not here: the filesystem learns it from
/// <see cref="PassthroughFileSystem.Init"/>.
/// </summary>
public sealed record PassthroughOptions
{
    /// <summary>The host directory the guest sees as its root.</summary>
    public required string SharedDirectory { get; init; }

    /// <summary>
    /// An O_PATH fd of /proc/self/fd opened before a sandbox (chroot, pivot_root) hid the host's
    /// /proc, or null to open it here. The filesystem works on its own duplicate (F_DUPFD_CLOEXEC),
    /// so the caller keeps ownership of this fd and may close it whenever it likes.
    /// </summary>
    public int? ProcSelfFd { get; init; }

    /// <summary>Serve extended attributes; without it every *XATTR request gets ENOSYS so the guest stops asking.</summary>
    public bool Xattr { get; init; }

    /// <summary>Pass system.posix_acl_* attributes through; without it they are refused with EOPNOTSUPP.</summary>
    public bool PosixAcl { get; init; }

    /// <summary>
    /// Whether a guest root may create device nodes: yes, as both existing virtiofsd daemons allow (the daemon itself
    /// never opens one; OPEN of a device node is refused).
    /// </summary>
    public DeviceNodePolicy DeviceNodes { get; init; } = DeviceNodePolicy.AllowForRoot;

    /// <summary>--preserve-noatime: O_NOATIME from the guest reaches the host open; by default it is dropped.</summary>
    public bool PreserveNoatime { get; init; }

    /// <summary>
    /// Long-lived fds (inodes, open files) the guest may make the daemon hold; null: the process's soft fd limit
    /// minus a reserve (see <see cref="GuestFdQuota"/>).
    /// </summary>
    public long? GuestFdLimit { get; init; }

    /// <summary>--xattrmap: guest and host extended attribute names differ by these rules; null passes names unchanged.</summary>
    public XattrMap? XattrMap { get; init; }

    /// <summary>--inode-file-handles: Prefer by default, as the Rust virtiofsd since 1.13.3 (Kata passes it).</summary>
    public InodeFileHandleMode InodeFileHandles { get; init; } = InodeFileHandleMode.Prefer;

    /// <summary>--migration-mode, --migration-on-error, --migration-verify-handles, --migration-confirm-paths.</summary>
    public Migration.MigrationOptions Migration { get; init; } = new();

    /// <summary>With file handles: how many open fds of inodes no request uses are kept, most recently used first.</summary>
    public int InodeFdCacheSize { get; init; } = DefaultInodeFdCacheSize;

    /// <summary>
    /// 1,024: enough for a guest's working set of directories and files to stay open (a cache miss costs an
    /// open_by_handle_at and a statx), little against the fd limit the daemon raises to (1,000,000 by default).
    /// </summary>
    public const int DefaultInodeFdCacheSize = 1024;
}
