using System.Runtime.InteropServices;

namespace VirtioFsd.Linux.IoUring;

// Wire structs of the io_uring ABI, field for field from /usr/include/linux/io_uring.h.
// C unions are flattened to one field named for its most general role; the aliases are listed
// in the comment. IoUringStructSizeTests pins every size and the offsets that matter.

/// <summary><c>struct io_uring_sqe</c> (64 bytes): one submission queue entry.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringSqe
{
    public byte Opcode;
    /// <summary>IOSQE_* flags.</summary>
    public byte Flags;
    public ushort IoPriority;
    public int Fd;
    /// <summary>off | addr2 | (cmd_op, __pad1).</summary>
    public ulong Offset;
    /// <summary>addr | splice_off_in.</summary>
    public ulong Address;
    public uint Length;
    /// <summary>rw_flags | fsync_flags | poll32_events | timeout_flags | cancel_flags | open_flags | statx_flags | rename_flags | unlink_flags | hardlink_flags ...</summary>
    public uint OpFlags;
    public ulong UserData;
    /// <summary>buf_index | buf_group (packed u16).</summary>
    public ushort BufferIndex;
    public ushort Personality;
    /// <summary>splice_fd_in | file_index | (addr_len, __pad3).</summary>
    public int FileIndex;
    public ulong Address3;
    public ulong Pad2;
}

/// <summary><c>struct io_uring_cqe</c> (16 bytes, no IORING_SETUP_CQE32): one completion.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringCqe
{
    public ulong UserData;
    /// <summary>The operation's result: a count, an fd, 0, or -errno.</summary>
    public int Result;
    /// <summary>IORING_CQE_F_* flags.</summary>
    public uint Flags;

    /// <summary>IORING_CQE_F_MORE: the SQE (e.g. a multishot poll) will post more completions.</summary>
    public readonly bool HasMore => (Flags & IoUringConstants.CqeFlagMore) != 0;
}

/// <summary><c>struct io_sqring_offsets</c> (40 bytes): where the SQ ring fields sit in the mmap.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoSqRingOffsets
{
    public uint Head;
    public uint Tail;
    public uint RingMask;
    public uint RingEntries;
    public uint Flags;
    public uint Dropped;
    public uint Array;
    public uint Resv1;
    public ulong Resv2;
}

/// <summary><c>struct io_cqring_offsets</c> (40 bytes): where the CQ ring fields sit in the mmap.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoCqRingOffsets
{
    public uint Head;
    public uint Tail;
    public uint RingMask;
    public uint RingEntries;
    public uint Overflow;
    public uint Cqes;
    public uint Flags;
    public uint Resv1;
    public ulong Resv2;
}

/// <summary><c>struct io_uring_params</c> (120 bytes): in/out argument of io_uring_setup(2).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringParams
{
    public uint SqEntries;
    public uint CqEntries;
    /// <summary>IORING_SETUP_* flags.</summary>
    public uint Flags;
    public uint SqThreadCpu;
    public uint SqThreadIdle;
    /// <summary>IORING_FEAT_* bits reported by the kernel.</summary>
    public uint Features;
    public uint WqFd;
    public uint Resv0;
    public uint Resv1;
    public uint Resv2;
    public IoSqRingOffsets SqOff;
    public IoCqRingOffsets CqOff;
}

/// <summary><c>struct __kernel_timespec</c> (16 bytes, 64-bit fields on every architecture).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KernelTimespec
{
    public long Seconds;
    public long Nanoseconds;

    public static KernelTimespec From(TimeSpan t)
    {
        long ticks = Math.Max(0, t.Ticks);
        return new KernelTimespec
        {
            Seconds = ticks / TimeSpan.TicksPerSecond,
            Nanoseconds = ticks % TimeSpan.TicksPerSecond * 100,
        };
    }
}

/// <summary><c>struct io_uring_getevents_arg</c> (24 bytes): the IORING_ENTER_EXT_ARG argument.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringGetEventsArg
{
    public ulong SigMask;
    public uint SigMaskSize;
    public uint Pad;
    /// <summary>Pointer to a <see cref="KernelTimespec"/> (relative timeout), or 0.</summary>
    public ulong Timespec;
}

/// <summary><c>struct io_uring_probe</c> header (16 bytes), followed by <c>ops_len</c> <see cref="IoUringProbeOp"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringProbe
{
    public byte LastOp;
    public byte OpsLength;
    public ushort Resv;
    public uint Resv2a;
    public uint Resv2b;
    public uint Resv2c;
}

/// <summary><c>struct io_uring_probe_op</c> (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringProbeOp
{
    public byte Op;
    public byte Resv;
    /// <summary>IO_URING_OP_SUPPORTED (bit 0).</summary>
    public ushort Flags;
    public uint Resv2;
}

/// <summary><c>struct io_uring_rsrc_register</c> (32 bytes): IORING_REGISTER_BUFFERS2.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringRsrcRegister
{
    public uint Count;
    /// <summary>IORING_RSRC_REGISTER_SPARSE.</summary>
    public uint Flags;
    public ulong Resv2;
    public ulong Data;
    public ulong Tags;
}

/// <summary><c>struct io_uring_rsrc_update2</c> (32 bytes): IORING_REGISTER_BUFFERS_UPDATE.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IoUringRsrcUpdate2
{
    public uint Offset;
    public uint Resv;
    public ulong Data;
    public ulong Tags;
    public uint Count;
    public uint Resv2;
}
