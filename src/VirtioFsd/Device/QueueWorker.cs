using Serilog;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Virtqueue;

namespace VirtioFsd.Device;

/// <summary>
/// Serves one virtqueue on a thread of its own (the synchronous engine): waits for a kick, pops
/// every available chain, hands each to the FUSE server and publishes the replies. Requests the
/// server completes later (SETLKW) are published from the thread that completes them.
/// </summary>
internal sealed class QueueWorker : IQueueWorker, IFuseRequestCompletion
{
    // Without a kick fd (VHOST_USER_VRING_NOFD_MASK) the ring is polled; 1 ms keeps latency low
    // without spinning a core.
    private const int NoKickPollMs = 1;

    private readonly SplitVirtqueue _queue;
    private readonly FuseServer _server;
    private readonly ILogger _log;
    private readonly UnixFd _stopEvent;
    private readonly Thread _thread;
    private readonly QueueRequests _requests;

    public QueueWorker(SplitVirtqueue queue, FuseServer server, ILogger log)
    {
        _queue = queue;
        _requests = new QueueRequests(queue);
        _server = server;
        _log = log.ForContext("Queue", queue.Index);
        int efd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (efd < 0)
        {
            throw new InvalidOperationException($"eventfd: {Errno.Describe(efd)}");
        }
        _stopEvent = new UnixFd(efd);
        _thread = new Thread(Run) { IsBackground = true, Name = $"vq{queue.Index}" };
    }

    public SplitVirtqueue Queue => _queue;

    public void Start() => _thread.Start();

    /// <summary>Stops the thread and waits until no request of this queue is in flight.</summary>
    public void Stop()
    {
        Libc.EventFdWrite(_stopEvent.Value);
        if (_thread.IsAlive && Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }
        // No request of this queue starts any more; a SETLKW of it still waiting must not hold the stop for ever.
        _server.CancelWaitingLocks(this);
        _requests.WaitUntilIdle();
    }

    public void Dispose() => _stopEvent.Dispose();

    private void Run()
    {
        _log.Debug("Queue {Queue} worker started (size {Size})", _queue.Index, _queue.Size);
        Span<Libc.PollFd> fds = stackalloc Libc.PollFd[2];
        bool hasKick = _queue.KickFd >= 0;
        fds[0] = new Libc.PollFd { Fd = _stopEvent.Value, Events = Libc.POLLIN };
        fds[1] = new Libc.PollFd { Fd = hasKick ? _queue.KickFd : -1, Events = Libc.POLLIN };
        try
        {
            // The guest may have queued requests before the ring was started.
            Drain();
            while (true)
            {
                fds[0].Revents = 0;
                fds[1].Revents = 0;
                int n = Libc.Poll(fds, hasKick ? -1 : NoKickPollMs);
                if (n == -Errno.EINTR)
                {
                    continue;
                }
                if (n < 0)
                {
                    _log.Error("Queue {Queue}: poll failed: {Error}", _queue.Index, Errno.Describe(n));
                    return;
                }
                if (fds[0].Revents != 0)
                {
                    return;
                }
                if (hasKick && (fds[1].Revents & (Libc.POLLERR | Libc.POLLNVAL)) != 0)
                {
                    _log.Error("Queue {Queue}: kick fd is no longer usable", _queue.Index);
                    return;
                }
                if (hasKick && fds[1].Revents != 0)
                {
                    Libc.EventFdRead(_queue.KickFd, out _);
                }
                Drain();
                if (_queue.IsBroken)
                {
                    // The queue logged what was wrong; a broken queue pops nothing more, so wait
                    // only for the stop signal (the frontend resets or disconnects).
                    fds[1].Fd = -1;
                    hasKick = true;
                }
            }
        }
        catch (Exception e)
        {
            // Never a dead daemon because of one queue: log and leave the queue idle.
            _log.Error(e, "Queue {Queue} worker failed", _queue.Index);
        }
        finally
        {
            _log.Debug("Queue {Queue} worker stopped", _queue.Index);
        }
    }

    /// <summary>Pops and serves chains until the ring is empty with notifications re-enabled.</summary>
    private void Drain()
    {
        _requests.Drain(_server, this);
        _queue.NotifyIfNeeded();
    }

    /// <summary>Called by the server once per request, on this thread or (for deferred requests) another.</summary>
    public void Complete(FuseRequest request)
    {
        // From another thread no wake-up of this worker batches the notification: signal now.
        _requests.Publish(request, signalNow: Thread.CurrentThread != _thread);
    }
}
