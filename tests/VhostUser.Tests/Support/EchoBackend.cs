using System.Collections.Concurrent;
using VirtioFsd.Linux;
using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.VhostUser.Tests.Support;

/// <summary>
/// A test device: each started queue is served on its own thread which waits on the kick fd, pops
/// chains, copies the readable bytes (each byte transformed by <see cref="Transform"/>) into the
/// writable buffers, returns the chain with the byte count and signals the guest when it wants it.
/// </summary>
internal sealed class EchoBackend : IVhostUserBackend
{
    private readonly ConcurrentDictionary<SplitVirtqueue, Worker> _workers = new();

    public EchoBackend(int queueCount = 2, int maxQueueSize = 1024, ReadOnlyMemory<byte>? configSpace = null)
    {
        QueueCount = queueCount;
        MaxQueueSize = maxQueueSize;
        ConfigSpace = configSpace;
    }

    public ulong DeviceFeatures => 0;

    public int QueueCount { get; }

    public int MaxQueueSize { get; }

    public ReadOnlyMemory<byte>? ConfigSpace { get; }

    public ulong NegotiatedFeatures { get; private set; }

    /// <summary>The device state a test gives the backend (none by default: DEVICE_STATE is then not offered).</summary>
    public IDeviceState? DeviceState { get; set; }

    public int StartCount;
    public int StopCount;
    public int ResetCount;

    /// <summary>Queues being served right now.</summary>
    public int RunningQueues => _workers.Count;

    public static byte Transform(byte b) => (byte)(b ^ 0x5A);

    public void SetNegotiatedFeatures(ulong features) => NegotiatedFeatures = features;

    /// <summary>The back-end request channel the transport handed over, if any.</summary>
    public VirtioFsd.VhostUser.Protocol.VhostUserChannel? BackendChannel { get; private set; }

    public void SetBackendChannel(VirtioFsd.VhostUser.Protocol.VhostUserChannel? channel) => BackendChannel = channel;

    public void StartQueue(SplitVirtqueue queue)
    {
        Interlocked.Increment(ref StartCount);
        var worker = new Worker(queue);
        if (!_workers.TryAdd(queue, worker))
        {
            throw new InvalidOperationException("queue started twice");
        }
        worker.Start();
    }

    public void StopQueue(SplitVirtqueue queue)
    {
        Interlocked.Increment(ref StopCount);
        if (!_workers.TryRemove(queue, out Worker? worker))
        {
            throw new InvalidOperationException("stopping a queue that was not started");
        }
        worker.Stop();
    }

    public void Reset()
    {
        Interlocked.Increment(ref ResetCount);
        if (!_workers.IsEmpty)
        {
            throw new InvalidOperationException("reset while queues still run");
        }
    }

    private sealed class Worker
    {
        private readonly SplitVirtqueue _queue;
        private readonly UnixFd _stop = new(Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
        private readonly Thread _thread;
        private readonly DescriptorChain _chain = new();

        public Worker(SplitVirtqueue queue)
        {
            _queue = queue;
            _thread = new Thread(Run) { IsBackground = true, Name = $"echo-queue-{queue.Index}" };
        }

        public void Start() => _thread.Start();

        public void Stop()
        {
            Libc.EventFdWrite(_stop.Value);
            _thread.Join();
            _stop.Dispose();
        }

        private void Run()
        {
            Span<Libc.PollFd> fds = stackalloc Libc.PollFd[2];
            while (true)
            {
                Drain();
                fds[0] = new Libc.PollFd { Fd = _stop.Value, Events = Libc.POLLIN };
                fds[1] = new Libc.PollFd { Fd = _queue.KickFd, Events = Libc.POLLIN };
                // Without a kick fd (NOFD) the ring is polled every millisecond.
                int r = Libc.Poll(fds, _queue.KickFd < 0 ? 1 : -1);
                if (r > 0 && fds[0].Revents != 0)
                {
                    return;
                }
                if (_queue.KickFd >= 0 && fds[1].Revents != 0)
                {
                    Libc.EventFdRead(_queue.KickFd, out _);
                }
            }
        }

        private void Drain()
        {
            do
            {
                _queue.DisableNotifications();
                while (_queue.TryPopChain(_chain))
                {
                    uint written = Echo(_chain);
                    _queue.AddUsed(_chain.HeadIndex, written);
                    _queue.NotifyIfNeeded();
                }
            }
            while (_queue.EnableNotifications());
        }

        private static unsafe uint Echo(DescriptorChain chain)
        {
            byte[] data = new byte[chain.ReadableLength];
            int at = 0;
            foreach (IoVec v in chain.Readable)
            {
                // The segments were translated by the queue into the mapped guest memory it holds.
                new ReadOnlySpan<byte>((void*)v.Base, (int)v.Length).CopyTo(data.AsSpan(at));
                at += (int)v.Length;
            }
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = Transform(data[i]);
            }
            int from = 0;
            foreach (IoVec v in chain.Writable)
            {
                int n = Math.Min((int)v.Length, data.Length - from);
                // As above: a checked host range of guest memory.
                data.AsSpan(from, n).CopyTo(new Span<byte>((void*)v.Base, n));
                from += n;
            }
            return (uint)from;
        }
    }
}
