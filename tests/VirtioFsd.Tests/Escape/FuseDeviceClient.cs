using System.Diagnostics.CodeAnalysis;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Tests.Escape;

/// <summary>
/// A guest driver speaking raw FUSE to a virtio-fs device through a QEMU-like vhost-user frontend:
/// it brings up the high-priority queue (0) and one request queue (1), lays each request out as a
/// descriptor chain (request readable, reply writable) and waits for its used element. Any bytes
/// can be sent (names without NUL, lying lengths): nothing here checks what the test asks for.
/// Thread-safe: requests may be issued from several threads, on either queue.
/// </summary>
internal sealed class FuseDeviceClient : IDisposable
{
    private const ushort QueueSize = 256;
    private const int SlotRequest = 4096;
    private const int SlotReply = 8192;
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(90);

    private readonly GuestRam _ram;
    private readonly VhostUserFrontend.VhostUserFrontend _frontend;
    private readonly FrontendQueue[] _queues = new FrontendQueue[2];
    private readonly DriverQueue[] _drivers = new DriverQueue[2];
    /// <summary>Per queue: the request in flight at each chain head (a head is reused only after its chain came back).</summary>
    private readonly Dictionary<ushort, Pending>[] _inFlight = [new(), new()];
    private readonly object _allocLock = new();

    /// <summary>Recycled guest buffers for the usual small request (4 KiB) and reply (8 KiB), so long runs fit in guest RAM.</summary>
    private readonly System.Collections.Concurrent.ConcurrentBag<ulong> _freeSlots = [];
    private readonly GuestAllocator _alloc;
    private long _unique = 100;

    public FuseDeviceClient(VhostUserFrontend.VhostUserFrontend frontend, GuestRam ram)
    {
        _frontend = frontend;
        _ram = ram;
        _alloc = GuestAllocator.ForRegion(ram.Regions[0]);
        _frontend.Initialize();
        bool eventIdx = (_frontend.NegotiatedFeatures & Proto.FeatureEventIdx) != 0;
        for (int q = 0; q < 2; q++)
        {
            _queues[q] = FrontendQueue.Allocate(q, QueueSize, _alloc);
            _drivers[q] = DriverQueue.For(ram, _queues[q], eventIdx);
        }
        _frontend.ShareMemory();
        foreach (FrontendQueue q in _queues)
        {
            _frontend.StartQueue(q);
        }
    }

    public VhostUserFrontend.VhostUserFrontend Frontend => _frontend;

    /// <summary>INIT as a Linux 6.12 guest sends it, offering <paramref name="flags"/>.</summary>
    public FuseReply Init(FuseInitFlags flags)
        => Call(FuseOpcode.Init, 0, FuseBytes.Of(FuseRequestBuilder.InitIn(flags)));

    public FuseReply Call(FuseOpcode opcode, ulong node, byte[] body, uint uid = 0, uint gid = 0, int replyBytes = 8192, int queue = 1)
        => Start(opcode, node, body, uid, gid, replyBytes, queue).Wait();

    /// <summary>A request with no reply (FORGET, BATCH_FORGET, on the high-priority queue); returns once the device used it.</summary>
    public void Send(FuseOpcode opcode, ulong node, byte[] body, int queue = 0) => Start(opcode, node, body, 0, 0, 0, queue).Wait();

