using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Protocol;
using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.VhostUser.Server;

/// <summary>SET_VRING_* / GET_VRING_BASE and the start/stop life cycle of the backend's queues.</summary>
public sealed partial class VhostUserHandler
{
    private int SetVringNum(VringStateWire state)
    {
        if (!TryGetSlot(state.Index, out VringSlot? slot))
        {
            return -Errno.EINVAL;
        }
        if (state.Num > (uint)_backend.MaxQueueSize || !SplitRingLayout.IsValidQueueSize((int)state.Num))
        {
            _log.Warning("vhost-user: SET_VRING_NUM {Queue}: size {Size} is not a power of two up to {Max}",
                state.Index, state.Num, _backend.MaxQueueSize);
            return -Errno.EINVAL;
        }
        Stop(slot);
        slot.Size = (ushort)state.Num;
        slot.Unusable = false;
        Reconcile(slot);
        return 0;
    }

    private int SetVringAddr(VringAddressWire address)
    {
        if (!TryGetSlot(address.Index, out VringSlot? slot))
        {
            return -Errno.EINVAL;
        }
        if (!address.IsValid)
        {
            _log.Warning("vhost-user: SET_VRING_ADDR {Queue}: misaligned ring or unknown flags 0x{Flags:x}",
                address.Index, address.Flags);
            return -Errno.EINVAL;
        }
        if (TrySwitchRingLogging(slot, address))
        {
            return 0;
        }
        // With memory mapped and the size known, the addresses must translate now (QEMU sends the memory table
        // first); otherwise they are checked when the ring starts.
        if (slot.Size != 0 && _memory.RegionCount > 0
            && !RingAddresses.TryTranslate(_memory, slot.Size, address.DescUserAddr, address.AvailUserAddr,
                address.UsedUserAddr, out _))
        {
            _log.Warning("vhost-user: SET_VRING_ADDR {Queue}: rings desc 0x{Desc:x} avail 0x{Avail:x} used 0x{Used:x} " +
                "not inside guest memory", address.Index, address.DescUserAddr, address.AvailUserAddr, address.UsedUserAddr);
            return -Errno.EFAULT;
        }
        Stop(slot);
        slot.Address = address;
        slot.Unusable = false;
        Reconcile(slot);
        return 0;
    }

    private int SetVringBase(VringStateWire state)
    {
        if (!TryGetSlot(state.Index, out VringSlot? slot))
        {
            return -Errno.EINVAL;
        }
        // Split rings: the base is a 16-bit avail index (packed rings would add a wrap bit; not offered).
        if (state.Num > ushort.MaxValue)
        {
            return -Errno.EINVAL;
        }
        Stop(slot);
        slot.Base = (ushort)state.Num;
        Reconcile(slot);
        return 0;
    }

    /// <summary>GET_VRING_BASE: stops the ring (vhost-user.rst "Ring states") and answers where it stopped.</summary>
    private byte[]? GetVringBase(VringStateWire state)
    {
        if (!TryGetSlot(state.Index, out VringSlot? slot))
        {
            return null;
        }
        Stop(slot);
        slot.KickReceived = false;
        slot.ReplaceKick(-1);
        byte[] reply = new byte[VringStateWire.Size];
        Wire.Write(reply, new VringStateWire { Index = state.Index, Num = slot.Base });
        return reply;
    }

