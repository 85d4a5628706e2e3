using System.Runtime.CompilerServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// One FUSE request as a transport hands it to <see cref="FuseServer.Handle"/>: the device-readable segments holding
/// the request, the device-writable segments for the reply, and what the request brings with it: the transport's I/O
/// engine (<see cref="Io"/>: the filesystem moves file data through it) and its own completion, which the server
/// calls exactly once when the reply is written. Transports pool and reuse these objects; the segments must stay
/// valid until the completion has run.
/// </summary>
public sealed class FuseRequest
{
    private readonly SegmentList readable = new();
    private readonly SegmentList writable = new();
    private readonly IFuseRequestCompletion completion;

    // A request whose handler completes later: its result, header and server, kept until the continuation runs.
    private ValueTask<int> pending;
    private FuseInHeader pendingHeader;
    private FuseServer? pendingServer;
    private Action? continuePending;
    private PendingDataReply? pendingData;

    /// <param name="completion">Called once per request handed to the server, when its reply is written.</param>
    /// <param name="io">How the filesystem moves the request's file data (the transport's engine for this request's thread).</param>
    public FuseRequest(IFuseRequestCompletion completion, IFileIo io)
    {
        ArgumentNullException.ThrowIfNull(completion);
        ArgumentNullException.ThrowIfNull(io);
        this.completion = completion;
        Io = io;
        Reader = new RequestReader(readable);
        Writer = new ReplyWriter(writable);
    }

    /// <summary>The engine the filesystem moves this request's file data through.</summary>
    public IFileIo Io { get; }

    /// <summary>Whatever the transport needs to finish the request (e.g. the descriptor chain head).</summary>
    public object? TransportState { get; private set; }

    /// <summary>A number the transport keeps with the request (e.g. the descriptor chain head), without boxing.</summary>
    public int TransportTag { get; private set; }

    /// <summary>Bytes written into the writable segments; 0 means no reply (FORGET, BATCH_FORGET, INTERRUPT, or no room).</summary>
    public uint ReplyLength { get; internal set; }

    /// <summary>Total length of the readable segments.</summary>
    public long ReadableLength => readable.TotalLength;

    /// <summary>Total length of the writable segments.</summary>
    public long WritableLength => writable.TotalLength;

    /// <summary>Who finishes this request: a waiting lock of a stopping queue is cancelled by it.</summary>
    internal IFuseRequestCompletion Completion => completion;

    internal RequestReader Reader { get; }

    /// <summary>The status of this request's READ or WRITE when the engine finishes the data later (made on first use).</summary>
    internal PendingDataReply PendingData => pendingData ??= new PendingDataReply(this);

    internal ReplyWriter Writer { get; }

    /// <summary>False when the segment lengths overflow; the server then rejects the request.</summary>
    internal bool SegmentsValid { get; private set; }

    /// <summary>Prepares the object for a new request (copies the segment lists; not the data).</summary>
    public void Reset(ReadOnlySpan<IoVec> readableSegments, ReadOnlySpan<IoVec> writableSegments, object? transportState = null, int transportTag = 0)
    {
        SegmentsValid = readable.Set(readableSegments) & writable.Set(writableSegments);
        TransportState = transportState;
        TransportTag = transportTag;
        ReplyLength = 0;
    }

    /// <summary>Hands the finished request back to its transport.</summary>
    internal void Complete() => completion.Complete(this);

    /// <summary>Finishes the request through <paramref name="server"/> once <paramref name="status"/> completes.</summary>
    internal void FinishWhenDone(FuseServer server, ValueTask<int> status, in FuseInHeader header)
    {
        pending = status;
        pendingHeader = header;
        pendingServer = server;
        ConfiguredValueTaskAwaitable<int>.ConfiguredValueTaskAwaiter awaiter = status.ConfigureAwait(false).GetAwaiter();
        // Runs on whichever thread completes the status (the engine's, or a timer's for a waiting lock).
        awaiter.UnsafeOnCompleted(continuePending ??= ContinuePending);
    }

    private void ContinuePending()
    {
        FuseServer server = pendingServer!;
        ValueTask<int> status = pending;
        pending = default;
        pendingServer = null;
        server.FinishLater(this, status, pendingHeader);
    }
}

/// <summary>The transport's callback: called exactly once per request handed to <see cref="FuseServer.Handle"/>.</summary>
public interface IFuseRequestCompletion
{
    void Complete(FuseRequest request);
}
