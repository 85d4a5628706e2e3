using System.Runtime.InteropServices;

namespace VirtioFsd.VhostUserFrontend;

/// <summary>
/// The guest driver's side of a split virtqueue (virtio 1.2 §2.7, linux/virtio_ring.h), written the
/// way Linux's virtio_ring.c behaves, over <see cref="GuestRam"/>: it places chains of readable and
/// writable buffers (direct, or through an indirect table), publishes the avail index, consumes used
/// elements and maintains used_event / observes avail_event for EVENT_IDX. For hostile-input tests
/// it also writes raw descriptors, avail entries and indexes without any checking.
/// </summary>
/// <remarks>
/// It knows nothing of the backend's types: it plays the guest honestly, through guest memory only.
/// Not thread-safe (a guest driver serializes access to a queue too).
/// </remarks>
public sealed partial class DriverQueue
{
    private const ushort FlagNext = 1;      // VRING_DESC_F_NEXT
    private const ushort FlagWrite = 2;     // VRING_DESC_F_WRITE
    private const ushort FlagIndirect = 4;  // VRING_DESC_F_INDIRECT
    private const ushort UsedFlagNoNotify = 1;       // VRING_USED_F_NO_NOTIFY
    private const ushort AvailFlagNoInterrupt = 1;   // VRING_AVAIL_F_NO_INTERRUPT

    private readonly GuestRam _ram;
    private readonly Stack<ushort> _free = new();
    private readonly Dictionary<ushort, ushort[]> _inFlight = [];
    private ushort _availIdx;      // next avail slot to fill (may be ahead of the published index)
    private ushort _publishedAvail; // avail->idx as last published
    private ushort _lastUsed;       // next used element to consume

    public DriverQueue(GuestRam ram, ushort size, ulong descGpa, ulong availGpa, ulong usedGpa, bool eventIdx = false)
    {
        ArgumentNullException.ThrowIfNull(ram);
        if (size == 0 || (size & (size - 1)) != 0 || size > 32768)
        {
            throw new ArgumentOutOfRangeException(nameof(size), "queue size must be a power of two up to 32768");
        }
        _ram = ram;
        Size = size;
        DescGpa = descGpa;
        AvailGpa = availGpa;
        UsedGpa = usedGpa;
        EventIdx = eventIdx;
        for (int i = size - 1; i >= 0; i--)
        {
            _free.Push((ushort)i);
        }
        // A freshly reset ring: all zero (flags, indexes, events).
        _ram.Write(descGpa, new byte[16 * size]);
        _ram.Write(availGpa, new byte[6 + (2 * size)]);
        _ram.Write(usedGpa, new byte[6 + (8 * size)]);
    }

