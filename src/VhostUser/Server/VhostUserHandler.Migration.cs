using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Protocol;
using VirtioFsd.Virtio.Migration;

namespace VirtioFsd.VhostUser.Server;

/// <summary>
/// Live migration (vhost-user.rst "Migration" and "Migrating back-end state"): the dirty page log (SET_LOG_BASE,
/// SET_LOG_FD, VHOST_F_LOG_ALL and VHOST_VRING_F_LOG, applied to running queues without stopping them) and the device
/// state transfer (SET_DEVICE_STATE_FD, CHECK_DEVICE_STATE).
/// </summary>
public sealed partial class VhostUserHandler
{
    private DeviceStateTransfer? _stateTransfer;

    /// <summary>The connection's dirty page log (tests observe it).</summary>
    public DirtyPageLog DirtyLog => _dirtyLog;

    /// <summary>
    /// SET_LOG_BASE with LOG_SHMFD: maps the log (the message keeps and closes the fd: a mapping outlives it) and answers
    /// with a u64 0, as libvhost-user does (QEMU reads the reply and ignores its body). A log we cannot use ends the
    /// connection: the front-end has no way to hear of the failure and would migrate pages we cannot mark.
    /// </summary>
    private byte[]? SetLogBase(VhostUserMessage message)
    {
        LogWire log = Wire.Read<LogWire>(message.Body);
        return _dirtyLog.Replace(message.PeekFd(0), log.MmapSize, log.MmapOffset) < 0 ? null : U64(0);
    }

    /// <summary>
    /// SET_LOG_FD: an eventfd the back-end "may" signal after logging (vhost-user.rst); QEMU reads the log on its own
    /// schedule and never sends it. Accepted and closed: we signal nothing.
    /// </summary>
    private static int SetLogFd() => 0;

    /// <summary>
    /// SET_FEATURES that only switches VHOST_F_LOG_ALL (QEMU sends it when migration starts and ends, rings running):
    /// the log is switched under the running queues; true when that was all there was to do.
    /// </summary>
    private bool TrySwitchLogging(ulong features)
    {
        bool onlyLogAll = _featuresSet && ((features ^ _ackedFeatures) & ~VirtioFeatures.LogAll) == 0;
        _dirtyLog.SetLogAll((features & VirtioFeatures.LogAll) != 0);
        if (onlyLogAll)
        {
            _ackedFeatures = features;
        }
        return onlyLogAll;
    }

    /// <summary>
    /// SET_VRING_ADDR on a running ring whose rings stay where they are and only VHOST_VRING_F_LOG or log_guest_addr
    /// change: applied to the running queue. True when handled so.
    /// </summary>
    private static bool TrySwitchRingLogging(VringSlot slot, VringAddressWire address)
    {
        if (slot.Queue is not { } queue || slot.Address is not { } current
            || current.DescUserAddr != address.DescUserAddr || current.AvailUserAddr != address.AvailUserAddr
            || current.UsedUserAddr != address.UsedUserAddr)
        {
            return false;
        }
        queue.SetUsedRingLogging((address.Flags & VringAddressWire.FlagLog) != 0, address.LogGuestAddr);
        slot.Address = address;
        return true;
    }

    /// <summary>
    /// SET_DEVICE_STATE_FD: starts moving the state through the front-end's fd and answers 0x100 (success, "no fd of
    /// ours": we use the front-end's pipe). Refused (non-zero) when the device has no state to move, a transfer is still
    /// running, or a ring is running: the only phase defined is "stopped".
    /// </summary>
    private byte[] SetDeviceStateFd(VhostUserMessage message)
    {
        DeviceStateTransferWire transfer = Wire.Read<DeviceStateTransferWire>(message.Body);
        IDeviceState? state = _backend.DeviceState;
        string? refusal = !transfer.IsValid ? $"direction {transfer.Direction} / phase {transfer.Phase} not supported"
            : state is null ? "the device has no state to transfer"
            : _stateTransfer is not null ? "a transfer is already under way"
            : _vrings.Any(v => v.IsRunning) ? "rings are still running (the only phase is 'stopped')"
            : null;
        if (refusal is not null)
        {
            _log.Warning("vhost-user: SET_DEVICE_STATE_FD refused: {Why}", refusal);
            return U64(VhostUserLimits.VringNoFdFlag | 1);
        }
        int fd = message.TakeFd(0);
        _stateTransfer = transfer.Direction == DeviceStateTransferWire.DirectionSave
            ? DeviceStateTransfer.StartSave(state!, fd, _log)
            : DeviceStateTransfer.StartLoad(state!, fd, _log);
        _log.Information("vhost-user: device state transfer started ({Direction})",
            transfer.Direction == DeviceStateTransferWire.DirectionSave ? "save" : "load");
        return U64(VhostUserLimits.VringNoFdFlag);
    }

    /// <summary>CHECK_DEVICE_STATE: waits for the transfer and answers 0, or the errno it failed with.</summary>
    private byte[] CheckDeviceState()
    {
        DeviceStateTransfer? transfer = _stateTransfer;
        _stateTransfer = null;
        if (transfer is null)
        {
            _log.Warning("vhost-user: CHECK_DEVICE_STATE without a transfer");
            return U64((ulong)Errno.EINVAL);
        }
        int r = transfer.Finish();
        if (r < 0)
        {
            _log.Error("vhost-user: device state transfer failed ({Errno}); the front-end is told so", Errno.Describe(r));
        }
        return U64(r < 0 ? (ulong)(-r) : 0);
    }

    /// <summary>A transfer the front-end never checked: its thread is waited for before the device goes away.</summary>
    private void EndStateTransfer()
    {
        DeviceStateTransfer? transfer = _stateTransfer;
        _stateTransfer = null;
        transfer?.Finish();
    }
}
