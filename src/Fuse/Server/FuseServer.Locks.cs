using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

// Locks and the rest: GETLK, SETLK, SETLKW, INTERRUPT, IOCTL, POLL, SYNCFS.
public sealed partial class FuseServer
{
    /// <summary>SETLKW calls still waiting, by unique: the cancellation INTERRUPT or a stopping transport fires, and the request's completion.</summary>
    private readonly ConcurrentDictionary<ulong, WaitingLock> waitingLocks = new();

    private sealed record WaitingLock(CancellationTokenSource Cancel, IFuseRequestCompletion Completion);

    /// <summary>
    /// The targets of the last few INTERRUPTs that found no waiting SETLKW. The kernel queues an INTERRUPT as soon as
    /// its request was handed out (fs/fuse/dev.c request_wait_answer, FR_SENT) and sends it once, always through
    /// /dev/fuse (dev_uring.c leaves send_interrupt to fuse_dev_queue_interrupt): on a host mount over io_uring it
    /// can be served before the request's own queue thread starts the wait. A SETLKW that starts waiting checks
    /// here. Uniques only grow within a connection, so a stale entry never matches a later request.
    /// </summary>
    private readonly ulong[] earlyInterrupts = new ulong[16];

    private int nextEarlyInterrupt;

    /// <summary>Orders a SETLKW's registration against an INTERRUPT's lookup, so neither misses the other.</summary>
    private readonly Lock interruptLock = new();

    /// <summary>
    /// Ends every SETLKW still waiting whose request finishes through <paramref name="completion"/>: each is answered
    /// EINTR shortly after. A transport calls this when it stops serving a queue (after it stopped taking requests from
    /// it), so that waiting for the queue's requests in flight cannot hang on a lock another guest process holds.
    /// </summary>
    public void CancelWaitingLocks(IFuseRequestCompletion completion)
    {
        foreach (WaitingLock waiting in waitingLocks.Values)
        {
            if (ReferenceEquals(waiting.Completion, completion))
            {
                CancelQuietly(waiting.Cancel);
            }
        }
    }

    private static void CancelQuietly(CancellationTokenSource cancel)
    {
        try
        {
            cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // It finished and was disposed while we looked.
        }
    }

    private int GetLock(in Call call)
    {
        if (!call.Reader.TryRead(out FuseLkIn lk))
        {
            return Malformed(call);
        }

        if (!call.Session.Has(FuseInitFlags.PosixLocks))
        {
            return NotNegotiated(call);
        }

        FileLock request = ToFileLock(lk.Lk);
        int result = fs.GetLock(call.Ctx, call.Node, new HandleId(lk.Fh), lk.Owner, request, out FileLock conflicting);
        if (result < 0)
        {
            return result;
        }

        var reply = new FuseLkOut
        {
            Lk = new FuseFileLock { Start = conflicting.Start, End = conflicting.End, Type = conflicting.Type, Pid = conflicting.Pid },
        };
        return Reply(call, reply);
    }

