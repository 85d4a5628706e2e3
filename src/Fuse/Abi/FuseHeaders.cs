using System.Runtime.InteropServices;

namespace VirtioFsd.Fuse.Abi;

// The framing structs of linux/fuse.h: every request starts with fuse_in_header, every reply with
// fuse_out_header; request extensions (7.38) follow the body. Sizes are pinned in FuseAbiSizeTests.

/// <summary>struct fuse_in_header (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseInHeader
{
    /// <summary>Total request length including this header and the extensions.</summary>
    public uint Len;
    public uint Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;

    /// <summary>Length of the extensions at the end of the request in 8-byte units.</summary>
    public ushort TotalExtLen;
    public ushort Padding;
}

/// <summary>struct fuse_out_header (16 bytes); <see cref="Error"/> is 0 or a negative errno.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseOutHeader
{
    public uint Len;
    public int Error;
    public ulong Unique;
}

/// <summary>struct fuse_ext_header (8 bytes): size includes this header and is a multiple of 8.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseExtHeader
{
    public uint Size;
    public uint Type;
}

/// <summary>struct fuse_secctx_header (8 bytes), the first extension when security contexts are sent.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseSecctxHeader
{
    public uint Size;
    public uint NrSecctx;
}

/// <summary>struct fuse_supp_groups (7.39) without its flexible groups[] array (4 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseSuppGroups
{
    public uint NrGroups;
}
