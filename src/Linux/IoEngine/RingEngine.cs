using System.Diagnostics.CodeAnalysis;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Linux.IoEngine;

/// <summary>
/// The io_uring engine of one serving thread: a ring of its own carries the thread's file operations and its
/// wake-up polls, so one io_uring_enter submits the work prepared since the last one and sleeps until a watched fd
/// fires or an operation completes. Many operations are in flight at once and complete out of order; each
/// completion runs its caller's continuation on this thread, inside <see cref="Wait"/>.
/// </summary>
/// <remarks>
/// Inline first (docs/io_uring.md has the measurements): a page-cached read costs less as a preadv2(RWF_NOWAIT)
/// than as a ring operation, and tmpfs reads are punted to a kernel worker by the ring, so READ is tried inline
/// without blocking and only data that is not cached (EAGAIN) goes to the ring. Large reads
/// (<see cref="ParallelReadBytes"/>) go to a kernel worker at once (IOSQE_ASYNC), which copies while this thread
/// serves the next request. Buffered writes on ext4 and tmpfs refuse RWF_NOWAIT (EOPNOTSUPP), so the ring would hand
/// every one to a worker: they run inline, and only a filesystem that can say EAGAIN (XFS, btrfs) sees the ring.
/// FSYNC and FALLOCATE can block for milliseconds on real storage and always go to the ring.
/// </remarks>
public sealed partial class RingEngine : IIoEngine
{
    public string Name => "io_uring";

    /// <summary>READs of at least this many bytes go to a kernel worker at once (see remarks).</summary>
    public const long ParallelReadBytes = 256 * 1024;

    // user_data of the engine's own SQEs; file operations use their index (below the capacity, at most 32768), and
    // Ring.CancelUserData (ulong.MaxValue) is the ring's.
    private const ulong WakeTag = ulong.MaxValue - 1;
    private const ulong StopTag = ulong.MaxValue - 2;
    private const ulong CancelTag = ulong.MaxValue - 3;

    private readonly Ring _ring;
    private readonly RingOperation[] _operations;
    private readonly Stack<RingOperation> _free;
    private int _ownerThreadId;
    private int _stopFd = -1;
    private int _wakeFd = -1;
    private bool _armed;
    private bool _draining;

    private RingEngine(Ring ring, int capacity)
    {
        _ring = ring;
        _operations = new RingOperation[capacity];
        _free = new Stack<RingOperation>(capacity);
        for (int i = capacity - 1; i >= 0; i--)
        {
            _operations[i] = new RingOperation(this, i);
            _free.Push(_operations[i]);
        }
    }

    /// <summary>
    /// False (tests only): every READ and WRITE goes through the ring, without the inline attempt, so that the ring
    /// path is exercised on filesystems where inline always succeeds or is refused.
    /// </summary>
    public bool InlineFirst { get; set; } = true;

    public int InFlight { get; private set; }

    /// <summary>File operations that went to the ring so far (for tests and diagnostics).</summary>
    public long Submitted { get; private set; }

    public int LastError { get; private set; }

    /// <summary>
    /// Sets up an engine for at most <paramref name="capacity"/> operations in flight (a virtqueue's size: one
    /// operation per request). Fails with the setup errno (io_uring missing, disabled, or refused by seccomp).
    /// </summary>
    public static bool TryCreate(int capacity, [NotNullWhen(true)] out RingEngine? engine, out int error)
    {
        engine = null;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        // An SQE is only held from preparation to submission (TryGetSqe submits when the queue is full), so the SQ
        // need not hold every operation in flight: the queue's size, which the kernel rounds up to a power of two,
        // and a CQ of twice that hold the completions of them all plus the two polls and a cancel (capacity >= 4;
        // should the CQ still fill, IORING_FEAT_NODROP keeps the overflow in the kernel). Every SQE and CQE slot is
        // written in turn, so all of both arrays stays resident: capacity + 4 rounded a 256-entry queue's ring up to
        // 512 and 1024 entries, 52 KiB where this is 26.
        uint entries = (uint)Math.Max(capacity, 4);

        // COOP_TASKRUN (5.19): completions run as task work at our next enter instead of interrupting the thread,
        // which is always about to enter anyway. Older kernels: a plain ring.
        if (!Ring.TryCreate(entries, new RingOptions { SetupFlags = IoUringConstants.SetupCoopTaskrun }, out Ring? ring, out error)
            && !Ring.TryCreate(entries, default, out ring, out error))
        {
            return false;
        }
        engine = new RingEngine(ring, capacity);
        return true;
    }

