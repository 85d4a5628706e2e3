using System.Runtime.InteropServices;

namespace VirtioFsd.VhostUser.Protocol;

// The vhost-user wire structures (vhost-user.rst "Message types" / QEMU hw/virtio/vhost-user.c), all
// little-endian and naturally aligned; read and written with MemoryMarshal over message bodies. Each has an
// IsValid check of what its fields alone can tell; cross-field rules (queue count, memory) are the
// handler's. Sizes are pinned by a test.

/// <summary>Message header: request code, flags, body size (12 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MessageHeader
{
    public const int Size = 12;

    public uint Request;
    public uint Flags;
    public uint BodySize;

    public readonly bool HasValidVersion => (Flags & MessageFlags.VersionMask) == MessageFlags.Version;

    public readonly bool NeedReply => (Flags & MessageFlags.NeedReply) != 0;

    /// <summary>A front-end request: version 1, not a reply, no unknown flag bits, body within the limit.</summary>
    public readonly bool IsValid => HasValidVersion && (Flags & ~MessageFlags.KnownRequestBits) == 0
        && BodySize <= VhostUserLimits.MaxBodySize;
}

/// <summary><c>struct vhost_vring_state</c>: a queue index and a number (size, base, enable flag).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VringStateWire
{
    public const int Size = 8;

    public uint Index;
    public uint Num;

    public readonly bool IsValid => Index <= VhostUserLimits.VringIndexMask;
}

/// <summary><c>struct vhost_vring_addr</c>: ring addresses in the front-end's virtual address space.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VringAddressWire
{
    public const int Size = 40;

    /// <summary>VHOST_VRING_F_LOG (bit 0): log used-ring writes at <see cref="LogGuestAddr"/> while dirty logging is on.</summary>
    public const uint FlagLog = 1;

    public uint Index;
    public uint Flags;
    public ulong DescUserAddr;
    public ulong UsedUserAddr;
    public ulong AvailUserAddr;
    public ulong LogGuestAddr;

    /// <summary>Alignment per virtio 1.2 §2.7: descriptor table 16, available ring 2, used ring 4.</summary>
    public readonly bool IsValid => Index <= VhostUserLimits.VringIndexMask && (Flags & ~FlagLog) == 0
        && DescUserAddr % 16 == 0 && AvailUserAddr % 2 == 0 && UsedUserAddr % 4 == 0;
}

/// <summary>One memory region: guest physical range, its front-end virtual address, offset in the fd.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MemoryRegionWire
{
    public const int Size = 32;

    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;
    public ulong MmapOffset;

    /// <summary>Non-empty, and neither range nor the file offset wraps 2^64.</summary>
    public readonly bool IsValid => MemorySize != 0
        && GuestPhysAddr <= ulong.MaxValue - (MemorySize - 1)
        && UserspaceAddr <= ulong.MaxValue - (MemorySize - 1)
        && MmapOffset <= long.MaxValue && MmapOffset <= ulong.MaxValue - MemorySize;
}

/// <summary>SET_MEM_TABLE prefix: region count and padding, followed by that many <see cref="MemoryRegionWire"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MemoryTableHeaderWire
{
    public const int Size = 8;

    public uint RegionCount;
    public uint Padding;

    public readonly bool IsValid => RegionCount >= 1 && RegionCount <= VhostUserLimits.MaxMemTableRegions;
}

/// <summary>ADD_MEM_REG / REM_MEM_REG body: 8 bytes of padding then one region.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SingleMemoryRegionWire
{
    public const int Size = 40;

    public ulong Padding;
    public MemoryRegionWire Region;

    public readonly bool IsValid => Region.IsValid;
}

/// <summary>GET/SET_CONFIG prefix: offset, size, flags, followed by <c>size</c> bytes of config space.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ConfigHeaderWire
{
    public const int Size = 12;

    public uint Offset;
    public uint PayloadSize;
    public uint Flags;

    public readonly bool IsValid => PayloadSize <= VhostUserLimits.MaxConfigSize
        && Offset <= VhostUserLimits.MaxConfigSize && Offset + PayloadSize <= VhostUserLimits.MaxConfigSize;
}

/// <summary>SET_LOG_BASE body (VhostUserLog): the dirty log's size and where it starts in the fd that comes with it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LogWire
{
    public const int Size = 16;

    public ulong MmapSize;
    public ulong MmapOffset;
}

/// <summary>SET_DEVICE_STATE_FD body (VhostUserTransferDeviceState): which way the state goes, and in which phase.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct DeviceStateTransferWire
{
    public const int Size = 8;

    /// <summary>VHOST_TRANSFER_STATE_DIRECTION_SAVE: back-end to front-end (the source).</summary>
    public const uint DirectionSave = 0;

    /// <summary>VHOST_TRANSFER_STATE_DIRECTION_LOAD: front-end to back-end (the destination).</summary>
    public const uint DirectionLoad = 1;

    /// <summary>VHOST_TRANSFER_STATE_PHASE_STOPPED: the only phase defined: the device and all its rings are stopped.</summary>
    public const uint PhaseStopped = 0;

    public uint Direction;
    public uint Phase;

    public readonly bool IsValid => Direction is DirectionSave or DirectionLoad && Phase == PhaseStopped;
}

/// <summary>Typed access to wire structs in a message body.</summary>
public static class Wire
{
    public static T Read<T>(ReadOnlySpan<byte> body, int offset = 0) where T : unmanaged
        => MemoryMarshal.Read<T>(body[offset..]);

    public static void Write<T>(Span<byte> body, in T value, int offset = 0) where T : unmanaged
        => MemoryMarshal.Write(body[offset..], in value);

    public static ulong ReadU64(ReadOnlySpan<byte> body) => MemoryMarshal.Read<ulong>(body);
}
