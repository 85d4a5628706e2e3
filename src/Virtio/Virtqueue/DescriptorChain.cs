using VirtioFsd.Linux;

namespace VirtioFsd.Virtio.Virtqueue;

/// <summary>
/// One request popped from a virtqueue: the head index to hand back with
/// <see cref="SplitVirtqueue.AddUsed"/> and its buffers, translated to host memory and split at
/// region edges. The readable buffers precede the writable ones (virtio 1.2 §2.7.4), so both live
/// in one array. An instance can be reused with <see cref="SplitVirtqueue.TryPopChain(DescriptorChain)"/>
/// to pop without allocating; its array only grows.
/// </summary>
public sealed class DescriptorChain
{
    private IoVec[] _segments = new IoVec[8];
    private Migration.GuestRange[] _writableRanges = new Migration.GuestRange[4];
    private int _readableCount;
    private int _count;
    private int _writableRangeCount;

    public ushort HeadIndex { get; private set; }

    /// <summary>Device-readable buffers (the request), in order.</summary>
    public ReadOnlySpan<IoVec> Readable => _segments.AsSpan(0, _readableCount);

    /// <summary>Device-writable buffers (room for the reply), in order.</summary>
    public ReadOnlySpan<IoVec> Writable => _segments.AsSpan(_readableCount, _count - _readableCount);

    /// <summary>
    /// The writable descriptors as the guest gave them (guest physical address and length), in order: what dirty page
    /// logging marks once the reply's length is known.
    /// </summary>
    public ReadOnlySpan<Migration.GuestRange> WritableGuestRanges => _writableRanges.AsSpan(0, _writableRangeCount);

    /// <summary>Total bytes of <see cref="Readable"/>.</summary>
    public uint ReadableLength { get; private set; }

    /// <summary>Total bytes of <see cref="Writable"/>.</summary>
    public uint WritableLength { get; private set; }

    internal void Reset(ushort head)
    {
        HeadIndex = head;
        _readableCount = 0;
        _count = 0;
        _writableRangeCount = 0;
        ReadableLength = 0;
        WritableLength = 0;
    }

    /// <summary>Appends the host segments of one descriptor (all readable ones come first).</summary>
    internal bool TryAppend(Memory.GuestMemory memory, ulong guestPhysAddr, uint length, bool writable)
    {
        if (!memory.TryAppendIoVecs(guestPhysAddr, length, ref _segments, ref _count))
        {
            return false;
        }
        if (writable)
        {
            WritableLength += length;
            if (_writableRangeCount == _writableRanges.Length)
            {
                Array.Resize(ref _writableRanges, _writableRanges.Length * 2);
            }
            _writableRanges[_writableRangeCount++] = new Migration.GuestRange(guestPhysAddr, length);
        }
        else
        {
            _readableCount = _count;
            ReadableLength += length;
        }
        return true;
    }
}
