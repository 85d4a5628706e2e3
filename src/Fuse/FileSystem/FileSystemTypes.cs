using System.Runtime.InteropServices;

namespace VirtioFsd.Fuse.FileSystem;

/// <summary>A FUSE node id: the daemon's own name for an inode, never a host inode number.</summary>
public readonly record struct NodeId(ulong Value)
{
    /// <summary>FUSE_ROOT_ID (fuse.h): the share's root, which can never be forgotten.</summary>
    public static readonly NodeId Root = new(1);

    public override string ToString() => $"node {Value}";
}

/// <summary>A file or directory handle returned by OPEN/CREATE/OPENDIR and echoed by the guest.</summary>
public readonly record struct HandleId(ulong Value)
{
    public override string ToString() => $"fh {Value}";
}

/// <summary>
/// Who asks: the credentials the guest kernel put in fuse_in_header. These are guest ids; with
/// no id mapping configured they are used as host ids (as virtiofsd does).
/// </summary>
public readonly record struct RequestContext(uint Uid, uint Gid, uint Pid)
{
    /// <summary>FUSE_CREATE_SUPP_GROUP extension: the caller's supplementary group matching the parent's gid, if sent.</summary>
    public uint? SupplementaryGroup { get; init; }

    /// <summary>The FUSE umask sent with create-type requests when the guest did not apply it itself.</summary>
    public uint Umask { get; init; }

    /// <summary>FUSE_SECURITY_CTX (--security-label): the label the guest's LSM gave a file it creates, if sent.</summary>
    public SecurityLabel? SecurityLabel { get; init; }
}

/// <summary>A security label for a new inode: an xattr name in the security. namespace and its value.</summary>
public sealed record SecurityLabel(byte[] Name, byte[] Value);

/// <summary>Attributes of a file, the fields of fuse_attr (fuse.h), filled from statx on the host.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FileAttr
{
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public long Atime;
    public long Mtime;
    public long Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public uint BlkSize;

    /// <summary>FUSE_ATTR_* flags, e.g. FUSE_ATTR_SUBMOUNT for a directory on another mount.</summary>
    public uint Flags;
}

/// <summary>The answer to a name lookup: the node, its generation and attributes.</summary>
public struct Entry
{
    public NodeId Node;
    public ulong Generation;
    public FileAttr Attr;
}

/// <summary>What SETATTR asks to change (fuse_setattr_in); <see cref="Valid"/> holds FATTR_* bits.</summary>
public struct SetAttrRequest
{
    public uint Valid;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    public ulong Size;
    public long Atime;
    public long Mtime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public ulong LockOwner;
}

/// <summary>Results of OPEN/CREATE/OPENDIR: the handle and FOPEN_* flags for the guest.</summary>
public struct OpenResult
{
    public HandleId Handle;
    public uint OpenFlags;
}

/// <summary>A POSIX byte-range lock (fuse_file_lock): type F_RDLCK/F_WRLCK/F_UNLCK, inclusive end.</summary>
public struct FileLock
{
    public ulong Start;
    public ulong End;
    public uint Type;
    public uint Pid;
}

/// <summary>Filesystem statistics (fuse_kstatfs).</summary>
public struct StatFs
{
    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public uint Bsize;
    public uint Namelen;
    public uint Frsize;
}
