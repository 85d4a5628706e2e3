using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VirtioFsd.Virtio.Memory;

namespace VirtioFsd.Virtio.Virtqueue;

/// <summary>struct vring_desc as read from guest memory (copied once into a local).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct VringDesc
{
    public ulong Addr;
    public uint Len;
    public ushort Flags;
    public ushort Next;
}

/// <summary>
/// The raw accessors of one split ring: the only code of the virtqueue that dereferences guest
/// memory pointers. Construction checks that each area lies inside a mapping of the snapshot and is
/// aligned, which is what makes every accessor below sound for indexes below <see cref="Size"/>
/// (callers mask ring slots with Size - 1 and check descriptor indexes against Size).
/// </summary>
internal readonly unsafe struct SplitRing
{
    private readonly byte* _desc;
    private readonly byte* _avail;
    private readonly byte* _used;

    private SplitRing(RingAddresses rings, ushort size)
    {
        _desc = (byte*)rings.DescriptorTable;
        _avail = (byte*)rings.AvailRing;
        _used = (byte*)rings.UsedRing;
        Size = size;
    }

    public ushort Size { get; }

    /// <summary>Null when the addresses are unaligned or not inside <paramref name="memory"/>.</summary>
    public static string? Validate(GuestMemory memory, RingAddresses rings, ushort size)
    {
        if (!SplitRingLayout.IsValidQueueSize(size))
        {
            return $"queue size {size} is not a power of two in 1..{SplitRingLayout.MaxQueueSize}";
        }
        if (rings.DescriptorTable % SplitRingLayout.DescriptorTableAlign != 0
            || rings.AvailRing % SplitRingLayout.AvailRingAlign != 0
            || rings.UsedRing % SplitRingLayout.UsedRingAlign != 0)
        {
            return "ring area misaligned";
        }
        if (!memory.ContainsHostRange(rings.DescriptorTable, SplitRingLayout.DescriptorTableBytes(size))
            || !memory.ContainsHostRange(rings.AvailRing, SplitRingLayout.AvailRingBytes(size))
            || !memory.ContainsHostRange(rings.UsedRing, SplitRingLayout.UsedRingBytes(size)))
        {
            return "ring area not inside mapped guest memory";
        }
        return null;
    }

    /// <summary>Only after <see cref="Validate"/> returned null for the same arguments.</summary>
    public static SplitRing CreateValidated(RingAddresses rings, ushort size) => new(rings, size);

    /// <summary>avail->idx with acquire semantics: the ring entries and descriptors the driver published
    /// before bumping idx (it issues a write barrier first, virtio 1.2 §2.7.13) are read after this.</summary>
    public ushort ReadAvailIdxAcquire()
    {
        // Sound: offset 2 of the validated avail area, 2-byte aligned.
        return Volatile.Read(ref *(ushort*)(_avail + 2));
    }

    /// <summary>avail->flags (VRING_AVAIL_F_NO_INTERRUPT); ordering is the caller's fence.</summary>
    public ushort ReadAvailFlags()
    {
        // Sound: offset 0 of the validated avail area. Volatile so the read is not elided or torn.
        return Volatile.Read(ref *(ushort*)_avail);
    }

    /// <summary>avail->ring[slot], slot &lt; Size.</summary>
    public ushort ReadAvailEntry(int slot)
    {
        // Sound: 4 + 2 * slot + 2 <= 6 + 2 * Size, inside the validated avail area.
        return Volatile.Read(ref *(ushort*)(_avail + 4 + (2 * slot)));
    }

    /// <summary>used_event, stored by the driver after avail->ring[Size] (EVENT_IDX).</summary>
    public ushort ReadUsedEvent()
    {
        // Sound: offset 4 + 2 * Size, the last 2 bytes of the validated avail area.
        return Volatile.Read(ref *(ushort*)(_avail + 4 + (2 * Size)));
    }

    /// <summary>Copy of desc[index], index &lt; Size, read once: the guest may rewrite it meanwhile.</summary>
    public VringDesc ReadDescriptor(int index)
    {
        // Sound: 16 * index + 16 <= 16 * Size, inside the validated descriptor table.
        return Unsafe.ReadUnaligned<VringDesc>(_desc + (SplitRingLayout.DescriptorSize * index));
    }

    /// <summary>used->flags (VRING_USED_F_NO_NOTIFY).</summary>
    public void WriteUsedFlags(ushort flags)
    {
        // Sound: offset 0 of the validated used area.
        Volatile.Write(ref *(ushort*)_used, flags);
    }

    /// <summary>used->idx with release semantics: the elements written before become visible first.</summary>
    public void WriteUsedIdxRelease(ushort idx)
    {
        // Sound: offset 2 of the validated used area, 2-byte aligned.
        Volatile.Write(ref *(ushort*)(_used + 2), idx);
    }

    /// <summary>used->idx as it is in memory (the device's own last store, or the one before a restart).</summary>
    public ushort ReadUsedIdx()
    {
        // Sound: offset 2 of the validated used area.
        return Volatile.Read(ref *(ushort*)(_used + 2));
    }

    /// <summary>used->ring[slot] = { id, len }, slot &lt; Size.</summary>
    public void WriteUsedElement(int slot, uint id, uint len)
    {
        // Sound: 4 + 8 * slot + 8 <= 6 + 8 * Size, inside the validated used area (4-byte aligned).
        uint* elem = (uint*)(_used + 4 + (SplitRingLayout.UsedElementSize * slot));
        elem[0] = id;
        elem[1] = len;
    }

    /// <summary>avail_event, after used->ring[Size] (EVENT_IDX): "kick me when avail idx passes this".</summary>
    public void WriteAvailEvent(ushort value)
    {
        // Sound: offset 4 + 8 * Size, the last 2 bytes of the validated used area.
        Volatile.Write(ref *(ushort*)(_used + 4 + (SplitRingLayout.UsedElementSize * Size)), value);
    }
}
