using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Protocol;
using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.VhostUser.Server;

/// <summary>
/// What the front-end has told us about one virtqueue (SET_VRING_*), and the running
/// <see cref="SplitVirtqueue"/> built from it. vhost-user.rst "Ring states": a ring is started once
/// it has a kick (fd or NOFD) and its addresses, stopped by GET_VRING_BASE, and separately
/// enabled/disabled by SET_VRING_ENABLE. The backend serves it only when started AND enabled.
/// </summary>
internal sealed class VringSlot : IDisposable
{
    public VringSlot(int index) => Index = index;

    public int Index { get; }

    /// <summary>SET_VRING_NUM; 0 until set.</summary>
    public ushort Size { get; set; }

    /// <summary>SET_VRING_ADDR, or null until set.</summary>
    public VringAddressWire? Address { get; set; }

    /// <summary>SET_VRING_BASE, and where a stopped queue left off.</summary>
    public ushort Base { get; set; }

    /// <summary>SET_VRING_KICK arrived (with an fd or the NOFD flag) since the last stop.</summary>
    public bool KickReceived { get; set; }

    public UnixFd? Kick { get; private set; }

    public UnixFd? Call { get; private set; }

    public UnixFd? Err { get; private set; }

    /// <summary>SET_VRING_ENABLE state (all rings enabled when PROTOCOL_FEATURES is not negotiated).</summary>
    public bool Enabled { get; set; }

    /// <summary>The queue the backend is serving, or null while stopped.</summary>
    public SplitVirtqueue? Queue { get; set; }

    /// <summary>Ring set up completely but its addresses failed to translate: logged once, not retried until changed.</summary>
    public bool Unusable { get; set; }

    public bool IsRunning => Queue != null;

    /// <summary>Everything needed to serve the ring is there.</summary>
    public bool ShouldRun => KickReceived && Address.HasValue && Size != 0 && Enabled && !Unusable;

    public void ReplaceKick(int fd) => Replace(Kick, fd, f => Kick = f);

    public void ReplaceCall(int fd) => Replace(Call, fd, f => Call = f);

    public void ReplaceErr(int fd) => Replace(Err, fd, f => Err = f);

    /// <summary>Back to the initial state (the queue must already be stopped): closes the fds.</summary>
    public void Reset()
    {
        Dispose();
        Size = 0;
        Address = null;
        Base = 0;
        KickReceived = false;
        Enabled = false;
        Unusable = false;
    }

    public void Dispose()
    {
        Kick?.Dispose();
        Call?.Dispose();
        Err?.Dispose();
        Kick = null;
        Call = null;
        Err = null;
    }

    private static void Replace(UnixFd? old, int fd, Action<UnixFd?> set)
    {
        old?.Dispose();
        set(fd >= 0 ? new UnixFd(fd) : null);
    }
}
