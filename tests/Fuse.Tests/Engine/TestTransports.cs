using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using System.Threading.Tasks.Sources;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Tests.Engine;

/// <summary>How the transport under test runs file I/O.</summary>
public enum EngineKind
{
    /// <summary>Blocking syscalls: every operation is complete when the filesystem returns.</summary>
    Sync,

    /// <summary>An engine that queues every transfer and runs it later with blocking syscalls.</summary>
    Deferred,

    /// <summary>A real io_uring, inline non-blocking attempts first (the daemon's policy).</summary>
    Ring,

    /// <summary>A real io_uring taking every transfer (no inline attempt).</summary>
    RingAll,
}

/// <summary>
/// A transport for one thread: hands requests to the server with its engine and pumps the engine until they
/// complete. One request in flight per <see cref="FuseExchange"/>; several exchanges may be in flight.
/// </summary>
public abstract class TestTransport : IDisposable
{
    public static TestTransport Create(EngineKind kind) => kind switch
    {
        EngineKind.Sync => new SyncTransport(),
        EngineKind.Deferred => new DeferredTransport(),
        _ => new RingTransport(inlineFirst: kind == EngineKind.Ring),
    };

    /// <summary>Operations the engine took to run later so far.</summary>
    public abstract long Submitted { get; }

    /// <summary>The engine requests of this transport move their file data through.</summary>
    public IFileIo FileIo => Io;

    /// <summary>The engine requests of this transport move their file data through.</summary>
    protected abstract IFileIo Io { get; }

    /// <summary>Starts a request; the reply area is cut into <paramref name="replySegments"/>.</summary>
    public FuseExchange Start(FuseServer server, byte[] request, int[] replySegments)
    {
        var exchange = new FuseExchange(request, FuseExchange.DefaultRequestCuts, replySegments, Io);
        server.Handle(exchange.Request);
        return exchange;
    }

    public FuseReply Run(FuseServer server, byte[] request, int[]? replySegments = null)
    {
        using FuseExchange exchange = Start(server, request, replySegments ?? FuseExchange.DefaultReplySegments);
        return Wait(exchange);
    }

    public FuseReply Wait(FuseExchange exchange)
    {
        while (!exchange.IsCompleted)
        {
            Assert.True(Pump(), "the request is not complete and the engine has nothing in flight");
        }
        return exchange.WaitForReply();
    }

    /// <summary>Completes what the engine has in flight (waiting for at least one); false when it has none.</summary>
    public abstract bool Pump();

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

internal sealed class SyncTransport : TestTransport
{
    public override long Submitted => 0;

    protected override IFileIo Io => SyncFileIo.Instance;

    public override bool Pump() => false;
}

/// <summary>Queues every operation and runs it with a blocking syscall only when pumped, so every request completes later.</summary>
internal sealed class DeferredTransport : TestTransport
{
    private readonly DeferredFileIo io = new();

    public override long Submitted => io.Submitted;

    protected override IFileIo Io => io;

    public override bool Pump() => io.RunAll();
}

/// <summary>The daemon's io_uring engine, driven from the test thread as a queue worker drives its own.</summary>
internal sealed class RingTransport : TestTransport
{
    private readonly RingEngine engine;
    private readonly UnixFd stop;

    public RingTransport(bool inlineFirst)
    {
        Assert.True(RingEngine.TryCreate(64, out RingEngine? created, out int error), $"io_uring setup: {error}");
        engine = created;
        engine.InlineFirst = inlineFirst;
        stop = new UnixFd(Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
        engine.Watch(stop.Value, -1);
    }

    public override long Submitted => engine.Submitted;

    protected override IFileIo Io => engine;

    public override bool Pump()
    {
        if (engine.InFlight == 0)
        {
            return false;
        }
        EngineWake wake = engine.Wait(TimeSpan.FromSeconds(10));
        if (wake != EngineWake.None)
        {
            // Only on failure: an assertion per pump would allocate, and a test counts what reads allocate.
            Assert.Fail($"the engine woke with {wake}, not a completion");
        }
        return true;
    }

    public override void Dispose()
    {
        engine.Drain();
        engine.Dispose();
        stop.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// An <see cref="IFileIo"/> that runs nothing at once: each operation waits in a queue until <see cref="RunAll"/>, which
/// performs it with the blocking syscall and completes the caller's ValueTask, as an asynchronous engine would.
/// </summary>
internal sealed class DeferredFileIo : IFileIo
{
    private readonly Queue<Operation> pending = new();

    public long Submitted { get; private set; }

    public ValueTask<long> Read(FdLease file, ReadOnlySpan<IoVec> destination, long offset)
    {
        IoVec[] vectors = destination.ToArray();
        return Defer(file, fd => Libc.Preadv(fd, vectors, offset));
    }

    public ValueTask<long> Write(FdLease file, ReadOnlySpan<IoVec> source, long offset)
    {
        IoVec[] vectors = source.ToArray();
        return Defer(file, fd => Libc.Pwritev(fd, vectors, offset));
    }

    public ValueTask<int> Fsync(FdLease file, bool dataOnly)
        => DeferInt(file, fd => dataOnly ? Libc.Fdatasync(fd) : Libc.Fsync(fd));

    public ValueTask<int> Fallocate(FdLease file, int mode, long offset, long length)
        => DeferInt(file, fd => Libc.Fallocate(fd, mode, offset, length));

    /// <summary>Runs and completes everything queued; false when nothing was.</summary>
    public bool RunAll()
    {
        if (pending.Count == 0)
        {
            return false;
        }
        while (pending.TryDequeue(out Operation? op))
        {
            op.Run();
        }
        return true;
    }

    private ValueTask<long> Defer(FdLease file, Func<int, long> call)
    {
        var op = new Operation(file, call);
        pending.Enqueue(op);
        Submitted++;
        return new ValueTask<long>(op, op.Version);
    }

    private ValueTask<int> DeferInt(FdLease file, Func<int, long> call)
    {
        var op = new Operation(file, call);
        pending.Enqueue(op);
        Submitted++;
        return new ValueTask<int>(op, op.Version);
    }

    private sealed class Operation(FdLease file, Func<int, long> call) : IValueTaskSource<long>, IValueTaskSource<int>
    {
        private ManualResetValueTaskSourceCore<long> core;

        public short Version => core.Version;

        public void Run()
        {
            long result = call(file.Fd);
            file.Release();
            core.SetResult(result);
        }

        long IValueTaskSource<long>.GetResult(short token) => core.GetResult(token);

        int IValueTaskSource<int>.GetResult(short token) => (int)core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => core.OnCompleted(continuation, state, token, flags);
    }
}
