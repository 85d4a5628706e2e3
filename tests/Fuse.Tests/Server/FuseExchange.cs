using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// One request/reply round trip through a <see cref="FuseServer"/> over native segments, acting as
/// the transport: it owns the memory, counts completions and parses the reply.
/// </summary>
public sealed class FuseExchange : IFuseRequestCompletion, IDisposable
{
    /// <summary>A reply area as roomy as the guest's for most requests, cut in two to exercise splitting.</summary>
    public static readonly int[] DefaultReplySegments = [40, 8192];

    private readonly ManualResetEventSlim completed = new();
    private int completions;

    public FuseExchange(byte[] request, int[]? requestCuts = null, int[]? replySegments = null)
    {
        Request = new FuseRequest(this, SyncFileIo.Instance);
        Readable = NativeSegments.FromBytes(request, requestCuts ?? [20, 41]);
        Writable = NativeSegments.Empty(replySegments ?? DefaultReplySegments);
        Request.Reset(Readable.Segments, Writable.Segments, transportState: this);
    }

    public NativeSegments Readable { get; }

    public NativeSegments Writable { get; }

    public FuseRequest Request { get; }

    public int Completions => Volatile.Read(ref completions);

    public static FuseReply Run(FuseServer server, FuseRequestBuilder builder, int[]? requestCuts = null, int[]? replySegments = null)
    {
        using var exchange = new FuseExchange(builder.ToBytes(), requestCuts, replySegments);
        return exchange.Run(server);
    }

    /// <summary>Hands the request to the server and waits for its completion (SETLKW completes on another thread).</summary>
    public FuseReply Run(FuseServer server)
    {
        server.Handle(Request);
        return WaitForReply();
    }

    public FuseReply WaitForReply()
    {
        // Not a timed assertion: a generous bound so a server that never completes fails instead of hanging.
        Assert.True(completed.Wait(TimeSpan.FromSeconds(30)), "the request was never completed");
        Assert.Equal(1, Completions);
        Assert.Same(this, Request.TransportState);
        return new FuseReply(Request.ReplyLength, Writable.ToArray());
    }

    public bool IsCompleted => completed.IsSet;

    public void Complete(FuseRequest request)
    {
        Assert.Same(Request, request);
        Interlocked.Increment(ref completions);
        completed.Set();
    }

    public void Dispose()
    {
        Readable.Dispose();
        Writable.Dispose();
        completed.Dispose();
    }
}

/// <summary>A reply as the guest would see it: the out header and the body it announces.</summary>
public sealed class FuseReply
{
    public FuseReply(uint length, byte[] buffer)
    {
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

    /// <summary>Bytes the server reported written; 0 = no reply.</summary>
    public uint Length { get; }

    public FuseOutHeader Header { get; }

    public byte[] Body { get; }

    public int Error => Header.Error;

    public T Read<T>(int offset = 0)
        where T : unmanaged
    {
        Assert.True(offset + Marshal.SizeOf<T>() <= Body.Length, $"reply body of {Body.Length} bytes has no {typeof(T).Name} at {offset}");
        return MemoryMarshal.Read<T>(Body.AsSpan(offset));
    }
}
