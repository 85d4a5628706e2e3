using System.Runtime.InteropServices;

namespace VirtioFsd.Fuse.Abi;

// The fixed part of each request body (after fuse_in_header), linux/fuse.h 7.38.

/// <summary>struct fuse_init_in (64 bytes; guests before 7.36 send only the first 16).</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct FuseInitIn
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public uint Flags2;
}

/// <summary>struct fuse_forget_in (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseForgetIn
{
    public ulong Nlookup;
}

/// <summary>struct fuse_forget_one (16 bytes), repeated after fuse_batch_forget_in.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseForgetOne
{
    public ulong NodeId;
    public ulong Nlookup;
}

/// <summary>struct fuse_batch_forget_in (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseBatchForgetIn
{
    public uint Count;
    public uint Dummy;
}

/// <summary>struct fuse_getattr_in (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseGetAttrIn
{
    public uint GetAttrFlags;
    public uint Dummy;
    public ulong Fh;
}

/// <summary>struct fuse_setattr_in (88 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseSetAttrIn
{
    public uint Valid;
    public uint Padding;
    public ulong Fh;
    public ulong Size;
    public ulong LockOwner;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Unused4;
    public uint Uid;
    public uint Gid;
    public uint Unused5;
}

/// <summary>struct fuse_mknod_in (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseMknodIn
{
    public uint Mode;
    public uint Rdev;
    public uint Umask;
    public uint Padding;
}

/// <summary>struct fuse_mkdir_in (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseMkdirIn
{
    public uint Mode;
    public uint Umask;
}

/// <summary>struct fuse_rename_in (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseRenameIn
{
    public ulong NewDir;
}

/// <summary>struct fuse_rename2_in (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseRename2In
{
    public ulong NewDir;
    public uint Flags;
    public uint Padding;
}

/// <summary>struct fuse_link_in (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseLinkIn
{
    public ulong OldNodeId;
}

/// <summary>struct fuse_open_in (8 bytes); also the body of OPENDIR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseOpenIn
{
    public uint Flags;
    public uint OpenFlags;
}

/// <summary>struct fuse_create_in (16 bytes); also the body of TMPFILE.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseCreateIn
{
    public uint Flags;
    public uint Mode;
    public uint Umask;
    public uint OpenFlags;
}

/// <summary>struct fuse_release_in (24 bytes); also the body of RELEASEDIR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseReleaseIn
{
    public ulong Fh;
    public uint Flags;
    public uint ReleaseFlags;
    public ulong LockOwner;
}

/// <summary>struct fuse_flush_in (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseFlushIn
{
    public ulong Fh;
    public uint Unused;
    public uint Padding;
    public ulong LockOwner;
}

/// <summary>struct fuse_read_in (40 bytes); also the body of READDIR and READDIRPLUS.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseReadIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

/// <summary>struct fuse_write_in (40 bytes), followed by <see cref="Size"/> bytes of data.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseWriteIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint WriteFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

/// <summary>struct fuse_fsync_in (16 bytes); also the body of FSYNCDIR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseFsyncIn
{
    public ulong Fh;
    public uint FsyncFlags;
    public uint Padding;
}

/// <summary>struct fuse_setxattr_in (16 bytes; 8 without FUSE_SETXATTR_EXT).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseSetXattrIn
{
    public uint Size;
    public uint Flags;
    public uint SetXattrFlags;
    public uint Padding;
}

/// <summary>struct fuse_getxattr_in (8 bytes); also the body of LISTXATTR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseGetXattrIn
{
    public uint Size;
    public uint Padding;
}

/// <summary>struct fuse_lk_in (48 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseLkIn
{
    public ulong Fh;
    public ulong Owner;
    public FuseFileLock Lk;
    public uint LkFlags;
    public uint Padding;
}

/// <summary>struct fuse_access_in (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAccessIn
{
    public uint Mask;
    public uint Padding;
}

/// <summary>struct fuse_interrupt_in (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseInterruptIn
{
    public ulong Unique;
}

/// <summary>struct fuse_ioctl_in (32 bytes), followed by <see cref="InSize"/> bytes of input.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseIoctlIn
{
    public ulong Fh;
    public uint Flags;
    public uint Cmd;
    public ulong Arg;
    public uint InSize;
    public uint OutSize;
}

/// <summary>struct fuse_poll_in (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FusePollIn
{
    public ulong Fh;
    public ulong Kh;
    public uint Flags;
    public uint Events;
}

/// <summary>struct fuse_fallocate_in (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseFallocateIn
{
    public ulong Fh;
    public ulong Offset;
    public ulong Length;
    public uint Mode;
    public uint Padding;
}

/// <summary>struct fuse_lseek_in (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseLseekIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Whence;
    public uint Padding;
}

/// <summary>struct fuse_copy_file_range_in (56 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseCopyFileRangeIn
{
    public ulong FhIn;
    public ulong OffIn;
    public ulong NodeIdOut;
    public ulong FhOut;
    public ulong OffOut;
    public ulong Len;
    public ulong Flags;
}

/// <summary>struct fuse_syncfs_in (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseSyncFsIn
{
    public ulong Padding;
}
