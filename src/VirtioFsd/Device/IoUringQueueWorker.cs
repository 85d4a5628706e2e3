using Serilog;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoUring;
using VirtioFsd.VhostUser.Virtqueue;

namespace VirtioFsd.Device;

/// <summary>
/// Serves one request queue with an io_uring of its own (the io_uring engine). A single
/// io_uring_enter submits the file I/O prepared since the last one and sleeps until the guest
/// kicks (a multishot POLL_ADD on the kick eventfd), the device stops (a POLL_ADD on the stop
/// eventfd) or an operation completes. Many requests are in flight per queue and complete out of
/// order; used-ring entries are published as their completions are reaped and the guest is
/// notified every few replies and at the end of each wake-up (with EVENT_IDX the queue decides whether
/// it wants the call).
/// </summary>
internal sealed partial class IoUringQueueWorker : IQueueWorker, IFuseRequestCompletion, IFileIoSubmitter
{
    // user_data values of the worker's own operations; file operations use their slot index
    // (below the queue size, at most 32768), and Ring.CancelUserData (ulong.MaxValue) is the ring's.
    private const ulong KickTag = ulong.MaxValue - 1;
    private const ulong StopTag = ulong.MaxValue - 2;
    private const ulong CancelTag = ulong.MaxValue - 3;

    // Without a kick fd (VHOST_USER_VRING_NOFD_MASK) the ring is polled, as by the synchronous worker.
    private static readonly TimeSpan NoKickPoll = TimeSpan.FromMilliseconds(1);

    // While one wake-up serves a long run of requests, the guest is offered a notification after every
    // NotifyEvery replies instead of once at the end, so that it reaps and refills while this thread keeps
    // serving (the drain picks the refills up without kicks). Once per wake-up left the guest idle half the
    // time at depth 32 (0.6-0.8x the C daemon, which notifies per reply); per reply made eventfd_write a
    // quarter of the daemon's CPU (perf); every 8 measured best of 1/4/8/16 (docs/benchmark.md). With
    // EVENT_IDX the queue still signals only when the guest asked for it.
    private const int NotifyEvery = 8;

    private readonly SplitVirtqueue _queue;
    private readonly FuseServer _server;
    private readonly ILogger _log;
    private readonly Ring _ring;
    private readonly UnixFd _stopEvent;
    private readonly Thread _thread;
    private readonly QueueRequests _requests;
    private readonly QueuePolling _polling;
    private bool _stopping;
    private int _publishedSinceNotify;
    private bool _pollPaysOff = true;
    private bool _stopRequested;

    private IoUringQueueWorker(SplitVirtqueue queue, FuseServer server, ILogger log, Ring ring, UnixFd stopEvent, QueuePolling polling)
    {
        _polling = polling;
        _queue = queue;
        _requests = new QueueRequests(queue);
        _server = server;
        _log = log;
        _ring = ring;
        _stopEvent = stopEvent;
        _slots = new FileIoOperation?[queue.Size];
        _slotVectors = new nint[queue.Size];
        _slotVectorCapacity = new int[queue.Size];
        for (int i = queue.Size - 1; i >= 0; i--)
        {
            _freeSlots.Push(i);
        }
        _thread = new Thread(Run) { IsBackground = true, Name = $"vq{queue.Index}-uring" };
    }

