using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Migration;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Live migration with the Rust virtiofsd 1.13 (docs/migration.md "The Rust virtiofsd 1.13 and this daemon"): its
/// state (<see cref="RustState"/>) mapped onto ours and back. Their inodes are found as ours are: a path below the share
/// (their parent + name chains and full paths, opened one plain component at a time without following links), or a
/// file handle proven to be inside the share; the same --migration-on-error decides what cannot be restored.
/// Their refcount of an inode is the guest's lookups plus one per inode whose location names it as parent (their
/// source takes that reference, their destination drops it), so the guest's lookup count is the difference.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    /// <summary>The format this daemon saves its state in as a source (--migration-state-format).</summary>
    public MigrationStateFormat MigrationStateFormat => (MigrationOptionsForTests ?? _options.Migration).StateFormat;

    /// <summary>Deepest parent chain taken (PATH_MAX / 2: a longer chain cannot be a path, a loop never ends).</summary>
    private const int MaxRustDepth = 2048;

    /// <summary>The root's refcount a Rust virtiofsd gives its root at INIT ("what libfuse does"); the guest never forgets the root.</summary>
    private const ulong RustRootRefcount = 2;

    /// <summary>
    /// Takes over a Rust virtiofsd's state. Returns null, or why it is refused (nothing changed then). Throws
    /// <see cref="StateFormatException"/> for a state that contradicts itself (duplicate or reserved ids, a parent not
    /// carried, parents in a loop, a refcount below its children's references, a handle of an inode not carried).
    /// </summary>
    public string? LoadRustState(RustState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!_inodes.IsFresh || _handles.Count != 0)
        {
            return "this daemon already serves a guest";
        }
        var byId = new Dictionary<ulong, RustInode>();
        var childRefs = new Dictionary<ulong, ulong>();
        foreach (RustInode inode in state.Inodes)
        {
            if (inode.Id == 0 || inode.Id == ulong.MaxValue)
            {
                throw new StateFormatException($"inode id {inode.Id} is not one the source could have given");
            }
            if ((inode.Id == NodeId.Root.Value) != (inode.Location == RustLocation.RootNode))
            {
                throw new StateFormatException($"inode {inode.Id}: only inode 1 is the root node, and it is one");
            }
            if (!byId.TryAdd(inode.Id, inode))
            {
                throw new StateFormatException($"inode {inode.Id} appears twice");
            }
        }
        foreach (RustInode inode in state.Inodes.Where(i => i.Location == RustLocation.Path))
        {
            if (!byId.ContainsKey(inode.Parent))
            {
                throw new StateFormatException($"inode {inode.Id} names parent {inode.Parent}, which the state does not carry");
            }
            childRefs[inode.Parent] = childRefs.GetValueOrDefault(inode.Parent) + 1;
        }
        if (byId.TryGetValue(NodeId.Root.Value, out RustInode? root) && root.VerifyHandle is { } rootHandle)
        {
            // Their destination refuses a share whose root is another inode than the source's: so does this one.
            if (ShareRootHandle() is not { } here || !here.Equals(new FileHandle(rootHandle.Type, rootHandle.Bytes)))
            {
                return "the shared directory is not the source's (its file handle differs)";
            }
        }
        var handleNodes = new HashSet<ulong>(state.Handles.Select(h => h.Inode));
        var paths = new Dictionary<ulong, (byte[]? Path, string? Lost)>();
        var inodes = new Dictionary<ulong, InodeState>();
        foreach (RustInode inode in state.Inodes.Where(i => i.Location != RustLocation.RootNode))
        {
            ulong refs = childRefs.GetValueOrDefault(inode.Id);
            if (inode.Refcount < refs)
            {
                throw new StateFormatException($"inode {inode.Id}: refcount {inode.Refcount} is below the {refs} references of its children");
            }
            ulong lookups = inode.Refcount - refs;
            if (lookups == 0 && !handleNodes.Contains(inode.Id))
            {
                // Held on the source only as the parent of inodes the guest knows: the guest does not know it itself.
                continue;
            }
            inodes.Add(inode.Id, ToInodeState(inode, lookups, byId, paths, state.MountPaths));
        }
        var handles = new Dictionary<ulong, HandleState>();
        foreach (RustHandle handle in state.Handles)
        {
            if (handle.Id == 0 || handle.Id == ulong.MaxValue)
            {
                throw new StateFormatException($"handle id {handle.Id} is not one the source could have given");
            }
            if (handle.Inode != NodeId.Root.Value && !inodes.ContainsKey(handle.Inode))
            {
                throw new StateFormatException($"handle {handle.Id} names inode {handle.Inode}, which the state does not carry");
            }
            // Their flags are the guest's open flags as their source kept them; only those a guest open leaves are
            // used (what else is there, O_CLOEXEC or O_NOFOLLOW, means nothing for a reopened file; O_TRUNC is dropped
            // when reopening, as for our own state).
            var mapped = new HandleState(handle.Id, handle.Inode, handle.Flags & MigratableOpenFlags, IsDirectory: null);
            if (!handles.TryAdd(handle.Id, mapped))
            {
                throw new StateFormatException($"handle {handle.Id} appears twice");
            }
        }
        _log.Information("Migration: a Rust virtiofsd 1.13 state: {Inodes} inodes ({Guest} the guest knows), {Handles} handles, {MountPaths} mount paths",
            state.Inodes.Count, inodes.Count, handles.Count, state.MountPaths.Count);
        // Their source describes every inode one way (file handles or paths); the mode only names it in the log.
        MigrationMode mode = inodes.Count > 0 && inodes.Values.All(i => i.ByHandle) ? MigrationMode.FileHandles : MigrationMode.FindPaths;
        return Restore(mode, inodes, handles, [], detectSubmounts: state.Negotiated.AnnounceSubmounts);
    }

    /// <summary>The shared directory's own file handle, or null where its filesystem has none.</summary>
    private FileHandle? ShareRootHandle() =>
        Libc.NameToHandleAt(_inodes.Root.Fd, default, Libc.AT_EMPTY_PATH, out FileHandle? handle, out _) < 0 ? null : handle;

    private static InodeState ToInodeState(RustInode inode, ulong lookups, Dictionary<ulong, RustInode> byId,
        Dictionary<ulong, (byte[]? Path, string? Lost)> paths, IReadOnlyDictionary<ulong, string> mountPaths)
    {
        FileHandle? verify = inode.VerifyHandle is { } v ? new FileHandle(v.Type, v.Bytes) : null;
        switch (inode.Location)
        {
            case RustLocation.FileHandle:
                RustFileHandle h = inode.LocationHandle!;
                if (!mountPaths.TryGetValue(h.MountId, out string? mountPath))
                {
                    return Lost($"its file handle is on mount {h.MountId}, for which the source sent no path");
                }
                return new InodeState(inode.Id, lookups, InodeState.UnknownType, false, null, new FileHandle(h.Type, h.Bytes), null)
                {
                    ByHandle = true,
                    MountPath = System.Text.Encoding.UTF8.GetBytes(mountPath),
                };
            case RustLocation.Invalid:
                return Lost("the Rust source lost it");
            default:
                (byte[]? path, string? lost) = PathOf(inode.Id, byId, paths);
                return path is null ? Lost(lost!) : new InodeState(inode.Id, lookups, InodeState.UnknownType, false, path, verify, null);
        }

        InodeState Lost(string why) => new(inode.Id, lookups, InodeState.UnknownType, false, null, null, why);
    }

    /// <summary>The path below the share of a Path or FullPath inode (parent chains followed, each resolved once), or why there is none.</summary>
    private static (byte[]? Path, string? Lost) PathOf(ulong id, Dictionary<ulong, RustInode> byId, Dictionary<ulong, (byte[]? Path, string? Lost)> paths)
    {
        var chain = new List<RustInode>();
        ulong current = id;
        while (!paths.ContainsKey(current))
        {
            RustInode node = byId[current];
            if (node.Location != RustLocation.Path)
            {
                paths[current] = node.Location switch
                {
                    RustLocation.RootNode => ([], null),
                    RustLocation.FullPath => (System.Text.Encoding.UTF8.GetBytes(node.Name!), null),
                    RustLocation.Invalid => (null, $"inode {node.Id} on its path was lost by the source"),
                    _ => (null, $"inode {node.Id} on its path is described by a file handle only"),
                };
                break;
            }
            chain.Add(node);
            if (chain.Count > MaxRustDepth)
            {
                throw new StateFormatException($"inode {id}: its parents form a loop or nest deeper than {MaxRustDepth}");
            }
            current = node.Parent;
        }
        for (int i = chain.Count - 1; i >= 0; i--)
        {
            RustInode node = chain[i];
            (byte[]? parent, string? lost) = paths[node.Parent];
            byte[] name = System.Text.Encoding.UTF8.GetBytes(node.Name!);
            if (parent is null)
            {
                paths[node.Id] = (null, lost);
            }
            else if (parent.Length + 1 + name.Length > InodeState.MaxPath)
            {
                paths[node.Id] = (null, "its path is longer than PATH_MAX");
            }
            else
            {
                // The name is joined as it is: OpenRelative refuses "..", ".", empty names and links on the way, so a
                // name that would lead out of the share fails like such a path of our own state.
                paths[node.Id] = (parent.Length == 0 ? name : [.. parent, (byte)'/', .. name], null);
            }
        }
        return paths[id];
    }

    /// <summary>
    /// The state a Rust virtiofsd 1.13 destination reads (--migration-state-format rust-1.13): every node the guest
    /// knows by its full path below the share (find-paths, with its file handle to verify under
    /// --migration-verify-handles) or by its file handle on the share's mount (file-handles), lost ones as invalid,
    /// every handle with its open flags (never O_TRUNC, O_CREAT or O_EXCL: their destination opens with them as given).
    /// Null (and the bytes), or why the state cannot be saved.
    /// </summary>
    public string? SaveRustState(RustNegotiatedOptions negotiated, out byte[]? bytes)
    {
        ArgumentNullException.ThrowIfNull(negotiated);
        bytes = null;
        MigrationOptions options = MigrationOptionsForTests ?? _options.Migration;
        string? problem = Describe(options, out List<InodeState> nodes, out List<(ulong Id, OpenFile File)> handles);
        if (problem is not null)
        {
            return problem;
        }
        ulong rootMount = _inodes.Root.Key.MountId;
        RustFileHandle? rootHandle = null;
        if (options.VerifyHandles && ShareRootHandle() is { } own)
        {
            rootHandle = new RustFileHandle(rootMount, own.Type, own.Bytes.ToArray());
        }
        var inodes = new List<RustInode> { new(NodeId.Root.Value, RustRootRefcount, RustLocation.RootNode, 0, null, null, rootHandle) };
        foreach (InodeState node in nodes)
        {
            RustFileHandle? handle = node.Handle is { } h ? new RustFileHandle(rootMount, h.Type, h.Bytes.ToArray()) : null;
            if (node.Lost is not null)
            {
                inodes.Add(new RustInode(node.NodeId, node.Lookups, RustLocation.Invalid, 0, null, null, null));
            }
            else if (options.Mode == MigrationMode.FileHandles)
            {
                inodes.Add(new RustInode(node.NodeId, node.Lookups, RustLocation.FileHandle, 0, null, handle, null));
            }
            else
            {
                if (!System.Text.Unicode.Utf8.IsValid(node.Path))
                {
                    // Their paths are Rust Strings: a name that is not UTF-8 cannot travel.
                    return $"node {node.NodeId}: its path is not UTF-8, which a Rust virtiofsd state cannot carry";
                }
                inodes.Add(new RustInode(node.NodeId, node.Lookups, RustLocation.FullPath, 0, System.Text.Encoding.UTF8.GetString(node.Path!), null, handle));
            }
        }
        const int NotReplayed = Libc.O_TRUNC | Libc.O_CREAT | Libc.O_EXCL;
        var rustHandles = handles
            .Select(h => new RustHandle(h.Id, h.File.Node.Value, (h.File.Flags & ~NotReplayed) | (h.File.IsDirectory ? Libc.O_DIRECTORY : 0)))
            .ToList();
        var mountPaths = new Dictionary<ulong, string>();
        if (options.Mode == MigrationMode.FileHandles)
        {
            mountPaths[rootMount] = ".";
        }
        ulong nextInode = Math.Max(NodeId.Root.Value, nodes.Count == 0 ? 0 : nodes.Max(n => n.NodeId)) + 1;
        ulong nextHandle = (handles.Count == 0 ? 0 : handles.Max(h => h.Id)) + 1;
        bytes = new RustState(inodes, nextInode, rustHandles, nextHandle, negotiated, mountPaths).Write();
        _log.Information("Migration: Rust virtiofsd 1.13 state of {Nodes} nodes ({Lost} lost) and {Handles} open handles saved ({Mode})",
            nodes.Count, nodes.Count(n => n.Lost is not null), handles.Count, options.Mode);
        return null;
    }
}
