using Serilog;

namespace VirtioFsd.Virtio.Migration;

/// <summary>
/// Dirty page logging for live migration (vhost-user.rst "Migration"): while the front-end has acked VHOST_F_LOG_ALL
/// and given a log with SET_LOG_BASE, every guest page the device writes is marked in the log, so QEMU sends that page
/// again. One instance per connection, shared by the transport (which switches it) and every queue (which marks):
/// switching never stops a queue, so a guest waiting for a lock or a long read notices nothing of a migration starting.
/// </summary>
/// <remarks>
/// The queues mark at the moment they publish a used entry: the reply bytes the request wrote (by guest physical address,
/// as the chain's writable descriptors gave them) and the used ring entry and index (when the ring's
/// VHOST_VRING_F_LOG is set, relative to its log_guest_addr). The data reached guest memory before that, so a page
/// is never marked before its content is final; and GET_VRING_BASE returns only after every request of the queue was
/// published, so QEMU's last sync after stopping the rings sees every mark.
/// </remarks>
public sealed class DirtyPageLog : IDisposable
{
    private readonly ILogger _log;
    private readonly Lock _switchLock = new();
    private DirtyLogMapping? _mapping;
    private volatile bool _logAll;
    private int _warnedBeyond;

    public DirtyPageLog(ILogger log)
    {
        ArgumentNullException.ThrowIfNull(log);
        _log = log.ForContext<DirtyPageLog>();
    }

    /// <summary>Whether writes are being logged now: VHOST_F_LOG_ALL acked and a log mapped. One volatile read.</summary>
    public bool IsActive => _logAll && Volatile.Read(ref _mapping) is not null;

    /// <summary>The bitmap's size in bytes, 0 without one (tests, diagnostics).</summary>
    public ulong Size => Volatile.Read(ref _mapping)?.Size ?? 0;

    /// <summary>SET_FEATURES with or without VHOST_F_LOG_ALL (bit 26).</summary>
    public void SetLogAll(bool enabled)
    {
        if (_logAll != enabled)
        {
            _logAll = enabled;
            _log.Information("Dirty page logging {State}", enabled ? "on" : "off");
        }
    }

    /// <summary>
    /// SET_LOG_BASE: maps the new log from <paramref name="fd"/> (the caller keeps the fd) and retires the old one
    /// once no queue is marking in it, before returning: the front-end syncs and frees the old log after our reply,
    /// and a mark landing there afterwards would be lost. Returns 0 or -errno (the old log then stays).
    /// </summary>
    public int Replace(int fd, ulong size, ulong offset)
    {
        int r = DirtyLogMapping.TryMap(fd, size, offset, out DirtyLogMapping? mapping);
        if (r < 0)
        {
            _log.Warning("SET_LOG_BASE: log of {Size} bytes at offset {Offset} refused ({Errno})", size, offset, Linux.Errno.Describe(r));
            return r;
        }
        Swap(mapping);
        _log.Information("Dirty page log set: {Size} bytes, covering guest addresses below 0x{Limit:x}",
            size, size * 8 << DirtyLogMapping.PageShift);
        return 0;
    }

    /// <summary>The connection ended or the device was reset: no log, no logging.</summary>
    public void Clear()
    {
        _logAll = false;
        Swap(null);
    }

    public void Dispose() => Clear();

    /// <summary>Marks the pages of [<paramref name="guestAddr"/>, +<paramref name="length"/>) if logging is on.</summary>
    public void Mark(ulong guestAddr, ulong length)
    {
        if (!_logAll || length == 0)
        {
            return;
        }
        DirtyLogMapping? mapping = Enter();
        if (mapping is null)
        {
            return;
        }
        try
        {
            if (!mapping.Mark(guestAddr, length))
            {
                WarnBeyond(guestAddr, length, mapping.Size);
            }
        }
        finally
        {
            mapping.Exit();
        }
    }

    /// <summary>Marks each range's first <paramref name="written"/> bytes in order: the part of a reply really written.</summary>
    public void MarkWritten(ReadOnlySpan<GuestRange> ranges, uint written)
    {
        if (!_logAll || written == 0)
        {
            return;
        }
        DirtyLogMapping? mapping = Enter();
        if (mapping is null)
        {
            return;
        }
        try
        {
            ulong left = written;
            foreach (GuestRange range in ranges)
            {
                if (left == 0)
                {
                    break;
                }
                ulong n = Math.Min(left, range.Length);
                if (!mapping.Mark(range.Address, n))
                {
                    WarnBeyond(range.Address, n, mapping.Size);
                }
                left -= n;
            }
        }
        finally
        {
            mapping.Exit();
        }
    }

    private DirtyLogMapping? Enter()
    {
        while (true)
        {
            DirtyLogMapping? mapping = Volatile.Read(ref _mapping);
            if (mapping is null || mapping.TryEnter())
            {
                return mapping;
            }
            // Retired under us: the replacement is already published (Swap stores it first).
        }
    }

    private void Swap(DirtyLogMapping? next)
    {
        DirtyLogMapping? old;
        lock (_switchLock)
        {
            old = Interlocked.Exchange(ref _mapping, next);
        }
        old?.Retire();
    }

    /// <summary>
    /// QEMU sizes the log to cover every region and used ring (vhost_get_log_size), so this is a front-end bug; the
    /// page cannot be marked and QEMU will not resend it. Said once per connection, loudly.
    /// </summary>
    private void WarnBeyond(ulong guestAddr, ulong length, ulong size)
    {
        if (Interlocked.Exchange(ref _warnedBeyond, 1) == 0)
        {
            _log.Error("Dirty page log of {Size} bytes does not cover guest range 0x{Addr:x}+{Length}: those pages cannot be marked",
                size, guestAddr, length);
        }
    }
}

/// <summary>A range of guest physical memory (a descriptor's buffer).</summary>
public readonly record struct GuestRange(ulong Address, ulong Length);
