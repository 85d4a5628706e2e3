using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Linux.IoEngine;

/// <summary>The file operations: inline non-blocking attempts first where they pay, the rest to the ring.</summary>
public sealed partial class RingEngine
{
    public ValueTask<long> Read(FdLease file, ReadOnlySpan<IoVec> destination, long offset)
        => OnOwnerThread ? Transfer(RingOperationKind.Read, file, destination, offset) : SyncFileIo.Instance.Read(file, destination, offset);

    public ValueTask<long> Write(FdLease file, ReadOnlySpan<IoVec> source, long offset)
        => OnOwnerThread ? Transfer(RingOperationKind.Write, file, source, offset) : SyncFileIo.Instance.Write(file, source, offset);

    public ValueTask<int> Fsync(FdLease file, bool dataOnly)
    {
        if (!OnOwnerThread || Rent() is not { } op)
        {
            return SyncFileIo.Instance.Fsync(file, dataOnly);
        }
        op.Begin(RingOperationKind.Fsync, file);
        if (!_ring.TryGetSqe(out SubmissionEntry sqe))
        {
            return Abandon(op, SyncFileIo.Instance.Fsync(file, dataOnly));
        }
        sqe.Fsync(file.Fd, dataOnly, (ulong)op.Index);
        MarkSubmitted(op);
        return new ValueTask<int>(op, op.Version);
    }

    public ValueTask<int> Fallocate(FdLease file, int mode, long offset, long length)
    {
        if (!OnOwnerThread || Rent() is not { } op)
        {
            return SyncFileIo.Instance.Fallocate(file, mode, offset, length);
        }
        op.Begin(RingOperationKind.Fallocate, file);
        if (!_ring.TryGetSqe(out SubmissionEntry sqe))
        {
            return Abandon(op, SyncFileIo.Instance.Fallocate(file, mode, offset, length));
        }
        sqe.Fallocate(file.Fd, mode, offset, length, (ulong)op.Index);
        MarkSubmitted(op);
        return new ValueTask<int>(op, op.Version);
    }

    /// <summary>
    /// Moves the bytes of <paramref name="all"/>: non-blocking inline attempts while they make progress (see the
    /// class remarks for when), the remainder to the ring; with no operation or SQE free, the remainder blocks here.
    /// </summary>
    private ValueTask<long> Transfer(RingOperationKind kind, FdLease file, ReadOnlySpan<IoVec> all, long offset)
    {
        bool isRead = kind == RingOperationKind.Read;
        long size = 0;
        foreach (IoVec v in all)
        {
            long length = (long)Math.Min((ulong)v.Length, long.MaxValue);
            size = size > long.MaxValue - length ? long.MaxValue : size + length;
        }
        // offset + done must never wrap: a negative offset means "the fd's position" to preadv2 and to the ring. No
        // file has data past 2^63 - 1, so nothing is lost.
        size = Math.Min(size, long.MaxValue - Math.Max(offset, 0));
        bool large = isRead && size >= ParallelReadBytes;
        long done = 0;
        ReadOnlySpan<IoVec> rest = all;
        RingOperation? op = null;
        if (InlineFirst && !large)
        {
            while (true)
            {
                long n = isRead
                    ? Libc.Preadv2(file.Fd, rest, offset + done, Libc.RWF_NOWAIT)
                    : Libc.Pwritev2(file.Fd, rest, offset + done, Libc.RWF_NOWAIT);
                if (n == -Errno.EAGAIN)
                {
                    break;
                }
                if (n == -Errno.EOPNOTSUPP)
                {
                    // No non-blocking I/O on this filesystem: inline, as the synchronous engine (see remarks).
                    return Finish(file, op, Add(done, Blocking(isRead, file.Fd, rest, offset + done)));
                }
                if (n <= 0)
                {
                    // 0: end of file (a read); an error after some progress reports the progress, as preadv would.
                    return Finish(file, op, Add(done, n));
                }
                done += n;
                if (done >= size)
                {
                    return Finish(file, op, done);
                }
                // Part was cached: try the rest, which either reaches the end of file or needs the ring.
                op ??= Rent();
                if (op is null)
                {
                    return Finish(file, op, Add(done, BlockingRemainder(isRead, file.Fd, all, done, offset)));
                }
                op.SetRemainder(all, done);
                rest = op.Remaining;
            }
        }
        op ??= Rent();
        if (op is null)
        {
            return Finish(file, op, Add(done, BlockingRemainder(isRead, file.Fd, all, done, offset)));
        }
        op.Begin(kind, file);
        op.SetRemainder(all, done);
        if (!_ring.TryGetSqe(out SubmissionEntry sqe))
        {
            return Finish(file, op, Add(done, Blocking(isRead, file.Fd, op.Remaining, offset + done)));
        }
        unsafe
        {
            // Sound: op.Vectors stays allocated and unchanged until the operation completes (the kernel reads the
            // array at submission; the data it points at is the caller's, valid until the ValueTask completes).
            if (isRead)
            {
                sqe.Readv(file.Fd, op.Vectors, (uint)op.VectorCount, offset + done, (ulong)op.Index);
            }
            else
            {
                sqe.Writev(file.Fd, op.Vectors, (uint)op.VectorCount, offset + done, (ulong)op.Index);
            }
        }
        if (large)
        {
            sqe.SetFlags(IoUringConstants.SqeAsync);
        }
        MarkSubmitted(op);
        return new ValueTask<long>(op, op.Version);
    }

    private void MarkSubmitted(RingOperation op)
    {
        op.InKernel = true;
        InFlight++;
        Submitted++;
    }

    /// <summary>Ends a transfer that never reached the ring: the lease goes back, and so does the operation.</summary>
    private ValueTask<long> Finish(FdLease file, RingOperation? op, long result)
    {
        file.Release();
        if (op is not null)
        {
            op.Begin(default, default);
            Return(op);
        }
        return new ValueTask<long>(result);
    }

    /// <summary>Gives back an operation that was not submitted; <paramref name="result"/> already ran synchronously.</summary>
    private ValueTask<int> Abandon(RingOperation op, ValueTask<int> result)
    {
        op.Begin(default, default);
        Return(op);
        return result;
    }

    private long BlockingRemainder(bool isRead, int fd, ReadOnlySpan<IoVec> all, long done, long offset)
    {
        // Only when every operation is in flight, which a caller bounded by the capacity never causes: the skip is
        // redone on a stack copy instead of an operation's array.
        Span<IoVec> rest = all.Length <= 64 ? stackalloc IoVec[all.Length] : new IoVec[all.Length];
        int n = 0;
        long skip = done;
        foreach (IoVec v in all)
        {
            long length = (long)v.Length;
            if (skip >= length)
            {
                skip -= length;
                continue;
            }
            rest[n++] = new IoVec(v.Base + (nint)skip, (nuint)(length - skip));
            skip = 0;
        }
        return Blocking(isRead, fd, rest[..n], offset + done);
    }

    private static long Blocking(bool isRead, int fd, ReadOnlySpan<IoVec> vectors, long offset)
        => isRead ? Libc.Preadv(fd, vectors, offset) : Libc.Pwritev(fd, vectors, offset);

    private static long Add(long done, long result) => result < 0 ? (done > 0 ? done : result) : done + result;
}
