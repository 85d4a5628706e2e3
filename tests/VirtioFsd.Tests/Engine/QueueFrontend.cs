using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Tests.Engine;

/// <summary>
/// A QEMU-like frontend with memfd guest RAM: the high-priority queue (0, for FORGET) and request queues driven by
/// <see cref="QueueDriver"/>, all started as vhost_virtqueue_start does, over a device in this process
/// (<see cref="DeviceHarness"/>) or a daemon process (<see cref="Connect"/>). The frontend and the queues stay
/// reachable so fault tests can stop, restart, reset or abandon them.
/// </summary>
internal sealed class QueueFrontend : IDisposable
{
    // 64 requests in flight of up to 5 descriptors (WRITE: header, two payload pieces; reply header, write_out).
    public const ushort QueueSize = 512;

    private readonly List<DriverQueue> _rings = [];
    private readonly ulong _hiprioRequest;

    /// <param name="connect">Makes the frontend over the RAM (connected to the device, not yet initialized).</param>
    /// <param name="withoutKickFd">Request queues get SET_VRING_KICK with the "no fd" flag: the device must poll them.</param>
    public QueueFrontend(Func<GuestRam, VirtioFsd.VhostUserFrontend.VhostUserFrontend> connect, int requestQueues, int slotsPerQueue,
        int payloadBytes, bool withoutKickFd = false)
    {
        ArgumentNullException.ThrowIfNull(connect);
        // The request queues' slots, the rings, and 4 MiB for the high-priority queue, rounded up to 2 MiB.
        ulong perQueue = (ulong)slotsPerQueue * (ulong)(2 * QueueDriver.HeaderArea + payloadBytes + QueueDriver.PayloadGap) + (64UL * 1024);
        Ram = GuestRam.Single(((perQueue * (ulong)(requestQueues + 1)) + (1UL << 22) + (1UL << 21) - 1) & ~((1UL << 21) - 1));
        Frontend = connect(Ram);
        int offered = Frontend.Initialize();
        Assert.True(offered >= requestQueues + 1, $"the device offers {offered} queues");
        EventIdx = (Frontend.NegotiatedFeatures & Proto.FeatureEventIdx) != 0;
        var alloc = GuestAllocator.ForRegion(Ram.Regions[0]);
        for (int q = 0; q <= requestQueues; q++)
        {
            FrontendQueue fq = FrontendQueue.Allocate(q, QueueSize, alloc);
            Queues.Add(fq);
            _rings.Add(DriverQueue.For(Ram, fq, EventIdx));
        }
        _hiprioRequest = alloc.Allocate(64 * 1024, 4096);
        Frontend.ShareMemory();
        foreach (FrontendQueue fq in Queues)
        {
            if (withoutKickFd && fq.Index > 0)
            {
                // vhost_virtqueue_start's order, with VHOST_USER_VRING_NOFD_MASK instead of the kick fd.
                Frontend.SetVringNum(fq.Index, fq.Size);
                Frontend.SetVringBase(fq.Index, 0);
                Frontend.SetVringAddr(fq.Index, fq.DescGpa, fq.AvailGpa, fq.UsedGpa);
                Frontend.SetVringFd(Req.SetVringKick, fq.Index, -1);
                Frontend.SetVringFd(Req.SetVringCall, fq.Index, fq.Call.Value);
                Frontend.SetVringEnable(fq.Index, true);
            }
            else
            {
                Frontend.StartQueue(fq);
            }
        }
        for (int q = 1; q <= requestQueues; q++)
        {
            Drivers.Add(new QueueDriver(Ram, Queues[q], _rings[q], alloc, slotsPerQueue, payloadBytes, q));
        }
    }

    public GuestRam Ram { get; }

    public VirtioFsd.VhostUserFrontend.VhostUserFrontend Frontend { get; }

    public bool EventIdx { get; }

    /// <summary>Queue 0 (hiprio) first, then the request queues.</summary>
    public List<FrontendQueue> Queues { get; } = [];

    /// <summary>One driver per request queue (queue 1 first).</summary>
    public List<QueueDriver> Drivers { get; } = [];

    /// <summary>The frontend connected to a daemon process listening on <paramref name="socketPath"/>.</summary>
    public static QueueFrontend Connect(string socketPath, int requestQueues, int slotsPerQueue, int payloadBytes)
        => new(ram => VirtioFsd.VhostUserFrontend.VhostUserFrontend.Connect(socketPath, ram), requestQueues, slotsPerQueue, payloadBytes);

    /// <summary>
    /// Starts queue <paramref name="index"/> again after GET_VRING_BASE returned <paramref name="baseIndex"/>,
    /// as QEMU's vhost_virtqueue_start does when the device restarts (VM stop/cont, a reset, a reconnect):
    /// SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ENABLE.
    /// The rings keep their memory and indexes, so the same drivers go on.
    /// </summary>
    public void RestartQueue(int index, uint baseIndex)
    {
        while (Queues[index].TryConsumeCall())
        {
        }
        Frontend.StartQueue(Queues[index], baseIndex);
    }

    /// <summary>GET_VRING_BASE on one queue: the device stops it (and must drain in-flight I/O first); returns its next avail index (what it consumed).</summary>
    public uint StopQueue(int index) => Frontend.GetVringBase(index);

    /// <summary>
    /// Sends one no-reply request (FORGET, BATCH_FORGET) on the high-priority queue as the Linux guest does
    /// and waits until the device has returned its descriptor (a used element of length 0).
    /// </summary>
    public void SendHiprio(ReadOnlySpan<byte> request)
    {
        DriverQueue ring = _rings[0];
        Ram.Write(_hiprioRequest, request);
        ring.AddChain([new DriverBuffer(_hiprioRequest, (uint)request.Length)], []);
        Queues[0].Notify();
        int idle = 0;
        while (true)
        {
            if (ring.TryGetUsed(out DriverUsedElement used))
            {
                Assert.Equal(0u, used.Length);
                return;
            }
            Assert.True(Queues[0].WaitForCall(1000) || ++idle < 120, "the hiprio queue returned nothing for 2 minutes");
        }
    }

    /// <summary>Disconnects (the device ends the connection) and frees the queues and the RAM.</summary>
    public void Dispose()
    {
        Frontend.Dispose();
        foreach (FrontendQueue q in Queues)
        {
            q.Dispose();
        }
        Ram.Dispose();
    }
}