    private int SetVringFd(VhostUserRequest request, Protocol.VhostUserMessage message)
    {
        ulong payload = Wire.ReadU64(message.Body);
        if ((payload & ~(VhostUserLimits.VringIndexMask | VhostUserLimits.VringNoFdFlag)) != 0)
        {
            _log.Warning("vhost-user: {Request}: unknown payload bits 0x{Payload:x}", request, payload);
            return -Errno.EINVAL;
        }
        if (!TryGetSlot((uint)(payload & VhostUserLimits.VringIndexMask), out VringSlot? slot))
        {
            return -Errno.EINVAL;
        }
        int fd = (payload & VhostUserLimits.VringNoFdFlag) != 0 ? -1 : message.TakeFd(0);
        switch (request)
        {
            case VhostUserRequest.SetVringKick:
                Stop(slot);
                slot.ReplaceKick(fd);
                slot.KickReceived = true;
                Reconcile(slot);
                break;
            case VhostUserRequest.SetVringCall:
                // The running queue signals the old fd: rebuild it around the new one (QEMU swaps call fds on
                // interrupt masking changes, while rings run).
                bool wasRunning = slot.IsRunning;
                Stop(slot);
                slot.ReplaceCall(fd);
                if (wasRunning)
                {
                    Reconcile(slot);
                }
                break;
            default:
                slot.ReplaceErr(fd);
                break;
        }
        return 0;
    }

    private int SetVringEnable(VringStateWire state)
    {
        if (!TryGetSlot(state.Index, out VringSlot? slot) || state.Num > 1)
        {
            return -Errno.EINVAL;
        }
        slot.Enabled = state.Num == 1;
        if (!slot.Enabled)
        {
            Stop(slot);
        }
        Reconcile(slot);
        return 0;
    }

    private bool TryGetSlot(uint index, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out VringSlot? slot)
    {
        if (index < (uint)_vrings.Length)
        {
            slot = _vrings[index];
            return true;
        }
        _log.Warning("vhost-user: queue index {Queue} out of range (device has {Count})", index, _vrings.Length);
        slot = null;
        return false;
    }

    /// <summary>Stops the backend on this ring (if running) and remembers where it left off.</summary>
    private void Stop(VringSlot slot)
    {
        SplitVirtqueue? queue = slot.Queue;
        if (queue == null)
        {
            return;
        }
        // StopQueue returns only when no backend thread touches the queue (IVhostUserBackend contract),
        // so reading LastAvailIndex and detaching the queue afterwards races with nothing.
        _backend.StopQueue(queue);
        slot.Base = queue.LastAvailIndex;
        queue.Dispose();
        slot.Queue = null;
    }

    private void StopAll()
    {
        foreach (VringSlot slot in _vrings)
        {
            Stop(slot);
        }
    }

    private void ReconcileAll()
    {
        foreach (VringSlot slot in _vrings)
        {
            Reconcile(slot);
        }
    }

    /// <summary>Starts the ring when it is started and enabled, on the current memory; leaves it stopped otherwise.</summary>
    private void Reconcile(VringSlot slot)
    {
        if (slot.IsRunning || !slot.ShouldRun || !_featuresSet || _memory.RegionCount == 0)
        {
            return;
        }
        VringAddressWire a = slot.Address!.Value;
        if (!RingAddresses.TryTranslate(_memory, slot.Size, a.DescUserAddr, a.AvailUserAddr, a.UsedUserAddr,
                out RingAddresses rings))
        {
            _log.Error("vhost-user: queue {Queue}: rings no longer inside guest memory; the queue stays stopped", slot.Index);
            slot.Unusable = true;
            return;
        }
        var config = new VirtqueueConfig
        {
            Index = slot.Index,
            Size = slot.Size,
            Rings = rings,
            UsedRingGuestAddress = a.LogGuestAddr,
            LogUsedRing = (a.Flags & VringAddressWire.FlagLog) != 0,
            DirtyLog = _dirtyLog,
            EventIdx = (_ackedFeatures & VirtioFeatures.RingEventIdx) != 0,
            LastAvailIndex = slot.Base,
            KickFd = slot.Kick?.Value ?? -1,
            CallFd = slot.Call?.Value ?? -1,
        };
        SplitVirtqueue queue;
        try
        {
            queue = new SplitVirtqueue(config, _memory, _log);
        }
        catch (ArgumentException e)
        {
            _log.Error("vhost-user: queue {Queue} cannot start: {Problem}", slot.Index, e.Message);
            slot.Unusable = true;
            return;
        }
        slot.Queue = queue;
        _backend.StartQueue(queue);
    }
}
