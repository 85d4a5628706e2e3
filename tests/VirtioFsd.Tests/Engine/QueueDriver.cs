using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Tests.Engine;

/// <summary>One FUSE request for <see cref="QueueDriver"/>: what to send, how big the answer may be, how to check it.</summary>
internal sealed class FuseCall
{
    public required FuseOpcode Opcode { get; init; }

    public ulong Node { get; init; }

    /// <summary>The opcode's argument struct(s) and names, after the in header.</summary>
    public byte[] Args { get; init; } = [];

    /// <summary>WRITE data (its own descriptors, as fs/fuse/virtio_fs.c sends it).</summary>
    public byte[] Payload { get; init; } = [];

    /// <summary>Bytes of reply arguments after the out header (READ: 0).</summary>
    public int ReplyArgBytes { get; init; }

    /// <summary>Room for READ data, in two descriptors apart from each other.</summary>
    public int ReplyPayloadBytes { get; init; }

    /// <summary>Checks the answer: the out header, the reply arguments and the READ data the device wrote.</summary>
    public required Action<FuseOutHeader, byte[], byte[]> Verify { get; init; }

    /// <summary>The request's bytes: in header (from no caller, as these tests always sent it), arguments, then the payload.</summary>
    public byte[] Encode(ulong unique)
        => new FuseRequestBuilder(Opcode, Node, unique).AsCaller(0, 0, pid: 0).AddBytes(Args).AddBytes(Payload).ToBytes();
}

/// <summary>
/// A guest driver for one request queue: lays out each request as a descriptor chain in guest RAM,
/// keeps up to a given depth in flight, reaps used elements and checks each reply.
/// </summary>
internal sealed class QueueDriver
{
    public const int HeaderArea = 4096;

    /// <summary>Space between the two pieces of a payload, so no piece is contiguous with the next.</summary>
    public const int PayloadGap = 4096;

    private const int OutHeaderSize = 16;

    private readonly GuestRam _ram;
    private readonly FrontendQueue _queue;
    private readonly DriverQueue _driver;
    private readonly (ulong Req, ulong Reply, ulong Payload)[] _slots;
    private readonly FuseCall?[] _byHead;
    private readonly int[] _slotOfHead;
    private readonly ulong[] _uniqueOfHead;
    private readonly int _payloadBytes;
    private ulong _unique;

    public QueueDriver(GuestRam ram, FrontendQueue queue, DriverQueue driver, GuestAllocator alloc, int slots, int payloadBytes, int index)
    {
        _ram = ram;
        _queue = queue;
        _driver = driver;
        _payloadBytes = payloadBytes;
        _slots = new (ulong, ulong, ulong)[slots];
        for (int i = 0; i < slots; i++)
        {
            _slots[i] = (alloc.Allocate(HeaderArea, 4096), alloc.Allocate(HeaderArea, 4096), alloc.Allocate((ulong)(payloadBytes + PayloadGap), 4096));
        }
        _byHead = new FuseCall?[driver.Size];
        _slotOfHead = new int[driver.Size];
        _uniqueOfHead = new ulong[driver.Size];
        _unique = (ulong)index << 48;
    }

    public int Slots => _slots.Length;

    /// <summary>Runs the calls with up to <paramref name="depth"/> in flight; returns how many were answered.</summary>
    public int Run(IEnumerable<FuseCall> calls, int depth)
    {
        using IEnumerator<FuseCall> next = calls.GetEnumerator();
        var free = new Stack<int>(Enumerable.Range(0, Math.Min(depth, _slots.Length)).Reverse());
        int answered = 0;
        while (free.Count > 0 && next.MoveNext())
        {
            Place(next.Current, free.Pop());
        }
        Publish();
        int idle = 0;
        while (_driver.InFlight > 0)
        {
            bool any = false;
            while (_driver.TryGetUsed(out DriverUsedElement used))
            {
                any = true;
                FuseCall call = _byHead[used.Id] ?? throw new InvalidOperationException($"used element names unknown head {used.Id}");
                _byHead[used.Id] = null;
                int slot = _slotOfHead[used.Id];
                Check(call, slot, _uniqueOfHead[used.Id], used.Length);
                answered++;
                if (next.MoveNext())
                {
                    Place(next.Current, slot);
                }
            }
            if (any)
            {
                Publish();
                idle = 0;
                continue;
            }
            // Not a timed assertion: a bound so that a device that stopped answering fails instead of hanging.
            if (!_queue.WaitForCall(1000) && ++idle > 120)
            {
                throw new InvalidOperationException($"queue {_queue.Index}: no reply for 2 minutes with {_driver.InFlight} in flight");
            }
        }
        return answered;
    }