    /// <summary>Sets up the queue's ring; false (logged) when that fails, and the caller uses the synchronous worker.</summary>
    /// <param name="maxWorkers">--thread-pool-size: at most this many kernel workers run the queue's blocking file
    /// operations; 0 leaves the kernel's limits.</param>
    public static bool TryCreate(SplitVirtqueue queue, FuseServer server, ILogger log, bool submitAllTransfers,
        QueuePolling polling, uint maxWorkers, out IoUringQueueWorker? worker)
    {
        worker = null;
        log = log.ForContext("Queue", queue.Index);

        // One SQE per chain in flight (a chain is at most one file operation) plus the two polls and
        // a cancel; the kernel rounds up to a power of two and sizes the CQ at twice that. Should the
        // CQ still fill, IORING_FEAT_NODROP keeps the overflow in the kernel (the ring requires it).
        uint entries = (uint)queue.Size + 4;

        // COOP_TASKRUN (5.19): completions run as task work at our next enter instead of
        // interrupting the thread, which is always about to enter anyway. Older kernels: plain ring.
        if (!Ring.TryCreate(entries, new RingOptions { SetupFlags = IoUringConstants.SetupCoopTaskrun }, out Ring? ring, out int error)
            && !Ring.TryCreate(entries, default, out ring, out error))
        {
            log.Warning("Queue {Queue}: io_uring setup failed ({Error}); using the synchronous engine for it",
                queue.Index, Errno.Describe(error));
            return false;
        }
        if (maxWorkers > 0)
        {
            int limited = ring!.SetMaxWorkers(maxWorkers, maxWorkers);
            if (limited < 0)
            {
                log.Warning("Queue {Queue}: cannot limit io_uring workers to {Workers} ({Error}); the kernel's limits stay",
                    queue.Index, maxWorkers, Errno.Describe(limited));
            }
        }
        int efd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (efd < 0)
        {
            ring.Dispose();
            log.Warning("Queue {Queue}: eventfd failed ({Error}); using the synchronous engine for it", queue.Index, Errno.Describe(efd));
            return false;
        }
        worker = new IoUringQueueWorker(queue, server, log, ring, new UnixFd(efd), polling) { SubmitsAllTransfers = submitAllTransfers };
        return true;
    }

    public void Start() => _thread.Start();

    public void Stop()
    {
        Volatile.Write(ref _stopRequested, true); // ends a poll of the ring (the event ends a sleep)
        Libc.EventFdWrite(_stopEvent.Value);
        if (_thread.ThreadState != ThreadState.Unstarted && Thread.CurrentThread != _thread)
        {
            // The thread cancels and reaps every ring operation before it ends.
            _thread.Join();
        }
        else if (_thread.ThreadState == ThreadState.Unstarted)
        {
            _ring.Dispose();
            FreeSlotVectors();
        }
        // No request of this queue starts any more; a SETLKW of it still waiting must not hold the stop for ever.
        _server.CancelWaitingLocks(this);
        _requests.WaitUntilIdle();
    }

    public void Dispose() => _stopEvent.Dispose();

    private void Run()
    {
        _log.Debug("Queue {Queue} io_uring worker started (size {Size})", _queue.Index, _queue.Size);
        int kickFd = _queue.KickFd;
        bool hasKick = kickFd >= 0;
        bool listening = hasKick;
        try
        {
            ArmPoll(_stopEvent.Value, StopTag, multishot: false);
            if (hasKick)
            {
                ArmPoll(kickFd, KickTag, multishot: true);
            }

            // The guest may have queued requests before the ring was started.
            DrainQueue();
            NotifyGuest();
            while (!_stopping)
            {
                long sleptAt = System.Diagnostics.Stopwatch.GetTimestamp();
                int r = _ring.SubmitAndWait(1, hasKick ? null : NoKickPoll);
                if (r < 0)
                {
                    _log.Error("Queue {Queue}: io_uring_enter failed: {Error}", _queue.Index, Errno.Describe(r));
                    return;
                }
                bool kicked = !hasKick;
                while (_ring.TryGetCompletion(out IoUringCqe cqe))
                {
                    switch (cqe.UserData)
                    {
                        case KickTag:
                            kicked = true;
                            // A kick soon after going to sleep: watching the ring would have caught it.
                            _pollPaysOff |= System.Diagnostics.Stopwatch.GetTimestamp() - sleptAt < _polling.WindowTicks;
                            listening = OnKickPoll(cqe, kickFd, listening);
                            break;
                        case StopTag:
                            _stopping = true;
                            break;
                        case CancelTag:
                            break;
                        default:
                            CompleteSlot(cqe.UserData, cqe.Result);
                            break;
                    }
                }
                if (_stopping)
                {
                    return;
                }
                if (kicked && !_queue.IsBroken)
                {
                    if (hasKick)
                    {
                        ResetKick(kickFd);
                    }
                    DrainQueue();
                }
                // One notification for everything this wake-up published since the last one.
                NotifyGuest();
                PollAndServe();
            }
        }
        catch (Exception e)
        {
            // Never a dead daemon because of one queue: log and leave the queue idle.
            _log.Error(e, "Queue {Queue} io_uring worker failed", _queue.Index);
        }
        finally
        {
            Shutdown();
            _log.Debug("Queue {Queue} io_uring worker stopped", _queue.Index);
        }
    }

