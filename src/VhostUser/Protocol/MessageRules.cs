namespace VirtioFsd.VhostUser.Protocol;

/// <summary>How many descriptors a request must carry.</summary>
public enum FdRule
{
    /// <summary>No descriptor.</summary>
    None,

    /// <summary>Exactly one descriptor.</summary>
    One,

    /// <summary>SET_VRING_KICK/CALL/ERR: one descriptor unless payload bit 8 (no fd) is set, then none.</summary>
    OneUnlessNoFdFlag,

    /// <summary>SET_MEM_TABLE: one descriptor per region.</summary>
    OnePerRegion,

    /// <summary>REM_MEM_REG: QEMU before 6.1 attached the region's fd, later ones none; either is accepted (and closed).</summary>
    NoneOrOne,
}

/// <summary>What a request's body and descriptors must look like, and whether it has a reply of its own.</summary>
public sealed record RequestRule(VhostUserRequest Request, int FixedBodySize, FdRule Fds, bool HasReply)
{
    /// <summary>Body size is computed from the body itself (SET_MEM_TABLE, GET/SET_CONFIG).</summary>
    public const int VariableBody = -1;
}

/// <summary>
/// The validation table applied to every message BEFORE dispatch (vhost-user.rst "Front-end message
/// types" gives each request's payload). A message failing these rules is malformed: the connection is
/// dropped, because a front-end that breaks framing cannot be trusted with the rest of the stream.
/// </summary>
public static class MessageRules
{
    private static readonly Dictionary<VhostUserRequest, RequestRule> Table = Build(
        new(VhostUserRequest.GetFeatures, 0, FdRule.None, true),
        new(VhostUserRequest.SetFeatures, 8, FdRule.None, false),
        new(VhostUserRequest.SetOwner, 0, FdRule.None, false),
        new(VhostUserRequest.ResetOwner, 0, FdRule.None, false),
        new(VhostUserRequest.SetMemTable, RequestRule.VariableBody, FdRule.OnePerRegion, false),
        new(VhostUserRequest.SetVringNum, VringStateWire.Size, FdRule.None, false),
        new(VhostUserRequest.SetVringAddr, VringAddressWire.Size, FdRule.None, false),
        new(VhostUserRequest.SetVringBase, VringStateWire.Size, FdRule.None, false),
        new(VhostUserRequest.GetVringBase, VringStateWire.Size, FdRule.None, true),
        new(VhostUserRequest.SetVringKick, 8, FdRule.OneUnlessNoFdFlag, false),
        new(VhostUserRequest.SetVringCall, 8, FdRule.OneUnlessNoFdFlag, false),
        new(VhostUserRequest.SetVringErr, 8, FdRule.OneUnlessNoFdFlag, false),
        new(VhostUserRequest.GetProtocolFeatures, 0, FdRule.None, true),
        new(VhostUserRequest.SetProtocolFeatures, 8, FdRule.None, false),
        new(VhostUserRequest.GetQueueNum, 0, FdRule.None, true),
        new(VhostUserRequest.SetVringEnable, VringStateWire.Size, FdRule.None, false),
        new(VhostUserRequest.SetBackendReqFd, 0, FdRule.One, false),
        new(VhostUserRequest.GetConfig, RequestRule.VariableBody, FdRule.None, true),
        new(VhostUserRequest.SetConfig, RequestRule.VariableBody, FdRule.None, false),
        new(VhostUserRequest.ResetDevice, 0, FdRule.None, false),
        new(VhostUserRequest.GetMaxMemSlots, 0, FdRule.None, true),
        new(VhostUserRequest.AddMemReg, SingleMemoryRegionWire.Size, FdRule.One, false),
        new(VhostUserRequest.RemMemReg, SingleMemoryRegionWire.Size, FdRule.NoneOrOne, false),
        new(VhostUserRequest.SetStatus, 8, FdRule.None, false),
        new(VhostUserRequest.GetStatus, 0, FdRule.None, true),
        // vhost-user.rst "Communication": SET_LOG_BASE is answered when LOG_SHMFD is negotiated (it must be, to be sent).
        new(VhostUserRequest.SetLogBase, LogWire.Size, FdRule.One, true),
        new(VhostUserRequest.SetLogFd, 0, FdRule.One, false),
        new(VhostUserRequest.SetDeviceStateFd, DeviceStateTransferWire.Size, FdRule.One, true),
        new(VhostUserRequest.CheckDeviceState, 0, FdRule.None, true));

    /// <summary>The rule for a request this backend implements, or null (unknown or unsupported).</summary>
    public static RequestRule? Lookup(uint request)
        => Table.TryGetValue((VhostUserRequest)request, out RequestRule? rule) ? rule : null;

    /// <summary>Name for log lines: the enum name, or the number for codes we do not know.</summary>
    public static string NameOf(uint request)
        => Enum.IsDefined((VhostUserRequest)request) ? ((VhostUserRequest)request).ToString() : $"request {request}";

    /// <summary>Checks body size and descriptor count; returns null when the message is well formed, else why not.</summary>
    public static string? Validate(RequestRule rule, ReadOnlySpan<byte> body, int fdCount)
    {
        int expectedSize = rule.FixedBodySize;
        if (expectedSize == RequestRule.VariableBody)
        {
            string? error = VariableBodySize(rule.Request, body, out expectedSize);
            if (error != null)
            {
                return error;
            }
        }
        if (body.Length != expectedSize)
        {
            return $"body is {body.Length} bytes, expected {expectedSize}";
        }
        int expectedFds = rule.Fds switch
        {
            FdRule.None => 0,
            FdRule.One => 1,
            FdRule.OneUnlessNoFdFlag => (Wire.ReadU64(body) & VhostUserLimits.VringNoFdFlag) != 0 ? 0 : 1,
            FdRule.OnePerRegion => (int)Wire.Read<MemoryTableHeaderWire>(body).RegionCount,
            FdRule.NoneOrOne => fdCount <= 1 ? fdCount : 1,
            _ => 0,
        };
        return fdCount == expectedFds ? null : $"carries {fdCount} fds, expected {expectedFds}";
    }

    private static string? VariableBodySize(VhostUserRequest request, ReadOnlySpan<byte> body, out int size)
    {
        size = 0;
        switch (request)
        {
            case VhostUserRequest.SetMemTable:
                if (body.Length < MemoryTableHeaderWire.Size)
                {
                    return $"body is {body.Length} bytes, shorter than the region count";
                }
                MemoryTableHeaderWire table = Wire.Read<MemoryTableHeaderWire>(body);
                if (!table.IsValid)
                {
                    return $"{table.RegionCount} regions (1..{VhostUserLimits.MaxMemTableRegions} allowed)";
                }
                size = MemoryTableHeaderWire.Size + ((int)table.RegionCount * MemoryRegionWire.Size);
                return null;
            case VhostUserRequest.GetConfig:
            case VhostUserRequest.SetConfig:
                if (body.Length < ConfigHeaderWire.Size)
                {
                    return $"body is {body.Length} bytes, shorter than the config header";
                }
                ConfigHeaderWire config = Wire.Read<ConfigHeaderWire>(body);
                if (!config.IsValid)
                {
                    return $"config range {config.Offset}+{config.PayloadSize} exceeds {VhostUserLimits.MaxConfigSize}";
                }
                size = ConfigHeaderWire.Size + (int)config.PayloadSize;
                return null;
            default:
                return "no size rule";
        }
    }

    private static Dictionary<VhostUserRequest, RequestRule> Build(params RequestRule[] rules)
        => rules.ToDictionary(r => r.Request);
}
