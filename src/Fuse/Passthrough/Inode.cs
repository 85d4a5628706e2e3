using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// The identity of a host inode: st_dev and st_ino are unique only within one mount of a
/// filesystem, and the same filesystem can be mounted twice, so the mount id (statx STATX_MNT_ID)
/// is part of the key, as in virtiofsd.
/// </summary>
internal readonly record struct InodeKey(ulong Dev, ulong Ino, ulong MountId);

/// <summary>
/// One host inode the guest knows about, and bookkeeping guarded by the <see cref="InodeTable"/>'s lock. Without a
/// file handle an O_PATH fd pins it for the node's whole life (so its inode number cannot be reused while the guest
/// holds the node id). With one (--inode-file-handles) the fd is only held while requests use the inode and then in
/// the table's bounded cache; when it is not open, the next borrower opens it again by handle.
/// </summary>
internal sealed class Inode
{
    public Inode(NodeId id, InodeKey key, int fd, uint fileType, bool isSubmountRoot, FileHandle? handle = null, int mountFd = -1,
        long birth = 0)
    {
        Id = id;
        Birth = birth;
        Key = key;
        HeldFd = fd;
        FileType = fileType;
        IsSubmountRoot = isSubmountRoot;
        Handle = handle;
        MountFd = mountFd;
    }

    public NodeId Id { get; }

    /// <summary>
    /// The inode's birth time in nanoseconds (statx STATX_BTIME), 0 where the filesystem has none: with the key, it
    /// identifies the inode even when no fd pins it (a recycled inode number is born later).
    /// </summary>
    public long Birth { get; }

    public InodeKey Key { get; }

    /// <summary>
    /// O_PATH|O_NOFOLLOW descriptor: usable as a dirfd and for *at(fd, "", AT_EMPTY_PATH) calls, never for I/O.
    /// Valid while the inode is borrowed (<see cref="InodeTable.Borrow"/>); a handle inode's may close after that.
    /// </summary>
    public int Fd => HeldFd;

    /// <summary>The fd behind <see cref="Fd"/>, -1 while a handle inode has none open. Guarded by the table lock.</summary>
    internal int HeldFd;

    /// <summary>The inode's file handle, or null for an fd-pinned inode (no handles, or its filesystem has none).</summary>
    public FileHandle? Handle { get; }

    /// <summary>A real (not O_PATH) fd on the inode's mount, for open_by_handle_at; owned by the mount table.</summary>
    public int MountFd { get; }

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

    /// <summary>
    /// Whether the inode is in the table's cache of open, unborrowed handle-inode fds (<see cref="InodeFdCache"/>), and
    /// its neighbours there. fd inodes never enter it. Guarded by the table lock.
    /// </summary>
    internal bool InCache;

    internal Inode? CachePrevious;

    internal Inode? CacheNext;

    /// <summary>
    /// Per guest lock owner, the open file description that holds that owner's POSIX locks (see <see cref="PosixLockOwners"/>).
    /// Made by the first lock request: most inodes never see one, and a load of lookups then allocates two objects
    /// fewer per new inode.
    /// </summary>
    public PosixLockOwners Locks => Volatile.Read(ref _locks) ?? CreateLocks();

    /// <summary>The lock owners if a lock request made them; null when there is nothing to close or unlock.</summary>
    public PosixLockOwners? LocksIfAny => Volatile.Read(ref _locks);

    private PosixLockOwners? _locks;

    private PosixLockOwners CreateLocks()
    {
        // Two first lock requests may race: one object wins and both use it.
        Interlocked.CompareExchange(ref _locks, new PosixLockOwners(), null);
        return _locks!;
    }
}
