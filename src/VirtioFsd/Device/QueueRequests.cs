using VirtioFsd.Fuse.Server;
using VirtioFsd.VhostUser.Virtqueue;

namespace VirtioFsd.Device;

/// <summary>
/// The requests of one virtqueue, whatever the engine serving it: pops chains into pooled
/// <see cref="FuseRequest"/>s, counts those in flight, publishes each reply exactly once, and lets
/// Stop wait until none is left (a request in flight still owns guest buffers).
/// </summary>
internal sealed class QueueRequests
{
    private readonly SplitVirtqueue _queue;
    private readonly DescriptorChain _chain = new();
    private readonly Stack<FuseRequest> _pool = new();
    private readonly object _lock = new();
    private int _inFlight;

    public QueueRequests(SplitVirtqueue queue) => _queue = queue;

    /// <summary>
    /// Hands every available chain to <paramref name="server"/> until the ring is empty with
    /// notifications re-enabled; <paramref name="completion"/> gets each request back.
    /// </summary>
    public void Drain(FuseServer server, IFuseRequestCompletion completion)
    {
        do
        {
            _queue.DisableNotifications();
            PopAndServe(server, completion);
        }
        // EnableNotifications re-reads the avail index after enabling: true means more work
        // arrived between the last pop and the enable, which no kick will announce.
        while (_queue.EnableNotifications() && !_queue.IsBroken);
    }

    /// <summary>
    /// Hands every available chain to <paramref name="server"/>, leaving notifications as they are (a
    /// worker polling the ring keeps them off; it must enable them and re-check before it sleeps).
    /// </summary>
    public void PopAndServe(FuseServer server, IFuseRequestCompletion completion)
    {
        while (_queue.TryPopChain(_chain))
        {
            FuseRequest request;
            lock (_lock)
            {
                request = _pool.Count > 0 ? _pool.Pop() : new FuseRequest();
                _inFlight++;
            }
            request.Reset(_chain.Readable, _chain.Writable, _chain.HeadIndex);
            server.Handle(request, completion);
        }
    }

    /// <summary>
    /// Publishes a completed request's reply in the used ring; signals the guest now when
    /// <paramref name="signalNow"/> (no batch on the worker thread will), and recycles the request.
    /// </summary>
    public void Publish(FuseRequest request, bool signalNow)
    {
        ushort head = (ushort)request.TransportState!;
        _queue.AddUsed(head, request.ReplyLength);
        if (signalNow)
        {
            _queue.NotifyIfNeeded();
        }
        lock (_lock)
        {
            _inFlight--;
            _pool.Push(request);
            if (_inFlight == 0)
            {
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>Blocks until no request is in flight (one completing on another thread, e.g. a waiting lock).</summary>
    public void WaitUntilIdle()
    {
        lock (_lock)
        {
            while (_inFlight > 0)
            {
                Monitor.Wait(_lock, 100);
            }
        }
    }
}
