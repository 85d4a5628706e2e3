using VirtioFsd.Virtio.Memory;

namespace VirtioFsd.Virtio.Virtqueue;

/// <summary>The driver-to-device half: reading the avail ring and walking descriptor chains.</summary>
public sealed partial class SplitVirtqueue
{
    /// <summary>Pops the next available chain into a new <see cref="DescriptorChain"/>.</summary>
    /// <returns>False when nothing is available, or the queue is broken or disposed.</returns>
    public bool TryPopChain(out DescriptorChain chain)
    {
        chain = new DescriptorChain();
        return TryPopChain(chain);
    }

    /// <summary>Pops the next available chain into <paramref name="into"/> (reused, no allocation once warm).</summary>
    /// <returns>False when nothing is available, or the queue is broken or disposed; <paramref name="into"/> is then meaningless.</returns>
    public bool TryPopChain(DescriptorChain into)
    {
        ArgumentNullException.ThrowIfNull(into);
        EnterConsumer();
        try
        {
            if (_broken || _disposed || !HasAvailable())
            {
                return false;
            }
            // Ring entries are read after avail->idx (acquire in HasAvailable); the slot is
            // masked to the ring, the head it names is guest data and checked below.
            ushort head = _ring.ReadAvailEntry(_lastAvail & (Size - 1));
            string? problem = head >= Size ? $"avail ring entry names descriptor {head} beyond queue size {Size}"
                : WalkChain(head, into);
            if (problem is not null)
            {
                MarkBroken($"chain head {head}: {problem}");
                return false;
            }
            _lastAvail = unchecked((ushort)(_lastAvail + 1));
            KeepWrites(head, into);
            if (_eventIdx && _notificationsEnabled)
            {
                // Keep avail_event current so the driver kicks for the next buffer it adds
                // (virtio 1.2 §2.7.10; libvhost-user's vu_queue_pop does the same). A plain store: no
                // ordering is owed here; the full fence in EnableNotifications covers the sleep/kick race.
                _ring.WriteAvailEvent(_lastAvail);
                LogUsedRingWrite(AvailEventOffset, 2);
            }
            return true;
        }
        finally
        {
            ExitConsumer();
        }
    }

    /// <summary>
    /// Remembers where the chain's reply may land, for dirty logging when it is used. Always, not only while logging:
    /// logging may start between this pop and its AddUsed, and the reply's pages must be marked then too.
    /// </summary>
    private void KeepWrites(ushort head, DescriptorChain chain)
    {
        if (_inlineWrites is null)
        {
            return;
        }
        ReadOnlySpan<Migration.GuestRange> ranges = chain.WritableGuestRanges;
        if (ranges.Length <= InlineWrites)
        {
            ranges.CopyTo(_inlineWrites.AsSpan(head * InlineWrites, InlineWrites));
        }
        else
        {
            Migration.GuestRange[]? kept = _longWrites![head];
            if (kept is null || kept.Length < ranges.Length)
            {
                kept = new Migration.GuestRange[ranges.Length];
                _longWrites[head] = kept;
            }
            ranges.CopyTo(kept);
        }
        // The count is published with a release store after the ranges; AddUsed (any thread) reads it with acquire.
        Volatile.Write(ref _writeCountByHead![head], ranges.Length);
    }

    /// <summary>
    /// Whether the driver made more chains available than were popped; re-reads avail->idx only
    /// when the cached copy is used up. Marks the queue broken when the index moved further ahead
    /// than the queue has entries (the driver cannot have that many in flight).
    /// </summary>
    private bool HasAvailable()
    {
        if (_shadowAvail != _lastAvail)
        {
            return true;
        }
        // Acquire: the avail ring entries the driver published with this index are read after it
        // (virtio 1.2 §2.7.13: the driver's virtio_wmb before its avail->idx store pairs with this).
        ushort availIdx = _ring.ReadAvailIdxAcquire();
        if (unchecked((ushort)(availIdx - _lastAvail)) > Size)
        {
            MarkBroken($"avail index {availIdx} is more than the queue size ahead of {_lastAvail}");
            return false;
        }
        _shadowAvail = availIdx;
        return availIdx != _lastAvail;
    }

#if DEBUG
    /// <summary>Debug builds: 1 while a thread is in the pop side, to catch a second consumer.</summary>
    private int _consumerActive;
#endif

