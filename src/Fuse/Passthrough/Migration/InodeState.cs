using VirtioFsd.Fuse.Migration;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough.Migration;

/// <summary>
/// One inode the guest knows, as the destination needs it: its node id and lookup count (so FORGETs balance), its file
/// type, and how to find it again: a path below the shared directory and/or a file handle. An inode the source could
/// not describe travels as lost, with the reason, so that the destination's --migration-on-error decides.
/// </summary>
internal sealed record InodeState(ulong NodeId, ulong Lookups, uint FileType, bool IsSubmountRoot, byte[]? Path, FileHandle? Handle, string? Lost)
{
    /// <summary>File type not known (a Rust virtiofsd state): whatever the inode found is, and its submount flag, are taken.</summary>
    public const uint UnknownType = 0;

    /// <summary>Opened by <see cref="Handle"/> whatever the state's mode (a Rust state says so per inode).</summary>
    public bool ByHandle { get; init; }

    /// <summary>With <see cref="ByHandle"/>: the directory below the share whose filesystem the handle is on (null: the share's).</summary>
    public byte[]? MountPath { get; init; }

    /// <summary>PATH_MAX: a longer path cannot be opened in one go anyway.</summary>
    public const int MaxPath = 4096;

    /// <summary>Bytes of the smallest record (for the count check).</summary>
    public const int MinBytes = 8 + 8 + 4 + 1 + 4 + 1 + 4;

    public void Write(StateWriter w)
    {
        w.U64(NodeId);
        w.U64(Lookups);
        w.U32(FileType);
        w.Bool(IsSubmountRoot);
        w.Bytes(Path ?? []);
        w.Bool(Handle is not null);
        if (Handle is not null)
        {
            w.I32(Handle.Type);
            w.Bytes(Handle.Bytes);
        }
        w.Bytes(System.Text.Encoding.UTF8.GetBytes(Lost ?? ""));
    }

    public static InodeState Read(StateReader r)
    {
        ulong id = r.U64("node id");
        if (id <= 1 || id == ulong.MaxValue)
        {
            throw new StateFormatException($"node id {id} is not a node id the source could have given");
        }
        ulong lookups = r.U64("lookup count");
        if (lookups == 0)
        {
            throw new StateFormatException($"node {id}: lookup count 0 (a forgotten node is not migrated)");
        }
        uint type = r.U32("file type");
        if ((type & ~Libc.S_IFMT) != 0 || type is not (Libc.S_IFREG or Libc.S_IFDIR or Libc.S_IFLNK or Libc.S_IFIFO
            or Libc.S_IFSOCK or Libc.S_IFCHR or Libc.S_IFBLK))
        {
            throw new StateFormatException($"node {id}: file type 0x{type:x} is none");
        }
        bool submount = r.Bool("submount flag");
        byte[] path = r.Bytes("path", MaxPath).ToArray();
        FileHandle? handle = null;
        if (r.Bool("handle flag"))
        {
            int handleType = r.I32("handle type");
            handle = new FileHandle(handleType, r.Bytes("handle", FileHandle.MaxBytes));
        }
        string lost = System.Text.Encoding.UTF8.GetString(r.Bytes("lost reason", 1024));
        return new InodeState(id, lookups, type, submount, path.Length == 0 ? null : path, handle, lost.Length == 0 ? null : lost);
    }
}

/// <summary>One open FUSE handle: its number (the guest's fh), its node, and how it was opened (a directory or not: null
/// when the state does not say, as a Rust virtiofsd's does not; then the node's type decides).</summary>
internal sealed record HandleState(ulong Fh, ulong NodeId, int Flags, bool? IsDirectory)
{
    public const int MinBytes = 8 + 8 + 4 + 1;

    public void Write(StateWriter w)
    {
        w.U64(Fh);
        w.U64(NodeId);
        w.I32(Flags);
        w.Bool(IsDirectory == true);
    }

    public static HandleState Read(StateReader r)
    {
        ulong fh = r.U64("handle number");
        ulong node = r.U64("handle node");
        int flags = r.I32("open flags");
        bool dir = r.Bool("directory flag");
        if (fh == 0 || fh == ulong.MaxValue)
        {
            throw new StateFormatException($"handle number {fh} is not one the source could have given");
        }
        return new HandleState(fh, node, flags, dir);
    }
}
