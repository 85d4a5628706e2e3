using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>The host call an asynchronous <see cref="FileIoOperation"/> stands for.</summary>
public enum FileIoKind
{
    /// <summary>preadv(Fd, Vectors, Offset).</summary>
    Read,

    /// <summary>pwritev(Fd, Vectors, Offset).</summary>
    Write,

    /// <summary>fsync(Fd).</summary>
    Fsync,

    /// <summary>fdatasync(Fd).</summary>
    Fdatasync,

    /// <summary>fallocate(Fd, Mode, Offset, Length).</summary>
    Fallocate,
}

/// <summary>
/// One host file operation the server hands to a transport's <see cref="IFileIoSubmitter"/>. The
/// vectors point into the request's own buffers (mapped guest memory): the engine moves the data
/// between them and the file directly and calls <see cref="Complete"/> with the syscall's result.
/// Owned by the server and reused: nothing of it may be touched after <see cref="Complete"/>.
/// </summary>
public sealed class FileIoOperation
{
    private IoVec[] vectors = new IoVec[8];
    private int vectorCount;

    internal FileIoOperation(FuseServer server) => Server = server;

    public FileIoKind Kind { get; private set; }

    /// <summary>The leased host fd; open until the operation completes.</summary>
    public int Fd => Lease.Fd;

    public long Offset { get; private set; }

    /// <summary>Read destination or write source (Read/Write only); copy them if needed past submission.</summary>
    public ReadOnlySpan<IoVec> Vectors => vectors.AsSpan(0, vectorCount);

    /// <summary>fallocate mode (Fallocate only).</summary>
    public int Mode { get; private set; }

    /// <summary>fallocate length (Fallocate only).</summary>
    public long Length { get; private set; }

    /// <summary>
    /// A large transfer that should go to a kernel worker at once (io_uring's IOSQE_ASYNC) rather than be
    /// tried inline at submission: it then copies in parallel with the queue thread and with other ones.
    /// </summary>
    public bool PreferWorker { get; internal set; }

    internal FuseServer Server { get; }

    internal FuseRequest? Request { get; private set; }

    internal IFuseRequestCompletion? Completion { get; private set; }

    internal FuseInHeader Header { get; private set; }

    internal FileLease Lease { get; private set; }

    /// <summary>Bytes already moved inline before the rest went to the engine (Read/Write).</summary>
    internal long Done { get; private set; }

    /// <summary>Reply length before the READ data (header included), to truncate a short read to.</summary>
    internal long ReplyStart { get; private set; }

    /// <summary>The engine's result: a byte count or 0, or -errno (e.g. -ECANCELED when the queue stops).</summary>
    public void Complete(long result) => Server.CompleteFileIo(this, result);

    internal void Set(FileIoKind kind, FuseRequest request, IFuseRequestCompletion completion, in FuseInHeader header,
        in FileLease lease, long offset)
    {
        Kind = kind;
        Request = request;
        Completion = completion;
        Header = header;
        Lease = lease;
        Offset = offset;
        vectorCount = 0;
        Done = 0;
        ReplyStart = 0;
        Mode = 0;
        Length = 0;
        PreferWorker = false;
    }

    internal void SetRange(int mode, long length)
    {
        Mode = mode;
        Length = length;
    }

    /// <summary>Keeps what remains of <paramref name="all"/> after the first <paramref name="done"/> bytes.</summary>
    internal void SetRemainder(ReadOnlySpan<IoVec> all, long done, long replyStart)
    {
        Done = done;
        ReplyStart = replyStart;
        if (vectors.Length < all.Length)
        {
            vectors = new IoVec[all.Length];
        }
        int n = 0;
        long skip = done;
        foreach (IoVec v in all)
        {
            long len = (long)v.Length;
            if (skip >= len)
            {
                skip -= len;
                continue;
            }
            vectors[n++] = new IoVec(v.Base + (nint)skip, (nuint)(len - skip));
            skip = 0;
        }
        vectorCount = n;
    }

    internal void Clear()
    {
        Request = null;
        Completion = null;
        Lease = default;
        vectorCount = 0;
    }
}

/// <summary>
/// Optional capability of an <see cref="IFuseRequestCompletion"/>: an asynchronous I/O engine (one
/// io_uring per virtqueue) that runs host file operations without blocking the transport's thread.
/// The server offers it READ/WRITE that would block, FSYNC and FALLOCATE, for filesystems that lend
/// fds (<see cref="IFileHandleLeases"/>).
/// </summary>
public interface IFileIoSubmitter
{
    /// <summary>
    /// Takes the operation and calls <see cref="FileIoOperation.Complete"/> exactly once, later (never
    /// from inside this call); false when it cannot take it now (full, stopping, wrong thread): the
    /// server then runs the call synchronously.
    /// </summary>
    bool TrySubmit(FileIoOperation operation);

    /// <summary>
    /// True: READ/WRITE go to the engine without the inline non-blocking attempt (tests use it to
    /// drive the engine path on filesystems where inline always succeeds or is refused).
    /// </summary>
    bool SubmitsAllTransfers => false;
}
