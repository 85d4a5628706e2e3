using Serilog;
using VirtioFsd.Linux;
using VirtioFsd.Virtio.Memory;
using VirtioFsd.VhostUser.Protocol;
using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.VhostUser.Server;

/// <summary>What the connection loop does after a message.</summary>
public enum HandleOutcome
{
    Continue,

    /// <summary>The front-end broke the protocol in a way it cannot be told about: drop the connection.</summary>
    Disconnect,
}

/// <summary>
/// The back-end side of one vhost-user connection: validates each front-end message against
/// <see cref="MessageRules"/>, applies it to the device state (features, guest memory, rings) and
/// replies. All calls come from the connection thread.
/// </summary>
/// <remarks>
/// Failure policy (vhost-user.rst "REPLY_ACK"): a malformed message (size, fds, framing) drops the
/// connection. A well-formed request the back-end refuses is answered with a non-zero ack when the
/// front-end set need_reply; without need_reply the front-end has no way to learn of the failure and
/// would carry on with a device that is not in the state it believes, so the connection is dropped
/// (libvhost-user marks the device broken in the same cases). An unknown request with need_reply is
/// nacked and the connection continues; without, it may expect a reply we cannot give, so we drop.
/// </remarks>
public sealed partial class VhostUserHandler : IDisposable
{
    private readonly IVhostUserBackend _backend;
    private readonly ILogger _log;
    private readonly VringSlot[] _vrings;
    private readonly Virtio.Migration.DirtyPageLog _dirtyLog;
    private GuestMemory _memory = GuestMemory.Empty;
    private ulong _ackedFeatures;
    private ulong _ackedProtocolFeatures;
    private bool _featuresSet;
    private byte _status;

    public VhostUserHandler(IVhostUserBackend backend, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(log);
        _backend = backend;
        _log = log.ForContext<VhostUserHandler>();
        _dirtyLog = new Virtio.Migration.DirtyPageLog(log);
        int queues = backend.QueueCount;
        if (queues < 1 || queues > (int)VhostUserLimits.VringIndexMask + 1)
        {
            throw new ArgumentException($"backend queue count {queues} outside 1..256", nameof(backend));
        }
        _vrings = new VringSlot[queues];
        for (int i = 0; i < queues; i++)
        {
            _vrings[i] = new VringSlot(i);
        }
    }

    /// <summary>Virtio features offered with GET_FEATURES.</summary>
    public ulong OfferedFeatures => VirtioFeatures.TransportOffered | _backend.DeviceFeatures;

    /// <summary>Protocol features offered with GET_PROTOCOL_FEATURES.</summary>
    public ulong OfferedProtocolFeatures
        => ProtocolFeatures.Implemented | (_backend.ConfigSpace.HasValue ? ProtocolFeatures.Config : 0)
            | (_backend.DeviceState is not null ? ProtocolFeatures.DeviceState : 0);

    public ulong AckedFeatures => _ackedFeatures;

    public ulong AckedProtocolFeatures => _ackedProtocolFeatures;

    /// <summary>The back-end request channel from SET_BACKEND_REQ_FD (for later device-initiated messages), or null.</summary>
    public VhostUserChannel? BackendChannel { get; private set; }

    /// <summary>The current guest memory snapshot (for tests and diagnostics).</summary>
    public GuestMemory Memory => _memory;

    /// <summary>Whether queue <paramref name="index"/> is being served by the backend now.</summary>
    public bool IsQueueRunning(int index) => _vrings[index].IsRunning;

