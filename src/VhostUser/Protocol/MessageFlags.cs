namespace VirtioFsd.VhostUser.Protocol;

/// <summary>The header's flags word (vhost-user.rst "Header").</summary>
public static class MessageFlags
{
    /// <summary>Bits 0-1: protocol version; only version 1 exists.</summary>
    public const uint VersionMask = 0x3;
    public const uint Version = 0x1;

    /// <summary>Bit 2: the message is a reply.</summary>
    public const uint Reply = 1u << 2;

    /// <summary>Bit 3: the sender wants a u64 ack (REPLY_ACK protocol feature).</summary>
    public const uint NeedReply = 1u << 3;

    /// <summary>Bits a front-end request may carry; anything else is malformed.</summary>
    public const uint KnownRequestBits = VersionMask | NeedReply;
}

/// <summary>Limits from the protocol and QEMU.</summary>
public static class VhostUserLimits
{
    /// <summary>Largest body we accept; the biggest real one is SET_MEM_TABLE with 8 regions (264 bytes).</summary>
    public const int MaxBodySize = 4096;

    /// <summary>VHOST_MEMORY_BASELINE_NREGIONS: regions (and fds) in one SET_MEM_TABLE.</summary>
    public const int MaxMemTableRegions = 8;

    /// <summary>Most fds any message carries (SET_MEM_TABLE: one per region).</summary>
    public const int MaxFds = MaxMemTableRegions;

    /// <summary>Memory slots reported by GET_MAX_MEM_SLOTS (QEMU's VHOST_USER_MAX_RAM_SLOTS is 512, rust-vmm answers 509).</summary>
    public const int MaxMemSlots = 509;

    /// <summary>VHOST_USER_MAX_CONFIG_SIZE in QEMU (hw/virtio/vhost-user.c).</summary>
    public const int MaxConfigSize = 256;

    /// <summary>Payload of SET_VRING_KICK/CALL/ERR: bits 0-7 queue index, bit 8 = no fd attached.</summary>
    public const ulong VringIndexMask = 0xff;
    public const ulong VringNoFdFlag = 1UL << 8;
}
