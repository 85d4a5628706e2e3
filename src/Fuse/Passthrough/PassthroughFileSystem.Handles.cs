using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Inode file handles (--inode-file-handles): known inodes held by name_to_handle_at handles and opened again by
/// open_by_handle_at when a request needs them, so a guest that walks a large tree costs no fd per inode.
/// </summary>
/// <remarks>
/// Handles never come from the guest: the guest sees node ids only, and each handle is one the daemon made itself
/// from an fd it had opened inside the share. Every fd opened by handle is checked against the inode it must be
/// (same mount, device, inode number and type) before any request uses it.
/// </remarks>
public sealed partial class PassthroughFileSystem
{
    private const int HandleOpenFlags = Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;

    /// <summary>Whether inodes get file handles (after the start-up check: Prefer may have turned into Never).</summary>
    private readonly InodeFileHandleMode _handleMode;

    /// <summary>Per host mount id, a real (O_RDONLY directory) fd for open_by_handle_at; guarded by itself.</summary>
    private readonly Dictionary<ulong, int> _mountFds = new();

    /// <summary>How this filesystem holds inodes: Never, or Prefer / Mandatory when file handles work here.</summary>
    public InodeFileHandleMode HandleMode => _handleMode;

    /// <summary>Handle inodes whose fd sits in the cache, unborrowed (for tests and diagnostics).</summary>
    public int CachedInodeFds => _inodes.CachedFds;

    /// <summary>
    /// Decides at start whether file handles work for the shared directory: its filesystem exports them and this
    /// process may open them (CAP_DAC_READ_SEARCH). Prefer falls back to fds with a log line; Mandatory refuses.
    /// </summary>
    private InodeFileHandleMode ProbeFileHandles(int rootFd, in Statx rootStat)
    {
        InodeFileHandleMode mode = _options.InodeFileHandles;
        if (mode == InodeFileHandleMode.Never)
        {
            return mode;
        }
        string? problem = null;
        int r = Libc.NameToHandleAt(rootFd, default, Libc.AT_EMPTY_PATH, out FileHandle? handle, out _);
        if (r < 0)
        {
            problem = r == -Errno.EOPNOTSUPP
                ? "the shared directory's filesystem has no file handles"
                : $"name_to_handle_at failed: {Errno.Describe(r)}";
        }
        else if (MountFd(rootFd, rootStat.MntId, isDirectory: true) is var mountFd && mountFd < 0)
        {
            problem = "cannot open the shared directory for reading";
        }
        else
        {
            int fd = Libc.OpenByHandleAt(mountFd, handle!, HandleOpenFlags);
            if (fd < 0)
            {
                problem = fd == -Errno.EPERM
                    ? "opening by handle needs CAP_DAC_READ_SEARCH, which this process does not have"
                    : $"open_by_handle_at failed: {Errno.Describe(fd)}";
            }
            else
            {
                Libc.Close(fd);
            }
        }
        if (problem is null)
        {
            _log.Information("Inode file handles: {Mode}; at most {Cache} unused inode fds stay open", mode, _options.InodeFdCacheSize);
            return mode;
        }
        if (mode == InodeFileHandleMode.Mandatory)
        {
            throw new IOException($"--inode-file-handles=mandatory: {problem}");
        }
        _log.Information("Inode file handles not used ({Problem}): every known inode holds an O_PATH fd", problem);
        return InodeFileHandleMode.Never;
    }

    /// <summary>
    /// The file handle for a new inode behind <paramref name="fd"/>, and the mount fd to open it with. Returns 0 with
    /// a handle, 0 with none (fds only, or Prefer where this filesystem or mount has none), or -errno (Mandatory).
    /// </summary>
    private int HandleFor(int fd, in Statx st, out FileHandle? handle, out int mountFd)
    {
        handle = null;
        mountFd = -1;
        if (_handleMode == InodeFileHandleMode.Never)
        {
            return 0;
        }
        int r = Libc.NameToHandleAt(fd, default, Libc.AT_EMPTY_PATH, out FileHandle? h, out _);
        if (r == 0)
        {
            r = MountFd(fd, st.MntId, (st.Mode & Libc.S_IFMT) == Libc.S_IFDIR);
            if (r >= 0)
            {
                handle = h;
                mountFd = r;
                return 0;
            }
        }
        return _handleMode == InodeFileHandleMode.Mandatory ? r : 0;
    }

    /// <summary>
    /// The mount fd of mount <paramref name="mountId"/>, opened the first time from a directory on it (the share's
    /// root, or a submount's root as the guest reaches it). -EOPNOTSUPP when the first inode seen there is not a
    /// directory (a bind-mounted file): such a mount keeps its inodes by fd.
    /// </summary>
    private int MountFd(int pathFd, ulong mountId, bool isDirectory)
    {
        lock (_mountFds)
        {
            if (_mountFds.TryGetValue(mountId, out int known))
            {
                return known;
            }
            if (!isDirectory)
            {
                return -Errno.EOPNOTSUPP;
            }
            int fd = ReopenFd(pathFd, Libc.O_RDONLY | Libc.O_DIRECTORY);
            if (fd >= 0)
            {
                _mountFds.Add(mountId, fd);
            }
            return fd;
        }
    }

    /// <summary>
    /// The inode table's way back to a handle inode: open_by_handle_at on its mount, then a check that the fd is
    /// that inode on that mount. ESTALE when the inode was deleted on the host, or anything else came back.
    /// </summary>
    internal int OpenInodeByHandle(Inode inode)
    {
        int fd = Libc.OpenByHandleAt(inode.MountFd, inode.Handle!, HandleOpenFlags);
        if (fd < 0)
        {
            // An inode unlinked on either side while the guest has it open has no handle any more (ext4 answers
            // ESTALE for a deleted inode) but is still reachable through the open file, as a local process's fstat is.
            int viaOpenFile = _handles.ReopenAnyOf(inode.Id, ReopenPathFd);
            if (viaOpenFile >= 0)
            {
                fd = viaOpenFile;
            }
            else
            {
                return fd == -Errno.ESTALE || fd == -Errno.ENOENT ? -Errno.ESTALE : fd;
            }
        }
        int r = Libc.StatxFd(fd, out Statx st);
        if (r < 0 || KeyOf(st) != inode.Key || (st.Mode & Libc.S_IFMT) != inode.FileType)
        {
            Libc.Close(fd);
            _log.Warning("Node {Node}: the inode opened by its file handle is not the one looked up; answering ESTALE", inode.Id.Value);
            return -Errno.ESTALE;
        }
        return fd;
    }

    /// <summary>An O_PATH fd of the inode an open fd refers to (its /proc/self/fd reopen), or -errno.</summary>
    private int ReopenPathFd(int fd) => ReopenFd(fd, Libc.O_PATH);

    /// <summary>The mount fd kept for mount <paramref name="mountId"/>, or -1 (tests).</summary>
    internal int MountFdFor(ulong mountId)
    {
        lock (_mountFds)
        {
            return _mountFds.TryGetValue(mountId, out int fd) ? fd : -1;
        }
    }

    /// <summary>Registers an open fd of <paramref name="node"/> as a FUSE handle.</summary>
    private HandleId AddHandle(NodeId node, int fd, int flags, bool isDirectory)
        => _handles.Add(new OpenFile(node, fd, flags, isDirectory));

    private void CloseMountFds()
    {
        lock (_mountFds)
        {
            foreach (int fd in _mountFds.Values)
            {
                Libc.Close(fd);
            }
            _mountFds.Clear();
        }
    }
}
