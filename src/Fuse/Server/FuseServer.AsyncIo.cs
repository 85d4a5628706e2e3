using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// READ, WRITE, FSYNC and FALLOCATE when the transport brings an asynchronous engine
/// (<see cref="IFileIoSubmitter"/>) and the filesystem lends fds (<see cref="IFileHandleLeases"/>):
/// the server moves the data itself, straight between the host file and the request's buffers,
/// inline when that cannot block and through the engine when it can. Same results as the
/// synchronous IFileSystem calls (the passthrough's Read/Write/Fsync/Fallocate).
/// </summary>
/// <remarks>
/// Why inline first (docs/io_uring.md, this machine, 4 KiB page-cached reads, CPU per read): pread
/// ~0.9 us, io_uring one per enter ~1.7 us, 32 per enter ~0.9 us; on tmpfs the ring punts to a
/// kernel worker and costs 5.8-8.3 us against ~1.1 us inline. So READ tries preadv2(RWF_NOWAIT)
/// and only data that is not cached (EAGAIN) goes to the ring, except large reads (see
/// <see cref="ParallelReadBytes"/>), which a kernel worker copies while the queue thread goes on. Filesystems that cannot do
/// non-blocking I/O say EOPNOTSUPP (tmpfs reads and writes, ext4 buffered writes on 6.18): the ring
/// would punt those to a worker thread every time, so they run inline like the synchronous engine.
/// WRITE, measured here (tests/Fuse.Tests/Engine/WriteEngineBenchmark.cs, 32000 random 4 KiB buffered
/// writes, CPU per write, load average ~11): ext4 pwritev inline 2.4-3.5 us, io_uring WRITEV one per
/// enter 9.3 us, 32 per enter 3.9 us; tmpfs 1.5-2.4 us, 9.3 us, 3.3 us. Both refuse RWF_NOWAIT
/// writes (EOPNOTSUPP), so the ring hands every write to an io-wq worker and never wins: writes go
/// inline, and through the ring only on a filesystem that can say EAGAIN (XFS, btrfs). FSYNC and
/// FALLOCATE can block for milliseconds on real storage and always go to the ring.
/// </remarks>
public sealed partial class FuseServer
{
    /// <summary>
    /// READs of at least this many bytes go to the engine's kernel workers at once instead of inline: a 1 MiB
    /// copy takes the queue thread 100-300 us, during which it can neither pop the next request nor copy in
    /// parallel on another core (1 MiB reads at depth 4, one queue: 0.9x the C daemon inline, 1.5-1.6x so).
    /// WRITEs stay inline: buffered writes to one file serialize on its inode lock, and workers contending
    /// for it doubled the CPU per write for the same throughput.
    /// </summary>
    private const long ParallelReadBytes = 256 * 1024;

    /// <summary>Operations kept for reuse; beyond this many idle ones the rest are left to the GC.</summary>
    private const int MaxPooledOperations = 4096;

    private readonly Stack<FileIoOperation> ioPool = new();

    /// <summary>The opcodes whose handlers may return <see cref="Pending"/>.</summary>
    private static bool CanCompleteLater(FuseOpcode opcode)
        => opcode is FuseOpcode.SetLkW or FuseOpcode.Read or FuseOpcode.Write or FuseOpcode.Fsync or FuseOpcode.Fallocate;

    /// <summary>
    /// A filesystem's result for an opcode that may defer: a value equal to <see cref="Pending"/> (no
    /// errno; a filesystem bug) must not leave the request without completion, so it becomes EIO.
    /// </summary>
    private static int NotPending(int result) => result == Pending ? -Errno.EIO : result;

    private bool TryGetEngine(IFuseRequestCompletion completion, out IFileIoSubmitter engine, out IFileHandleLeases leases)
    {
        engine = (completion as IFileIoSubmitter)!;
        leases = (fs as IFileHandleLeases)!;
        return engine is not null && leases is not null;
    }

