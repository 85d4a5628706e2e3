namespace VirtioFsd.VhostUser;

/// <summary>
/// The device behind a vhost-user connection (for this project, virtio-fs). The transport owns
/// the socket, guest memory and ring state; the backend owns what the queues carry.
/// </summary>
/// <remarks>
/// Threading contract: <see cref="StartQueue"/> and <see cref="StopQueue"/> are called from the
/// connection thread. After <see cref="StartQueue"/> the backend serves the queue on threads of its
/// own, waiting on <see cref="Virtio.Virtqueue.SplitVirtqueue.KickFd"/> ("this queue has work") and
/// signalling the guest through the queue. <see cref="StopQueue"/> returns only when no backend
/// thread touches the queue or guest memory any more: the transport then answers GET_VRING_BASE,
/// unmaps memory or resets, relying on that.
/// </remarks>
public interface IVhostUserBackend
{
    /// <summary>Device-specific virtio feature bits offered on top of those the transport offers itself.</summary>
    ulong DeviceFeatures { get; }

    /// <summary>Number of virtqueues (for virtio-fs: 1 high-priority queue + N request queues).</summary>
    int QueueCount { get; }

    /// <summary>Largest queue size the backend accepts (QEMU allows up to 1024).</summary>
    int MaxQueueSize { get; }

    /// <summary>The device config space for GET_CONFIG, or null when the CONFIG protocol feature is not offered.</summary>
    ReadOnlyMemory<byte>? ConfigSpace => null;

    /// <summary>
    /// The device's internal state for live migration, or null: VHOST_USER_PROTOCOL_F_DEVICE_STATE is then not offered
    /// (and QEMU refuses to migrate a device that needs it).
    /// </summary>
    IDeviceState? DeviceState => null;

    /// <summary>The driver acknowledged these virtio features (SET_FEATURES).</summary>
    void SetNegotiatedFeatures(ulong features)
    {
    }

    /// <summary>
    /// SET_BACKEND_REQ_FD gave the device a channel for back-end initiated requests (vhost-user.rst
    /// "Back-end message types", e.g. config change or virtio-fs DAX map requests), or null when the
    /// connection ends. The transport owns the channel; the device may send on it until told null.
    /// </summary>
    void SetBackendChannel(Protocol.VhostUserChannel? channel)
    {
    }

    /// <summary>The queue is started and enabled: serve it until <see cref="StopQueue"/>.</summary>
    void StartQueue(Virtio.Virtqueue.SplitVirtqueue queue);

    /// <summary>Stop serving the queue; return only once nothing of the backend touches it.</summary>
    void StopQueue(Virtio.Virtqueue.SplitVirtqueue queue);

    /// <summary>The frontend reset the device (RESET_OWNER, RESET_DEVICE) or disconnected: drop all device state.</summary>
    void Reset();
}
