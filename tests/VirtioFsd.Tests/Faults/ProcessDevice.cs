using VirtioFsd.Linux;
using VirtioFsd.Tests.Engine;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// A QEMU-like frontend connected to a real daemon process: memfd guest RAM, the high-priority queue (0,
/// for FORGET) and request queues driven by <see cref="QueueDriver"/>, all started as vhost_virtqueue_start
/// does. The frontend and the queues stay reachable so fault tests can stop, restart, reset or abandon them.
/// </summary>
internal sealed class ProcessDevice : IDisposable
{
    public const ushort QueueSize = 512;

    private readonly List<DriverQueue> _rings = [];
    private readonly GuestAllocator _alloc;
    private readonly ulong _hiprioRequest;

    public ProcessDevice(string socketPath, int requestQueues, int slotsPerQueue, int payloadBytes)
    {
        ulong perQueue = (ulong)slotsPerQueue * (ulong)(2 * QueueDriver.HeaderArea + payloadBytes + QueueDriver.PayloadGap) + (64UL * 1024);
        Ram = GuestRam.Single(((perQueue * (ulong)(requestQueues + 1)) + (1UL << 22) + (1UL << 21) - 1) & ~((1UL << 21) - 1));
        Frontend = VirtioFsd.VhostUserFrontend.VhostUserFrontend.Connect(socketPath, Ram);
        Frontend.Initialize();
        EventIdx = (Frontend.NegotiatedFeatures & Proto.FeatureEventIdx) != 0;
        _alloc = GuestAllocator.ForRegion(Ram.Regions[0]);
        for (int q = 0; q <= requestQueues; q++)
        {
            FrontendQueue fq = FrontendQueue.Allocate(q, QueueSize, _alloc);
            Queues.Add(fq);
            _rings.Add(DriverQueue.For(Ram, fq, EventIdx));
        }
        _hiprioRequest = _alloc.Allocate(64 * 1024, 4096);
        Frontend.ShareMemory();
        foreach (FrontendQueue fq in Queues)
        {
            Frontend.StartQueue(fq);
        }
        for (int q = 1; q <= requestQueues; q++)
        {
            Drivers.Add(new QueueDriver(Ram, Queues[q], _rings[q], _alloc, slotsPerQueue, payloadBytes, q));
        }
    }

    public GuestRam Ram { get; }

    public VirtioFsd.VhostUserFrontend.VhostUserFrontend Frontend { get; }

    public bool EventIdx { get; }

    /// <summary>Queue 0 (hiprio) first, then the request queues.</summary>
    public List<FrontendQueue> Queues { get; } = [];

    /// <summary>One driver per request queue (queue 1 first).</summary>
    public List<QueueDriver> Drivers { get; } = [];

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

/// <summary>Resident memory and open descriptors of a process, from /proc (proc(5)).</summary>
internal static class ProcUse
{
    public static int Fds(int pid) => Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;

    public static long RssKb(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Opt-in long variants (1,000,000 entries, many cycles): VIRTIOFSD_LONG_TESTS=1.</summary>
    public static bool LongTests => Environment.GetEnvironmentVariable("VIRTIOFSD_LONG_TESTS") == "1";
}
