using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace VirtioFsd.Linux.IoEngine;

/// <summary>What a <see cref="RingOperation"/> asked the kernel to do.</summary>
internal enum RingOperationKind
{
    Read,
    Write,
    Fsync,
    Fallocate,
}

/// <summary>
/// One file operation of a <see cref="RingEngine"/> in flight: its lease, the native iovec array its SQE points at,
/// the bytes already moved inline before the rest went to the ring, and the completion the caller awaits (a
/// reusable <see cref="IValueTaskSource{TResult}"/>: no allocation per operation). Owned by one engine, reused.
/// </summary>
internal sealed unsafe class RingOperation : IValueTaskSource<long>, IValueTaskSource<int>, IDisposable
{
    private readonly RingEngine _engine;

    // Continuations run inline, on the engine's thread, when the completion is reaped: that thread is the one that
    // serves the request anyway (RunContinuationsAsynchronously is false by default).
    private ManualResetValueTaskSourceCore<long> _core;
    private IoVec* _vectors;
    private int _vectorCapacity;

    public RingOperation(RingEngine engine, int index)
    {
        _engine = engine;
        Index = index;
    }

    /// <summary>The SQE's user_data: the operation's index in its engine.</summary>
    public int Index { get; }

    public RingOperationKind Kind { get; private set; }

    public FdLease Lease { get; private set; }

    /// <summary>Bytes moved inline before the rest went to the ring (Read/Write); added to the ring's result.</summary>
    public long Done { get; private set; }

    /// <summary>The native copy of the iovecs still to move; valid until the operation completes.</summary>
    public IoVec* Vectors => _vectors;

    public int VectorCount { get; private set; }

    /// <summary>The remaining vectors as a span over the native array (for the inline attempts that continue).</summary>
    public ReadOnlySpan<IoVec> Remaining => new(_vectors, VectorCount);

    public short Version => _core.Version;

    /// <summary>Submitted and not yet completed: the kernel may still use the lease and the buffers.</summary>
    public bool InKernel { get; set; }

    public void Begin(RingOperationKind kind, FdLease lease)
    {
        Kind = kind;
        Lease = lease;
        Done = 0;
        VectorCount = 0;
    }

    /// <summary>Keeps what remains of <paramref name="all"/> after its first <paramref name="done"/> bytes, in native memory.</summary>
    public void SetRemainder(ReadOnlySpan<IoVec> all, long done)
    {
        Done = done;
        if (_vectorCapacity < all.Length)
        {
            NativeMemory.Free(_vectors);
            int capacity = Math.Max(all.Length, 8);
            _vectors = (IoVec*)NativeMemory.Alloc((nuint)capacity, (nuint)sizeof(IoVec));
            _vectorCapacity = capacity;
        }
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
            // Sound: n < all.Length <= _vectorCapacity, the array's length.
            _vectors[n++] = new IoVec(v.Base + (nint)skip, (nuint)(length - skip));
            skip = 0;
        }
        VectorCount = n;
    }

    /// <summary>The kernel's result (or -ECANCELED): ends the lease, then completes the caller's ValueTask here.</summary>
    public void Complete(long result)
    {
        InKernel = false;
        FdLease lease = Lease;
        Lease = default;
        lease.Release();
        // An error after some progress reports the progress, as preadv/pwritev would.
        _core.SetResult(result < 0 ? (Done > 0 ? Done : result) : Done + result);
    }

    long IValueTaskSource<long>.GetResult(short token) => TakeResult(token);

    int IValueTaskSource<int>.GetResult(short token) => (int)TakeResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    /// <summary>The result, read once; the operation then goes back to its engine for reuse.</summary>
    private long TakeResult(short token)
    {
        long result = _core.GetResult(token);
        _core.Reset();
        _engine.Return(this);
        return result;
    }

    public void Dispose()
    {
        NativeMemory.Free(_vectors);
        _vectors = null;
        _vectorCapacity = 0;
    }
}
