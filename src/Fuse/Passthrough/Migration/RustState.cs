using VirtioFsd.Fuse.Migration;

namespace VirtioFsd.Fuse.Passthrough.Migration;

/// <summary>
/// The Rust virtiofsd 1.13's device state (its src/passthrough/device_state/serialized.rs), as its source writes it
/// into the state pipe with nothing around it: postcard (<see cref="PostcardReader"/>) of the serde enum
/// <c>PassthroughFs { V1(PassthroughFsV1), V2(PassthroughFsV2) }</c>. 1.13.2 always sends V2, which is V1 followed by a
/// map of the source's mount ids to paths in the share (for file handles). V1 is: the inodes (id, refcount, location,
/// an optional file handle to verify), the next inode id, the handles (id, inode, how to open it: <c>OpenInode { flags:
/// i32 }</c>), the next handle id and four booleans negotiated at INIT. Postcard carries no field names: the order here
/// is the contract, checked against states captured from the real 1.13.2 daemon (tests/Fuse.Tests/Migration).
/// </summary>
public sealed record RustState(IReadOnlyList<RustInode> Inodes, ulong NextInode, IReadOnlyList<RustHandle> Handles, ulong NextHandle,
    RustNegotiatedOptions Negotiated, IReadOnlyDictionary<ulong, string> MountPaths)
{
    /// <summary>Variants of the top-level enum: V1, V2.</summary>
    private const uint Versions = 2;

    /// <summary>PATH_MAX: no path in the state may be longer (a file name alone is at most NAME_MAX, 255).</summary>
    public const int MaxPath = 4096;

    /// <summary>Fewest bytes of an inode (id, refcount, location, option tag) and of a handle (id, inode, source, flags).</summary>
    private const int MinInodeBytes = 4;
    private const int MinHandleBytes = 4;

    public static RustState Read(byte[] data)
    {
        var r = new PostcardReader(data);
        uint version = r.Variant("state version (PassthroughFs::V1 or V2)", Versions);
        int count = r.Length("inode count", PassthroughFileSystem.MaxMigratedNodes, MinInodeBytes);
        var inodes = new List<RustInode>(count);
        for (int i = 0; i < count; i++)
        {
            inodes.Add(RustInode.Read(r));
        }
        ulong nextInode = r.U64("next inode id");
        count = r.Length("handle count", PassthroughFileSystem.MaxMigratedNodes, MinHandleBytes);
        var handles = new List<RustHandle>(count);
        for (int i = 0; i < count; i++)
        {
            handles.Add(RustHandle.Read(r));
        }
        ulong nextHandle = r.U64("next handle id");
        var negotiated = new RustNegotiatedOptions(r.Bool("writeback"), r.Bool("announce_submounts"), r.Bool("posix_acl"), r.Bool("sup_group_extension"));
        var mountPaths = new Dictionary<ulong, string>();
        if (version == 1)
        {
            count = r.Length("mount path count", PassthroughFileSystem.MaxMigratedNodes, 2);
            for (int i = 0; i < count; i++)
            {
                ulong mountId = r.U64("mount id");
                if (!mountPaths.TryAdd(mountId, r.String("mount path", MaxPath)))
                {
                    throw new StateFormatException($"mount id {mountId} appears twice");
                }
            }
        }
        r.End();
        return new RustState(inodes, nextInode, handles, nextHandle, negotiated, mountPaths);
    }

    /// <summary>The V2 encoding (what 1.13.2 sends, and reads).</summary>
    public byte[] Write()
    {
        var w = new PostcardWriter();
        w.Variant(1);
        w.Length(Inodes.Count);
        foreach (RustInode inode in Inodes)
        {
            inode.Write(w);
        }
        w.U64(NextInode);
        w.Length(Handles.Count);
        foreach (RustHandle handle in Handles)
        {
            handle.Write(w);
        }
        w.U64(NextHandle);
        w.Bool(Negotiated.Writeback);
        w.Bool(Negotiated.AnnounceSubmounts);
        w.Bool(Negotiated.PosixAcl);
        w.Bool(Negotiated.SupGroupExtension);
        w.Length(MountPaths.Count);
        foreach ((ulong mountId, string path) in MountPaths)
        {
            w.U64(mountId);
            w.String(path);
        }
        return w.ToArray();
    }
}

