namespace VirtioFsd.VhostUserFrontend;

/// <summary>The driver's index, flag and event-field traffic, with the fences virtio_ring.c uses.</summary>
public sealed partial class DriverQueue
{
    /// <summary>
    /// Publishes avail->idx for every chain added so far and says whether the device wants a kick
    /// for them (virtqueue_kick_prepare_split): with EVENT_IDX when the new index passes
    /// avail_event, otherwise unless the device set VRING_USED_F_NO_NOTIFY.
    /// </summary>
    public bool PublishAvail()
    {
        ushort old = _publishedAvail;
        // Release: ring entries and descriptors written before become visible before the index (virtio_wmb).
        Volatile.Write(ref AvailIdxRef(), _availIdx);
        _publishedAvail = _availIdx;
        // Full fence: the index store before the load of avail_event / used flags (virtio_mb), the
        // driver's half of the handshake the device's EnableNotifications performs.
        Interlocked.MemoryBarrier();
        if (EventIdx)
        {
            ushort availEvent = ReadAvailEvent();
            return unchecked((ushort)(_availIdx - availEvent - 1) < (ushort)(_availIdx - old));
        }
        return (ReadUsedFlags() & UsedFlagNoNotify) == 0;
    }

    /// <summary>Raw: stores any value in avail->idx (also moves the driver's own idea of it).</summary>
    public void SetAvailIndex(ushort value)
    {
        Volatile.Write(ref AvailIdxRef(), value);
        _availIdx = value;
        _publishedAvail = value;
    }

    /// <summary>
    /// Raw: places both rings at the given indexes, as after a migration or a device restart
    /// (avail->idx and used->idx in memory, and the driver's own counters). Only with nothing in flight.
    /// </summary>
    public void StartAt(ushort availIndex, ushort usedIndex)
    {
        if (_inFlight.Count != 0)
        {
            throw new InvalidOperationException("chains in flight");
        }
        SetAvailIndex(availIndex);
        Volatile.Write(ref UsedIdxRef(), usedIndex);
        _lastUsed = usedIndex;
    }

    /// <summary>
    /// Consumes the next used element if the device published one; frees the descriptors of that
    /// chain when the id names a chain in flight (unknown ids are returned as they are, for tests).
    /// </summary>
    public bool TryGetUsed(out DriverUsedElement element)
    {
        element = default;
        // Acquire: read used->idx before the element it publishes (virtio_rmb in virtqueue_get_buf).
        if (ReadUsedIndex() == _lastUsed)
        {
            return false;
        }
        ulong elem = UsedGpa + 4 + (8UL * (ulong)(_lastUsed & (Size - 1)));
        uint id = _ram.Read<uint>(elem);
        uint len = _ram.Read<uint>(elem + 4);
        _lastUsed++;
        element = new DriverUsedElement((ushort)id, len);
        if (id < Size && _inFlight.Remove((ushort)id, out ushort[]? descriptors))
        {
            foreach (ushort d in descriptors)
            {
                _free.Push(d);
            }
        }
        if (EventIdx)
        {
            // As virtqueue_get_buf_ctx_split: ask for an interrupt at the next used element.
            SetUsedEvent(_lastUsed);
        }
        return true;
    }

    /// <summary>used->idx as the device last published it (acquire).</summary>
    public ushort ReadUsedIndex() => Volatile.Read(ref UsedIdxRef());

    /// <summary>used->flags (VRING_USED_F_NO_NOTIFY = 1).</summary>
    public ushort ReadUsedFlags() => Volatile.Read(ref RefAt(UsedGpa));

    /// <summary>avail_event, after the used ring (EVENT_IDX): "kick when avail idx passes this".</summary>
    public ushort ReadAvailEvent() => Volatile.Read(ref RefAt(UsedGpa + 4 + (8UL * Size)));

    /// <summary>Writes used_event, after the avail ring (EVENT_IDX): "interrupt when used idx passes this".</summary>
    public void SetUsedEvent(ushort value)
    {
        Volatile.Write(ref RefAt(AvailGpa + 4 + (2UL * Size)), value);
        // Full fence: the event store before any later read of used->idx (virtqueue_enable_cb).
        Interlocked.MemoryBarrier();
    }

    /// <summary>Writes avail->flags (VRING_AVAIL_F_NO_INTERRUPT = 1 suppresses interrupts without EVENT_IDX).</summary>
    public void SetAvailFlags(ushort flags) => Volatile.Write(ref RefAt(AvailGpa), flags);

    /// <summary>Sets or clears VRING_AVAIL_F_NO_INTERRUPT.</summary>
    public void SetInterruptsSuppressed(bool suppressed) => SetAvailFlags(suppressed ? AvailFlagNoInterrupt : (ushort)0);

    private ref ushort AvailIdxRef() => ref RefAt(AvailGpa + 2);

    private ref ushort UsedIdxRef() => ref RefAt(UsedGpa + 2);

    /// <summary>A 16-bit ring field in guest RAM, for atomic (volatile) access; the span is bounds-checked by GuestRam.</summary>
    private ref ushort RefAt(ulong gpa) =>
        ref System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(_ram.GetSpan(gpa, 2))[0];
}