    /// <summary>A driver for the rings <paramref name="queue"/> placed in <paramref name="ram"/>.</summary>
    public static DriverQueue For(GuestRam ram, FrontendQueue queue, bool eventIdx = false)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return new DriverQueue(ram, queue.Size, queue.DescGpa, queue.AvailGpa, queue.UsedGpa, eventIdx);
    }

    public ushort Size { get; }

    public ulong DescGpa { get; }

    public ulong AvailGpa { get; }

    public ulong UsedGpa { get; }

    /// <summary>Whether the driver behaves as with VIRTIO_RING_F_EVENT_IDX negotiated.</summary>
    public bool EventIdx { get; }

    /// <summary>Descriptors not in flight.</summary>
    public int FreeDescriptors => _free.Count;

    /// <summary>Chains made available and not yet returned through the used ring.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>The avail index the next added chain gets (published or not).</summary>
    public ushort NextAvailIndex => _availIdx;

    /// <summary>The used index of the next element <see cref="TryGetUsed"/> consumes.</summary>
    public ushort LastUsedIndex => _lastUsed;

    /// <summary>
    /// Adds a chain of direct descriptors (readable buffers first, then writable) and puts its head
    /// in the avail ring; with <paramref name="publish"/> also publishes avail->idx. Returns the head.
    /// </summary>
    public ushort AddChain(ReadOnlySpan<DriverBuffer> readable, ReadOnlySpan<DriverBuffer> writable, bool publish = true)
    {
        int n = readable.Length + writable.Length;
        if (n == 0 || n > _free.Count)
        {
            throw new InvalidOperationException($"chain of {n} descriptors does not fit ({_free.Count} free)");
        }
        var used = new ushort[n];
        for (int i = 0; i < n; i++)
        {
            used[i] = _free.Pop();
        }
        for (int i = 0; i < n; i++)
        {
            bool isWritable = i >= readable.Length;
            DriverBuffer b = isWritable ? writable[i - readable.Length] : readable[i];
            ushort flags = (ushort)((isWritable ? FlagWrite : 0) | (i + 1 < n ? FlagNext : 0));
            WriteDescriptor(used[i], b.GuestPhysAddr, b.Length, flags, i + 1 < n ? used[i + 1] : (ushort)0);
        }
        _inFlight.Add(used[0], used);
        PushAvail(used[0], publish);
        return used[0];
    }

    /// <summary>
    /// Adds a chain through an indirect table written at <paramref name="tableGpa"/> (16 bytes per
    /// buffer, caller-allocated) and referenced by one ring descriptor. Returns the head.
    /// </summary>
    public ushort AddIndirectChain(ReadOnlySpan<DriverBuffer> readable, ReadOnlySpan<DriverBuffer> writable,
        ulong tableGpa, bool publish = true)
    {
        int n = readable.Length + writable.Length;
        if (n == 0 || _free.Count == 0)
        {
            throw new InvalidOperationException("empty chain or no free descriptor");
        }
        for (int i = 0; i < n; i++)
        {
            bool isWritable = i >= readable.Length;
            DriverBuffer b = isWritable ? writable[i - readable.Length] : readable[i];
            ushort flags = (ushort)((isWritable ? FlagWrite : 0) | (i + 1 < n ? FlagNext : 0));
            WriteDescriptorAt(tableGpa, i, b.GuestPhysAddr, b.Length, flags, (ushort)(i + 1 < n ? i + 1 : 0));
        }
        ushort head = _free.Pop();
        WriteDescriptor(head, tableGpa, (uint)(16 * n), FlagIndirect, 0);
        _inFlight.Add(head, [head]);
        PushAvail(head, publish);
        return head;
    }

    /// <summary>
    /// Raw: writes ring descriptor <paramref name="index"/> (masked to nothing: out-of-range indexes
    /// are the caller's to avoid; use it to build loops, bad flags, bad next fields).
    /// </summary>
    public void WriteDescriptor(ushort index, ulong addr, uint len, ushort flags, ushort next)
    {
        if (index >= Size)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }
        WriteDescriptorAt(DescGpa, index, addr, len, flags, next);
    }

    /// <summary>Raw: writes entry <paramref name="index"/> of a descriptor table at <paramref name="tableGpa"/>.</summary>
    public void WriteDescriptorAt(ulong tableGpa, int index, ulong addr, uint len, ushort flags, ushort next)
    {
        Span<byte> d = stackalloc byte[16];
        MemoryMarshal.Write(d, in addr);
        MemoryMarshal.Write(d[8..], in len);
        MemoryMarshal.Write(d[12..], in flags);
        MemoryMarshal.Write(d[14..], in next);
        _ram.Write(tableGpa + (16UL * (ulong)index), d);
    }

    /// <summary>
    /// Raw: puts <paramref name="head"/> (any value, even out of range) in the next avail slot and
    /// advances the driver's avail index; publishes it when <paramref name="publish"/>.
    /// </summary>
    public void PushAvail(ushort head, bool publish = true)
    {
        _ram.Write(AvailGpa + 4 + (2UL * (ulong)(_availIdx & (Size - 1))), head);
        _availIdx++;
        if (publish)
        {
            PublishAvail();
        }
    }
}
