using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// One FUSE request as a transport sees it: the device-readable segments holding the request and the
/// device-writable segments for the reply. Transports pool and reuse these objects; the segments must
/// stay valid until <see cref="IFuseRequestCompletion.Complete"/> has been called for the request.
/// </summary>
public sealed class FuseRequest
{
    private readonly SegmentList readable = new();
    private readonly SegmentList writable = new();

    public FuseRequest()
    {
        Reader = new RequestReader(readable);
        Writer = new ReplyWriter(writable);
    }

    /// <summary>Whatever the transport needs to finish the request (e.g. the descriptor chain head).</summary>
    public object? TransportState { get; private set; }

    /// <summary>Bytes written into the writable segments; 0 means no reply (FORGET, BATCH_FORGET, INTERRUPT, or no room).</summary>
    public uint ReplyLength { get; internal set; }

    /// <summary>Total length of the readable segments.</summary>
    public long ReadableLength => readable.TotalLength;

    /// <summary>Total length of the writable segments.</summary>
    public long WritableLength => writable.TotalLength;

    internal RequestReader Reader { get; }

    internal ReplyWriter Writer { get; }

    /// <summary>False when the segment lengths overflow; the server then rejects the request.</summary>
    internal bool SegmentsValid { get; private set; }

    /// <summary>Prepares the object for a new request (copies the segment lists; not the data).</summary>
    public void Reset(ReadOnlySpan<IoVec> readableSegments, ReadOnlySpan<IoVec> writableSegments, object? transportState)
    {
        SegmentsValid = readable.Set(readableSegments) & writable.Set(writableSegments);
        TransportState = transportState;
        ReplyLength = 0;
    }
}

/// <summary>The transport's callback: called exactly once per request handed to <see cref="FuseServer.Handle"/>.</summary>
public interface IFuseRequestCompletion
{
    void Complete(FuseRequest request);
}
