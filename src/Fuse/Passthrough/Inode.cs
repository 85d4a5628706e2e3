using VirtioFsd.Fuse.FileSystem;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// The identity of a host inode: st_dev and st_ino are unique only within one mount of a
/// filesystem, and the same filesystem can be mounted twice, so the mount id (statx STATX_MNT_ID)
/// is part of the key, as in virtiofsd.
/// </summary>
internal readonly record struct InodeKey(ulong Dev, ulong Ino, ulong MountId);

/// <summary>
/// One host inode the guest knows about: an O_PATH fd that pins it (so its inode number cannot be
/// reused while the guest holds the node id), plus bookkeeping guarded by the <see cref="InodeTable"/>'s lock.
/// </summary>
internal sealed class Inode
{
    public Inode(NodeId id, InodeKey key, int fd, uint fileType, bool isSubmountRoot)
    {
        Id = id;
        Key = key;
        Fd = fd;
        FileType = fileType;
        IsSubmountRoot = isSubmountRoot;
    }

    public NodeId Id { get; }

    public InodeKey Key { get; }

    /// <summary>O_PATH|O_NOFOLLOW descriptor: usable as a dirfd and for *at(fd, "", AT_EMPTY_PATH) calls, never for I/O.</summary>
    public int Fd { get; }

    /// <summary>The S_IFMT bits, fixed for an inode's life: what OPEN may do with it is decided from this.</summary>
    public uint FileType { get; }

    public bool IsSubmountRoot { get; }

    public bool IsDirectory => FileType == Linux.Libc.S_IFDIR;

    public bool IsRegular => FileType == Linux.Libc.S_IFREG;

    public bool IsSymlink => FileType == Linux.Libc.S_IFLNK;

    /// <summary>Guest lookups not yet forgotten (saturating). Guarded by the table lock.</summary>
    internal ulong Lookups;

    /// <summary>Requests currently using <see cref="Fd"/>. Guarded by the table lock.</summary>
    internal int Borrows;

    /// <summary>Forgotten: no longer reachable by id or key; the fd closes when the last borrower returns.</summary>
    internal bool Dropped;

    /// <summary>Per guest lock owner, the open file description that holds that owner's POSIX locks (see <see cref="PosixLockOwners"/>).</summary>
    public PosixLockOwners Locks { get; } = new();
}