    /// <summary>Places up to one call per slot and kicks, without waiting; returns how many were placed.</summary>
    public int Launch(IEnumerable<FuseCall> calls)
    {
        int placed = 0;
        foreach (FuseCall call in calls.Take(_slots.Length))
        {
            Place(call, placed++);
        }
        Publish();
        return placed;
    }

    /// <summary>Checks every reply already in the used ring (no waiting); returns how many there were.</summary>
    public int ReapAvailable()
    {
        int count = 0;
        while (_driver.TryGetUsed(out DriverUsedElement used))
        {
            FuseCall call = _byHead[used.Id] ?? throw new InvalidOperationException($"used element names unknown head {used.Id}");
            _byHead[used.Id] = null;
            Check(call, _slotOfHead[used.Id], _uniqueOfHead[used.Id], used.Length);
            count++;
        }
        return count;
    }

    /// <summary>The used index as the device last published it.</summary>
    public ushort UsedIndex => _driver.ReadUsedIndex();

    private void Place(FuseCall call, int slot)
    {
        (ulong req, ulong reply, ulong payload) = _slots[slot];
        ulong unique = ++_unique;
        // Header and arguments in one buffer, the WRITE data in its own (as fs/fuse/virtio_fs.c lays them out).
        byte[] request = call.Encode(unique);
        ReadOnlySpan<byte> headerAndArgs = request.AsSpan(0, request.Length - call.Payload.Length);
        ReadOnlySpan<byte> writeData = request.AsSpan(headerAndArgs.Length);
        _ram.Write(req, headerAndArgs);
        _ram.GetSpan(reply, OutHeaderSize).Clear();

        Span<DriverBuffer> readable = stackalloc DriverBuffer[4];
        Span<DriverBuffer> writable = stackalloc DriverBuffer[4];
        int r = 0, w = 0;
        readable[r++] = new DriverBuffer(req, (uint)headerAndArgs.Length);
        if (writeData.Length > 0)
        {
            // Two pieces apart from each other, cut at an odd place.
            int first = Math.Max(1, writeData.Length / 3);
            _ram.Write(payload, writeData[..first]);
            _ram.Write(payload + (ulong)first + PayloadGap, writeData[first..]);
            readable[r++] = new DriverBuffer(payload, (uint)first);
            if (writeData.Length > first)
            {
                readable[r++] = new DriverBuffer(payload + (ulong)first + PayloadGap, (uint)(writeData.Length - first));
            }
        }
        writable[w++] = new DriverBuffer(reply, OutHeaderSize);
        if (call.ReplyArgBytes > 0)
        {
            writable[w++] = new DriverBuffer(reply + OutHeaderSize, (uint)call.ReplyArgBytes);
        }
        if (call.ReplyPayloadBytes > 0)
        {
            int first = Math.Max(1, call.ReplyPayloadBytes / 3);
            writable[w++] = new DriverBuffer(payload, (uint)first);
            if (call.ReplyPayloadBytes > first)
            {
                writable[w++] = new DriverBuffer(payload + (ulong)first + PayloadGap, (uint)(call.ReplyPayloadBytes - first));
            }
            _ram.GetSpan(payload, Math.Min(_payloadBytes + PayloadGap, call.ReplyPayloadBytes + PayloadGap)).Fill(0xEE);
        }
        ushort head = _driver.AddChain(readable[..r], writable[..w], publish: false);
        _byHead[head] = call;
        _slotOfHead[head] = slot;
        _uniqueOfHead[head] = unique;
    }

    private void Check(FuseCall call, int slot, ulong unique, uint usedLength)
    {
        (_, ulong reply, ulong payload) = _slots[slot];
        FuseOutHeader header = _ram.Read<FuseOutHeader>(reply);
        Assert.Equal(unique, header.Unique);
        Assert.Equal(header.Len, usedLength);
        int body = (int)header.Len - OutHeaderSize;
        byte[] args = [];
        byte[] data = [];
        if (header.Error == 0 && call.ReplyPayloadBytes > 0)
        {
            Assert.InRange(body, 0, call.ReplyPayloadBytes);
            int first = Math.Max(1, call.ReplyPayloadBytes / 3);
            data = new byte[body];
            _ram.Read(payload, data.AsSpan(0, Math.Min(body, first)));
            if (body > first)
            {
                _ram.Read(payload + (ulong)first + PayloadGap, data.AsSpan(first));
            }
        }
        else if (header.Error == 0 && body > 0)
        {
            args = new byte[body];
            _ram.Read(reply + OutHeaderSize, args);
        }
        call.Verify(header, args, data);
    }

    /// <summary>Kicks sent: the device asked for one (no EVENT_IDX suppression, or avail_event reached).</summary>
    public int Kicks { get; private set; }

    private void Publish()
    {
        if (_driver.PublishAvail())
        {
            Kicks++;
            _queue.Notify();
        }
    }
}
