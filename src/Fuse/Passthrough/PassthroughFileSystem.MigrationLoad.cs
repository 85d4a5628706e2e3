using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Migration;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Live migration, the destination: takes over the nodes and handles the guest holds, under the ids it knows them by.
/// The state is hostile input: counts are bounded, ids checked, every path is opened below the share one plain
/// component at a time without following links (as a guest LOOKUP is), an inode opened by file handle must be shown to
/// be inside the share, and types must match. Everything is opened first and the tables change only at the end, so a
/// refused state (--migration-on-error abort) changes nothing; with guest-error, what could not be restored stays
/// unknown: the guest gets ESTALE for such a node and EBADF for its handles.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    /// <summary>Most nodes a state may carry: 16 Mi, well above what a guest makes a daemon hold (fd and memory limits).</summary>
    public const int MaxMigratedNodes = 16 << 20;

    /// <summary>Open flags a migrated handle may carry (what <see cref="AdjustOpenFlags"/> can leave, and O_DIRECTORY).</summary>
    private const int MigratableOpenFlags = Libc.O_ACCMODE | Libc.O_APPEND | Libc.O_NONBLOCK | Libc.O_DSYNC | Libc.O_DIRECT
        | Libc.O_LARGEFILE | Libc.O_DIRECTORY | Libc.O_NOATIME | Libc.O_SYNC | Libc.O_TRUNC;

    /// <summary>Bounds the ".." walk that shows a directory opened by handle is inside the share (PATH_MAX / 2 levels).</summary>
    private const int MaxDepth = 2048;

    /// <summary>Takes over the state. Returns null, or why it is refused (nothing changed then). Throws <see cref="StateFormatException"/> for a malformed state.</summary>
    public string? LoadState(StateReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        if (!_inodes.IsFresh || _handles.Count != 0)
        {
            return "this daemon already serves a guest";
        }
        byte modeByte = reader.U8("migration mode");
        if (modeByte > (byte)MigrationMode.FileHandles)
        {
            throw new StateFormatException($"migration mode {modeByte} is none");
        }
        var mode = (MigrationMode)modeByte;
        var inodes = new Dictionary<ulong, InodeState>();
        int count = reader.Count("node count", MaxMigratedNodes, InodeState.MinBytes);
        for (int i = 0; i < count; i++)
        {
            InodeState state = InodeState.Read(reader);
            if (!inodes.TryAdd(state.NodeId, state))
            {
                throw new StateFormatException($"node {state.NodeId} appears twice");
            }
        }
        var handles = new Dictionary<ulong, HandleState>();
        count = reader.Count("handle count", MaxMigratedNodes, HandleState.MinBytes);
        for (int i = 0; i < count; i++)
        {
            HandleState handle = HandleState.Read(reader);
            if (handle.NodeId != NodeId.Root.Value && !inodes.ContainsKey(handle.NodeId))
            {
                throw new StateFormatException($"handle {handle.Fh} names node {handle.NodeId}, which the state does not carry");
            }
            if ((handle.Flags & ~MigratableOpenFlags) != 0)
            {
                throw new StateFormatException($"handle {handle.Fh}: open flags 0x{handle.Flags:x} include ones no guest open leaves");
            }
            if (!handles.TryAdd(handle.Fh, handle))
            {
                throw new StateFormatException($"handle {handle.Fh} appears twice");
            }
        }
        reader.End();
        return Restore(mode, inodes, handles, []);
    }

    /// <summary>
    /// Opens every node and handle, then commits them all, or nothing. <paramref name="failures"/> holds what the caller
    /// already found unrestorable (it counts against --migration-on-error like what fails here).
    /// </summary>
    private string? Restore(MigrationMode mode, Dictionary<ulong, InodeState> inodes, Dictionary<ulong, HandleState> handles, List<string> failures,
        bool detectSubmounts = false)
    {
        MigrationOptions options = _options.Migration;
        var opened = new Dictionary<ulong, (int Fd, Statx Stat, bool Submount)>();
        var files = new List<(HandleState State, int Fd)>();
        try
        {
            foreach (InodeState state in inodes.Values)
            {
                string? problem = state.Lost is { } lost ? $"the source could not describe it: {lost}" : null;
                int fd = problem is null ? OpenMigrated(state, mode, out problem) : -1;
                if (fd >= 0)
                {
                    int r = Libc.StatxFd(fd, out Statx st);
                    if (r < 0 || (state.FileType != InodeState.UnknownType && (st.Mode & Libc.S_IFMT) != state.FileType))
                    {
                        problem = r < 0 ? $"statx: {Errno.Describe(r)}" : "it is of another file type here";
                        Libc.Close(fd);
                    }
                    else
                    {
                        bool submount = state.FileType == InodeState.UnknownType ? detectSubmounts && IsMountRoot(fd, st) : state.IsSubmountRoot;
                        opened.Add(state.NodeId, (fd, st, submount));
                    }
                }
                if (problem is not null)
                {
                    failures.Add($"node {state.NodeId}: {problem}");
                }
            }
            foreach (HandleState handle in handles.Values)
            {
                string? problem = ReopenHandle(handle, opened, out int fd, out bool isDirectory);
                if (problem is not null)
                {
                    failures.Add($"handle {handle.Fh} of node {handle.NodeId}: {problem}");
                    continue;
                }
                files.Add((handle with { IsDirectory = isDirectory }, fd));
            }
            foreach (string failure in failures)
            {
                _log.Warning("Migration: {Failure}", failure);
            }
            if (failures.Count > 0 && options.OnError == MigrationErrorPolicy.Abort)
            {
                return $"{failures.Count} node(s) or handle(s) cannot be restored and --migration-on-error is abort; the first: {failures[0]}";
            }
            Commit(inodes, opened, files);
            (int nodes, int reopened) = (opened.Count, files.Count);
            opened.Clear();
            files.Clear();
            _inodes.ReserveIds(inodes.Count == 0 ? 1 : inodes.Keys.Max());
            _handles.ReserveIds(handles.Count == 0 ? 0 : handles.Keys.Max());
            _log.Information("Migration: {Nodes} nodes and {Handles} open handles restored ({Mode}); {Failed} could not be (the guest gets errors for them)",
                nodes, reopened, mode, failures.Count);
            return null;
        }
        finally
        {
            // Whatever was not committed (a refusal, an exception) is closed again: nothing changed.
            foreach ((int fd, _, _) in opened.Values)
            {
                Libc.Close(fd);
            }
            foreach ((_, int fd) in files)
            {
                Libc.Close(fd);
            }
        }
    }

    private void Commit(Dictionary<ulong, InodeState> inodes, Dictionary<ulong, (int Fd, Statx Stat, bool Submount)> opened, List<(HandleState State, int Fd)> files)
    {
        foreach ((ulong id, (int fd, Statx st, bool submount)) in opened)
        {
            InodeState state = inodes[id];
            if (HandleFor(fd, st, out FileHandle? handle, out int mountFd) < 0)
            {
                handle = null;
                mountFd = -1;
            }
            Inode inode = _inodes.Restore(new NodeId(id), state.Lookups, fd, KeyOf(st), st.Mode & Libc.S_IFMT, submount, handle, mountFd);
            // Given back at once: a handle inode's fd goes to the cache (and may be closed), as after any request.
            _inodes.Return(inode);
        }
        foreach ((HandleState state, int fd) in files)
        {
            // An open file needs no pin of its inode: its own fd keeps the inode, and a handle inode deleted while
            // open is found again through the handle table (HandleTable.ReopenAnyOf).
            var file = new OpenFile(new NodeId(state.NodeId), fd, state.Flags, state.IsDirectory == true);
            if (!_handles.Restore(state.Fh, file))
            {
                // Duplicates were refused while reading: cannot happen, but never leak the fd.
                Libc.Close(fd);
            }
        }
    }

    /// <summary>Opens the inode a migrated node names (O_PATH), confined to the share; the fd or -errno with the reason.</summary>
    private int OpenMigrated(InodeState state, MigrationMode mode, out string? problem)
    {
        problem = null;
        if (mode == MigrationMode.FileHandles || state.ByHandle)
        {
            return OpenMigratedByHandle(state, out problem);
        }
        if (state.Path is null)
        {
            problem = "the source sent no path";
            return -Errno.ENOENT;
        }
        int fd = OpenRelative(state.Path, out string? why);
        if (fd < 0)
        {
            problem = $"'{System.Text.Encoding.UTF8.GetString(state.Path)}' cannot be opened below the share ({why})";
            return fd;
        }
        // --migration-verify-handles is the source's: a path that comes with a file handle must lead to that very inode.
        if (state.Handle is not null)
        {
            int r = Libc.NameToHandleAt(fd, default, Libc.AT_EMPTY_PATH, out FileHandle? here, out _);
            if (r < 0 || !here!.Equals(state.Handle))
            {
                Libc.Close(fd);
                problem = $"'{System.Text.Encoding.UTF8.GetString(state.Path)}' leads to another file than the source's (file handles differ)";
                return -Errno.ESTALE;
            }
        }
        return fd;
    }

    /// <summary>
    /// open_by_handle_at on the share's filesystem, then proof that the inode is inside the share, since a handle can
    /// name any file of the filesystem: a directory must reach the share's root through "..", anything else must be
    /// what the source's path (if any) leads to here, or be unlinked (no name anywhere: only a handle reaches it).
    /// </summary>
    private int OpenMigratedByHandle(InodeState state, out string? problem)
    {
        problem = null;
        if (state.Handle is null)
        {
            problem = "the source sent no file handle";
            return -Errno.ESTALE;
        }
        int mountFd = MountFdBelowShare(state.MountPath, out string? why);
        if (mountFd < 0)
        {
            problem = $"the filesystem of its file handle cannot be opened ({why})";
            return mountFd;
        }
        int fd = Libc.OpenByHandleAt(mountFd, state.Handle, HandleOpenFlags);
        if (fd < 0)
        {
            problem = fd == -Errno.EPERM ? "opening by file handle needs CAP_DAC_READ_SEARCH"
                : $"its file handle does not open here ({Errno.Describe(fd)}): another filesystem, or deleted";
            return fd;
        }
        string? outside = ProveInsideShare(fd, state);
        if (outside is not null)
        {
            Libc.Close(fd);
            problem = outside;
            return -Errno.ESTALE;
        }
        return fd;
    }

    private string? ProveInsideShare(int fd, InodeState state)
    {
        int r = Libc.StatxFd(fd, out Statx st);
        if (r < 0)
        {
            return $"statx: {Errno.Describe(r)}";
        }
        InodeKey key = KeyOf(st);
        if ((st.Mode & Libc.S_IFMT) == Libc.S_IFDIR)
        {
            return DirectoryReachesRoot(fd) ? null : "its file handle names a directory outside the share";
        }
        if (state.Path is not null)
        {
            int byPath = OpenRelative(state.Path, out _);
            if (byPath >= 0)
            {
                r = Libc.StatxFd(byPath, out Statx there);
                Libc.Close(byPath);
                if (r == 0 && KeyOf(there) == key)
                {
                    return null;
                }
            }
        }
        // No path from the source (a Rust virtiofsd sends none with a handle): the kernel's name for the inode, if it
        // leads back to it below the share, shows it is inside (the source's own check, FindPath).
        if (st.Nlink != 0 && FindPathOfFd(ReadFdPath(_inodes.Root.Fd), fd, key, out _) is null)
        {
            return null;
        }
        return st.Nlink == 0 ? null : "its file handle names a file outside the share, or one no longer where the source saw it";
    }

    /// <summary>Whether walking ".." from the directory reaches the share's root (bounded; stops at the filesystem's root).</summary>
    private bool DirectoryReachesRoot(int dirFd)
    {
        int current = Libc.Fcntl(dirFd, Libc.F_DUPFD_CLOEXEC, 0);
        try
        {
            for (int depth = 0; depth < MaxDepth && current >= 0; depth++)
            {
                if (Libc.StatxFd(current, out Statx st) < 0)
                {
                    return false;
                }
                InodeKey key = KeyOf(st);
                if (key == _inodes.Root.Key)
                {
                    return true;
                }
                int parent = Libc.Openat(current, ".."u8, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
                if (parent < 0 || (Libc.StatxFd(parent, out Statx up) == 0 && KeyOf(up) == key))
                {
                    // The top of the filesystem (its ".." is itself) without meeting the share's root.
                    if (parent >= 0)
                    {
                        Libc.Close(parent);
                    }
                    return false;
                }
                Libc.Close(current);
                current = parent;
            }
            return false;
        }
        finally
        {
            if (current >= 0)
            {
                Libc.Close(current);
            }
        }
    }

    /// <summary>Opens a migrated handle again: a regular file with the guest's flags (never O_TRUNC again), a directory for reading.</summary>
    private string? ReopenHandle(HandleState handle, Dictionary<ulong, (int Fd, Statx Stat, bool Submount)> opened, out int fd, out bool isDirectory)
    {
        fd = -1;
        isDirectory = false;
        int pathFd;
        uint type;
        if (handle.NodeId == NodeId.Root.Value)
        {
            pathFd = _inodes.Root.Fd;
            type = Libc.S_IFDIR;
        }
        else if (opened.TryGetValue(handle.NodeId, out (int Fd, Statx Stat, bool Submount) node))
        {
            pathFd = node.Fd;
            type = node.Stat.Mode & Libc.S_IFMT;
        }
        else
        {
            return "its node was not restored";
        }
        isDirectory = handle.IsDirectory ?? type == Libc.S_IFDIR;
        if (isDirectory != (type == Libc.S_IFDIR) || (!isDirectory && type != Libc.S_IFREG))
        {
            return "the handle's kind does not match its node's type";
        }
        int flags = isDirectory ? Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NONBLOCK
            : (AdjustOpenFlags((uint)handle.Flags) & ~Libc.O_TRUNC) | Libc.O_NOCTTY;
        fd = ReopenFd(pathFd, flags);
        return fd < 0 ? $"cannot be opened again ({Errno.Describe(fd)})" : null;
    }

    /// <summary>
    /// Whether a directory is the root of a mount other than its parent's: its "..", which crosses back to the mount
    /// point's directory, is on another mount or device (how a LOOKUP decides the submount flag).
    /// </summary>
    private bool IsMountRoot(int fd, in Statx st)
    {
        if ((st.Mode & Libc.S_IFMT) != Libc.S_IFDIR)
        {
            return false;
        }
        int parent = Libc.Openat(fd, ".."u8, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (parent < 0)
        {
            return false;
        }
        int r = Libc.StatxFd(parent, out Statx up);
        Libc.Close(parent);
        return r == 0 && IsMountRootBelow(Libc.S_IFDIR, KeyOf(st), KeyOf(up));
    }

    /// <summary>A mount fd for the filesystem of the directory <paramref name="path"/> below the share (null or ".": the share's own).</summary>
    private int MountFdBelowShare(byte[]? path, out string? why)
    {
        why = null;
        if (path is null || path.AsSpan().SequenceEqual("."u8) || path.Length == 0)
        {
            int fd = MountFd(_inodes.Root.Fd, _inodes.Root.Key.MountId, isDirectory: true);
            why = fd < 0 ? $"the share: {Errno.Describe(fd)}" : null;
            return fd;
        }
        int dir = OpenRelative(path, out string? openWhy);
        if (dir < 0)
        {
            why = $"'{System.Text.Encoding.UTF8.GetString(path)}' cannot be opened below the share ({openWhy})";
            return dir;
        }
        try
        {
            int r = Libc.StatxFd(dir, out Statx st);
            if (r < 0)
            {
                why = $"statx: {Errno.Describe(r)}";
                return r;
            }
            int fd = MountFd(dir, KeyOf(st).MountId, (st.Mode & Libc.S_IFMT) == Libc.S_IFDIR);
            why = fd < 0 ? $"'{System.Text.Encoding.UTF8.GetString(path)}': {Errno.Describe(fd)}" : null;
            return fd;
        }
        finally
        {
            Libc.Close(dir);
        }
    }
}
