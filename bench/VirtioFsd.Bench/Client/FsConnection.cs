using System.Buffers.Binary;
using VirtioFsd.Bench.Fuse;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Bench.Client;

/// <summary>
/// One virtio-fs device as the bench's guest sees it: the vhost-user connection (QEMU 7.2 handshake),
/// guest RAM with rings and per-slot buffers, the hiprio queue (0, unused) and N request queues, and a
/// FUSE session opened with INIT on the first request queue.
/// </summary>
public sealed class FsConnection : IDisposable
{
    /// <summary>Ring size: QEMU's vhost-user-fs default queue-size is 128; 256 leaves room for 32 x 6 descriptors.</summary>
    public const ushort QueueSize = 256;

    private readonly GuestRam _ram;
    private readonly VhostUserFrontend.VhostUserFrontend _frontend;
    private readonly List<FrontendQueue> _queues = [];

    private FsConnection(GuestRam ram, VhostUserFrontend.VhostUserFrontend frontend)
    {
        _ram = ram;
        _frontend = frontend;
    }

    public IReadOnlyList<QueueRunner> Runners { get; private set; } = [];

    /// <summary>fuse_init_out.max_write the daemon announced.</summary>
    public uint MaxWrite { get; private set; }

    /// <summary>fuse_init_out.max_pages (0 when the daemon did not take FUSE_MAX_PAGES).</summary>
    public ushort MaxPages { get; private set; }

    /// <summary>Request queues the backend offered (VHOST_USER_GET_QUEUE_NUM minus hiprio; 1 without MQ).</summary>
    public int OfferedRequestQueues { get; private set; }

    /// <summary>
    /// Connects, negotiates, starts min(<paramref name="requestQueues"/>, offered) request queues with
    /// <paramref name="slotsPerQueue"/> slots of <paramref name="payloadBytes"/> each, and sends FUSE INIT.
    /// </summary>
    public static FsConnection Open(string socketPath, int requestQueues, int slotsPerQueue, int payloadBytes, int connectTimeoutMs = 10_000)
    {
        ulong perQueue = (ulong)slotsPerQueue * (ulong)(2 * Slot.HeaderArea + payloadBytes) + (64UL * 1024);
        ulong size = Align((perQueue * (ulong)(requestQueues + 1)) + (1UL << 20), 1UL << 21);
        GuestRam ram = GuestRam.Single(size);
        VhostUserFrontend.VhostUserFrontend? frontend = null;
        try
        {
            frontend = VhostUserFrontend.VhostUserFrontend.Connect(socketPath, ram, connectTimeoutMs);
            var connection = new FsConnection(ram, frontend);
            connection.Start(requestQueues, slotsPerQueue, payloadBytes);
            return connection;
        }
        catch
        {
            frontend?.Dispose();
            ram.Dispose();
            throw;
        }
    }

    private void Start(int requestQueues, int slotsPerQueue, int payloadBytes)
    {
        int total = _frontend.Initialize();
        OfferedRequestQueues = Math.Max(1, total - 1);
        int used = Math.Min(requestQueues, OfferedRequestQueues);
        bool eventIdx = (_frontend.NegotiatedFeatures & Proto.FeatureEventIdx) != 0;
        var alloc = GuestAllocator.ForRegion(_ram.Regions[0]);
        var drivers = new List<DriverQueue>();
        for (int q = 0; q <= used; q++)
        {
            FrontendQueue fq = FrontendQueue.Allocate(q, QueueSize, alloc);
            _queues.Add(fq);
            drivers.Add(DriverQueue.For(_ram, fq, eventIdx));
        }
        _frontend.ShareMemory();
        foreach (FrontendQueue fq in _queues)
        {
            _frontend.StartQueue(fq);
        }
        var runners = new List<QueueRunner>();
        for (int q = 1; q <= used; q++)
        {
            var slots = new Slot[slotsPerQueue];
            for (int s = 0; s < slotsPerQueue; s++)
            {
                ulong req = alloc.Allocate(Slot.HeaderArea, 4096);
                ulong rep = alloc.Allocate(Slot.HeaderArea, 4096);
                ulong pay = alloc.Allocate((ulong)payloadBytes, 4096);
                slots[s] = new Slot(s, req, rep, pay, payloadBytes);
            }
            runners.Add(new QueueRunner(_ram, _queues[q], drivers[q], slots, q - 1));
        }
        Runners = runners;
        FuseInit();
    }

    private void FuseInit()
    {
        var program = new InitProgram();
        Runners[0].Run(program, 1, 1, long.MaxValue);
        MaxWrite = program.MaxWrite;
        MaxPages = program.MaxPages;
    }

    public void Dispose()
    {
        _frontend.Dispose();
        foreach (FrontendQueue q in _queues)
        {
            q.Dispose();
        }
        _ram.Dispose();
    }

    private static ulong Align(ulong value, ulong to) => (value + to - 1) & ~(to - 1);

    /// <summary>FUSE_INIT as a one-request operation; keeps the negotiated limits.</summary>
    private sealed class InitProgram : IWorkloadProgram
    {
        public uint MaxWrite { get; private set; }

        public ushort MaxPages { get; private set; }

        public Step Begin(Slot slot, RequestContext context)
        {
            int n = FuseRequestWriter.Init(context.Scratch, context.NextUnique(slot), 128 * 1024);
            context.Commit(slot, n);
            return new Step(n, 0, FuseSize.InitOut, 0);
        }

        public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next)
        {
            next = default;
            // fuse_init_out: max_write at 20, max_pages at 28 (fuse.h); a 7.31 reply may be shorter than 64.
            if (replyLength < FuseSize.OutHeader + 24)
            {
                throw new BenchException($"INIT reply of {replyLength} bytes");
            }
            MaxWrite = BinaryPrimitives.ReadUInt32LittleEndian(replyArgs[20..]);
            MaxPages = replyLength >= FuseSize.OutHeader + 30 ? BinaryPrimitives.ReadUInt16LittleEndian(replyArgs[28..]) : (ushort)0;
            return false;
        }
    }
}
