using System.Diagnostics;
using Serilog;
using Serilog.Events;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;
using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.Virtio;

/// <summary>
/// Serves one started virtqueue on a thread of its own, whatever the device and the I/O engine: sleeps in the engine
/// (kick, stop and the completions of its file operations in one wait), pops every available chain for the device's
/// <see cref="IVirtqueueHandler"/>, publishes the used entries as requests complete (in any order, from any thread)
/// and signals the guest. Every virtio transport reuses it (as rust-vmm's VringEpollHandler); the device only maps
/// a chain to its request.
/// </summary>
public sealed class VirtqueueWorker : IDisposable
{
    // Without a kick fd (VHOST_USER_VRING_NOFD_MASK) the ring is polled; 1 ms keeps latency low without spinning a core.
    private static readonly TimeSpan NoKickPoll = TimeSpan.FromMilliseconds(1);

    // While one wake-up serves a long run of requests, the guest is offered a notification after every NotifyEvery
    // replies instead of once at the end, so that it reaps and refills while this thread keeps serving (the drain picks
    // the refills up without kicks). Once per wake-up leaves the guest idle while the daemon serves; once per reply makes
    // eventfd_write a large share of the daemon's CPU; 8 was the best of 1/4/8/16 (figures: docs/benchmark.md). With EVENT_IDX the
    // queue still signals only when the guest asked for it.
    private const int NotifyEvery = 8;

    private readonly SplitVirtqueue _queue;
    private readonly IIoEngine _engine;
    private readonly IVirtqueueHandler _handler;
    private readonly QueuePolling _polling;
    private readonly ILogger _log;
    private readonly UnixFd _stopEvent;
    private readonly Thread _thread;
    private readonly DescriptorChain _chain = new();
    private readonly object _idleLock = new();
    private int _inFlight;
    private int _publishedSinceNotify;
    private bool _pollPaysOff = true;
    private volatile bool _stopRequested;

