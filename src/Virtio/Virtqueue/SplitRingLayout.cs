namespace VirtioFsd.Virtio.Virtqueue;

/// <summary>
/// Sizes, offsets and flags of the split virtqueue as laid out in linux/virtio_ring.h and
/// virtio 1.2 §2.7. All fields are little-endian (virtio 1.x); this process runs little-endian.
/// </summary>
public static class SplitRingLayout
{
    /// <summary>Largest split-ring queue size (virtio 1.2 §2.7: "Queue Size ... maximum 32768").</summary>
    public const int MaxQueueSize = 32768;

    /// <summary>sizeof(struct vring_desc): le64 addr, le32 len, le16 flags, le16 next.</summary>
    public const int DescriptorSize = 16;

    /// <summary>sizeof(struct vring_used_elem): le32 id, le32 len.</summary>
    public const int UsedElementSize = 8;

    /// <summary>VRING_DESC_F_NEXT: the buffer continues via the next field.</summary>
    public const ushort DescFlagNext = 1;

    /// <summary>VRING_DESC_F_WRITE: the buffer is device-writable (otherwise device-readable).</summary>
    public const ushort DescFlagWrite = 2;

    /// <summary>VRING_DESC_F_INDIRECT: the buffer holds a table of descriptors.</summary>
    public const ushort DescFlagIndirect = 4;

    /// <summary>VRING_USED_F_NO_NOTIFY: device to driver, "don't kick me" (without EVENT_IDX).</summary>
    public const ushort UsedFlagNoNotify = 1;

    /// <summary>VRING_AVAIL_F_NO_INTERRUPT: driver to device, "don't interrupt me" (without EVENT_IDX).</summary>
    public const ushort AvailFlagNoInterrupt = 1;

    /// <summary>VIRTIO_RING_F_INDIRECT_DESC feature bit.</summary>
    public const int FeatureIndirectDesc = 28;

    /// <summary>VIRTIO_RING_F_EVENT_IDX feature bit.</summary>
    public const int FeatureEventIdx = 29;

    /// <summary>Bytes of the descriptor table: 16 * size (alignment 16).</summary>
    public static ulong DescriptorTableBytes(ushort size) => (ulong)DescriptorSize * size;

    /// <summary>Bytes of the avail ring: flags, idx, ring[size], used_event = 6 + 2 * size (alignment 2).</summary>
    public static ulong AvailRingBytes(ushort size) => 6 + (2UL * size);

    /// <summary>Bytes of the used ring: flags, idx, ring[size], avail_event = 6 + 8 * size (alignment 4).</summary>
    public static ulong UsedRingBytes(ushort size) => 6 + ((ulong)UsedElementSize * size);

    /// <summary>Required alignments of the three areas (virtio 1.2 §2.7, table "Virtqueue Part Alignment").</summary>
    public const int DescriptorTableAlign = 16;
    public const int AvailRingAlign = 2;
    public const int UsedRingAlign = 4;

    /// <summary>A valid split-ring size: a power of two from 1 to 32768.</summary>
    public static bool IsValidQueueSize(int size) => size is > 0 and <= MaxQueueSize && (size & (size - 1)) == 0;
}
