using Serilog;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Server;
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
    private readonly Dictionary<int, QueueWorker> _workers = new();
    private readonly object _lock = new();

    public VirtioFsDevice(FuseServer server, IFileSystem fs, ILogger log)
    {
        _server = server;
        _fs = fs;
        _log = log;
    }

    /// <summary>virtio-fs defines no feature bits of its own that this device needs (notification is optional).</summary>
    public ulong DeviceFeatures => 0;

    public int QueueCount => 1 + MaxRequestQueues;

    public int MaxQueueSize => QueueSizeLimit;

    public void StartQueue(SplitVirtqueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var worker = new QueueWorker(queue, _server, _log);
        lock (_lock)
        {
            if (_workers.Remove(queue.Index, out QueueWorker? old))
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
        QueueWorker? worker;
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
        List<QueueWorker> workers;
        lock (_lock)
        {
            workers = [.. _workers.Values];
            _workers.Clear();
        }
        foreach (QueueWorker w in workers)
        {
            w.Stop();
            w.Dispose();
        }
        // A reset device forgets every node the guest knew; the next INIT starts afresh.
        _fs.Destroy();
    }
}
