using Serilog;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;
using VirtioFsd.Linux.IoUring;
using VirtioFsd.VhostUser;
using VirtioFsd.Virtio;
using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.Device;

/// <summary>
/// The virtio-fs device (virtio 1.2 §5.11) behind the vhost-user transport: queue 0 is the
/// high-priority queue (FORGET, INTERRUPT), queues 1..N carry requests; every queue's FUSE
/// messages go to the same <see cref="FuseServer"/>.
/// </summary>
internal sealed class VirtioFsDevice : IVhostUserBackend
{
    /// <summary>
    /// Request queues offered through GET_QUEUE_NUM (with MQ). QEMU checks that the device's
    /// num-request-queues + 1 fits; a worker exists only for queues the guest really starts.
    /// </summary>
    public const int MaxRequestQueues = 16;

    /// <summary>QEMU's vhost-user-fs-pci allows queue-size up to 1024 (VIRTQUEUE_MAX_SIZE).</summary>
    public const int QueueSizeLimit = 1024;

    private readonly FuseServer _server;
    private readonly ILogger _log;
    private readonly Dictionary<int, FuseQueue> _queues = new();
    private readonly object _lock = new();

    /// <summary>
    /// <paramref name="options"/>' IoEngine is what the operator asked for; IoUring becomes Sync, with a warning, when
    /// io_uring cannot be used here (kernel, sysctl, seccomp profile).
    /// </summary>
    public VirtioFsDevice(FuseServer server, DeviceOptions options, ILogger log)
        : this(server, options, log, IoUringSupport.Detect)
    {
    }

    /// <summary>As the public constructor, with the io_uring probe replaceable (tests of the fallback).</summary>
    internal VirtioFsDevice(FuseServer server, DeviceOptions options, ILogger log, Func<IoUringAvailability> detectIoUring)
    {
        ArgumentNullException.ThrowIfNull(options);
        _server = server;
        _log = log;
        IoEngineKind engine = options.IoEngine;
        if (engine == IoEngineKind.IoUring)
        {
            IoUringAvailability availability = detectIoUring();
            if (!availability.IsAvailable)
            {
                log.Warning("{Availability}; using the synchronous I/O engine", availability.ToString());
                engine = IoEngineKind.Sync;
            }
        }
        Engine = engine;
        _maxWorkersPerQueue = options.ThreadPoolSize;
        _polling = QueuePolling.ForThisMachine(TimeSpan.FromMicroseconds(options.QueuePollMicroseconds));
        if (!string.IsNullOrEmpty(options.Tag))
        {
            // virtio_fs_config (virtio 1.2 §5.11.4): tag[36], then le32 num_request_queues.
            byte[] space = new byte[TagBytes + 4];
            System.Text.Encoding.UTF8.GetBytes(options.Tag, space.AsSpan(0, TagBytes));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(space.AsSpan(TagBytes), MaxRequestQueues);
            _configSpace = space;
        }
        log.Information("I/O engine: {Engine}", engine);
    }

    /// <summary>The state a live migration moves (null: DEVICE_STATE is not offered, e.g. in tests without a filesystem).</summary>
    public VhostUser.IDeviceState? DeviceState { get; init; }

    /// <summary>The engine the request queues really use.</summary>
    public IoEngineKind Engine { get; }

    /// <summary>io_uring engine only: every READ/WRITE through the ring, no inline attempt (for tests of the ring path).</summary>
    internal bool RingForAllTransfers { get; init; }

    /// <summary>Whether and how the queue workers poll their ring before sleeping (<c>--queue-poll-us</c>); tests replace it.</summary>
    internal QueuePolling Polling
    {
        get => _polling;
        init => _polling = value;
    }

    private readonly QueuePolling _polling;

    /// <summary>--thread-pool-size: at most this many io_uring kernel workers per queue (0: the kernel's limits).</summary>
    private readonly uint _maxWorkersPerQueue;

    /// <summary>virtio_fs_config.tag: UTF-8, NUL-padded, not necessarily NUL-terminated.</summary>
    internal const int TagBytes = 36;

    private readonly byte[]? _configSpace;

    // The cast matters: a bare null here converts through byte[] to an empty ReadOnlyMemory, which HasValue.
    public ReadOnlyMemory<byte>? ConfigSpace => _configSpace is null ? (ReadOnlyMemory<byte>?)null : _configSpace;

    /// <summary>virtio-fs defines no feature bits of its own that this device needs (notification is optional).</summary>
    public ulong DeviceFeatures => 0;

    public int QueueCount => 1 + MaxRequestQueues;

    public int MaxQueueSize => QueueSizeLimit;

    public void StartQueue(SplitVirtqueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        // The high-priority queue carries only FORGETs and INTERRUPTs, a few at a time: polling it would spend a poller's
        // place (at most half the CPUs poll) on a queue that never pays it back.
        QueuePolling polling = queue.Index == 0 ? QueuePolling.Off : _polling;
        var started = new FuseQueue(queue, CreateEngine(queue), _server, polling, _log);
        lock (_lock)
        {
            if (_queues.Remove(queue.Index, out FuseQueue? old))
            {
                _log.Warning("Queue {Queue} started twice; stopping the old worker first", queue.Index);
                old.Worker.Stop();
                old.Dispose();
            }
            _queues[queue.Index] = started;
        }
        started.Worker.Start();
        _log.Information("Queue {Queue} started (size {Size})", queue.Index, queue.Size);
    }

    public void StopQueue(SplitVirtqueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        FuseQueue? stopped;
        lock (_lock)
        {
            _queues.Remove(queue.Index, out stopped);
        }
        if (stopped is not null)
        {
            stopped.Worker.Stop();
            stopped.Dispose();
            _log.Information("Queue {Queue} stopped", queue.Index);
        }
    }

    public void Reset()
    {
        List<FuseQueue> queues;
        lock (_lock)
        {
            queues = [.. _queues.Values];
            _queues.Clear();
        }
        foreach (FuseQueue q in queues)
        {
            q.Worker.Stop();
            q.Dispose();
        }
        // A reset device forgets every node the guest knew; the next INIT starts afresh.
        _server.EndSession("the device was reset");
    }

    /// <summary>
    /// The queue's I/O engine. The high-priority queue (0) carries only FORGET, BATCH_FORGET and INTERRUPT, which never
    /// touch file data: the synchronous engine serves it under either choice. A ring that cannot be set up (logged)
    /// leaves the queue to the synchronous engine.
    /// </summary>
    private IIoEngine CreateEngine(SplitVirtqueue queue)
    {
        if (Engine != IoEngineKind.IoUring || queue.Index == 0)
        {
            return new SyncEngine();
        }
        if (!RingEngine.TryCreate(queue.Size, out RingEngine? ring, out int error))
        {
            _log.Warning("Queue {Queue}: io_uring setup failed ({Error}); using the synchronous engine for it", queue.Index, Errno.Describe(error));
            return new SyncEngine();
        }
        ring.InlineFirst = !RingForAllTransfers;
        if (_maxWorkersPerQueue > 0 && ring.LimitWorkers(_maxWorkersPerQueue) is int limited && limited < 0)
        {
            _log.Warning("Queue {Queue}: cannot limit io_uring workers to {Workers} ({Error}); the kernel's limits stay",
                queue.Index, _maxWorkersPerQueue, Errno.Describe(limited));
        }
        return ring;
    }
}
