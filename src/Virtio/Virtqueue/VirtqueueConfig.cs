namespace VirtioFsd.Virtio.Virtqueue;

/// <summary>
/// Everything a <see cref="SplitVirtqueue"/> needs, gathered by the vhost-user handler from
/// SET_VRING_NUM / SET_VRING_ADDR / SET_VRING_BASE / SET_VRING_KICK / SET_VRING_CALL and the
/// negotiated features. Ring addresses are host pointers already translated from the frontend's
/// virtual addresses; use <see cref="RingAddresses.TryTranslate"/> to do that with the right sizes.
/// </summary>
public sealed record VirtqueueConfig
{
    /// <summary>Queue index (0 = virtio-fs high-priority queue).</summary>
    public required int Index { get; init; }

    /// <summary>Queue size: a power of two, 1..32768 (virtio 1.2 §2.7).</summary>
    public required ushort Size { get; init; }

    /// <summary>The translated ring areas.</summary>
    public required RingAddresses Rings { get; init; }

    /// <summary>Guest physical address of the used ring (vhost_vring_addr.log_guest_addr), for dirty logging.</summary>
    public ulong UsedRingGuestAddress { get; init; }

    /// <summary>VHOST_VRING_F_LOG: used ring writes are logged (relative to <see cref="UsedRingGuestAddress"/>) while logging is on.</summary>
    public bool LogUsedRing { get; init; }

    /// <summary>The connection's dirty page log the queue marks its writes in while logging is on; null: never logs.</summary>
    public Migration.DirtyPageLog? DirtyLog { get; init; }

    /// <summary>VIRTIO_RING_F_EVENT_IDX (bit 29) was negotiated.</summary>
    public bool EventIdx { get; init; }

    /// <summary>The next avail ring index to consume (SET_VRING_BASE).</summary>
    public ushort LastAvailIndex { get; init; }

    /// <summary>Kick eventfd; -1 when the frontend sent none (VHOST_USER_VRING_NOFD_MASK): the backend must poll.</summary>
    public int KickFd { get; init; } = -1;

    /// <summary>Call eventfd; -1 when none: the guest is then never signalled.</summary>
    public int CallFd { get; init; } = -1;
}