    /// <param name="engine">The queue's own engine: the worker owns it from here on and disposes it.</param>
    public VirtqueueWorker(SplitVirtqueue queue, IIoEngine engine, IVirtqueueHandler handler, QueuePolling polling, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(polling);
        ArgumentNullException.ThrowIfNull(log);
        _queue = queue;
        _engine = engine;
        _handler = handler;
        _polling = polling;
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

    /// <summary>How requests of this queue move file data: the queue's engine (used only from the worker's thread).</summary>
    public IFileIo Io => _engine;

    public void Start() => _thread.Start();

    /// <summary>
    /// Stops serving and returns only when no request of this queue is in flight any more: nothing (no thread, no kernel
    /// operation) touches the queue's guest memory after it returns.
    /// </summary>
    public void Stop()
    {
        _stopRequested = true; // ends a poll of the ring (the event ends a sleep)
        Libc.EventFdWrite(_stopEvent.Value);
        if (_thread.ThreadState != System.Threading.ThreadState.Unstarted && Thread.CurrentThread != _thread)
        {
            // The thread drains its engine (every file operation completes and is answered) before it ends.
            _thread.Join();
        }
        // No request of this queue starts any more; one still waiting (a lock) must not hold the stop for ever.
        _handler.Stopping(this);
        lock (_idleLock)
        {
            while (Volatile.Read(ref _inFlight) > 0)
            {
                Monitor.Wait(_idleLock, 100);
            }
        }
    }

    public void Dispose()
    {
        _engine.Dispose();
        _stopEvent.Dispose();
    }

    /// <summary>
    /// Publishes a finished chain in the used ring with the bytes written into its writable buffers. On the worker's
    /// thread the guest is signalled every few replies and at the end of each wake-up; from another thread at once,
    /// since no wake-up of the worker will batch it.
    /// </summary>
    public void Complete(ushort head, uint written)
    {
        _queue.AddUsed(head, written);
        if (Thread.CurrentThread != _thread)
        {
            _queue.NotifyIfNeeded();
        }
        else if (++_publishedSinceNotify >= NotifyEvery)
        {
            NotifyGuest();
        }
        if (Interlocked.Decrement(ref _inFlight) == 0 && _stopRequested)
        {
            lock (_idleLock)
            {
                Monitor.PulseAll(_idleLock);
            }
        }
    }

    private void Run()
    {
        // Guarded, as is the stop line: the generic Debug<T...> are generic virtual methods, and under the footprint load
        // NativeAOT's type loader was seen resolving them (and allocating) here with debug logging off (perf, uprobe on
        // RhpGcAlloc).
        if (_log.IsEnabled(LogEventLevel.Debug))
        {
            _log.Debug("Queue {Queue} worker started (size {Size}, {Engine})", _queue.Index, _queue.Size, _engine.Name);
        }
        int kickFd = _queue.KickFd;
        bool hasKick = kickFd >= 0;
        bool listening = true;
        try
        {
            _engine.Watch(_stopEvent.Value, kickFd);

            // The guest may have queued requests before the ring was started.
            Drain();
            NotifyGuest();
            while (true)
            {
                long sleptAt = Stopwatch.GetTimestamp();
                EngineWake wake = _engine.Wait(hasKick || !listening || _queue.IsBroken ? null : NoKickPoll);
                if ((wake & EngineWake.Stop) != 0)
                {
                    if (_engine.LastError < 0)
                    {
                        _log.Error("Queue {Queue}: waiting failed: {Error}", _queue.Index, Errno.Describe(_engine.LastError));
                    }
                    return;
                }
                if ((wake & EngineWake.WakeFdFailed) != 0)
                {
                    // The queue logged nothing: its kick fd is the frontend's. Wait only for the stop (a reset or disconnect).
                    _log.Error("Queue {Queue}: kick fd is no longer usable ({Error})", _queue.Index, Errno.Describe(_engine.LastError));
                    listening = false;
                }
                bool kicked = !hasKick || (wake & EngineWake.Wake) != 0;
                if ((wake & EngineWake.Wake) != 0)
                {
                    // A kick soon after going to sleep: watching the ring would have caught it.
                    _pollPaysOff |= Stopwatch.GetTimestamp() - sleptAt < _polling.WindowTicks;
                    ResetKick(kickFd);
                }
                if (kicked && listening && !_queue.IsBroken)
                {
                    Drain();
                }
                // One notification for everything this wake-up published since the last one.
                NotifyGuest();
                PollAndServe();
            }
        }
        catch (Exception e)
        {
            // Never a dead daemon because of one queue: log and leave the queue idle.
            _log.Error(e, "Queue {Queue} worker failed", _queue.Index);
        }
        finally
        {
            try
            {
                // Every file operation in flight completes (answered with its result or ECANCELED) before the thread ends.
                _engine.Drain();
                if (_engine.LastError < 0)
                {
                    _log.Error("Queue {Queue}: draining the I/O engine failed: {Error}", _queue.Index, Errno.Describe(_engine.LastError));
                }
                NotifyGuest();
            }
            catch (Exception e)
            {
                _log.Error(e, "Queue {Queue}: draining the I/O engine failed", _queue.Index);
            }
            if (_log.IsEnabled(LogEventLevel.Debug))
            {
                _log.Debug("Queue {Queue} worker stopped", _queue.Index);
            }
        }
    }

    /// <summary>
    /// Consumes the kick eventfd's counter without blocking whatever its O_NONBLOCK flag (the fd is the frontend's; its
    /// flags are not ours to change): preadv2(RWF_NOWAIT) says EAGAIN when an earlier reset already took this kick.
    /// </summary>
    private static unsafe void ResetKick(int kickFd)
    {
        ulong counter;

        // Sound: the iovec points at a stack local that outlives the synchronous call.
        IoVec vec = new((nint)(&counter), sizeof(ulong));
        Libc.Preadv2(kickFd, new ReadOnlySpan<IoVec>(in vec), -1, Libc.RWF_NOWAIT);
    }

    /// <summary>Pops and serves chains until the ring is empty with notifications re-enabled.</summary>
    private void Drain()
    {
        do
        {
            _queue.DisableNotifications();
            PopAndServe();
        }
        // EnableNotifications re-reads the avail index after enabling: true means more work arrived between the last
        // pop and the enable, which no kick will announce. A stopping worker leaves it for the next start.
        while (_queue.EnableNotifications() && !_queue.IsBroken && !_stopRequested);
    }

    /// <summary>Hands every available chain to the handler, leaving notifications as they are.</summary>
    private void PopAndServe()
    {
        while (!_stopRequested && _queue.TryPopChain(_chain))
        {
            Interlocked.Increment(ref _inFlight);
            _handler.Handle(_chain, this);
        }
    }

    /// <summary>
    /// After serving, watches the avail ring for a moment before the thread sleeps (see <see cref="QueuePolling"/>),
    /// serving what arrives, with kicks suppressed meanwhile; only while no file operation is in flight (their
    /// completions need the engine's wait). Leaves notifications on and the ring empty, as the thread must be before it sleeps.
    /// </summary>
    private void PollAndServe()
    {
        if (!_pollPaysOff || _engine.InFlight > 0 || _queue.IsBroken || !_polling.TryEnter())
        {
            return;
        }
        try
        {
            _queue.DisableNotifications();
            long deadline = Stopwatch.GetTimestamp() + _polling.WindowTicks;
            while (!_stopRequested && !_queue.IsBroken)
            {
                if (_queue.PollAvailable())
                {
                    PopAndServe();
                    NotifyGuest();
                    if (_engine.InFlight > 0)
                    {
                        break; // the engine has work: wait for it there
                    }
                    deadline = Stopwatch.GetTimestamp() + _polling.WindowTicks;
                    continue;
                }
                if (Stopwatch.GetTimestamp() >= deadline)
                {
                    // Nothing came in the window: sleep from now on until a kick shows that polling would pay off (as
                    // QEMU's adaptive polling shrinks its window), so idle or slow queues do not spin.
                    _pollPaysOff = false;
                    break;
                }
                Thread.SpinWait(8);
            }
        }
        finally
        {
            _polling.Exit();
        }
        if (_queue.EnableNotifications() && !_queue.IsBroken && !_stopRequested)
        {
            Drain();
            NotifyGuest();
        }
    }

    private void NotifyGuest()
    {
        _publishedSinceNotify = 0;
        _queue.NotifyIfNeeded();
    }
}
