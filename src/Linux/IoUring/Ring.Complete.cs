namespace VirtioFsd.Linux.IoUring;

/// <summary>Completion side: reaping CQEs without allocation, overflow flushing, and shutdown draining.</summary>
public sealed unsafe partial class Ring
{
    /// <summary>CQEs visible in the CQ ring now (not counting any still in the kernel's overflow list).</summary>
    public uint CompletionsReady
    {
        get
        {
            // Load-acquire of the CQ tail pairs with the kernel's store-release after it wrote the CQEs.
            return Volatile.Read(ref *_cqTail) - *_cqHead;
        }
    }

    /// <summary>
    /// True when the kernel holds completions outside the CQ ring (IORING_SQ_CQ_OVERFLOW because
    /// the CQ filled up, or IORING_SQ_TASKRUN); reaping or any GETEVENTS enter moves them in.
    /// </summary>
    public bool HasCompletionsHeldInKernel => NeedsCqFlush();

    /// <summary>
    /// Takes the next completion, if any. When the CQ is empty but the kernel holds completions
    /// back (IORING_SQ_CQ_OVERFLOW after the CQ filled up, or IORING_SQ_TASKRUN), it enters the
    /// kernel once with GETEVENTS to move them into the ring; nothing is lost under IORING_FEAT_NODROP.
    /// </summary>
    public bool TryGetCompletion(out IoUringCqe cqe)
    {
        ThrowIfDisposed();
        // Only this thread writes the CQ head, so a plain read of it is exact.
        uint head = *_cqHead;
        // Load-acquire of the CQ tail: the CQE contents below it are visible once the tail is.
        uint tail = Volatile.Read(ref *_cqTail);
        if (head == tail)
        {
            if (!NeedsCqFlush())
            {
                cqe = default;
                return false;
            }
            FlushCompletions();
            tail = Volatile.Read(ref *_cqTail);
            if (head == tail)
            {
                cqe = default;
                return false;
            }
        }
        cqe = _cqes[head & _cqMask];
        // Store-release of the CQ head: our copy of the CQE is complete before the kernel may
        // reuse the slot it sees as free.
        Volatile.Write(ref *_cqHead, head + 1);
        if (!cqe.HasMore)
        {
            _inFlight--;
        }
        return true;
    }

    /// <summary>
    /// Copies up to <paramref name="destination"/>.Length completions and consumes them with one
    /// head update. Returns the count (0 when none are ready). Overflowed completions are flushed
    /// into the ring first when the ring is empty.
    /// </summary>
    public int DrainCompletions(Span<IoUringCqe> destination)
    {
        ThrowIfDisposed();
        uint head = *_cqHead;
        uint tail = Volatile.Read(ref *_cqTail); // load-acquire, as in TryGetCompletion
        if (head == tail && NeedsCqFlush())
        {
            FlushCompletions();
            tail = Volatile.Read(ref *_cqTail);
        }
        int count = (int)Math.Min(tail - head, (uint)destination.Length);
        for (int i = 0; i < count; i++)
        {
            IoUringCqe c = _cqes[(head + (uint)i) & _cqMask];
            destination[i] = c;
            if (!c.HasMore)
            {
                _inFlight--;
            }
        }
        // Store-release of the CQ head after all copies, as in TryGetCompletion.
        Volatile.Write(ref *_cqHead, head + (uint)count);
        return count;
    }

    /// <summary>Enters with GETEVENTS and no wait: moves overflowed CQEs and task-work completions into the ring.</summary>
    private void FlushCompletions()
    {
        int r;
        do
        {
            r = Libc.IoUringEnter(_fd, 0, 0, IoUringConstants.EnterGetEvents, null, 0);
        }
        while (r == -Errno.EINTR);
    }

    /// <summary>
    /// Shutdown: drops SQEs never published, submits what was published, cancels everything with
    /// IORING_ASYNC_CANCEL_ANY|ALL (5.19), and reaps until no operation is in flight.
    /// Returns false only if io_uring_enter fails for good.
    /// </summary>
    private bool CancelAndDrain()
    {
        // SQEs handed out but never published are still ours: forget them.
        _sqeTail = *_sqTail;
        if (_inFlight == 0 && PendingSubmissions == 0)
        {
            return true;
        }

        bool cancelQueued = false;
        Span<IoUringCqe> discard = stackalloc IoUringCqe[32];
        while (true)
        {
            while (DrainCompletions(discard) > 0)
            {
            }
            if (_inFlight == 0 && PendingSubmissions == 0)
            {
                return true;
            }
            if (!cancelQueued && TryGetSqe(out SubmissionEntry sqe))
            {
                sqe.AsyncCancel(0, IoUringConstants.AsyncCancelAny | IoUringConstants.AsyncCancelAll, CancelUserData);
                cancelQueued = true;
            }
            int r = SubmitAndWait(1, null);
            if (r < 0 && r != -Errno.EBUSY && r != -Errno.EAGAIN)
            {
                return false;
            }
        }
    }
}
