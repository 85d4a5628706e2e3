namespace VirtioFsd.VhostUser;

/// <summary>
/// A device's internal state for live migration (vhost-user.rst "Migrating back-end state"): what the guest driver
/// relies on that is not in guest memory or the rings, saved on the source and loaded on the destination while every
/// ring is stopped. The transport moves the bytes (SET_DEVICE_STATE_FD) and reports the outcome (CHECK_DEVICE_STATE).
/// </summary>
public interface IDeviceState
{
    /// <summary>Largest state <see cref="Load"/> accepts; a longer stream is refused without being parsed.</summary>
    long MaxStateBytes { get; }

    /// <summary>
    /// The state as bytes, on the transfer thread while every queue is stopped; null when it cannot be saved (the reason
    /// is logged): CHECK_DEVICE_STATE then fails and the source guest keeps running. Must not change the device.
    /// </summary>
    byte[]? Save();

    /// <summary>
    /// Takes over <paramref name="state"/> (hostile input: a bad one is refused with a log line and changes nothing),
    /// before the rings start. Returns 0 or -errno.
    /// </summary>
    int Load(ReadOnlySpan<byte> state);
}
