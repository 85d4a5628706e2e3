using System.Collections.Concurrent;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

// Locks and the rest: GETLK, SETLK, SETLKW, INTERRUPT, IOCTL, POLL, SYNCFS.
public sealed partial class FuseServer
{
    /// <summary>SETLKW calls still waiting, with the completion (the transport's queue) they were handed in with.</summary>
    private readonly ConcurrentDictionary<CancellationTokenSource, IFuseRequestCompletion> waitingLocks = new();

    /// <summary>
    /// Ends every SETLKW still waiting that was handed in with <paramref name="completion"/>: each is
    /// answered EINTR shortly after. A transport calls this when it stops serving a queue (after it
    /// stopped taking requests from it), so that waiting for the queue's requests in flight cannot
    /// hang on a lock another guest process holds.
    /// </summary>
    public void CancelWaitingLocks(IFuseRequestCompletion completion)
    {
        foreach ((CancellationTokenSource wait, IFuseRequestCompletion of) in waitingLocks)
        {
            if (ReferenceEquals(of, completion))
            {
                try
                {
                    wait.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // It finished and was disposed while we looked.
                }
            }
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

    private int SetLock(in Call call, IFuseRequestCompletion completion, bool wait)
    {
        if (!call.Reader.TryRead(out FuseLkIn lk))
        {
            return Malformed(call);
        }

        FileLock request = ToFileLock(lk.Lk);
        bool isFlock = (lk.LkFlags & FuseConstants.LkFlock) != 0;
        if (!call.Session.Has(isFlock ? FuseInitFlags.FlockLocks : FuseInitFlags.PosixLocks))
        {
            return NotNegotiated(call);
        }
        if (!wait)
        {
            return fs.SetLock(call.Ctx, call.Node, new HandleId(lk.Fh), lk.Owner, request, wait: false, isFlock, CancellationToken.None);
        }

        // SETLKW may block for as long as another owner holds the lock: wait on a thread of its own
        // so the queue keeps serving (including the UNLCK that will release us). Everything the call
        // needs is copied out of the request first.
        RequestContext ctx = call.Ctx;
        NodeId node = call.Node;
        FuseRequest fuseRequest = call.Request;
        FuseInHeader header = call.Header;
        var cancel = new CancellationTokenSource();
        waitingLocks[cancel] = completion;
        _ = Task.Factory.StartNew(
            () => CompleteWaitingLock(fuseRequest, completion, header, ctx, node, lk, request, isFlock, cancel),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        return Pending;
    }

    private void CompleteWaitingLock(FuseRequest request, IFuseRequestCompletion completion, FuseInHeader header,
        RequestContext ctx, NodeId node, FuseLkIn lk, FileLock fileLock, bool isFlock, CancellationTokenSource cancel)
    {
        int status;
        try
        {
            status = fs.SetLock(ctx, node, new HandleId(lk.Fh), lk.Owner, fileLock, wait: true, isFlock, cancel.Token);
        }
#pragma warning disable CA1031 // As in Handle: a failing request becomes EIO, never a dead daemon.
        catch (Exception e)
#pragma warning restore CA1031
        {
            log.Error(e, "FUSE SETLKW (unique {Unique}, {Node}) threw; replying EIO", header.Unique, node);
            status = -Errno.EIO;
        }
        finally
        {
            waitingLocks.TryRemove(cancel, out _);
            cancel.Dispose();
        }

        Finish(request, completion, header, haveHeader: true, status);
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

    private int Interrupt(in Call call)
    {
        // Requests here finish promptly except SETLKW, which the guest cancels by its own signal
        // handling; like both virtiofsd implementations we take note and do nothing.
        if (call.Reader.TryRead(out FuseInterruptIn interrupt) && log.IsEnabled(Serilog.Events.LogEventLevel.Debug))
        {
            log.Debug("FUSE INTERRUPT of unique {Target}", interrupt.Unique);
        }

        return NoReply;
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
