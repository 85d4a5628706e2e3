using VirtioFsd.Linux;

namespace VirtioFsd.Virtio.Virtqueue;

/// <summary>The device-to-driver half: the used ring, guest notification and kick suppression.</summary>
public sealed partial class SplitVirtqueue
{
    /// <summary>
    /// Returns a chain to the driver with the number of bytes written into its writable buffers,
    /// and publishes it at once (used->idx). Safe to call from several threads.
    /// </summary>
    public void AddUsed(ushort headIndex, uint bytesWritten)
    {
        lock (_usedLock)
        {
            if (_broken || _disposed)
            {
                return;
            }
            if (headIndex >= Size)
            {
                // Our own bug, not the guest's: heads come from TryPopChain, which checked them.
                _log.Error("virtqueue {Queue}: AddUsed with head {Head} beyond queue size {Size} ignored",
                    Index, headIndex, Size);
                return;
            }
            int slot = _nextUsed & (Size - 1);
            _ring.WriteUsedElement(slot, headIndex, bytesWritten);
            _nextUsed = unchecked((ushort)(_nextUsed + 1));
            // The reply's pages are marked dirty before the driver can see the reply (libvhost-user logs in
            // vu_queue_fill, before the flush): a front-end that syncs the log after the completion must find them.
            LogUsed(headIndex, bytesWritten, slot);
            // Release: the element above becomes visible to the driver before the index that
            // publishes it (virtio 1.2 §2.7.14 step 3; virtio_wmb in Linux's virtqueue_get_buf pairs).
            _ring.WriteUsedIdxRelease(_nextUsed);
        }
    }

    /// <summary>
    /// While dirty logging is on: marks the pages the reply wrote (the first <paramref name="bytesWritten"/> bytes of
    /// the chain's writable buffers) and, with VHOST_VRING_F_LOG, the used element and used->idx (vhost-user.rst
    /// "Migration": used ring writes are logged at log_guest_addr + their offset in the ring). Under the used lock.
    /// </summary>
    private void LogUsed(ushort headIndex, uint bytesWritten, int slot)
    {
        Migration.DirtyPageLog? log = _dirtyLog;
        if (log is null || !log.IsActive)
        {
            return;
        }
        int count = Volatile.Read(ref _writeCountByHead![headIndex]);
        if (bytesWritten > 0)
        {
            log.MarkWritten(KeptWrites(headIndex, count), bytesWritten);
        }
        if (_logUsedRing)
        {
            log.Mark(_usedRingGuestAddress + 4 + ((ulong)SplitRingLayout.UsedElementSize * (ulong)slot), SplitRingLayout.UsedElementSize);
            log.Mark(_usedRingGuestAddress + 2, 2);
        }
    }

    /// <summary>The writable ranges <see cref="KeepWrites"/> kept for <paramref name="headIndex"/>'s chain of <paramref name="count"/>.</summary>
    private ReadOnlySpan<Migration.GuestRange> KeptWrites(ushort headIndex, int count)
    {
        if (count <= InlineWrites)
        {
            return _inlineWrites.AsSpan(headIndex * InlineWrites, count);
        }
        Migration.GuestRange[]? kept = _longWrites![headIndex];
        return kept is null ? default : kept.AsSpan(0, Math.Min(count, kept.Length));
    }

    /// <summary>Offset of avail_event in the used ring: after the flags, the index and Size elements.</summary>
    private ulong AvailEventOffset => 4 + ((ulong)SplitRingLayout.UsedElementSize * Size);

    /// <summary>used->flags or avail_event changed: logged like the rest of the used ring (offset in the ring, length).</summary>
    private void LogUsedRingWrite(ulong offset, ulong length)
    {
        Migration.DirtyPageLog? log = _dirtyLog;
        if (log is null || !log.IsActive)
        {
            return;
        }
        lock (_usedLock)
        {
            if (_logUsedRing)
            {
                log.Mark(_usedRingGuestAddress + offset, length);
            }
        }
    }

