using System.Diagnostics;

namespace VirtioFsd.Linux.IoUring;

/// <summary>Submission side: handing out SQEs, publishing them, and entering the kernel.</summary>
public sealed unsafe partial class Ring
{
    /// <summary>ETIME (asm-generic/errno.h): io_uring_enter's wait timed out.</summary>
    private const int ETIME = 62;

    /// <summary>SQEs handed out but not yet consumed by the kernel.</summary>
    public uint PendingSubmissions => _sqeTail - Volatile.Read(ref *_sqHead);

    /// <summary>
    /// Hands out the next free SQE, zeroed. When the SQ is full it submits what is queued and
    /// tries once more; it returns false only if the kernel would not take any (it refuses new
    /// work with EBUSY/EAGAIN while completions wait to be reaped): reap, then retry.
    /// </summary>
    public bool TryGetSqe(out SubmissionEntry entry)
    {
        ThrowIfDisposed();
        if (!HasFreeSqe())
        {
            Submit();
            if (!HasFreeSqe())
            {
                entry = default;
                return false;
            }
        }
        // Slot i starts i * stride bytes into the SQE array; the whole slot (the command area of a
        // 128-byte SQE included) is zeroed, as liburing's io_uring_get_sqe128 callers expect.
        var sqe = (IoUringSqe*)((byte*)_sqes + (ulong)(_sqeTail & _sqMask) * _sqeStride);
        new Span<byte>(sqe, (int)_sqeStride).Clear();
        _sqeTail++;
        entry = new SubmissionEntry(sqe, HasLargeSqes);
        return true;
    }

    private bool HasFreeSqe()
    {
        // Load-acquire of the SQ head: the kernel advances it after it has read the SQEs below it,
        // so once we observe the new head those slots can be overwritten.
        uint head = Volatile.Read(ref *_sqHead);
        return _sqeTail - head < SqEntries;
    }

    /// <summary>Submits the queued SQEs without waiting. Returns how many the kernel consumed, or -errno.</summary>
    public int Submit() => SubmitAndWait(0, null);

    /// <summary>
    /// Submits the queued SQEs and waits until at least <paramref name="minComplete"/> completions
    /// are ready to reap, or <paramref name="timeout"/> passes (null: no limit). The wait is
    /// clamped to the completions that can still arrive, so it never blocks with nothing in flight. One io_uring_enter
    /// does both in the common case. Returns the number of SQEs consumed (possibly 0 after a
    /// timeout: check the completions), or -errno for a failure that retrying cannot fix.
    /// EINTR is retried with the remaining time; EBUSY/EAGAIN (the kernel refuses new SQEs until
    /// completions are reaped) ends the call with what was submitted so far when completions are
    /// ready to reap, and otherwise waits for some.
    /// </summary>
    public int SubmitAndWait(uint minComplete, TimeSpan? timeout)
    {
        ThrowIfDisposed();
        PublishSqTail();
        long deadline = timeout is { } t ? Stopwatch.GetTimestamp() + (long)(t.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        int submitted = 0;
        KernelTimespec ts;
        IoUringGetEventsArg arg;
        while (true)
        {
            uint toSubmit = _sqeTail - Volatile.Read(ref *_sqHead);
            uint ready = CompletionsReady;
            // Never wait for completions that cannot come: at most one per operation in flight or
            // about to be submitted (a multishot counts once, so this may end a wait early, which
            // callers' loops absorb, but it never blocks forever).
            uint reachable = (uint)Math.Min(uint.MaxValue, Math.Max(ready, _inFlight + toSubmit));
            uint wantComplete = Math.Min(minComplete, reachable);
            bool needWait = ready < wantComplete;
            if (toSubmit == 0 && !needWait)
            {
                return submitted;
            }

            uint flags = 0;
            void* argPtr = null;
            nuint argSize = 0;
            if (needWait)
            {
                // GETEVENTS also flushes the kernel's CQ overflow list and runs pending task work
                // before it counts ready completions. Held-back completions are not a reason to
                // enter on their own here: with a full CQ a flush cannot progress (TryGetCompletion
                // flushes once the caller has made room).
                flags |= IoUringConstants.EnterGetEvents;
            }
            if (needWait && timeout is not null)
            {
                long remaining = deadline - Stopwatch.GetTimestamp();
                if (remaining <= 0)
                {
                    if (toSubmit == 0)
                    {
                        return submitted;
                    }
                    needWait = false; // still submit, but do not wait any longer
                    flags = 0;
                }
                else
                {
                    ts = KernelTimespec.From(TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency));
                    // IORING_ENTER_EXT_ARG: arg is a struct io_uring_getevents_arg carrying the
                    // timeout; sigmask 0 keeps the signal mask (sigmask_sz = _NSIG/8 = 8).
                    arg = new IoUringGetEventsArg { SigMask = 0, SigMaskSize = 8, Timespec = (ulong)&ts };
                    argPtr = &arg;
                    argSize = (nuint)sizeof(IoUringGetEventsArg);
                    flags |= IoUringConstants.EnterExtArg;
                }
            }

            int r = Libc.IoUringEnter(_fd, toSubmit, needWait ? wantComplete : 0, flags, argPtr, argSize);
            if (r >= 0)
            {
                submitted += r;
                _inFlight += r;
                if (r < toSubmit && (r == 0 || CompletionsReady > 0))
                {
                    // The kernel stopped short (it could not allocate a request): let the caller
                    // reap before the rest is retried.
                    return submitted;
                }
                continue;
            }
            if (r == -Errno.EINTR)
            {
                continue;
            }
            if (r == -ETIME)
            {
                return submitted; // The wait timed out; whatever is ready stays for the caller.
            }
            if ((r == -Errno.EBUSY || r == -Errno.EAGAIN) && CompletionsReady == 0 && _inFlight > 0)
            {
                // The kernel refuses new SQEs while it holds completions back, and none are
                // visible yet: wait for one, then go round again.
                int w = Libc.IoUringEnter(_fd, 0, 1, IoUringConstants.EnterGetEvents, null, 0);
                if (w >= 0 || w == -Errno.EINTR)
                {
                    continue;
                }
                r = w;
            }
            // EBUSY/EAGAIN with completions ready: the caller reaps and calls again.
            return submitted > 0 ? submitted : r;
        }
    }

    private void PublishSqTail()
    {
        // Store-release of the SQ tail: every SQE write above must be visible to the kernel
        // before it can observe the tail that covers them.
        Volatile.Write(ref *_sqTail, _sqeTail);
    }

    private bool NeedsCqFlush() =>
        (Volatile.Read(ref *_sqFlags) & (IoUringConstants.SqCqOverflow | IoUringConstants.SqTaskrun)) != 0;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_fd < 0, this);
}