    /// <summary>READ through the engine path; false when there is no engine (use IFileSystem.Read).</summary>
    private bool TryReadWithEngine(in Call call, IFuseRequestCompletion completion, in FuseReadIn read, long size, long start,
        ReadOnlySpan<IoVec> destination, out int status)
    {
        status = 0;
        if (!TryGetEngine(completion, out IFileIoSubmitter engine, out IFileHandleLeases leases))
        {
            return false;
        }
        if (read.Offset > long.MaxValue)
        {
            status = -Errno.EINVAL;
            return true;
        }
        status = leases.LeaseHandle(call.Ctx, call.Node, new HandleId(read.Fh), FileLeasePurpose.Read, out FileLease lease);
        if (status < 0)
        {
            return true;
        }
        long result = Transfer(call, completion, engine, FileIoKind.Read, lease, (long)read.Offset, size, start, destination);
        status = result == Pending ? Pending : FinishRead(call.Writer, start, 0, result);
        return true;
    }

    /// <summary>WRITE through the engine path; false when there is no engine (use IFileSystem.Write).</summary>
    private bool TryWriteWithEngine(in Call call, IFuseRequestCompletion completion, in FuseWriteIn write, bool killPrivileges,
        ReadOnlySpan<IoVec> source, out int status)
    {
        status = 0;
        if (!TryGetEngine(completion, out IFileIoSubmitter engine, out IFileHandleLeases leases))
        {
            return false;
        }
        if (write.Offset > long.MaxValue)
        {
            status = -Errno.EINVAL;
            return true;
        }
        FileLeasePurpose purpose = killPrivileges ? FileLeasePurpose.WriteKillPrivileges : FileLeasePurpose.Write;
        status = leases.LeaseHandle(call.Ctx, call.Node, new HandleId(write.Fh), purpose, out FileLease lease);
        if (status < 0)
        {
            return true;
        }
        long result = Transfer(call, completion, engine, FileIoKind.Write, lease, (long)write.Offset, write.Size, 0, source);
        status = result == Pending ? Pending : FinishWrite(call.Writer, 0, result);
        return true;
    }

    /// <summary>FSYNC/FALLOCATE through the engine; false when there is no engine.</summary>
    private bool TrySyncWithEngine(in Call call, IFuseRequestCompletion completion, FileIoKind kind, ulong fh,
        ulong offset, ulong length, uint mode, out int status)
    {
        status = 0;
        if (!TryGetEngine(completion, out IFileIoSubmitter engine, out IFileHandleLeases leases))
        {
            return false;
        }
        if (kind == FileIoKind.Fallocate && (offset > long.MaxValue || length > long.MaxValue))
        {
            status = -Errno.EINVAL;
            return true;
        }
        status = leases.LeaseHandle(call.Ctx, call.Node, new HandleId(fh), FileLeasePurpose.Sync, out FileLease lease);
        if (status < 0)
        {
            return true;
        }
        FileIoOperation op = RentOperation();
        op.Set(kind, call.Request, completion, call.Header, lease, (long)offset);
        op.SetRange((int)mode, (long)length);
        if (engine.TrySubmit(op))
        {
            // From here the engine owns op and the lease; nothing may touch the request.
            status = Pending;
            return true;
        }
        op.Clear();
        ReturnOperation(op);
        try
        {
            status = kind switch
            {
                FileIoKind.Fsync => Libc.Fsync(lease.Fd),
                FileIoKind.Fdatasync => Libc.Fdatasync(lease.Fd),
                _ => Libc.Fallocate(lease.Fd, (int)mode, (long)offset, (long)length),
            };
        }
        finally
        {
            lease.Release();
        }
        return true;
    }

