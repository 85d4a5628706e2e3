using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.VhostUserFrontend;
using VirtioFsd.Virtio;

namespace VirtioFsd.Tests.Engine;

/// <summary>The engines the daemon-level tests run on.</summary>
public enum DaemonEngine
{
    Sync,

    /// <summary>io_uring with the inline RWF_NOWAIT fast path (the daemon's policy).</summary>
    IoUring,

    /// <summary>io_uring with every READ/WRITE through the ring.</summary>
    IoUringAllTransfers,
}

/// <summary>
/// The daemon's device in-process (<see cref="InProcessDevice"/>) and a QEMU-like frontend with memfd guest RAM,
/// started queues and a <see cref="QueueDriver"/> per request queue (<see cref="QueueFrontend"/>).
/// </summary>
internal sealed class DeviceHarness : IDisposable
{
    private readonly InProcessDevice _device;
    private readonly QueueFrontend _frontend;

    /// <param name="withoutKickFd">Request queues get SET_VRING_KICK with the "no fd" flag: the device must poll them.</param>
    /// <param name="polling">How the io_uring workers poll before sleeping; none by default.</param>
    public DeviceHarness(string sharedDir, DaemonEngine engine, int requestQueues, int slotsPerQueue, int payloadBytes,
        bool withoutKickFd = false, QueuePolling? polling = null)
    {
        if (engine != DaemonEngine.Sync)
        {
            IoUringRequirement.SkipUnlessAvailable();
        }
        _device = new InProcessDevice(new PassthroughOptions { SharedDirectory = sharedDir }, new FuseServerOptions(),
            (server, log) => new VirtioFsDevice(server, new DeviceOptions { IoEngine = engine == DaemonEngine.Sync ? IoEngineKind.Sync : IoEngineKind.IoUring }, log)
            {
                RingForAllTransfers = engine == DaemonEngine.IoUringAllTransfers,
                Polling = polling ?? QueuePolling.Off,
            });
        _frontend = new QueueFrontend(ram => new VirtioFsd.VhostUserFrontend.VhostUserFrontend(new FrontendSocket(_device.FrontendFd), ram),
            requestQueues, slotsPerQueue, payloadBytes, withoutKickFd);
    }

    public VirtioFsDevice Device => _device.Device;

    /// <summary>One driver per request queue (queue 1 first).</summary>
    public List<QueueDriver> Drivers => _frontend.Drivers;

    /// <summary>GET_VRING_BASE on one queue; returns the device's next avail index (what it consumed).</summary>
    public uint StopQueue(int index) => _frontend.StopQueue(index);

    public void Dispose()
    {
        // Disconnecting ends the connection: the device stops its workers and resets.
        _frontend.Dispose();
        _device.Dispose();
    }
}
