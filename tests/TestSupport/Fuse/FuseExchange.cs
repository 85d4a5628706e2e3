using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.TestSupport;

/// <summary>
/// One request/reply round trip through a <see cref="FuseServer"/> over native segments, acting as
/// the transport: it owns the memory (request cut where asked, reply area in fenced segments),
/// is the request's completion and counts completions, and parses the reply.
/// </summary>
public sealed class FuseExchange : IFuseRequestCompletion, IDisposable
{
    /// <summary>Cuts inside the in header and inside the opcode's struct, so every request is read across segments.</summary>
    public static readonly int[] DefaultRequestCuts = [20, 41];

    /// <summary>A reply area as roomy as the guest's for most requests, cut in two to exercise splitting.</summary>
    public static readonly int[] DefaultReplySegments = [40, 8192];

    /// <summary>Not a timed assertion: a generous bound so a server that never completes fails instead of hanging.</summary>
    public static readonly TimeSpan CompletionBound = TimeSpan.FromSeconds(30);

    private readonly ManualResetEventSlim completed = new();
    private int completions;

    /// <param name="io">The engine the request moves file data through (the blocking one unless a test transport brings its own).</param>
    public FuseExchange(byte[] request, int[]? requestCuts = null, int[]? replySegments = null, IFileIo? io = null)
    {
        Request = new FuseRequest(this, io ?? SyncFileIo.Instance);
        Readable = NativeSegments.FromBytes(request, requestCuts ?? DefaultRequestCuts);
        Writable = NativeSegments.Empty(replySegments ?? DefaultReplySegments);
        Request.Reset(Readable.Segments, Writable.Segments, transportState: this);
    }

    public NativeSegments Readable { get; }

    public NativeSegments Writable { get; }

    public FuseRequest Request { get; }

    public int Completions => Volatile.Read(ref completions);

    public bool IsCompleted => completed.IsSet;

    public static FuseReply Run(FuseServer server, FuseRequestBuilder builder, int[]? requestCuts = null, int[]? replySegments = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        using var exchange = new FuseExchange(builder.ToBytes(), requestCuts, replySegments);
        return exchange.Run(server);
    }

    /// <summary>Hands the request to the server and waits for its completion (SETLKW completes on another thread).</summary>
    public FuseReply Run(FuseServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        server.Handle(Request);
        return WaitForReply();
    }

    /// <summary>Waits up to <paramref name="bound"/> for the completion; false when it did not come.</summary>
    public bool WaitForCompletion(TimeSpan bound) => completed.Wait(bound);

    /// <summary>Waits for the one completion and returns the reply as the guest would see it.</summary>
    public FuseReply WaitForReply()
    {
        Assert.True(WaitForCompletion(CompletionBound), "the request was never completed");
        Assert.Equal(1, Completions);
        Assert.Same(this, Request.TransportState);
        return new FuseReply(Request.ReplyLength, Writable.ToArray());
    }

    public void Complete(FuseRequest request)
    {
        Assert.Same(Request, request);
        Interlocked.Increment(ref completions);
        completed.Set();
    }

    public void Dispose()
    {
        if (!IsCompleted)
        {
            // Never completed: the server may still write the reply later, so the memory is left to it (leaked).
            return;
        }
        Readable.Dispose();
        Writable.Dispose();
        completed.Dispose();
    }
}

/// <summary>A reply as the guest sees it: the out header and the body it announces.</summary>
public sealed class FuseReply
{
    public FuseReply(uint length, byte[] buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        Length = length;
        if (length >= 16)
        {
            Header = MemoryMarshal.Read<FuseOutHeader>(buffer);
            Assert.Equal(length, Header.Len);
            Body = buffer[16..(int)length];
        }
        else
        {
            Assert.Equal(0u, length);
            Body = [];
        }
    }

    /// <summary>Bytes the device reported written; 0 = no reply.</summary>
    public uint Length { get; }

    public FuseOutHeader Header { get; }

    public byte[] Body { get; }

    public int Error => Header.Error;

    /// <summary>fuse_entry_out.nodeid of a successful LOOKUP, CREATE, MKDIR... reply.</summary>
    public ulong NodeId => Read<FuseEntryOut>().NodeId;

    /// <summary>fuse_open_out.fh of a successful OPEN or OPENDIR reply.</summary>
    public ulong Fh => Read<FuseOpenOut>().Fh;

    /// <summary>A reply struct at <paramref name="offset"/> of the body of a successful reply.</summary>
    public T Read<T>(int offset = 0)
        where T : unmanaged
    {
        Assert.True(Error == 0 && offset + Marshal.SizeOf<T>() <= Body.Length,
            $"no {typeof(T).Name} at {offset} in a reply of error {Error}, {Body.Length} bytes");
        return MemoryMarshal.Read<T>(Body.AsSpan(offset));
    }
}
