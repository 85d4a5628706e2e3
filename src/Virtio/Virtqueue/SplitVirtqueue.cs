using Serilog;
using VirtioFsd.Virtio.Memory;

namespace VirtioFsd.Virtio.Virtqueue;

/// <summary>
/// The device side of a split virtqueue (virtio 1.2 §2.7, linux/virtio_ring.h): pops descriptor
/// chains the driver made available, returns them through the used ring and signals the guest.
/// </summary>
/// <remarks>
/// <para>Everything the guest can write is hostile. Each guest-shared field is read once into a
/// local; any malformed chain or index marks the queue broken with one log line (as libvhost-user's
/// vu_panic does) and a broken queue pops nothing more and writes nothing more. The process lives.</para>
/// <para>Threading: the pop side (<see cref="TryPopChain(DescriptorChain)"/>, <see cref="EnableNotifications"/>,
/// <see cref="DisableNotifications"/>) has a single consumer: one thread at a time, the queue's serving
/// thread, takes no lock (a lock per request was measurable on READ at depth 1, docs/benchmark.md); Debug
/// builds assert the single consumer. The used side (<see cref="AddUsed"/>, <see cref="NotifyIfNeeded"/>)
/// is serialized by a lock, so workers may complete requests while the serving thread pops.</para>
/// <para>Ownership: the queue owns neither the kick/call fds nor the memory snapshot; the vhost-user
/// handler does, and builds a new queue (carrying <see cref="LastAvailIndex"/>) when either changes.
/// <see cref="Dispose"/> detaches: the queue then touches guest memory no more. It is called once the
/// consumer has stopped (the handler calls it after <c>IVhostUserBackend.StopQueue</c> returned, whose
/// contract is that no backend thread touches the queue any more); completers still running are excluded
/// by the used-side lock.</para>
/// <para>Notifications start enabled, but nothing is written to the ring until the backend calls
/// <see cref="EnableNotifications"/> or <see cref="DisableNotifications"/> (a stopped or disabled ring
/// must not be written, and construction may precede SET_VRING_ENABLE). A backend therefore serves a
/// queue as: on start and on each kick, { Disable; pop until empty; if Enable() returned true, repeat }.</para>
/// </remarks>
public sealed partial class SplitVirtqueue : IDisposable
{
    /// <summary>
    /// Cap on the entries of one indirect table. The spec bounds a chain by the queue size (virtio 1.2
    /// §2.7.5.3.1) without bounding indirect tables; 32768 (the largest queue size) keeps a hostile
    /// table from making us build millions of segments.
    /// </summary>
    public const int MaxIndirectEntries = SplitRingLayout.MaxQueueSize;

    private readonly SplitRing _ring;
    private readonly GuestMemory _memory;
    private readonly ILogger _log;
    private readonly bool _eventIdx;
    private readonly Lock _usedLock = new();
    private readonly Migration.DirtyPageLog? _dirtyLog;

    // Per head index, the writable guest ranges of the chain popped with that head (a head is in flight at most once:
    // the driver reuses it only after it was used), kept until AddUsed marks what the reply wrote. Only with a log.
    // Most FUSE replies land in one or two buffers (the out header and its body): those ranges live in one flat array
    // made with the queue, InlineWrites per head; a longer chain (a large READ, page by page) keeps its ranges in an
    // array of that head's own, made the first time the head needs one and reused after.
    private const int InlineWrites = 2;
    private readonly Migration.GuestRange[]? _inlineWrites;
    private readonly Migration.GuestRange[]?[]? _longWrites;
    private readonly int[]? _writeCountByHead;

    // Pop side: touched by the single consumer thread only (no lock; see the remarks).
    private ushort _lastAvail;
    private ushort _shadowAvail;
    private bool _notificationsEnabled = true;

    // Used side (under _usedLock).
    private bool _logUsedRing;
    private ulong _usedRingGuestAddress;
    private ushort _nextUsed;
    private ushort _signalledUsed;
    private bool _signalledUsedValid;

    private volatile bool _broken;
    private volatile bool _disposed;

