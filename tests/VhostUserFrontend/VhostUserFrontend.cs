using System.Buffers.Binary;

namespace VirtioFsd.VhostUserFrontend;

/// <summary>
/// A QEMU-like vhost-user frontend for tests and benchmarks: typed requests over a
/// <see cref="FrontendSocket"/>, the handshake QEMU 7.2's vhost-user-fs-pci performs, and queue setup.
/// Every typed call checks the reply; with REPLY_ACK negotiated and <see cref="UseReplyAck"/> on, every
/// request without a reply of its own asks for an ack and a non-zero ack throws.
/// </summary>
public sealed partial class VhostUserFrontend : IDisposable
{
    public VhostUserFrontend(FrontendSocket socket, GuestRam ram)
    {
        Socket = socket;
        Ram = ram;
    }

    public FrontendSocket Socket { get; }

    public GuestRam Ram { get; }

    public ulong BackendFeatures { get; private set; }

    public ulong BackendProtocolFeatures { get; private set; }

    public ulong NegotiatedFeatures { get; private set; }

    public ulong NegotiatedProtocolFeatures { get; private set; }

    /// <summary>Request an ack for every message without its own reply (when REPLY_ACK was negotiated).</summary>
    public bool UseReplyAck { get; set; } = true;

    public static VhostUserFrontend Connect(string socketPath, GuestRam ram, int timeoutMs = 10_000)
        => new(FrontendSocket.Connect(socketPath, timeoutMs), ram);

    private bool AckNegotiated => UseReplyAck && (NegotiatedProtocolFeatures & Proto.ProtoReplyAck) != 0;

    // ---- requests with a reply of their own ----

    public ulong GetFeatures() => BackendFeatures = Call(Req.GetFeatures, []).U64;

    public ulong GetProtocolFeatures() => BackendProtocolFeatures = Call(Req.GetProtocolFeatures, []).U64;

    public ulong GetQueueNum() => Call(Req.GetQueueNum, []).U64;

    public ulong GetMaxMemSlots() => Call(Req.GetMaxMemSlots, []).U64;

    public ulong GetStatus() => Call(Req.GetStatus, []).U64;

    /// <summary>GET_VRING_BASE: stops the ring and returns the next avail index the backend would consume.</summary>
    public uint GetVringBase(int index)
    {
        Reply r = Call(Req.GetVringBase, VringState((uint)index, 0));
        if (r.Body.Length != 8 || BinaryPrimitives.ReadUInt32LittleEndian(r.Body) != (uint)index)
        {
            throw new VhostUserFrontendException("GET_VRING_BASE reply malformed");
        }
        return BinaryPrimitives.ReadUInt32LittleEndian(r.Body.AsSpan(4));
    }

