namespace VirtioFsd.VhostUserFrontend;

// The frontend speaks the wire protocol from QEMU's docs/interop/vhost-user.rst on its own (it must not
// share code with the backend under test, and it also drives the C virtiofsd), so these numbers are
// restated here rather than imported.

/// <summary>Front-end request codes (vhost-user.rst "Front-end message types").</summary>
public static class Req
{
    public const uint GetFeatures = 1;
    public const uint SetFeatures = 2;
    public const uint SetOwner = 3;
    public const uint ResetOwner = 4;
    public const uint SetMemTable = 5;
    public const uint SetLogBase = 6;
    public const uint SetLogFd = 7;
    public const uint SetVringNum = 8;
    public const uint SetVringAddr = 9;
    public const uint SetVringBase = 10;
    public const uint GetVringBase = 11;
    public const uint SetVringKick = 12;
    public const uint SetVringCall = 13;
    public const uint SetVringErr = 14;
    public const uint GetProtocolFeatures = 15;
    public const uint SetProtocolFeatures = 16;
    public const uint GetQueueNum = 17;
    public const uint SetVringEnable = 18;
    public const uint SetBackendReqFd = 21;
    public const uint GetConfig = 24;
    public const uint SetConfig = 25;
    public const uint ResetDevice = 34;
    public const uint GetMaxMemSlots = 36;
    public const uint AddMemReg = 37;
    public const uint RemMemReg = 38;
    public const uint SetStatus = 39;
    public const uint GetStatus = 40;
    public const uint SetDeviceStateFd = 42;
    public const uint CheckDeviceState = 43;
}

/// <summary>Header flags, feature bits and payload flags.</summary>
public static class Proto
{
    public const uint Version = 1;
    public const uint ReplyFlag = 1u << 2;
    public const uint NeedReplyFlag = 1u << 3;
    public const int HeaderSize = 12;
    public const ulong VringNoFd = 1UL << 8;

    public const ulong FeatureIndirectDesc = 1UL << 28;
    public const ulong FeatureEventIdx = 1UL << 29;
    public const ulong FeatureProtocolFeatures = 1UL << 30;
    public const ulong FeatureVersion1 = 1UL << 32;

    public const ulong ProtoMq = 1UL << 0;
    public const ulong ProtoLogShmfd = 1UL << 1;
    public const ulong ProtoReplyAck = 1UL << 3;
    public const ulong ProtoBackendReq = 1UL << 5;
    public const ulong ProtoConfig = 1UL << 9;
    public const ulong ProtoBackendSendFd = 1UL << 10;
    public const ulong ProtoInflightShmfd = 1UL << 12;
    public const ulong ProtoResetDevice = 1UL << 13;
    public const ulong ProtoConfigureMemSlots = 1UL << 15;
    public const ulong ProtoStatus = 1UL << 16;
    public const ulong ProtoDeviceState = 1UL << 19;

    /// <summary>VHOST_F_LOG_ALL: the backend logs the guest pages it writes while this is acked.</summary>
    public const ulong FeatureLogAll = 1UL << 26;

    /// <summary>VHOST_VRING_F_LOG in SET_VRING_ADDR's flags.</summary>
    public const uint VringFlagLog = 1;

    /// <summary>
    /// Protocol features QEMU's vhost-user frontend knows (VHOST_USER_PROTOCOL_FEATURE_MASK-ish): 7.2's, plus
    /// DEVICE_STATE, which QEMU takes since 8.2 (its migration of vhost-user-fs).
    /// </summary>
    public const ulong QemuProtocolFeatures = ProtoMq | ProtoLogShmfd | ProtoReplyAck | ProtoBackendReq | ProtoConfig
        | ProtoBackendSendFd | ProtoInflightShmfd | ProtoResetDevice | ProtoConfigureMemSlots | ProtoStatus | ProtoDeviceState;
}

/// <summary>The frontend saw something a correct backend would not do (or the backend went away).</summary>
public sealed class VhostUserFrontendException(string message) : Exception(message);

/// <summary>A reply from the backend.</summary>
public sealed record Reply(uint Request, uint Flags, byte[] Body)
{
    public ulong U64 => Body.Length == 8
        ? BitConverter.ToUInt64(Body)
        : throw new VhostUserFrontendException($"reply to {Request} has {Body.Length} bytes, not a u64");
}
