using System.Threading.Tasks.Sources;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// The status of a READ or WRITE whose data an engine is still moving: waits for the byte count, then has the server
/// turn it into the request's status (<see cref="FuseServer.FinishRead"/>, <see cref="FuseServer.FinishWrite"/>).
/// One per <see cref="FuseRequest"/>, reused for each request the transport puts through it, so a data request that
/// completes later allocates nothing. An async method did the same with a pooled state-machine box, but the pooling
/// builder keeps one box per thread and one per core: with 16 reads in flight on 2 cores most requests allocated a
/// new one (about 50,000 boxes, 6 MB, and 20 collections in 3 s of 1 MiB reads on 4 queues, from a uprobe on the
/// runtime's allocation slow path), and each collection mapped the GC's code and the stack-walk tables again.
/// </summary>
internal sealed class PendingDataReply : IValueTaskSource<int>
{
    private readonly FuseRequest request;
    private readonly Action onMoved;
    private ManualResetValueTaskSourceCore<int> core;

    // The data move being waited for and what its reply needs; set by Read/Write, cleared when the count arrives.
    private ValueTask<long> moving;
    private FuseServer? server;
    private bool isRead;
    private long start;
    private long size;

    public PendingDataReply(FuseRequest request)
    {
        this.request = request;
        onMoved = OnMoved;
    }

    /// <summary>The status of a READ whose bytes land at <paramref name="start"/> of the reply, at most <paramref name="size"/> of them.</summary>
    public ValueTask<int> Read(FuseServer owner, ValueTask<long> count, long start, long size)
        => Begin(owner, count, isRead: true, start, size);

    /// <summary>The status of a WRITE of <paramref name="size"/> bytes.</summary>
    public ValueTask<int> Write(FuseServer owner, ValueTask<long> count, uint size)
        => Begin(owner, count, isRead: false, start: 0, size);

    private ValueTask<int> Begin(FuseServer owner, ValueTask<long> count, bool isRead, long start, long size)
    {
        server = owner;
        moving = count;
        this.isRead = isRead;
        this.start = start;
        this.size = size;
        // Made before the wait is registered: the count may arrive, and the status be set, on the engine's thread
        // before this returns.
        var status = new ValueTask<int>(this, core.Version);
        // Runs on whichever thread completes the count (the engine's), as the await of the async method did.
        moving.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(onMoved);
        return status;
    }

    private void OnMoved()
    {
        ValueTask<long> count = moving;
        FuseServer owner = server!;
        moving = default;
        server = null;
        int status;
        try
        {
            long moved = count.GetAwaiter().GetResult();
            status = isRead
                ? owner.FinishRead(request.Writer, start, size, moved)
                : owner.FinishWrite(request.Writer, (uint)size, moved);
        }
#pragma warning disable CA1031 // Handed to the request's status: FuseServer.Outcome makes it EIO and a log line, as for any handler.
        catch (Exception e)
#pragma warning restore CA1031
        {
            core.SetException(e);
            return;
        }
        core.SetResult(status);
    }

    /// <summary>The status, read once (by the server); the object is then ready for the request's next use.</summary>
    public int GetResult(short token)
    {
        try
        {
            return core.GetResult(token);
        }
        finally
        {
            core.Reset();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => core.OnCompleted(continuation, state, token, flags);
}