    /// <summary>
    /// Signals the call eventfd if the driver wants to hear about the used entries added since the
    /// last signal: with EVENT_IDX when used->idx crossed used_event (vring_need_event), without it
    /// unless the driver set VRING_AVAIL_F_NO_INTERRUPT. Returns whether it signalled.
    /// </summary>
    public bool NotifyIfNeeded()
    {
        lock (_usedLock)
        {
            if (_broken || _disposed)
            {
                return false;
            }
            // Full fence: our store of used->idx must be visible before we load used_event / avail
            // flags, or we could miss a driver that just re-enabled interrupts after reading the old
            // used->idx (store-load ordering; virtio_ring.c's virtqueue_kick_prepare uses virtio_mb).
            Interlocked.MemoryBarrier();
            ushort newUsed = _nextUsed;
            bool hadSignal = _signalledUsedValid;
            ushort oldUsed = _signalledUsed;
            if (hadSignal && newUsed == oldUsed)
            {
                return false; // nothing added since the last signal
            }
            bool wanted;
            if (_eventIdx)
            {
                wanted = !hadSignal || NeedEvent(_ring.ReadUsedEvent(), newUsed, oldUsed);
            }
            else
            {
                wanted = (_ring.ReadAvailFlags() & SplitRingLayout.AvailFlagNoInterrupt) == 0;
            }
            _signalledUsed = newUsed;
            _signalledUsedValid = true;
            if (!wanted || CallFd < 0)
            {
                return false;
            }
            long r = Libc.EventFdWrite(CallFd);
            if (r < 0)
            {
                _log.Warning("virtqueue {Queue}: signalling call fd failed: {Error}", Index, Errno.Describe((int)r));
                return false;
            }
            return true;
        }
    }

    /// <summary>
    /// vring_need_event (linux/virtio_ring.h): true when <paramref name="eventIdx"/> lies in
    /// [old, new), i.e. the used index moved past the entry the driver asked to hear about.
    /// All arithmetic is modulo 2^16.
    /// </summary>
    internal static bool NeedEvent(ushort eventIdx, ushort newIdx, ushort oldIdx) =>
        unchecked((ushort)(newIdx - eventIdx - 1) < (ushort)(newIdx - oldIdx));

    /// <summary>
    /// Asks the driver not to kick (while the backend is draining the queue anyway): sets
    /// VRING_USED_F_NO_NOTIFY, or with EVENT_IDX stops advancing avail_event, so the driver kicks
    /// at most once more. Pop side: the single consumer only.
    /// </summary>
    public void DisableNotifications()
    {
        EnterConsumer();
        try
        {
            if (_broken || _disposed || !_notificationsEnabled)
            {
                return;
            }
            _notificationsEnabled = false;
            if (!_eventIdx)
            {
                // A plain store: a kick the driver sends anyway costs a wake-up, never a lost buffer.
                _ring.WriteUsedFlags(SplitRingLayout.UsedFlagNoNotify);
                LogUsedRingWrite(0, 2);
            }
        }
        finally
        {
            ExitConsumer();
        }
    }

    /// <summary>
    /// Whether the driver has made buffers available that were not popped yet: one acquire load of
    /// avail->idx, for a backend that polls the ring for a moment instead of sleeping until a kick.
    /// Pop side: the single consumer only.
    /// </summary>
    public bool PollAvailable()
    {
        EnterConsumer();
        try
        {
            return !_broken && !_disposed && HasAvailable();
        }
        finally
        {
            ExitConsumer();
        }
    }

    /// <summary>
    /// Asks the driver to kick for new buffers again, then re-checks the avail ring. Returns true
    /// when buffers arrived meanwhile (the driver may not have kicked for them): pop again.
    /// Pop side: the single consumer only.
    /// </summary>
    public bool EnableNotifications()
    {
        EnterConsumer();
        try
        {
            if (_broken || _disposed)
            {
                return false;
            }
            _notificationsEnabled = true;
            if (_eventIdx)
            {
                _ring.WriteAvailEvent(_lastAvail);
                LogUsedRingWrite(AvailEventOffset, 2);
            }
            else
            {
                _ring.WriteUsedFlags(0);
                LogUsedRingWrite(0, 2);
            }
            // Full fence: the store above must be visible before we re-read avail->idx, else a driver
            // that added a buffer and read the old flags/avail_event skips its kick while we miss the
            // buffer: both sides sleep (store-load; virtio_ring.c's virtqueue_enable_cb_prepare).
            Interlocked.MemoryBarrier();
            return HasAvailable();
        }
        finally
        {
            ExitConsumer();
        }
    }
}