    /// <summary>Debug builds assert the single-consumer contract of the pop side; Release builds pay nothing.</summary>
    [System.Diagnostics.Conditional("DEBUG")]
    private void EnterConsumer()
    {
#if DEBUG
        if (Interlocked.Exchange(ref _consumerActive, 1) != 0)
        {
            throw new InvalidOperationException($"virtqueue {Index}: two threads in the pop side at once (single-consumer contract)");
        }
#endif
    }

    [System.Diagnostics.Conditional("DEBUG")]
    private void ExitConsumer()
    {
#if DEBUG
        Volatile.Write(ref _consumerActive, 0);
#endif
    }

    /// <summary>
    /// Walks the chain starting at <paramref name="head"/> (&lt; Size) into <paramref name="chain"/>.
    /// Returns null, or what is wrong with the chain.
    /// </summary>
    private string? WalkChain(ushort head, DescriptorChain chain)
    {
        chain.Reset(head);
        GuestMemory memory = _memory;
        nint indirectTable = 0;  // 0: walking the ring's own descriptor table
        int tableSize = Size;
        int ttl = Size;          // a chain never visits more descriptors than its table has: no loops
        int index = head;
        ulong total = 0;
        bool sawWritable = false;
        while (true)
        {
            if (ttl-- == 0)
            {
                return indirectTable == 0 ? "descriptor chain longer than the queue size (loop?)"
                    : "indirect descriptor chain longer than its table (loop?)";
            }
            VringDesc desc = indirectTable == 0 ? _ring.ReadDescriptor(index) : ReadIndirect(indirectTable, index);
            if ((desc.Flags & SplitRingLayout.DescFlagIndirect) != 0)
            {
                if (indirectTable != 0)
                {
                    return "nested indirect descriptor table";
                }
                if ((desc.Flags & SplitRingLayout.DescFlagNext) != 0)
                {
                    return "descriptor has both INDIRECT and NEXT";
                }
                if (desc.Len == 0 || desc.Len % SplitRingLayout.DescriptorSize != 0)
                {
                    return $"indirect table length {desc.Len} is not a non-zero multiple of {SplitRingLayout.DescriptorSize}";
                }
                if (desc.Len / SplitRingLayout.DescriptorSize > MaxIndirectEntries)
                {
                    return $"indirect table of {desc.Len / SplitRingLayout.DescriptorSize} entries exceeds {MaxIndirectEntries}";
                }
                if (!memory.TryGetContiguous(desc.Addr, desc.Len, out indirectTable))
                {
                    return $"indirect table at 0x{desc.Addr:x} length {desc.Len} is not inside one guest memory region";
                }
                // virtio 1.2 §2.7.5.3.2: the device ignores WRITE on the descriptor naming a table.
                tableSize = (int)(desc.Len / SplitRingLayout.DescriptorSize);
                ttl = tableSize;
                index = 0;
                continue;
            }
            if (desc.Len == 0)
            {
                return $"zero-length buffer in descriptor {index}";
            }
            bool writable = (desc.Flags & SplitRingLayout.DescFlagWrite) != 0;
            if (!writable && sawWritable)
            {
                return "device-readable buffer after a device-writable one";
            }
            sawWritable |= writable;
            total += desc.Len;
            if (total > uint.MaxValue)
            {
                return "chain length exceeds 4 GiB";
            }
            if (!chain.TryAppend(memory, desc.Addr, desc.Len, writable))
            {
                return $"buffer at 0x{desc.Addr:x} length {desc.Len} is not inside guest memory";
            }
            if ((desc.Flags & SplitRingLayout.DescFlagNext) == 0)
            {
                return null;
            }
            if (desc.Next >= tableSize)
            {
                return $"next index {desc.Next} beyond table size {tableSize}";
            }
            index = desc.Next;
        }
    }

    /// <summary>Copy of entry <paramref name="index"/> (&lt; the table's entry count) of an indirect table.</summary>
    private static unsafe VringDesc ReadIndirect(nint table, int index)
    {
        // Sound: the table was translated with TryGetContiguous for its whole length (entries * 16)
        // and index is below its entry count, so all 16 bytes lie in one mapped region.
        return System.Runtime.CompilerServices.Unsafe.ReadUnaligned<VringDesc>((byte*)table + (SplitRingLayout.DescriptorSize * index));
    }
}
