using System.Diagnostics;
using VirtioFsd.Bench.Fuse;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Bench.Client;

/// <summary>
/// Drives one request queue at a fixed queue depth the way a guest with that many requests in flight
/// does: push chains, publish avail and kick (when the device wants it), reap used elements, refill.
/// Waits on the call eventfd only when the used ring is empty (the eventfd counts, so no wakeup is lost).
/// </summary>
public sealed class QueueRunner
{
    /// <summary>A device that answers nothing for this long is hung, not slow.</summary>
    private const int HangMs = 30_000;

    private readonly GuestRam _ram;
    private readonly FrontendQueue _queue;
    private readonly DriverQueue _driver;
    private readonly Slot[] _slots;
    private readonly Slot?[] _byHead;
    private readonly Step[] _steps;
    private readonly RequestContext _context;

    public QueueRunner(GuestRam ram, FrontendQueue queue, DriverQueue driver, Slot[] slots, int requestQueueIndex)
    {
        _ram = ram;
        _queue = queue;
        _driver = driver;
        _slots = slots;
        _byHead = new Slot?[driver.Size];
        _steps = new Step[slots.Length];
        _context = new RequestContext(ram, requestQueueIndex);
    }

    public int MaxDepth => _slots.Length;

    public RequestContext Context => _context;

    /// <summary>Asked while no reply comes: false (the daemon process is gone) fails the run at once.</summary>
    public Func<bool> PeerAlive { get; set; } = () => true;

    /// <summary>
    /// Runs operations with <paramref name="depth"/> in flight until <paramref name="maxOps"/> were started
    /// or <paramref name="stopAt"/> (Stopwatch timestamp) passed, then drains what is in flight.
    /// </summary>
    public QueueResult Run(IWorkloadProgram program, int depth, long maxOps, long stopAt)
    {
        if (depth < 1 || depth > _slots.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(depth));
        }
        var latencies = new List<long>(4096);
        long started = 0, done = 0, bytes = 0;
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < depth && started < maxOps; i++)
        {
            BeginOp(program, _slots[i]);
            started++;
        }
        Publish();
        long lastProgress = Stopwatch.GetTimestamp();
        while (_driver.InFlight > 0)
        {
            bool any = false;
            while (_driver.TryGetUsed(out DriverUsedElement e))
            {
                any = true;
                Slot slot = (e.Id < _byHead.Length ? _byHead[e.Id] : null)
                    ?? throw new BenchException($"queue {_queue.Index}: used element names unknown head {e.Id}");
                _byHead[e.Id] = null;
                if (ContinueOp(program, slot))
                {
                    continue;
                }
                long now = Stopwatch.GetTimestamp();
                latencies.Add(now - slot.StartedAt);
                bytes += slot.Bytes;
                done++;
                if (started < maxOps && now < stopAt)
                {
                    BeginOp(program, slot);
                    started++;
                }
            }
            if (any)
            {
                Publish();
                lastProgress = Stopwatch.GetTimestamp();
                continue;
            }
            if (_queue.WaitForCall(1000))
            {
                continue;
            }
            if (!PeerAlive())
            {
                throw new BenchException($"queue {_queue.Index}: the daemon exited with {_driver.InFlight} requests in flight");
            }
            if (Stopwatch.GetElapsedTime(lastProgress).TotalMilliseconds > HangMs)
            {
                throw new BenchException($"queue {_queue.Index}: no reply for {HangMs} ms with {_driver.InFlight} in flight");
            }
        }
        return new QueueResult(done, bytes, Stopwatch.GetElapsedTime(t0), latencies);
    }

    private void BeginOp(IWorkloadProgram program, Slot slot)
    {
        slot.StartedAt = Stopwatch.GetTimestamp();
        slot.Stage = 0;
        slot.Bytes = 0;
        Submit(slot, program.Begin(slot, _context));
    }

    private bool ContinueOp(IWorkloadProgram program, Slot slot)
    {
        Step step = _steps[slot.Index];
        if (step.NoReply)
        {
            slot.Stage++;
            return Advance(program, slot, [], 0);
        }
        Span<byte> header = _ram.GetSpan(slot.ReplyGpa, FuseSize.OutHeader);
        ulong unique = FuseReply.Unique(header);
        int error = FuseReply.Error(header);
        uint length = FuseReply.Length(header);
        if (unique != slot.Unique)
        {
            throw new BenchException($"queue {_queue.Index}: reply unique {unique}, request was {slot.Unique}");
        }
        if (error != 0)
        {
            throw new BenchException($"queue {_queue.Index}: request {slot.Unique} (stage {slot.Stage}) failed with errno {-error}");
        }
        ReadOnlySpan<byte> args = step.ReplyArgBytes > 0 ? _ram.GetSpan(slot.ReplyGpa + FuseSize.OutHeader, step.ReplyArgBytes) : [];
        slot.Stage++;
        return Advance(program, slot, args, length);
    }

    private bool Advance(IWorkloadProgram program, Slot slot, ReadOnlySpan<byte> args, uint length)
    {
        if (!program.Continue(slot, _context, args, length, out Step next))
        {
            return false;
        }
        Submit(slot, next);
        return true;
    }

    private void Submit(Slot slot, Step step)
    {
        _steps[slot.Index] = step;
        Span<DriverBuffer> readable = stackalloc DriverBuffer[3];
        Span<DriverBuffer> writable = stackalloc DriverBuffer[3];
        int r = 0, w = 0;
        readable[r++] = new DriverBuffer(slot.RequestGpa, FuseSize.InHeader);
        if (step.RequestBytes > FuseSize.InHeader)
        {
            readable[r++] = new DriverBuffer(slot.RequestGpa + FuseSize.InHeader, (uint)(step.RequestBytes - FuseSize.InHeader));
        }
        if (step.PayloadBytes > 0)
        {
            readable[r++] = new DriverBuffer(slot.PayloadGpa, (uint)step.PayloadBytes);
        }
        if (step.NoReply)
        {
            _byHead[_driver.AddChain(readable[..r], [], publish: false)] = slot;
            return;
        }
        // Clear the reply header so a device that completes without writing one is caught, not re-read.
        _ram.GetSpan(slot.ReplyGpa, FuseSize.OutHeader).Clear();
        writable[w++] = new DriverBuffer(slot.ReplyGpa, FuseSize.OutHeader);
        if (step.ReplyArgBytes > 0)
        {
            writable[w++] = new DriverBuffer(slot.ReplyGpa + FuseSize.OutHeader, (uint)step.ReplyArgBytes);
        }
        if (step.ReplyPayloadBytes > 0)
        {
            writable[w++] = new DriverBuffer(slot.PayloadGpa, (uint)step.ReplyPayloadBytes);
        }
        ushort head = _driver.AddChain(readable[..r], writable[..w], publish: false);
        _byHead[head] = slot;
    }

    private void Publish()
    {
        if (_driver.PublishAvail())
        {
            _queue.Notify();
        }
    }
}

/// <summary>What one queue did: completed operations, data bytes, wall time, per-operation latencies (Stopwatch ticks).</summary>
public sealed record QueueResult(long Ops, long Bytes, TimeSpan Elapsed, List<long> Latencies);

/// <summary>The benchmark cannot go on: a daemon failed a request, hung, or went away.</summary>
public sealed class BenchException(string message) : Exception(message);