    /// <summary>Places a request and returns without waiting for it.</summary>
    /// <param name="extensions">Request extensions after the body (fuse_in_header.total_extlen), a multiple of 8 bytes.</param>
    public Pending Start(FuseOpcode opcode, ulong node, byte[] body, uint uid = 0, uint gid = 0, int replyBytes = 8192, int queue = 1,
        byte[]? extensions = null)
    {
        ulong unique = (ulong)Interlocked.Increment(ref _unique);
        byte[] request = new FuseRequestBuilder(opcode, node, unique).AsCaller(uid, gid).AddBytes(body).AddEncodedExtension(extensions ?? []).ToBytes();
        ulong req, reply;
        ulong? slot = null;
        if (request.Length <= SlotRequest && replyBytes <= SlotReply)
        {
            if (!_freeSlots.TryTake(out ulong s))
            {
                lock (_allocLock)
                {
                    s = _alloc.Allocate(SlotRequest + SlotReply, 4096);
                }
            }
            slot = s;
            req = s;
            reply = s + SlotRequest;
        }
        else
        {
            lock (_allocLock)
            {
            if (_alloc.Remaining < (ulong)(request.Length + replyBytes + 8192))
            {
                // Every request gets fresh buffers (no reuse to get wrong); the RAM is sized for the tests.
                throw new InvalidOperationException("test guest RAM exhausted");
            }
                req = _alloc.Allocate((ulong)request.Length, 8);
                reply = replyBytes > 0 ? _alloc.Allocate((ulong)replyBytes, 8) : 0;
            }
        }
        _ram.Write(req, request);
        var pending = new Pending(this, queue, reply, unique, slot);
        lock (_drivers[queue])
        {
            ushort head = replyBytes > 0
                ? _drivers[queue].AddChain([new DriverBuffer(req, (uint)request.Length)], [new DriverBuffer(reply, (uint)replyBytes)])
                : _drivers[queue].AddChain([new DriverBuffer(req, (uint)request.Length)], []);
            _inFlight[queue][head] = pending;
        }
        _queues[queue].Notify();
        return pending;
    }

    /// <summary>GET_VRING_BASE on the request queue: the device stops it (after answering what it took).</summary>
    public uint StopRequestQueue() => _frontend.GetVringBase(1);

    /// <summary>Moves every used element of the queue to the request it answers.</summary>
    private void Reap(int queue)
    {
        lock (_drivers[queue])
        {
            while (_drivers[queue].TryGetUsed(out DriverUsedElement used))
            {
                Assert.True(_inFlight[queue].Remove(used.Id, out Pending? answered), $"queue {queue}: used element for head {used.Id} that is not in flight");
                answered!.Returned(used.Length);
            }
        }
    }

    private FuseReply Answer(ulong reply, ulong unique, uint length)
    {
        if (length == 0)
        {
            return new FuseReply(0, []);
        }
        FuseOutHeader header = _ram.Read<FuseOutHeader>(reply);
        Assert.Equal(unique, header.Unique);
        byte[] bytes = new byte[length];
        _ram.Read(reply, bytes);
        return new FuseReply(length, bytes);
    }

    public void Dispose()
    {
        _frontend.Dispose();
        foreach (FrontendQueue q in _queues)
        {
            q?.Dispose();
        }
    }

    /// <summary>A request in flight.</summary>
    internal sealed class Pending(FuseDeviceClient client, int queue, ulong reply, ulong unique, ulong? slot)
    {
        private int _length = -1;
        private FuseReply? _answer;

        internal void Returned(uint length) => Volatile.Write(ref _length, (int)length);

        /// <summary>True once the device returned the chain (without waiting).</summary>
        public bool TryGet([NotNullWhen(true)] out FuseReply? answer)
        {
            answer = null;
            if (_answer is FuseReply known)
            {
                answer = known;
                return true;
            }
            client.Reap(queue);
            int length = Volatile.Read(ref _length);
            if (length < 0)
            {
                return false;
            }
            answer = client.Answer(reply, unique, (uint)length);
            _answer = answer;
            if (slot is ulong s)
            {
                // The device returned the chain: its buffers are the driver's again.
                client._freeSlots.Add(s);
            }
            return true;
        }

        /// <summary>Waits for the answer; a device that never answers fails the test after the hang guard.</summary>
        public FuseReply Wait()
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                if (TryGet(out FuseReply? answer))
                {
                    return answer;
                }
                if (clock.Elapsed > HangGuard)
                {
                    throw new TimeoutException($"no answer from the device (queue {queue}, unique {unique})");
                }
                client._queues[queue].WaitForCall(20);
            }
        }
    }
}