    private ValueTask<int> SetLock(in Call call, bool wait)
    {
        if (!call.Reader.TryRead(out FuseLkIn lk))
        {
            return new(Malformed(call));
        }

        FileLock request = ToFileLock(lk.Lk);
        bool isFlock = (lk.LkFlags & FuseConstants.LkFlock) != 0;
        if (!call.Session.Has(isFlock ? FuseInitFlags.FlockLocks : FuseInitFlags.PosixLocks))
        {
            return new(NotNegotiated(call));
        }
        if (!wait)
        {
            return fs.SetLock(call.Ctx, call.Node, new HandleId(lk.Fh), lk.Owner, request, wait: false, isFlock, CancellationToken.None);
        }

        // SETLKW may wait for as long as another owner holds the lock; the filesystem waits without holding this
        // thread, so the queue keeps serving (including the unlock that will release us). INTERRUPT of this unique
        // or the transport stopping ends the wait with EINTR.
        var cancel = new CancellationTokenSource();
        ulong unique = call.Header.Unique;
        bool added, interrupted = false;
        lock (interruptLock)
        {
            added = waitingLocks.TryAdd(unique, new WaitingLock(cancel, call.Request.Completion));
            if (added)
            {
                interrupted = TakeEarlyInterrupt(unique);
            }
        }
        if (!added)
        {
            // A unique still in flight is reused: a confused or hostile guest. Refuse rather than lose track of the first.
            cancel.Dispose();
            log.Warning("FUSE SETLKW (unique {Unique}): that unique is already waiting; replying EINVAL", unique);
            return new(-Errno.EINVAL);
        }
        if (interrupted)
        {
            cancel.Cancel(); // The wait below then ends at once with EINTR.
        }
        ValueTask<int> result;
        try
        {
            result = fs.SetLock(call.Ctx, call.Node, new HandleId(lk.Fh), lk.Owner, request, wait: true, isFlock, cancel.Token);
        }
        catch
        {
            EndWait(unique, cancel);
            throw;
        }
        if (result.IsCompleted)
        {
            EndWait(unique, cancel);
            return result;
        }
        return FinishWaitingLock(result, unique, cancel);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> FinishWaitingLock(ValueTask<int> result, ulong unique, CancellationTokenSource cancel)
    {
        try
        {
            return await result.ConfigureAwait(false);
        }
        finally
        {
            EndWait(unique, cancel);
        }
    }

    private void EndWait(ulong unique, CancellationTokenSource cancel)
    {
        waitingLocks.TryRemove(unique, out _);
        cancel.Dispose();
    }

    /// <summary>
    /// A lock request of a kind INIT did not agree on (POSIX_LOCKS, FLOCK_LOCKS): a guest kernel
    /// without the flag keeps such locks to itself and never asks, so only a confused or hostile
    /// guest gets here; ENOSYS, as for an opcode the server does not implement.
    /// </summary>
    private int NotNegotiated(in Call call)
    {
        log.Warning("FUSE {Opcode} (unique {Unique}): lock kind not negotiated at INIT; replying ENOSYS",
            (FuseOpcode)call.Header.Opcode, call.Header.Unique);
        return -Errno.ENOSYS;
    }

    /// <summary>
    /// INTERRUPT (fuse(4)): the guest process waiting for request <c>unique</c> got a signal. Every request here finishes
    /// promptly except a waiting SETLKW, which is cancelled and answered EINTR; for anything else there is nothing to
    /// cut short (libfuse does the same). No reply either way.
    /// </summary>
    private int Interrupt(in Call call)
    {
        if (!call.Reader.TryRead(out FuseInterruptIn interrupt))
        {
            log.Warning("FUSE INTERRUPT (unique {Unique}) without fuse_interrupt_in; ignored", call.Header.Unique);
            return NoReply;
        }

        WaitingLock? waiting;
        lock (interruptLock)
        {
            if (!waitingLocks.TryGetValue(interrupt.Unique, out waiting))
            {
                earlyInterrupts[nextEarlyInterrupt] = interrupt.Unique;
                nextEarlyInterrupt = (nextEarlyInterrupt + 1) % earlyInterrupts.Length;
            }
        }
        if (waiting is not null)
        {
            log.Debug("FUSE INTERRUPT of waiting SETLKW unique {Target}", interrupt.Unique);
            CancelQuietly(waiting.Cancel);
        }

        return NoReply;
    }

    /// <summary>True (and forgotten) when an INTERRUPT for <paramref name="unique"/> came before its SETLKW waited.</summary>
    private bool TakeEarlyInterrupt(ulong unique)
    {
        for (int i = 0; i < earlyInterrupts.Length; i++)
        {
            if (unique != 0 && earlyInterrupts[i] == unique)
            {
                earlyInterrupts[i] = 0;
                return true;
            }
        }
        return false;
    }

    private int Ioctl(in Call call)
    {
        if (!call.Reader.TryRead(out FuseIoctlIn ioctl))
        {
            return Malformed(call);
        }

        // Unrestricted ioctls (CUSE only) would need the retry protocol with guest addresses.
        if ((ioctl.Flags & FuseConstants.IoctlUnrestricted) != 0)
        {
            return -Errno.ENOSYS;
        }

        if (ioctl.InSize > FuseConstants.IoctlMaxData || ioctl.InSize != call.Reader.Remaining)
        {
            log.Warning("FUSE IOCTL (unique {Unique}): in_size {InSize} but {Remaining} bytes follow",
                call.Header.Unique, ioctl.InSize, call.Reader.Remaining);
            return -Errno.EINVAL;
        }

        call.Reader.TryReadRest(FuseConstants.IoctlMaxData, out ReadOnlySpan<byte> input);
        int outSize = (int)Math.Min(Math.Min(ioctl.OutSize, (uint)FuseConstants.IoctlMaxData),
            call.Writer.Remaining - RequestReader.SizeOf<FuseIoctlOut>());
        Span<byte> output = stackalloc byte[FuseConstants.IoctlMaxData];
        output = output[..outSize];
        int result = fs.Ioctl(call.Ctx, call.Node, new HandleId(ioctl.Fh), ioctl.Flags, ioctl.Cmd, input, output, out int outputLength);
        if (result < 0)
        {
            return result;
        }

        if (outputLength < 0 || outputLength > output.Length)
        {
            log.Error("IFileSystem.Ioctl reported {Length} output bytes for a {Size}-byte buffer", outputLength, output.Length);
            return -Errno.EIO;
        }

        return call.Writer.TryWrite(new FuseIoctlOut { Result = result }) && call.Writer.TryWrite(output[..outputLength])
            ? Replied
            : -Errno.ERANGE;
    }

    private int Poll(in Call call)
    {
        // IFileSystem has no poll: ENOSYS makes the guest treat files as always ready (fs/fuse/file.c no_poll).
        return call.Reader.TryRead(out FusePollIn _) ? -Errno.ENOSYS : Malformed(call);
    }

    private int SyncFs(in Call call)
    {
        if (!call.Reader.TryRead(out FuseSyncFsIn _))
        {
            return Malformed(call);
        }

        return fs.SyncFs(call.Ctx, call.Node);
    }

    private static FileLock ToFileLock(in FuseFileLock lk)
        => new() { Start = lk.Start, End = lk.End, Type = lk.Type, Pid = lk.Pid };
}
