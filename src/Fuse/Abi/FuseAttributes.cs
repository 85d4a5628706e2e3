using System.Runtime.InteropServices;

namespace VirtioFsd.Fuse.Abi;

// Attribute-carrying structs of linux/fuse.h shared by several replies.

/// <summary>struct fuse_attr (88 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAttr
{
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public uint BlkSize;
    public uint Flags;
}

/// <summary>struct fuse_kstatfs (80 bytes, six spare words at the end).</summary>
[StructLayout(LayoutKind.Sequential, Size = 80)]
public struct FuseKstatfs
{
    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public uint Bsize;
    public uint Namelen;
    public uint Frsize;
    public uint Padding;
}

/// <summary>struct fuse_file_lock (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseFileLock
{
    public ulong Start;
    public ulong End;
    public uint Type;
    public uint Pid;
}

/// <summary>struct fuse_entry_out (128 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseEntryOut
{
    public ulong NodeId;
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public FuseAttr Attr;
}

/// <summary>struct fuse_attr_out (104 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;
}

/// <summary>struct fuse_dirent without its flexible name (24 bytes = FUSE_NAME_OFFSET).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseDirent
{
    public ulong Ino;
    public ulong Off;
    public uint NameLen;
    public uint Type;
}

/// <summary>struct fuse_direntplus without the name (152 bytes = FUSE_NAME_OFFSET_DIRENTPLUS).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseDirentPlus
{
    public FuseEntryOut EntryOut;
    public FuseDirent Dirent;
}
