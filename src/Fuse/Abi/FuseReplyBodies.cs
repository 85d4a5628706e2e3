using System.Runtime.InteropServices;

namespace VirtioFsd.Fuse.Abi;

// Reply bodies (after fuse_out_header), linux/fuse.h 7.38. Entry and attr replies are in FuseAttributes.cs.

/// <summary>struct fuse_init_out (64 bytes; 24 for guests before 7.23).</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct FuseInitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGran;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
}

/// <summary>struct fuse_open_out (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseOpenOut
{
    public ulong Fh;
    public uint OpenFlags;
    public uint Padding;
}

/// <summary>struct fuse_write_out (8 bytes); also the reply of COPY_FILE_RANGE.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseWriteOut
{
    public uint Size;
    public uint Padding;
}

/// <summary>struct fuse_statfs_out (80 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseStatFsOut
{
    public FuseKstatfs St;
}

/// <summary>struct fuse_getxattr_out (8 bytes): the size needed, for a zero-size GETXATTR/LISTXATTR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseGetXattrOut
{
    public uint Size;
    public uint Padding;
}

/// <summary>struct fuse_lk_out (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseLkOut
{
    public FuseFileLock Lk;
}

/// <summary>struct fuse_ioctl_out (16 bytes), followed by the output data.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseIoctlOut
{
    public int Result;
    public uint Flags;
    public uint InIovs;
    public uint OutIovs;
}

/// <summary>struct fuse_poll_out (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FusePollOut
{
    public uint Revents;
    public uint Padding;
}

/// <summary>struct fuse_lseek_out (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseLseekOut
{
    public ulong Offset;
}
