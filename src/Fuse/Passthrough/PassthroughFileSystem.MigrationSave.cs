using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Migration;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Live migration, the source: what the guest holds (every node it knows with its lookup count, every open handle) and
/// how the destination finds each inode again, by path below the share or by file handle (--migration-mode). Runs
/// while every queue is stopped (the phase the transport allows), so nothing changes under it; it changes nothing,
/// since a failed migration leaves the guest running here.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    /// <summary>Tests: save with these options instead of the filesystem's own.</summary>
    internal MigrationOptions? MigrationOptionsForTests { get; set; }

    /// <summary>
    /// Writes the filesystem's state. Returns null, or why the state cannot be saved (a node without a path or handle,
    /// or locks held, under --migration-on-error=abort): the migration then fails and the guest keeps running here.
    /// </summary>
    public string? SaveState(StateWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        MigrationOptions options = MigrationOptionsForTests ?? _options.Migration;
        string? problem = Describe(options, out List<InodeState> inodes, out List<(ulong Id, OpenFile File)> handles);
        if (problem is not null)
        {
            return problem;
        }
        writer.U8((byte)options.Mode);
        writer.U32((uint)inodes.Count);
        foreach (InodeState inode in inodes)
        {
            inode.Write(writer);
        }
        writer.U32((uint)handles.Count);
        foreach ((ulong fh, OpenFile file) in handles)
        {
            new HandleState(fh, file.Node.Value, file.Flags, file.IsDirectory).Write(writer);
        }
        _log.Information("Migration: state of {Nodes} nodes ({Lost} lost) and {Handles} open handles saved ({Mode})",
            inodes.Count, inodes.Count(i => i.Lost is not null), handles.Count, options.Mode);
        return null;
    }

    /// <summary>Every node the guest knows with how to find it (or why it cannot be), and every open handle; null, or why the
    /// migration is refused here (--migration-on-error abort and a node lost, or locks held).</summary>
    private string? Describe(MigrationOptions options, out List<InodeState> inodes, out List<(ulong Id, OpenFile File)> handles)
    {
        handles = [];
        bool byHandle = options.Mode == MigrationMode.FileHandles;
        byte[]? rootPath = ReadFdPath(_inodes.Root.Fd);
        inodes = [];
        var nodes = _inodes.SnapshotBorrowed();
        int lost = 0;
        try
        {
            foreach ((NodeId id, ulong lookups, Inode? inode, uint type, bool submount) in nodes)
            {
                byte[]? path = null;
                FileHandle? handle = null;
                string? problem;
                if (inode is null)
                {
                    problem = "deleted on the host (its file handle is stale)";
                }
                else
                {
                    problem = FindPath(rootPath, inode, out path);
                    if (byHandle || options.VerifyHandles)
                    {
                        string? handleProblem = HandleOf(inode, out handle);
                        problem = byHandle ? handleProblem : problem ?? handleProblem;
                    }
                }
                if (problem is not null)
                {
                    lost++;
                    _log.Warning("Migration: node {Node} cannot be described to the destination: {Problem}", id.Value, problem);
                    if (options.OnError == MigrationErrorPolicy.Abort)
                    {
                        return $"node {id.Value} cannot be migrated ({problem}) and --migration-on-error is abort";
                    }
                }
                inodes.Add(new InodeState(id.Value, lookups, type, submount, path, handle, problem));
            }
        }
        finally
        {
            foreach ((_, _, Inode? inode, _, _) in nodes)
            {
                if (inode is not null)
                {
                    _inodes.Return(inode);
                }
            }
        }
        handles = _handles.Snapshot();
        string? lockProblem = CheckLocks(handles, options.OnError);
        if (lockProblem is not null)
        {
            return lockProblem;
        }
        if (lost > 0)
        {
            _log.Warning("Migration: {Lost} node(s) travel as lost (--migration-on-error guest-error)", lost);
        }
        return null;
    }

    /// <summary>
    /// The inode's path relative to the share: the kernel's name for our fd (/proc/self/fd/N), checked by opening that
    /// path below the share's root, one component at a time without following links, and comparing the inode. Null
    /// (and the path) or the reason there is none (unlinked, renamed out of the share, a name not leading back to it).
    /// </summary>
    private string? FindPath(byte[]? rootPath, Inode inode, out byte[]? path) => FindPathOfFd(rootPath, inode.Fd, inode.Key, out path);

    /// <summary><see cref="FindPath"/> of any fd of ours (the inode <paramref name="key"/>).</summary>
    private string? FindPathOfFd(byte[]? rootPath, int inodeFd, InodeKey key, out byte[]? path)
    {
        path = null;
        if (rootPath is null)
        {
            return "the shared directory has no path in /proc/self/fd";
        }
        byte[]? full = ReadFdPath(inodeFd);
        if (full is null)
        {
            return "no path in /proc/self/fd";
        }
        ReadOnlySpan<byte> rest;
        if (rootPath.AsSpan().SequenceEqual("/"u8))
        {
            rest = full.AsSpan().StartsWith("/"u8) ? full.AsSpan(1) : default;
        }
        else if (full.AsSpan().StartsWith(rootPath) && full.Length > rootPath.Length && full[rootPath.Length] == (byte)'/')
        {
            rest = full.AsSpan(rootPath.Length + 1);
        }
        else
        {
            return $"its path '{System.Text.Encoding.UTF8.GetString(full)}' is not below the shared directory";
        }
        int fd = OpenRelative(rest, out string? why);
        if (fd < 0)
        {
            return $"its path '{System.Text.Encoding.UTF8.GetString(rest)}' does not lead back to it ({why})";
        }
        int r = Libc.StatxFd(fd, out Statx st);
        Libc.Close(fd);
        if (r < 0 || KeyOf(st) != key)
        {
            return $"its path '{System.Text.Encoding.UTF8.GetString(rest)}' now names another inode";
        }
        path = rest.ToArray();
        return null;
    }

    /// <summary>The inode's file handle (the one it is held by, or one made now); null or why there is none.</summary>
    private string? HandleOf(Inode inode, out FileHandle? handle)
    {
        handle = inode.Handle;
        if (handle is not null)
        {
            return null;
        }
        int r = Libc.NameToHandleAt(inode.Fd, default, Libc.AT_EMPTY_PATH, out handle, out _);
        return r < 0 ? $"no file handle ({Errno.Describe(r)})" : null;
    }

    /// <summary>
    /// Locks the guest holds cannot move: the destination daemon is another process, and the source's locks stay until
    /// it exits, so the destination could not take them anyway. abort refuses the migration while any file the guest
    /// has open is locked (the guest keeps running with its locks); guest-error migrates without them, saying so: the
    /// guest then believes it holds locks nothing enforces any more. A lock needs an open FUSE handle (SETLK and flock
    /// come with one), so the files with open handles are all there is to ask about (<see cref="LockProbe"/>).
    /// </summary>
    private string? CheckLocks(List<(ulong Id, OpenFile File)> handles, MigrationErrorPolicy onError)
    {
        int locked = 0;
        foreach (OpenFile file in handles.Select(h => h.File).Where(f => !f.IsDirectory).DistinctBy(f => f.Node))
        {
            // A private description of the file (the handle's own would not see its own locks as conflicts).
            int probe = ReopenFd(file.Fd, Libc.O_RDONLY | Libc.O_NONBLOCK);
            if (probe < 0)
            {
                _log.Warning("Migration: cannot ask whether node {Node} is locked ({Errno}); assuming it is not", file.Node.Value, Errno.Describe(probe));
                continue;
            }
            locked += LockProbe.IsLocked(probe) ? 1 : 0;
            Libc.Close(probe);
        }
        if (locked == 0)
        {
            return null;
        }
        if (onError == MigrationErrorPolicy.Abort)
        {
            return $"{locked} file(s) the guest has open hold POSIX or flock locks, which cannot move to another daemon; --migration-on-error is abort";
        }
        _log.Warning("Migration: {Locked} file(s) the guest has open hold POSIX or flock locks; they are not migrated (--migration-on-error " +
            "guest-error): the destination does not enforce them", locked);
        return null;
    }

    /// <summary>The kernel's path of our fd (readlink of /proc/self/fd/N), or null.</summary>
    private byte[]? ReadFdPath(int fd)
    {
        Span<byte> digits = stackalloc byte[16];
        int n = FdName(fd, digits);
        byte[] target = new byte[InodeState.MaxPath + 1];
        int length = Libc.Readlinkat(_procSelfFd, digits[..n], target);
        return length <= 0 || length > InodeState.MaxPath ? null : target.AsSpan(0, length).ToArray();
    }

    /// <summary>
    /// Opens <paramref name="path"/> (relative, '/'-separated) below the share's root as O_PATH, one validated component at
    /// a time without following a symlink or magic link anywhere ("..", ".", empty and absolute paths are refused): the same
    /// confinement as every guest LOOKUP. Returns the fd or -errno with the reason.
    /// </summary>
    private int OpenRelative(ReadOnlySpan<byte> path, out string? why)
    {
        why = null;
        if (path.IsEmpty || path.Length > InodeState.MaxPath)
        {
            why = "empty or longer than PATH_MAX";
            return -Errno.EINVAL;
        }
        int dir = -1;
        try
        {
            while (true)
            {
                int slash = path.IndexOf((byte)'/');
                ReadOnlySpan<byte> name = slash < 0 ? path : path[..slash];
                if (Names.Validate(name) < 0)
                {
                    why = $"component '{System.Text.Encoding.UTF8.GetString(name)}' is not a plain name";
                    return -Errno.EINVAL;
                }
                int fd = OpenPathBeneath(dir < 0 ? _inodes.Root.Fd : dir, name);
                if (fd < 0)
                {
                    why = Errno.Describe(fd);
                    return fd;
                }
                if (dir >= 0)
                {
                    Libc.Close(dir);
                }
                dir = fd;
                if (slash < 0)
                {
                    int result = dir;
                    dir = -1;
                    return result;
                }
                path = path[(slash + 1)..];
            }
        }
        finally
        {
            if (dir >= 0)
            {
                Libc.Close(dir);
            }
        }
    }
}
