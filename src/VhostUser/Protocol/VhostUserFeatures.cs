namespace VirtioFsd.VhostUser.Protocol;

/// <summary>Virtio feature bits the transport itself offers (virtio spec 1.2 §6 "Reserved Feature Bits").</summary>
public static class VirtioFeatures
{
    /// <summary>
    /// VHOST_F_LOG_ALL (26, a vhost feature in the virtio transport range): the back-end logs the guest pages it writes
    /// while the front-end acks it (vhost-user.rst "Migration"); QEMU blocks migration of a back-end without it.
    /// </summary>
    public const ulong LogAll = 1UL << 26;

    /// <summary>VIRTIO_RING_F_INDIRECT_DESC (28): descriptors may point at indirect tables.</summary>
    public const ulong RingIndirectDesc = 1UL << 28;

    /// <summary>VIRTIO_RING_F_EVENT_IDX (29): used_event / avail_event notification suppression.</summary>
    public const ulong RingEventIdx = 1UL << 29;

    /// <summary>VHOST_USER_F_PROTOCOL_FEATURES (30): borrowed virtio bit saying GET/SET_PROTOCOL_FEATURES exist.</summary>
    public const ulong ProtocolFeatures = 1UL << 30;

    /// <summary>VIRTIO_F_VERSION_1 (32): modern little-endian device.</summary>
    public const ulong Version1 = 1UL << 32;

    /// <summary>Everything the transport offers on top of the backend's device bits.</summary>
    public const ulong TransportOffered = LogAll | RingIndirectDesc | RingEventIdx | ProtocolFeatures | Version1;
}

/// <summary>vhost-user protocol feature bits (vhost-user.rst "Protocol features").</summary>
public static class ProtocolFeatures
{
    public const ulong Mq = 1UL << 0;
    public const ulong LogShmfd = 1UL << 1;
    public const ulong ReplyAck = 1UL << 3;
    public const ulong BackendReq = 1UL << 5;
    public const ulong Config = 1UL << 9;
    public const ulong BackendSendFd = 1UL << 10;
    public const ulong InflightShmfd = 1UL << 12;
    public const ulong ResetDevice = 1UL << 13;
    public const ulong InbandNotifications = 1UL << 14;
    public const ulong ConfigureMemSlots = 1UL << 15;
    public const ulong Status = 1UL << 16;
    public const ulong DeviceState = 1UL << 19;

    /// <summary>
    /// What this backend implements. CONFIG is added only when the device has a config space (QEMU
    /// 7.1-8.0 abort on a vhost-user-fs backend offering it), DEVICE_STATE only when the device can save and
    /// load its state; INFLIGHT_SHMFD is not implemented and therefore never offered.
    /// </summary>
    public const ulong Implemented = Mq | LogShmfd | ReplyAck | BackendReq | BackendSendFd | ConfigureMemSlots | ResetDevice | Status;
}