    /// <summary>
    /// Validates and applies one message, replying on <paramref name="channel"/>. Never throws for bad input.
    /// Closes the descriptors the request did not keep (disposes <paramref name="message"/>) before replying.
    /// </summary>
    public HandleOutcome Handle(VhostUserMessage message, VhostUserChannel channel)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(channel);
        uint code = message.RequestCode;
        string name = MessageRules.NameOf(code);
        RequestRule? rule = MessageRules.Lookup(code);
        if (rule == null || !IsAllowedByNegotiation(rule.Request))
        {
            string why = rule == null ? "unknown or unsupported request" : "request needs a protocol feature not negotiated";
            if (message.Header.NeedReply)
            {
                _log.Warning("vhost-user: {Request}: {Why}; replying with a failure ack", name, why);
                message.Dispose();
                return Send(channel, code, 1);
            }
            _log.Error("vhost-user: {Request}: {Why} and no ack asked for; closing the connection", name, why);
            return HandleOutcome.Disconnect;
        }
        string? malformed = MessageRules.Validate(rule, message.Body, message.FdCount);
        if (malformed != null)
        {
            _log.Error("vhost-user: malformed {Request}: {Problem}; closing the connection", name, malformed);
            return HandleOutcome.Disconnect;
        }
        if (rule.HasReply)
        {
            byte[]? reply = HandleWithReply(rule.Request, message);
            message.Dispose();
            if (reply == null)
            {
                _log.Error("vhost-user: {Request} refused; closing the connection", name);
                return HandleOutcome.Disconnect;
            }
            return channel.SendReply(code, reply) < 0 ? HandleOutcome.Disconnect : HandleOutcome.Continue;
        }
        int status;
        try
        {
            status = HandleWithoutReply(rule.Request, message);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ObjectDisposedException)
        {
            // Our own invariants broke on this message: refuse it rather than kill the daemon.
            _log.Error(e, "vhost-user: {Request} failed unexpectedly", name);
            status = -Errno.EIO;
        }
        // Descriptors the request did not keep are closed before the front-end hears back, so what it
        // observes after the reply (fd tables, for instance) is final.
        message.Dispose();
        if (message.Header.NeedReply)
        {
            if (status < 0)
            {
                _log.Warning("vhost-user: {Request} refused: {Errno}", name, Errno.Describe(status));
            }
            return Send(channel, code, status < 0 ? (ulong)(-status) : 0);
        }
        if (status < 0)
        {
            _log.Error("vhost-user: {Request} refused ({Errno}) and no ack asked for; closing the connection",
                name, Errno.Describe(status));
            return HandleOutcome.Disconnect;
        }
        return HandleOutcome.Continue;
    }

    /// <summary>The connection ended: stop every queue, reset the device, drop memory and fds.</summary>
    public void Dispose()
    {
        EndStateTransfer();
        StopAll();
        foreach (VringSlot slot in _vrings)
        {
            slot.Reset();
        }
        _backend.Reset();
        _dirtyLog.Dispose();
        _memory.Dispose();
        _memory = GuestMemory.Empty;
        if (BackendChannel != null)
        {
            _backend.SetBackendChannel(null);
            BackendChannel.Dispose();
            BackendChannel = null;
        }
    }

    private bool IsAllowedByNegotiation(VhostUserRequest request) => request switch
    {
        VhostUserRequest.GetConfig or VhostUserRequest.SetConfig => HasProtocol(ProtocolFeatures.Config),
        VhostUserRequest.GetMaxMemSlots or VhostUserRequest.AddMemReg or VhostUserRequest.RemMemReg
            => HasProtocol(ProtocolFeatures.ConfigureMemSlots),
        VhostUserRequest.SetBackendReqFd => HasProtocol(ProtocolFeatures.BackendReq),
        VhostUserRequest.ResetDevice => HasProtocol(ProtocolFeatures.ResetDevice),
        VhostUserRequest.SetStatus or VhostUserRequest.GetStatus => HasProtocol(ProtocolFeatures.Status),
        VhostUserRequest.GetQueueNum => HasProtocol(ProtocolFeatures.Mq),
        VhostUserRequest.SetLogBase => HasProtocol(ProtocolFeatures.LogShmfd),
        VhostUserRequest.SetDeviceStateFd or VhostUserRequest.CheckDeviceState => HasProtocol(ProtocolFeatures.DeviceState),
        _ => true,
    };

    private bool HasProtocol(ulong bit) => (_ackedProtocolFeatures & bit) != 0;

    private byte[]? HandleWithReply(VhostUserRequest request, VhostUserMessage message) => request switch
    {
        VhostUserRequest.GetFeatures => U64(OfferedFeatures),
        VhostUserRequest.GetProtocolFeatures => U64(OfferedProtocolFeatures),
        VhostUserRequest.GetQueueNum => U64((ulong)_vrings.Length),
        VhostUserRequest.GetMaxMemSlots => U64(GuestMemory.MaxRegions),
        VhostUserRequest.GetStatus => U64(_status),
        VhostUserRequest.GetVringBase => GetVringBase(Wire.Read<VringStateWire>(message.Body)),
        VhostUserRequest.GetConfig => GetConfig(message.Body),
        VhostUserRequest.SetLogBase => SetLogBase(message),
        VhostUserRequest.SetDeviceStateFd => SetDeviceStateFd(message),
        VhostUserRequest.CheckDeviceState => CheckDeviceState(),
        _ => null,
    };

    private int HandleWithoutReply(VhostUserRequest request, VhostUserMessage message)
    {
        ReadOnlySpan<byte> body = message.Body;
        return request switch
        {
            VhostUserRequest.SetFeatures => SetFeatures(Wire.ReadU64(body)),
            VhostUserRequest.SetProtocolFeatures => SetProtocolFeatures(Wire.ReadU64(body)),
            VhostUserRequest.SetOwner => 0,
            VhostUserRequest.ResetOwner or VhostUserRequest.ResetDevice => ResetDevice(),
            VhostUserRequest.SetMemTable => SetMemTable(message),
            VhostUserRequest.AddMemReg => AddMemRegion(message),
            VhostUserRequest.RemMemReg => RemoveMemRegion(Wire.Read<SingleMemoryRegionWire>(body)),
            VhostUserRequest.SetVringNum => SetVringNum(Wire.Read<VringStateWire>(body)),
            VhostUserRequest.SetVringAddr => SetVringAddr(Wire.Read<VringAddressWire>(body)),
            VhostUserRequest.SetVringBase => SetVringBase(Wire.Read<VringStateWire>(body)),
            VhostUserRequest.SetVringKick or VhostUserRequest.SetVringCall or VhostUserRequest.SetVringErr
                => SetVringFd(request, message),
            VhostUserRequest.SetVringEnable => SetVringEnable(Wire.Read<VringStateWire>(body)),
            VhostUserRequest.SetBackendReqFd => SetBackendReqFd(message),
            VhostUserRequest.SetConfig => -Errno.EPERM, // virtio-fs config space is read-only (virtio 1.2 §5.11.4)
            VhostUserRequest.SetStatus => SetStatus(Wire.ReadU64(body)),
            VhostUserRequest.SetLogFd => SetLogFd(),
            _ => -Errno.ENOSYS,
        };
    }

    private int SetFeatures(ulong features)
    {
        ulong unknown = features & ~OfferedFeatures;
        if (unknown != 0)
        {
            _log.Warning("vhost-user: SET_FEATURES acks bits 0x{Bits:x} that were never offered", unknown);
            return -Errno.EINVAL;
        }
        if (TrySwitchLogging(features))
        {
            return 0;
        }
        // EVENT_IDX changes how a running queue signals: rebuild running queues under the new features.
        StopAll();
        _ackedFeatures = features;
        _featuresSet = true;
        if ((features & VirtioFeatures.ProtocolFeatures) == 0)
        {
            // vhost-user.rst "Ring states": without VHOST_USER_F_PROTOCOL_FEATURES rings are enabled at once.
            foreach (VringSlot slot in _vrings)
            {
                slot.Enabled = true;
            }
        }
        _backend.SetNegotiatedFeatures(features);
        ReconcileAll();
        return 0;
    }

    private int SetProtocolFeatures(ulong features)
    {
        ulong unknown = features & ~OfferedProtocolFeatures;
        if (unknown != 0)
        {
            _log.Warning("vhost-user: SET_PROTOCOL_FEATURES acks bits 0x{Bits:x} that were never offered", unknown);
            return -Errno.EINVAL;
        }
        _ackedProtocolFeatures = features;
        return 0;
    }

    private int SetStatus(ulong status)
    {
        if (status > byte.MaxValue)
        {
            return -Errno.EINVAL;
        }
        _status = (byte)status;
        return 0;
    }

    private int SetBackendReqFd(VhostUserMessage message)
    {
        _backend.SetBackendChannel(null);
        BackendChannel?.Dispose();
        BackendChannel = new VhostUserChannel(new UnixFd(message.TakeFd(0)));
        _backend.SetBackendChannel(BackendChannel);
        return 0;
    }

    private byte[] GetConfig(ReadOnlySpan<byte> body)
    {
        ConfigHeaderWire header = Wire.Read<ConfigHeaderWire>(body);
        byte[] reply = new byte[ConfigHeaderWire.Size + header.PayloadSize];
        Wire.Write(reply, header);
        ReadOnlySpan<byte> space = _backend.ConfigSpace.GetValueOrDefault().Span;
        // Bytes beyond the device's config space read as zero, as in QEMU's virtio config accessors.
        if (header.Offset < space.Length)
        {
            ReadOnlySpan<byte> available = space[(int)header.Offset..];
            available[..Math.Min(available.Length, (int)header.PayloadSize)].CopyTo(reply.AsSpan(ConfigHeaderWire.Size));
        }
        return reply;
    }

    /// <summary>RESET_OWNER (deprecated) and RESET_DEVICE: rings and features back to initial; memory stays mapped.</summary>
    private int ResetDevice()
    {
        // A transfer still under way finishes first: a state loaded after the reset would revive what it dropped.
        EndStateTransfer();
        StopAll();
        foreach (VringSlot slot in _vrings)
        {
            slot.Reset();
        }
        _ackedFeatures = 0;
        _featuresSet = false;
        _status = 0;
        _dirtyLog.SetLogAll(false);
        _backend.Reset();
        return 0;
    }

    private HandleOutcome Send(VhostUserChannel channel, uint code, ulong value)
    {
        int r = channel.SendReplyU64(code, value);
        if (r < 0)
        {
            _log.Warning("vhost-user: reply to {Request} failed: {Errno}", MessageRules.NameOf(code), Errno.Describe(r));
            return HandleOutcome.Disconnect;
        }
        return HandleOutcome.Continue;
    }

    private static byte[] U64(ulong value)
    {
        byte[] b = new byte[8];
        Wire.Write(b, value);
        return b;
    }
}