    /// <summary>
    /// At most <paramref name="workers"/> kernel workers run this ring's blocking operations (--thread-pool-size);
    /// 0 or -errno from IORING_REGISTER_IOWQ_MAX_WORKERS.
    /// </summary>
    public int LimitWorkers(uint workers) => _ring.SetMaxWorkers(workers, workers);

    private bool OnOwnerThread => Environment.CurrentManagedThreadId == _ownerThreadId && !_draining;

    public void Watch(int stopFd, int wakeFd)
    {
        _ownerThreadId = Environment.CurrentManagedThreadId;
        _stopFd = stopFd;
        _wakeFd = wakeFd;
    }

    public EngineWake Wait(TimeSpan? timeout)
    {
        if (!_armed)
        {
            _armed = true;
            ArmPoll(_stopFd, StopTag, multishot: false);
            if (_wakeFd >= 0)
            {
                ArmPoll(_wakeFd, WakeTag, multishot: true);
            }
        }
        int r = _ring.SubmitAndWait(1, timeout);
        if (r < 0)
        {
            LastError = r;
            return EngineWake.Stop;
        }
        EngineWake wake = EngineWake.None;
        while (_ring.TryGetCompletion(out IoUringCqe cqe))
        {
            switch (cqe.UserData)
            {
                case WakeTag:
                    wake |= OnWakePoll(cqe);
                    break;
                case StopTag:
                    wake |= EngineWake.Stop;
                    break;
                case CancelTag:
                    break;
                default:
                    CompleteOperation(cqe.UserData, cqe.Result);
                    break;
            }
        }
        return wake;
    }

    private EngineWake OnWakePoll(in IoUringCqe cqe)
    {
        if (_wakeFd < 0)
        {
            return EngineWake.None;
        }
        if (cqe.Result < 0 || (cqe.Result & (Libc.POLLERR | Libc.POLLNVAL)) != 0)
        {
            LastError = cqe.Result < 0 ? cqe.Result : -Errno.EBADF;
            _wakeFd = -1;
            return EngineWake.WakeFdFailed;
        }
        if (!cqe.HasMore)
        {
            // The kernel ended the multishot poll (e.g. its CQE overflowed): arm it again.
            ArmPoll(_wakeFd, WakeTag, multishot: true);
        }
        return EngineWake.Wake;
    }

    private void ArmPoll(int fd, ulong tag, bool multishot)
    {
        if (!_ring.TryGetSqe(out SubmissionEntry sqe))
        {
            throw new InvalidOperationException("io_uring refused a poll submission");
        }
        sqe.PollAdd(fd, (uint)Libc.POLLIN, multishot, tag);
    }

    private void CompleteOperation(ulong tag, int result)
    {
        if (tag >= (ulong)_operations.Length)
        {
            throw new InvalidOperationException($"io_uring completion for an unknown operation {tag}");
        }
        InFlight--;
        // Ends the lease and runs the caller's continuation (which gives the operation back) on this thread.
        _operations[(int)tag].Complete(result);
    }

    /// <summary>Back to the free list once its caller has read the result.</summary>
    internal void Return(RingOperation operation)
    {
        lock (_free)
        {
            _free.Push(operation);
        }
    }

    private RingOperation? Rent()
    {
        lock (_free)
        {
            return _free.Count > 0 ? _free.Pop() : null;
        }
    }

    public void Drain()
    {
        _draining = true;
        if (InFlight > 0 && _ring.TryGetSqe(out SubmissionEntry cancel))
        {
            cancel.AsyncCancel(0, IoUringConstants.AsyncCancelAny | IoUringConstants.AsyncCancelAll, CancelTag);
        }
        while (InFlight > 0)
        {
            // An operation already running in a kernel worker (a disk read) finishes first; its buffers are in use until then.
            int r = _ring.SubmitAndWait(1, null);
            if (r < 0)
            {
                LastError = r;
                break;
            }
            while (_ring.TryGetCompletion(out IoUringCqe cqe))
            {
                if (cqe.UserData < (ulong)_operations.Length)
                {
                    CompleteOperation(cqe.UserData, cqe.Result);
                }
            }
        }
    }

    public void Dispose()
    {
        // Cancels and reaps whatever is left (the polls, or operations a failed drain left) before unmapping.
        _ring.Dispose();
        foreach (RingOperation op in _operations)
        {
            if (op.InKernel)
            {
                // Only after a failed drain: the ring has waited for the kernel, so this answer is safe now.
                InFlight--;
                op.Complete(-Errno.ECANCELED);
            }
            op.Dispose();
        }
    }
}