    /// <summary>Handles a kick poll completion; returns whether kicks are still being listened for.</summary>
    private bool OnKickPoll(in IoUringCqe cqe, int kickFd, bool listening)
    {
        if (cqe.Result < 0 || (cqe.Result & (Libc.POLLERR | Libc.POLLNVAL)) != 0)
        {
            _log.Error("Queue {Queue}: kick fd is no longer usable ({Result})", _queue.Index,
                cqe.Result < 0 ? Errno.Describe(cqe.Result) : $"revents 0x{cqe.Result:x}");
            return false;
        }
        if (!cqe.HasMore && listening)
        {
            // The kernel ended the multishot poll (e.g. its CQE overflowed): arm it again.
            ArmPoll(kickFd, KickTag, multishot: true);
        }
        return listening;
    }

    /// <summary>
    /// Consumes the kick eventfd's counter without blocking whatever its O_NONBLOCK flag (the fd
    /// is the frontend's; its flags are not ours to change): preadv2(RWF_NOWAIT) says EAGAIN when an
    /// earlier reset already took this kick.
    /// </summary>
    private static unsafe void ResetKick(int kickFd)
    {
        ulong counter;

        // Sound: the iovec points at a stack local that outlives the synchronous call.
        IoVec vec = new((nint)(&counter), sizeof(ulong));
        Libc.Preadv2(kickFd, new ReadOnlySpan<IoVec>(in vec), -1, Libc.RWF_NOWAIT);
    }

    private void ArmPoll(int fd, ulong tag, bool multishot)
    {
        if (!_ring.TryGetSqe(out SubmissionEntry sqe))
        {
            throw new InvalidOperationException("io_uring refused a poll submission");
        }
        sqe.PollAdd(fd, (uint)Libc.POLLIN, multishot, tag);
    }

    /// <summary>
    /// After serving, watches the avail ring for a moment before the thread sleeps (see
    /// <see cref="QueuePolling"/>), serving what arrives, with kicks suppressed meanwhile; only while no
    /// file operation is in flight (their completions need the ring entered). Leaves notifications on
    /// and the ring empty, as the thread must be before it sleeps.
    /// </summary>
    private void PollAndServe()
    {
        if (!_pollPaysOff || _busySlots > 0 || _queue.IsBroken || !_polling.TryEnter())
        {
            return;
        }
        try
        {
            _queue.DisableNotifications();
            long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + _polling.WindowTicks;
            while (!Volatile.Read(ref _stopRequested) && !_queue.IsBroken)
            {
                if (_queue.PollAvailable())
                {
                    _requests.PopAndServe(_server, this);
                    NotifyGuest();
                    if (_busySlots > 0)
                    {
                        break; // the ring has work: wait for it there
                    }
                    deadline = System.Diagnostics.Stopwatch.GetTimestamp() + _polling.WindowTicks;
                    continue;
                }
                if (System.Diagnostics.Stopwatch.GetTimestamp() >= deadline)
                {
                    // Nothing came in the window: sleep from now on until a kick shows that polling would
                    // pay off (as QEMU's adaptive polling shrinks its window), so idle or slow queues do not spin.
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
        if (_queue.EnableNotifications() && !_queue.IsBroken)
        {
            DrainQueue();
            NotifyGuest();
        }
    }

    private void NotifyGuest()
    {
        _publishedSinceNotify = 0;
        _queue.NotifyIfNeeded();
    }

    /// <summary>Pops and serves chains until the ring is empty with notifications re-enabled.</summary>
    private void DrainQueue()
    {
        _requests.Drain(_server, this);
    }

    /// <summary>Called by the server once per request: from this thread (inline or at a CQE) or, for a waiting lock, another.</summary>
    public void Complete(FuseRequest request)
    {
        if (Thread.CurrentThread != _thread)
        {
            // From another thread no wake-up of this worker batches the notification: signal now.
            _requests.Publish(request, signalNow: true);
            return;
        }
        bool signal = ++_publishedSinceNotify >= NotifyEvery;
        if (signal)
        {
            _publishedSinceNotify = 0;
        }
        _requests.Publish(request, signalNow: signal);
    }
}