    /// <summary>
    /// Builds the queue over already-translated rings. Throws <see cref="ArgumentException"/> when the
    /// configuration is unusable (size not a power of two up to 32768, rings misaligned or not inside
    /// <paramref name="memory"/>): the handler must have validated the frontend's values before.
    /// </summary>
    public SplitVirtqueue(VirtqueueConfig config, GuestMemory memory, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(log);
        string? problem = SplitRing.Validate(memory, config.Rings, config.Size);
        if (problem is not null)
        {
            throw new ArgumentException($"virtqueue {config.Index}: {problem}", nameof(config));
        }
        _ring = SplitRing.CreateValidated(config.Rings, config.Size);
        _memory = memory;
        _log = log.ForContext<SplitVirtqueue>();
        _eventIdx = config.EventIdx;
        Index = config.Index;
        Size = config.Size;
        KickFd = config.KickFd;
        CallFd = config.CallFd;
        _usedRingGuestAddress = config.UsedRingGuestAddress;
        _logUsedRing = config.LogUsedRing;
        _dirtyLog = config.DirtyLog;
        if (_dirtyLog is not null)
        {
            _inlineWrites = new Migration.GuestRange[config.Size * InlineWrites];
            _longWrites = new Migration.GuestRange[config.Size][];
            _writeCountByHead = new int[config.Size];
        }
        _lastAvail = config.LastAvailIndex;
        _shadowAvail = config.LastAvailIndex;
        // The used index continues from what is in the ring: the device wrote it last (before a
        // restart, too), as libvhost-user's vu_set_vring_addr does.
        _nextUsed = _ring.ReadUsedIdx();
    }

    public int Index { get; }

    public ushort Size { get; }

    /// <summary>Kick eventfd to wait on, or -1: the backend must poll the avail ring.</summary>
    public int KickFd { get; }

    /// <summary>Call eventfd the queue signals, or -1.</summary>
    public int CallFd { get; }

    /// <summary>Guest physical address of the used ring, for dirty logging of used ring writes.</summary>
    public ulong UsedRingGuestAddress
    {
        get
        {
            lock (_usedLock)
            {
                return _usedRingGuestAddress;
            }
        }
    }

    /// <summary>Whether used ring writes are logged (VHOST_VRING_F_LOG) while dirty logging is on.</summary>
    public bool LogsUsedRing
    {
        get
        {
            lock (_usedLock)
            {
                return _logUsedRing;
            }
        }
    }

    /// <summary>
    /// SET_VRING_ADDR that changes only VHOST_VRING_F_LOG or log_guest_addr (QEMU sends one per ring when migration
    /// starts and ends): applied to the running queue, which goes on serving; the next used entry is logged (or not).
    /// </summary>
    public void SetUsedRingLogging(bool enabled, ulong usedRingGuestAddress)
    {
        lock (_usedLock)
        {
            _logUsedRing = enabled;
            _usedRingGuestAddress = usedRingGuestAddress;
        }
    }

    public bool EventIdx => _eventIdx;

    /// <summary>True after hostile input was seen; the reason was logged once.</summary>
    public bool IsBroken => _broken;

    /// <summary>
    /// The next avail ring index to consume (GET_VRING_BASE answers this once the queue is stopped: the
    /// consumer's stop and join give the reader a happens-before edge with its last write).
    /// </summary>
    public ushort LastAvailIndex => _lastAvail;

    /// <summary>The next used ring index the device will fill.</summary>
    public ushort NextUsedIndex
    {
        get
        {
            lock (_usedLock)
            {
                return _nextUsed;
            }
        }
    }

    /// <summary>Detaches the queue from guest memory: afterwards it pops, writes and signals nothing.</summary>
    public void Dispose()
    {
        lock (_usedLock)
        {
            _disposed = true;
        }
    }

    /// <summary>Marks the queue broken (once) with one log line saying what the guest got wrong.</summary>
    private void MarkBroken(string reason)
    {
        if (_broken)
        {
            return;
        }
        _broken = true;
        _log.Error("virtqueue {Queue}: {Reason} (at avail index {Avail}); queue marked broken", Index, reason, _lastAvail);
    }
}
