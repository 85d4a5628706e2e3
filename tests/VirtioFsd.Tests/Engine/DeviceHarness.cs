using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Server;
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
/// The daemon's device in-process (passthrough, FUSE server, <see cref="VirtioFsDevice"/>, vhost-user
/// server over a socketpair) and a QEMU-like frontend with memfd guest RAM and started queues.
/// </summary>
internal sealed class DeviceHarness : IDisposable
{
    // 64 requests in flight of up to 5 descriptors (WRITE: header, two payload pieces; reply header, write_out).
    public const ushort QueueSize = 512;

    private readonly UnixFd _stop = new(Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
    private readonly Thread _serverThread;
    private readonly PassthroughFileSystem _fs;
    private readonly VirtioFsd.VhostUserFrontend.VhostUserFrontend _frontend;
    private readonly List<FrontendQueue> _queues = [];
    private readonly GuestRam _ram;

    /// <param name="withoutKickFd">Request queues get SET_VRING_KICK with the "no fd" flag: the device must poll them.</param>
    /// <param name="polling">How the io_uring workers poll before sleeping; none by default.</param>
    public DeviceHarness(string sharedDir, DaemonEngine engine, int requestQueues, int slotsPerQueue, int payloadBytes,
        bool withoutKickFd = false, QueuePolling? polling = null)
    {
        if (engine != DaemonEngine.Sync)
        {
            IoUringRequirement.SkipUnlessAvailable();
        }
        ILogger log = new LoggerConfiguration().MinimumLevel.Warning().CreateLogger();
        _fs = new PassthroughFileSystem(new PassthroughOptions { SharedDirectory = sharedDir }, log);
        var server = new FuseServer(_fs, new FuseServerOptions(), log);
        Device = new VirtioFsDevice(server, new DeviceOptions { IoEngine = engine == DaemonEngine.Sync ? IoEngineKind.Sync : IoEngineKind.IoUring }, log)
        {
            RingForAllTransfers = engine == DaemonEngine.IoUringAllTransfers,
            Polling = polling ?? QueuePolling.Off,
        };
        Assert.Equal(0, Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int serverFd, out int frontendFd));
        var vhost = new VhostUserServer(Device, log);
        _serverThread = new Thread(() => End = vhost.Serve(new UnixFd(serverFd), _stop.Value)) { IsBackground = true, Name = "vhost-user" };
        _serverThread.Start();

        ulong perQueue = (ulong)slotsPerQueue * (ulong)(2 * QueueDriver.HeaderArea + payloadBytes + QueueDriver.PayloadGap) + (64UL * 1024);
        _ram = GuestRam.Single(((perQueue * (ulong)(requestQueues + 1)) + (1UL << 21) + (1UL << 21) - 1) & ~((1UL << 21) - 1));
        _frontend = new VirtioFsd.VhostUserFrontend.VhostUserFrontend(new FrontendSocket(frontendFd), _ram);
        int offered = _frontend.Initialize();
        Assert.True(offered >= requestQueues + 1, $"the device offers {offered} queues");
        bool eventIdx = (_frontend.NegotiatedFeatures & Proto.FeatureEventIdx) != 0;
        var alloc = GuestAllocator.ForRegion(_ram.Regions[0]);
        var drivers = new List<DriverQueue>();
        for (int q = 0; q <= requestQueues; q++)
        {
            FrontendQueue fq = FrontendQueue.Allocate(q, QueueSize, alloc);
            _queues.Add(fq);
            drivers.Add(DriverQueue.For(_ram, fq, eventIdx));
        }
        _frontend.ShareMemory();
        foreach (FrontendQueue fq in _queues)
        {
            if (withoutKickFd && fq.Index > 0)
            {
                // vhost_virtqueue_start's order, with VHOST_USER_VRING_NOFD_MASK instead of the kick fd.
                _frontend.SetVringNum(fq.Index, fq.Size);
                _frontend.SetVringBase(fq.Index, 0);
                _frontend.SetVringAddr(fq.Index, fq.DescGpa, fq.AvailGpa, fq.UsedGpa);
                _frontend.SetVringFd(Req.SetVringKick, fq.Index, -1);
                _frontend.SetVringFd(Req.SetVringCall, fq.Index, fq.Call.Value);
                _frontend.SetVringEnable(fq.Index, true);
            }
            else
            {
                _frontend.StartQueue(fq);
            }
        }
        for (int q = 1; q <= requestQueues; q++)
        {
            Drivers.Add(new QueueDriver(_ram, _queues[q], drivers[q], alloc, slotsPerQueue, payloadBytes, q));
        }
    }

    public VirtioFsDevice Device { get; }

    /// <summary>One driver per request queue (queue 1 first).</summary>
    public List<QueueDriver> Drivers { get; } = [];

    public ConnectionEnd? End { get; private set; }

    /// <summary>GET_VRING_BASE on every queue: the device stops them (and must drain in-flight I/O first).</summary>
    public void StopQueues()
    {
        foreach (FrontendQueue fq in _queues)
        {
            _frontend.GetVringBase(fq.Index);
        }
    }

    /// <summary>GET_VRING_BASE on one queue; returns the device's next avail index (what it consumed).</summary>
    public uint StopQueue(int index) => _frontend.GetVringBase(index);

    public void Dispose()
    {
        // Disconnecting ends the connection: the device stops its workers and resets.
        _frontend.Dispose();
        Assert.True(_serverThread.Join(TimeSpan.FromSeconds(60)), "the vhost-user server did not end after the frontend left");
        foreach (FrontendQueue q in _queues)
        {
            q.Dispose();
        }
        _ram.Dispose();
        _fs.Dispose();
        _stop.Dispose();
    }
}