/// <summary>serialized::NegotiatedOpts: what the Rust source enabled at INIT and remembers.</summary>
public sealed record RustNegotiatedOptions(bool Writeback, bool AnnounceSubmounts, bool PosixAcl, bool SupGroupExtension);

/// <summary>serialized::InodeLocation's variants, in their order (the index is what travels).</summary>
public enum RustLocation : uint
{
    /// <summary>The shared directory itself (id 1); the destination opens its own.</summary>
    RootNode,

    /// <summary><c>Path { parent, filename }</c>: a name in another inode of the state, which holds a reference for it.</summary>
    Path,

    /// <summary>The source lost it; the destination's --migration-on-error decides.</summary>
    Invalid,

    /// <summary><c>FullPath { filename }</c>: a path relative to the shared directory.</summary>
    FullPath,

    /// <summary><c>FileHandle { handle }</c>: a file handle on a mount of <see cref="RustState.MountPaths"/>.</summary>
    FileHandle,
}

/// <summary>SerializableFileHandle: the source's mount id, handle_type and f_handle.</summary>
public sealed record RustFileHandle(ulong MountId, int Type, byte[] Bytes)
{
    public static RustFileHandle Read(PostcardReader r) =>
        new(r.U64("file handle mount id"), r.I32("file handle type"), r.Bytes("file handle", Linux.FileHandle.MaxBytes).ToArray());

    public void Write(PostcardWriter w)
    {
        w.U64(MountId);
        w.I32(Type);
        w.Bytes(Bytes);
    }
}

/// <summary>serialized::Inode. <see cref="Parent"/> and <see cref="Name"/> are the location's fields where it has them.</summary>
public sealed record RustInode(ulong Id, ulong Refcount, RustLocation Location, ulong Parent, string? Name, RustFileHandle? LocationHandle,
    RustFileHandle? VerifyHandle)
{
    public static RustInode Read(PostcardReader r)
    {
        ulong id = r.U64("inode id");
        ulong refcount = r.U64("inode refcount");
        var location = (RustLocation)r.Variant($"inode {id} location", 5);
        ulong parent = 0;
        string? name = null;
        RustFileHandle? locationHandle = null;
        switch (location)
        {
            case RustLocation.Path:
                parent = r.U64($"inode {id} parent");
                name = r.String($"inode {id} file name", MaxName);
                break;
            case RustLocation.FullPath:
                name = r.String($"inode {id} path", RustState.MaxPath);
                break;
            case RustLocation.FileHandle:
                locationHandle = RustFileHandle.Read(r);
                break;
        }
        RustFileHandle? verify = r.OptionTag($"inode {id} file handle") ? RustFileHandle.Read(r) : null;
        return new RustInode(id, refcount, location, parent, name, locationHandle, verify);
    }

    /// <summary>NAME_MAX.</summary>
    private const int MaxName = 255;

    public void Write(PostcardWriter w)
    {
        w.U64(Id);
        w.U64(Refcount);
        w.Variant((uint)Location);
        switch (Location)
        {
            case RustLocation.Path:
                w.U64(Parent);
                w.String(Name!);
                break;
            case RustLocation.FullPath:
                w.String(Name!);
                break;
            case RustLocation.FileHandle:
                LocationHandle!.Write(w);
                break;
        }
        w.OptionTag(VerifyHandle is not null);
        VerifyHandle?.Write(w);
    }
}

/// <summary>serialized::Handle with its only source, <c>HandleSource::OpenInode { flags }</c>.</summary>
public sealed record RustHandle(ulong Id, ulong Inode, int Flags)
{
    public static RustHandle Read(PostcardReader r)
    {
        ulong id = r.U64("handle id");
        ulong inode = r.U64($"handle {id} inode");
        r.Variant($"handle {id} source", 1);
        return new RustHandle(id, inode, r.I32($"handle {id} open flags"));
    }

    public void Write(PostcardWriter w)
    {
        w.U64(Id);
        w.U64(Inode);
        w.Variant(0);
        w.I32(Flags);
    }
}