    /// <summary>
    /// Moves <paramref name="size"/> bytes: non-blocking inline attempts while they make progress,
    /// the remainder to the engine on EAGAIN. Returns the byte count or -errno, or
    /// <see cref="Pending"/> when the engine took the rest (and with it the lease).
    /// </summary>
    private long Transfer(in Call call, IFuseRequestCompletion completion, IFileIoSubmitter engine, FileIoKind kind,
        FileLease lease, long offset, long size, long replyStart, ReadOnlySpan<IoVec> all)
    {
        bool isRead = kind == FileIoKind.Read;

        // offset + done must never wrap: a negative offset is "the fd's position" to preadv2 (-1) and
        // to the ring. No file has data past 2^63 - 1, so nothing is lost.
        size = Math.Min(size, long.MaxValue - offset);
        long done = 0;
        FileIoOperation? op = null;
        bool submitted = false;
        ReadOnlySpan<IoVec> rest = all;
        try
        {
            bool large = isRead && size >= ParallelReadBytes;
            bool tryInline = !engine.SubmitsAllTransfers && !large;
            while (done < size)
            {
                long n = !tryInline ? -Errno.EAGAIN : isRead
                    ? Libc.Preadv2(lease.Fd, rest, offset + done, Libc.RWF_NOWAIT)
                    : Libc.Pwritev2(lease.Fd, rest, offset + done, Libc.RWF_NOWAIT);
                if (n == -Errno.EAGAIN)
                {
                    op ??= RentOperation();
                    op.Set(kind, call.Request, completion, call.Header, lease, offset + done);
                    op.SetRemainder(all, done, replyStart);
                    op.PreferWorker = large;
                    if (engine.TrySubmit(op))
                    {
                        submitted = true;
                        return Pending;
                    }
                    n = Blocking(isRead, lease.Fd, op.Vectors, offset + done);
                    return Add(done, n);
                }
                if (n == -Errno.EOPNOTSUPP)
                {
                    // No non-blocking I/O on this filesystem: inline, as the synchronous engine (see remarks).
                    return Add(done, Blocking(isRead, lease.Fd, rest, offset + done));
                }
                if (n <= 0)
                {
                    // 0: end of file (a read) — an error after some progress reports the progress, as preadv would.
                    return Add(done, n);
                }
                done += n;
                if (done < size)
                {
                    // Part was cached: try the rest, which either reaches EOF (0) or needs the ring (EAGAIN).
                    op ??= RentOperation();
                    op.SetRemainder(all, done, replyStart);
                    rest = op.Vectors;
                }
            }
            return done;
        }
        finally
        {
            if (!submitted)
            {
                lease.Release();
                if (op is not null)
                {
                    op.Clear();
                    ReturnOperation(op);
                }
            }
        }
    }

    private static long Blocking(bool isRead, int fd, ReadOnlySpan<IoVec> vectors, long offset)
        => isRead ? Libc.Preadv(fd, vectors, offset) : Libc.Pwritev(fd, vectors, offset);

    private static long Add(long done, long result) => result < 0 ? (done > 0 ? done : result) : done + result;

    private static int FinishRead(ReplyWriter writer, long start, long done, long result)
    {
        long total = Add(done, result);
        if (total < 0)
        {
            return FromLong(total);
        }
        writer.Truncate(start + total);
        return Replied;
    }

    private static int FinishWrite(ReplyWriter writer, long done, long result)
    {
        long total = Add(done, result);
        if (total < 0)
        {
            return FromLong(total);
        }
        return writer.TryWrite(new FuseWriteOut { Size = (uint)total }) ? Replied : -Errno.ERANGE;
    }

    /// <summary>The engine's completion of an operation the server handed it: reply and give the request back.</summary>
    internal void CompleteFileIo(FileIoOperation op, long result)
    {
        FuseRequest request = op.Request!;
        IFuseRequestCompletion completion = op.Completion!;
        FuseInHeader header = op.Header;
        int status;
        try
        {
            op.Lease.Release();
            status = op.Kind switch
            {
                FileIoKind.Read => FinishRead(request.Writer, op.ReplyStart, op.Done, result),
                FileIoKind.Write => FinishWrite(request.Writer, op.Done, result),
                _ => result >= 0 ? 0 : FromLong(result),
            };
        }
#pragma warning disable CA1031 // One failing request must not take the engine down: it becomes EIO (house rule).
        catch (Exception e)
#pragma warning restore CA1031
        {
            log.Error(e, "FUSE {Opcode} (unique {Unique}) completion threw; replying EIO", (FuseOpcode)header.Opcode, header.Unique);
            status = -Errno.EIO;
        }
        op.Clear();
        ReturnOperation(op);
        Finish(request, completion, header, haveHeader: true, status);
    }

    private FileIoOperation RentOperation()
    {
        lock (ioPool)
        {
            return ioPool.Count > 0 ? ioPool.Pop() : new FileIoOperation(this);
        }
    }

    private void ReturnOperation(FileIoOperation op)
    {
        lock (ioPool)
        {
            if (ioPool.Count < MaxPooledOperations)
            {
                ioPool.Push(op);
            }
        }
    }
}
