using VirtioFsd.Virtio.Memory;

namespace VirtioFsd.Virtio.Virtqueue;

/// <summary>
/// Host pointers of the three areas of a split virtqueue (virtio 1.2 §2.7, linux/virtio_ring.h).
/// Each pointer covers the whole area for the queue size it was translated for.
/// </summary>
public readonly record struct RingAddresses(nint DescriptorTable, nint AvailRing, nint UsedRing)
{
    /// <summary>
    /// Translates the frontend virtual addresses of SET_VRING_ADDR into host pointers, requiring each
    /// area (sized for <paramref name="queueSize"/>, event fields included) to be mapped contiguously
    /// and aligned as virtio 1.2 §2.7 demands (16 / 2 / 4 bytes). False on any failure.
    /// </summary>
    public static bool TryTranslate(GuestMemory memory, ushort queueSize, ulong descUserAddr, ulong availUserAddr,
        ulong usedUserAddr, out RingAddresses rings)
    {
        ArgumentNullException.ThrowIfNull(memory);
        rings = default;
        if (!SplitRingLayout.IsValidQueueSize(queueSize)
            || descUserAddr % SplitRingLayout.DescriptorTableAlign != 0
            || availUserAddr % SplitRingLayout.AvailRingAlign != 0
            || usedUserAddr % SplitRingLayout.UsedRingAlign != 0)
        {
            return false;
        }
        if (!memory.TryTranslateUserAddress(descUserAddr, SplitRingLayout.DescriptorTableBytes(queueSize), out nint desc)
            || !memory.TryTranslateUserAddress(availUserAddr, SplitRingLayout.AvailRingBytes(queueSize), out nint avail)
            || !memory.TryTranslateUserAddress(usedUserAddr, SplitRingLayout.UsedRingBytes(queueSize), out nint used))
        {
            return false;
        }
        rings = new RingAddresses(desc, avail, used);
        return true;
    }
}
