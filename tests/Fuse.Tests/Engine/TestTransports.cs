using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Fuse.Tests.Server;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Fuse.Tests.Engine;

/// <summary>How the transport under test runs file I/O.</summary>
public enum EngineKind
{
    /// <summary>No engine: the server calls IFileSystem.Read/Write/Fsync/Fallocate.</summary>
    Sync,

    /// <summary>An engine that queues every transfer and runs it later with blocking syscalls.</summary>
    Deferred,

    /// <summary>A real io_uring, inline non-blocking attempts first (the daemon's policy).</summary>
    Ring,

    /// <summary>A real io_uring taking every transfer (no inline attempt).</summary>
    RingAll,
}

/// <summary>
/// A transport for one thread: hands requests to the server and pumps its engine until they
/// complete. One request in flight per <see cref="Exchange"/>; several exchanges may be in flight.
/// </summary>
public abstract class TestTransport : IFuseRequestCompletion, IDisposable
{
    public static TestTransport Create(EngineKind kind) => kind switch
    {
        EngineKind.Sync => new SyncTransport(),
        EngineKind.Deferred => new DeferredEngine(),
        _ => new RingEngine(submitAll: kind == EngineKind.RingAll),
    };

    /// <summary>Operations the engine accepted so far.</summary>
    public int Submitted { get; protected set; }

    /// <summary>Starts a request; the reply area is cut into <paramref name="replySegments"/>.</summary>
    public Exchange Start(FuseServer server, byte[] request, int[] replySegments)
    {
        var exchange = new Exchange(request, replySegments);
        server.Handle(exchange.Request, this);
        return exchange;
    }

    public FuseReply Run(FuseServer server, byte[] request, int[]? replySegments = null)
    {
        using Exchange exchange = Start(server, request, replySegments ?? [40, 8192]);
        return Wait(exchange);
    }

    public FuseReply Wait(Exchange exchange)
    {
        while (!exchange.IsCompleted)
        {
            Assert.True(Pump(), "the request is not complete and the engine has nothing in flight");
        }
        return exchange.Reply();
    }

    /// <summary>Completes what the engine has in flight (waiting for at least one); false when it has none.</summary>
    public abstract bool Pump();

    public void Complete(FuseRequest request) => ((Exchange)request.TransportState!).Completed();

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>One request with native request and reply segments (stand-ins for guest buffers).</summary>
public sealed class Exchange : IDisposable
{
    private int completions;

    public Exchange(byte[] request, int[] replySegments)
    {
        Readable = NativeSegments.FromBytes(request, 20, 41);
        Writable = NativeSegments.Empty(replySegments);
        Request.Reset(Readable.Segments, Writable.Segments, this);
    }

    public NativeSegments Readable { get; }

    public NativeSegments Writable { get; }

    public FuseRequest Request { get; } = new();

    public bool IsCompleted => Volatile.Read(ref completions) > 0;

    public void Completed() => Interlocked.Increment(ref completions);

    public FuseReply Reply()
    {
        Assert.Equal(1, completions);
        return new FuseReply(Request.ReplyLength, Writable.ToArray());
    }

    public void Dispose()
    {
        Readable.Dispose();
        Writable.Dispose();
    }
}

internal sealed class SyncTransport : TestTransport
{
    public override bool Pump() => false;
}

/// <summary>Queues every operation (all transfers, no inline attempt) and runs them with blocking syscalls when pumped.</summary>
internal sealed class DeferredEngine : TestTransport, IFileIoSubmitter
{
    private readonly Queue<FileIoOperation> pending = new();

    public bool SubmitsAllTransfers => true;

    public bool TrySubmit(FileIoOperation operation)
    {
        pending.Enqueue(operation);
        Submitted++;
        return true;
    }

    public override bool Pump()
    {
        if (pending.Count == 0)
        {
            return false;
        }
        while (pending.TryDequeue(out FileIoOperation? op))
        {
            long result = op.Kind switch
            {
                FileIoKind.Read => Libc.Preadv(op.Fd, op.Vectors, op.Offset),
                FileIoKind.Write => Libc.Pwritev(op.Fd, op.Vectors, op.Offset),
                FileIoKind.Fsync => Libc.Fsync(op.Fd),
                FileIoKind.Fdatasync => Libc.Fdatasync(op.Fd),
                _ => Libc.Fallocate(op.Fd, op.Mode, op.Offset, op.Length),
            };
            op.Complete(result);
        }
        return true;
    }
}

/// <summary>A real io_uring driven from the test thread, as the daemon's queue worker drives its own.</summary>
internal sealed unsafe class RingEngine : TestTransport, IFileIoSubmitter
{
    private readonly Ring ring;
    private readonly Dictionary<ulong, (FileIoOperation Op, nint Vectors)> inFlight = new();
    private ulong next;

    public RingEngine(bool submitAll)
    {
        SubmitsAllTransfers = submitAll;
        Assert.True(Ring.TryCreate(64, default, out Ring? r, out int error), $"io_uring setup: {error}");
        ring = r!;
    }

    public bool SubmitsAllTransfers { get; }

    public bool TrySubmit(FileIoOperation operation)
    {
        if (!ring.TryGetSqe(out SubmissionEntry sqe))
        {
            return false;
        }
        ulong tag = next++;
        ReadOnlySpan<IoVec> vectors = operation.Vectors;
        var iov = (IoVec*)NativeMemory.Alloc((nuint)Math.Max(vectors.Length, 1), (nuint)sizeof(IoVec));

        // Sound: iov was just allocated with room for vectors.Length entries.
        vectors.CopyTo(new Span<IoVec>(iov, vectors.Length));
        FileIoRingSubmission.Prepare(sqe, operation, iov, tag);
        inFlight[tag] = (operation, (nint)iov);
        Submitted++;
        return true;
    }

    public override bool Pump()
    {
        if (inFlight.Count == 0)
        {
            return false;
        }
        Assert.True(ring.SubmitAndWait(1, null) >= 0);
        while (ring.TryGetCompletion(out IoUringCqe cqe))
        {
            Assert.True(inFlight.Remove(cqe.UserData, out var entry));
            NativeMemory.Free((void*)entry.Vectors);
            entry.Op.Complete(cqe.Result);
        }
        return true;
    }

    public override void Dispose()
    {
        while (inFlight.Count > 0)
        {
            Pump();
        }
        ring.Dispose();
        base.Dispose();
    }
}
