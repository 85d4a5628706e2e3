using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VirtioFsd.Fuse.Abi;

// FUSE-over-io_uring wire structs (protocol 7.42, Linux 6.14), field for field from the kernel's
// include/uapi/linux/fuse.h; /usr/include/linux/fuse.h here is 7.38 and lacks them. The flow is in
// the kernel's Documentation/filesystems/fuse/fuse-io-uring.rst. FuseAbiSizeTests pins the sizes.

/// <summary>enum fuse_uring_cmd: the cmd_op of an IORING_OP_URING_CMD on /dev/fuse.</summary>
public enum FuseUringCommand : uint
{
    /// <summary>FUSE_IO_URING_CMD_REGISTER: hands the kernel one entry's buffers; completes when a request is in them.</summary>
    Register = 1,

    /// <summary>FUSE_IO_URING_CMD_COMMIT_AND_FETCH: the reply is in the entry's buffers; completes with the next request.</summary>
    CommitAndFetch = 2,
}

/// <summary>FUSE_URING_IN_OUT_HEADER_SZ / FUSE_URING_OP_IN_OUT_SZ: 128 bytes each.</summary>
[InlineArray(128)]
public struct FuseUringHeaderArea
{
    private byte first;
}

/// <summary>struct fuse_uring_ent_in_out (32 bytes): per-entry bookkeeping in the header buffer.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseUringEntInOut
{
    public ulong Flags;

    /// <summary>Set by the kernel with a request (its unique); echoed in the COMMIT_AND_FETCH command.</summary>
    public ulong CommitId;

    /// <summary>Bytes of the payload buffer in use: the request's arguments after the first, or the reply's.</summary>
    public uint PayloadSize;

    public uint Padding;
    public ulong Reserved;
}

/// <summary>
/// struct fuse_uring_req_header (288 bytes): iov[0] of a REGISTER. The kernel writes the
/// fuse_in_header into <see cref="InOut"/>, the request's first argument (its per-opcode struct, if
/// any) into <see cref="OpIn"/>, and the other arguments into the payload buffer (iov[1]); the reply
/// puts its fuse_out_header into <see cref="InOut"/> and its whole body into the payload buffer.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseUringReqHeader
{
    /// <summary>Offset of <see cref="OpIn"/>.</summary>
    public const int OpInOffset = 128;

    /// <summary>Offset of <see cref="RingEntInOut"/>.</summary>
    public const int EntInOutOffset = 256;

    public FuseUringHeaderArea InOut;
    public FuseUringHeaderArea OpIn;
    public FuseUringEntInOut RingEntInOut;
}

/// <summary>struct fuse_uring_cmd_req (24 bytes): the argument of a ring command, in the SQE's 80-byte command area.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseUringCmdReq
{
    public ulong Flags;

    /// <summary>0 for REGISTER; the entry's <see cref="FuseUringEntInOut.CommitId"/> for COMMIT_AND_FETCH.</summary>
    public ulong CommitId;

    /// <summary>The queue (one per possible CPU, 0-based).</summary>
    public ushort QueueId;

    public ushort Padding1;
    public uint Padding2;
}