    public byte[] GetConfig(uint offset, uint size)
    {
        byte[] body = new byte[12 + size];
        BinaryPrimitives.WriteUInt32LittleEndian(body, offset);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), size);
        Reply r = Call(Req.GetConfig, body);
        return r.Body.Length == body.Length ? r.Body[12..] : throw new VhostUserFrontendException("GET_CONFIG reply size");
    }

    // ---- requests without a reply (acked when REPLY_ACK is on) ----

    public void SetFeatures(ulong features)
    {
        Request(Req.SetFeatures, U64(features));
        NegotiatedFeatures = features;
    }

    public void SetProtocolFeatures(ulong features)
    {
        // The ack for this very message is only defined once the feature is on: QEMU never asks here.
        Request(Req.SetProtocolFeatures, U64(features), ack: false);
        NegotiatedProtocolFeatures = features;
    }

    public void SetOwner() => Request(Req.SetOwner, []);

    public void ResetOwner() => Request(Req.ResetOwner, []);

    public void ResetDevice() => Request(Req.ResetDevice, []);

    public void SetStatus(byte status) => Request(Req.SetStatus, U64(status));

    /// <summary>SET_MEM_TABLE with every region of <see cref="Ram"/> and their memfds.</summary>
    public void SetMemTable()
    {
        var regions = Ram.Regions;
        byte[] body = new byte[8 + (32 * regions.Count)];
        BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)regions.Count);
        int[] fds = new int[regions.Count];
        for (int i = 0; i < regions.Count; i++)
        {
            WriteRegion(body.AsSpan(8 + (32 * i)), regions[i]);
            fds[i] = regions[i].MemFd;
        }
        Request(Req.SetMemTable, body, fds);
    }

    /// <summary>ADD_MEM_REG of a region already added to <see cref="Ram"/>.</summary>
    public void AddMemReg(GuestRamRegion region)
    {
        byte[] body = new byte[40];
        WriteRegion(body.AsSpan(8), region);
        Request(Req.AddMemReg, body, [region.MemFd]);
    }

    /// <summary>REM_MEM_REG (no fd, as QEMU since 6.1); the caller then drops the region from <see cref="Ram"/>.</summary>
    public void RemMemReg(GuestRamRegion region)
    {
        byte[] body = new byte[40];
        WriteRegion(body.AsSpan(8), region);
        Request(Req.RemMemReg, body);
    }

    public void SetVringNum(int index, uint num) => Request(Req.SetVringNum, VringState((uint)index, num));

    public void SetVringBase(int index, uint num) => Request(Req.SetVringBase, VringState((uint)index, num));

    public void SetVringEnable(int index, bool enable) => Request(Req.SetVringEnable, VringState((uint)index, enable ? 1u : 0u));

    /// <summary>SET_VRING_ADDR with the frontend virtual addresses of guest physical ring areas.</summary>
    public void SetVringAddr(int index, ulong descGpa, ulong availGpa, ulong usedGpa)
        => SetVringAddrRaw((uint)index, Ram.UserAddrOf(descGpa), Ram.UserAddrOf(usedGpa), Ram.UserAddrOf(availGpa), usedGpa);

    public void SetVringAddrRaw(uint index, ulong descUser, ulong usedUser, ulong availUser, ulong logGuestAddr, uint flags = 0)
    {
        byte[] body = new byte[40];
        BinaryPrimitives.WriteUInt32LittleEndian(body, index);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), descUser);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), usedUser);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(24), availUser);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(32), logGuestAddr);
        Request(Req.SetVringAddr, body);
    }

    /// <summary>SET_VRING_KICK / CALL / ERR: <paramref name="fd"/> &lt; 0 sends the "no fd" flag (bit 8).</summary>
    public void SetVringFd(uint request, int index, int fd)
    {
        ulong payload = (uint)index | (fd < 0 ? Proto.VringNoFd : 0);
        Request(request, U64(payload), fd < 0 ? [] : [fd]);
    }

    public void SetBackendReqFd(int fd) => Request(Req.SetBackendReqFd, [], [fd]);

    // ---- plumbing ----

    /// <summary>Sends a request that has a reply and returns the reply (checked: same request, reply flag).</summary>
    public Reply Call(uint request, ReadOnlySpan<byte> body, ReadOnlySpan<int> fds = default)
    {
        Socket.Send(request, Proto.Version, body, fds);
        return ExpectReply(request);
    }

    /// <summary>Sends a request without a reply of its own; acks it when REPLY_ACK is in use. Returns the ack (0 = ok).</summary>
    public ulong Request(uint request, ReadOnlySpan<byte> body, ReadOnlySpan<int> fds = default, bool ack = true)
    {
        bool wantAck = ack && AckNegotiated;
        Socket.Send(request, Proto.Version | (wantAck ? Proto.NeedReplyFlag : 0), body, fds);
        if (!wantAck)
        {
            return 0;
        }
        ulong status = ExpectReply(request).U64;
        if (status != 0 && ThrowOnNack)
        {
            throw new VhostUserFrontendException($"backend refused request {request} (ack {status})");
        }
        return status;
    }

    /// <summary>Whether a non-zero REPLY_ACK throws (default) or is returned by <see cref="Request"/>.</summary>
    public bool ThrowOnNack { get; set; } = true;

    public void Dispose()
    {
        Socket.Dispose();
        BackendChannel?.Dispose();
    }

    private Reply ExpectReply(uint request)
    {
        Reply r = Socket.Receive() ?? throw new VhostUserFrontendException($"backend closed the connection on request {request}");
        if (r.Request != request || (r.Flags & Proto.ReplyFlag) == 0 || (r.Flags & 3) != Proto.Version)
        {
            throw new VhostUserFrontendException($"reply for {r.Request} flags 0x{r.Flags:x} to request {request}");
        }
        return r;
    }

    private static byte[] U64(ulong value)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return b;
    }

    private static byte[] VringState(uint index, uint num)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(b, index);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), num);
        return b;
    }

    private static void WriteRegion(Span<byte> dst, GuestRamRegion region)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(dst, region.GuestPhysAddr);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[8..], region.Size);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], region.UserAddr);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[24..], region.MmapOffset);
    }
}
