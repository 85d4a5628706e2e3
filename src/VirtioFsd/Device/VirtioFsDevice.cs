using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux.IoUring;
using VirtioFsd.VhostUser;
using VirtioFsd.VhostUser.Virtqueue;

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
    private readonly IFileSystem _fs;
    private readonly ILogger _log;
    private readonly Dictionary<int, IQueueWorker> _workers = new();
    private readonly object _lock = new();

    /// <summary>
    /// <paramref name="engine"/> is what the operator asked for; IoUring becomes Sync, with a
    /// warning, when io_uring cannot be used here (kernel, sysctl, seccomp profile).
    /// </summary>
    public VirtioFsDevice(FuseServer server, IFileSystem fs, ILogger log, IoEngine engine = IoEngine.Sync)
        : this(server, fs, log, engine, IoUringSupport.Detect)
    {
    }

    /// <summary>As the public constructor, with the io_uring probe replaceable (tests of the fallback).</summary>
    internal VirtioFsDevice(FuseServer server, IFileSystem fs, ILogger log, IoEngine engine, Func<IoUringAvailability> detectIoUring)
    {
        _server = server;
        _fs = fs;
        _log = log;
        if (engine == IoEngine.IoUring)
        {
            IoUringAvailability availability = detectIoUring();
            if (!availability.IsAvailable)
            {
                log.Warning("{Availability}; using the synchronous I/O engine", availability.ToString());
                engine = IoEngine.Sync;
            }
        }
        Engine = engine;
        log.Information("I/O engine: {Engine}", engine);
    }

    /// <summary>The engine the request queues really use.</summary>
    public IoEngine Engine { get; }

    /// <summary>io_uring engine only: every READ/WRITE through the ring, no inline attempt (for tests of the ring path).</summary>
    internal bool RingForAllTransfers { get; init; }

    /// <summary>
    /// --thread-pool-size N: the Rust daemon serves a queue's requests on a pool of N threads; here each queue's
    /// blocking file operations run on io_uring's kernel workers, of which at most N then exist per queue. 0 (the
    /// Rust default, "no pool") leaves them at the kernel's limits: the queue thread itself never blocks either way.
    /// </summary>
    internal uint MaxWorkersPerQueue { get; init; }

    /// <summary>Whether and how the io_uring workers poll their ring before sleeping (<c>--queue-poll-us</c>).</summary>
    internal QueuePolling Polling { get; init; } = QueuePolling.Off;

    /// <summary>
    /// --tag: the virtio-fs config space (virtio 1.2 §5.11.4: tag[36], le32 num_request_queues) served through
    /// GET_CONFIG, for frontends that take the tag from the device; without a tag VHOST_USER_PROTOCOL_F_CONFIG
    /// is not offered and the frontend's own tag (QEMU's tag= property) is all there is, as with the Rust daemon.
    /// </summary>
    internal string? Tag
    {
        get => _tag;
        init
        {
            _tag = value;
            if (!string.IsNullOrEmpty(value))
            {
                byte[] space = new byte[TagBytes + 4];
                System.Text.Encoding.UTF8.GetBytes(value, space.AsSpan(0, TagBytes));
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(space.AsSpan(TagBytes), MaxRequestQueues);
                _configSpace = space;
            }
        }
    }

    /// <summary>virtio_fs_config.tag: UTF-8, NUL-padded, not necessarily NUL-terminated.</summary>
    internal const int TagBytes = 36;

    private readonly string? _tag;
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
        IQueueWorker worker = CreateWorker(queue);
        lock (_lock)
        {
            if (_workers.Remove(queue.Index, out IQueueWorker? old))
            {
                _log.Warning("Queue {Queue} started twice; stopping the old worker first", queue.Index);
                old.Stop();
                old.Dispose();
            }
            _workers[queue.Index] = worker;
        }
        worker.Start();
        _log.Information("Queue {Queue} started (size {Size})", queue.Index, queue.Size);
    }

    public void StopQueue(SplitVirtqueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        IQueueWorker? worker;
        lock (_lock)
        {
            _workers.Remove(queue.Index, out worker);
        }
        if (worker is not null)
        {
            worker.Stop();
            worker.Dispose();
            _log.Information("Queue {Queue} stopped", queue.Index);
        }
    }

    public void Reset()
    {
        List<IQueueWorker> workers;
        lock (_lock)
        {
            workers = [.. _workers.Values];
            _workers.Clear();
        }
        foreach (IQueueWorker w in workers)
        {
            w.Stop();
            w.Dispose();
        }
        // A reset device forgets every node the guest knew; the next INIT starts afresh.
        _fs.Destroy();
    }

    /// <summary>
    /// The high-priority queue (0) carries only FORGET, BATCH_FORGET and INTERRUPT, which never touch
    /// file data: the synchronous worker serves it under either engine.
    /// </summary>
    private IQueueWorker CreateWorker(SplitVirtqueue queue)
    {
        if (Engine == IoEngine.IoUring && queue.Index != 0
            && IoUringQueueWorker.TryCreate(queue, _server, _log, RingForAllTransfers, Polling, MaxWorkersPerQueue, out IoUringQueueWorker? worker))
        {
            return worker!;
        }
        return new QueueWorker(queue, _server, _log);
    }
}
