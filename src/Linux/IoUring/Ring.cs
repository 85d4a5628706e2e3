using System.Diagnostics.CodeAnalysis;

namespace VirtioFsd.Linux.IoUring;

/// <summary>Options of <see cref="Ring.TryCreate"/>.</summary>
public readonly record struct RingOptions
{
    /// <summary>CQ size (IORING_SETUP_CQSIZE); 0 keeps the kernel default of twice the SQ size.</summary>
    public uint CqEntries { get; init; }

    /// <summary>
    /// Extra IORING_SETUP_* flags, e.g. SINGLE_ISSUER|DEFER_TASKRUN for a ring used by exactly one
    /// thread (the one that creates it) that always reaps through <see cref="Ring.SubmitAndWait"/>.
    /// </summary>
    public uint SetupFlags { get; init; }
}

/// <summary>
/// One io_uring instance: the SQ ring, CQ ring and SQE array mmapped from the kernel
/// (Documentation: io_uring(7), io_uring_setup(2)). Owned by one thread: nothing here is
/// thread-safe, by design — the daemon gives each virtqueue worker its own ring.
/// <para>
/// Completions are correlated by the caller's user_data. <see cref="CancelUserData"/> is reserved.
/// The ring counts operations in flight (SQEs consumed by the kernel whose final CQE — one
/// without IORING_CQE_F_MORE — was not reaped yet) so that <see cref="Dispose"/> can cancel them and
/// wait, and no kernel write lands in a buffer the caller frees after Dispose. Hence
/// IOSQE_CQE_SKIP_SUCCESS, which suppresses CQEs, must not be used.
/// </para>
/// <para>
/// Why the unsafe code here is sound: every ring pointer is the mapping base plus an offset the
/// kernel reported in io_uring_params, inside a mapping sized from those same offsets and entry
/// counts; SQE and CQE indexes are always masked with ring_mask; the mappings live until Dispose,
/// which is the only place they are unmapped, after every operation has completed.
/// </para>
/// </summary>
public sealed unsafe partial class Ring : IDisposable
{
    /// <summary>user_data of the ASYNC_CANCEL that <see cref="Dispose"/> submits; callers must not use it.</summary>
    public const ulong CancelUserData = ulong.MaxValue;

    /// <summary>Features the ring relies on: one mmap, no dropped CQEs, stable submission, timed waits.</summary>
    public const uint RequiredFeatures =
        IoUringConstants.FeatSingleMmap | IoUringConstants.FeatNoDrop |
        IoUringConstants.FeatSubmitStable | IoUringConstants.FeatExtArg;

    private int _fd;
    private readonly byte* _ringMemory;
    private readonly ulong _ringSize;
    private readonly IoUringSqe* _sqes;
    private readonly ulong _sqesSize;

    /// <summary>Bytes per SQE slot: 64, or 128 with IORING_SETUP_SQE128.</summary>
    private readonly uint _sqeStride;

    // SQ ring fields (pointers into the shared mapping).
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint* _sqFlags;
    private readonly uint* _sqDropped;
    private readonly uint _sqMask;

    // CQ ring fields.
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint* _cqOverflow;
    private readonly IoUringCqe* _cqes;
    private readonly uint _cqMask;

    private readonly bool[] _supportedOps = new bool[256];

    /// <summary>Our SQ tail: SQEs handed out by TryGetSqe; published to the kernel by Submit.</summary>
    private uint _sqeTail;

    /// <summary>Operations the kernel owns: consumed SQEs whose final CQE is not reaped yet.</summary>
    private long _inFlight;

    private Ring(int fd, in IoUringParams p, byte* ringMemory, ulong ringSize, IoUringSqe* sqes, ulong sqesSize)
    {
        _fd = fd;
        Features = p.Features;
        SqEntries = p.SqEntries;
        CqEntries = p.CqEntries;
        _ringMemory = ringMemory;
        _ringSize = ringSize;
        _sqes = sqes;
        _sqesSize = sqesSize;
        _sqeStride = (p.Flags & IoUringConstants.SetupSqe128) != 0 ? 2u * (uint)sizeof(IoUringSqe) : (uint)sizeof(IoUringSqe);

        _sqHead = (uint*)(ringMemory + p.SqOff.Head);
        _sqTail = (uint*)(ringMemory + p.SqOff.Tail);
        _sqFlags = (uint*)(ringMemory + p.SqOff.Flags);
        _sqDropped = (uint*)(ringMemory + p.SqOff.Dropped);
        _sqMask = *(uint*)(ringMemory + p.SqOff.RingMask);

        // With IORING_FEAT_SINGLE_MMAP the CQ ring lives in the same mapping as the SQ ring.
        _cqHead = (uint*)(ringMemory + p.CqOff.Head);
        _cqTail = (uint*)(ringMemory + p.CqOff.Tail);
        _cqOverflow = (uint*)(ringMemory + p.CqOff.Overflow);
        _cqes = (IoUringCqe*)(ringMemory + p.CqOff.Cqes);
        _cqMask = *(uint*)(ringMemory + p.CqOff.RingMask);

        // The SQ ring indexes the SQE array through sq_array. An identity map set once lets SQE
        // slot i be submitted at ring position i (what liburing does since 2.2); the kernel only
        // reads this array, and only below the tail we publish.
        uint* array = (uint*)(ringMemory + p.SqOff.Array);
        for (uint i = 0; i < p.SqEntries; i++)
        {
            array[i] = i;
        }
        _sqeTail = *_sqTail;
    }

    /// <summary>The ring fd, or -1 after Dispose.</summary>
    public int Fd => _fd;

    /// <summary>IORING_FEAT_* reported by the kernel.</summary>
    public uint Features { get; }

    public uint SqEntries { get; }

    public uint CqEntries { get; }

    /// <summary>True for a ring of 128-byte SQEs (<see cref="IoUringConstants.SetupSqe128"/>), which URING_CMD needs.</summary>
    public bool HasLargeSqes => _sqeStride != sizeof(IoUringSqe);

    /// <summary>Operations submitted whose final completion has not been reaped.</summary>
    public long InFlight => _inFlight;

    /// <summary>Completions dropped by the kernel (cq overflow counter); stays 0 with IORING_FEAT_NODROP.</summary>
    public uint CqOverflowCount => Volatile.Read(ref *_cqOverflow);

    /// <summary>Invalid SQEs the kernel skipped (sq dropped counter); stays 0 unless an SQ index is bad.</summary>
    public uint SqDroppedCount => Volatile.Read(ref *_sqDropped);

    /// <summary>Whether the kernel implements <paramref name="op"/> (IORING_REGISTER_PROBE at creation).</summary>
    public bool IsSupported(IoUringOp op) => _supportedOps[(byte)op];

    /// <summary>
    /// Sets up a ring with <paramref name="sqEntries"/> SQEs (rounded up to a power of two by the
    /// kernel). Fails with the setup errno, or -EOPNOTSUPP when the kernel lacks one of
    /// <see cref="RequiredFeatures"/>; <see cref="IoUringSupport.Detect"/> turns these into a reason.
    /// </summary>
    public static bool TryCreate(uint sqEntries, RingOptions options, [NotNullWhen(true)] out Ring? ring, out int error)
    {
        ring = null;
        var p = new IoUringParams { Flags = options.SetupFlags };
        if ((p.Flags & (IoUringConstants.SetupCoopTaskrun | IoUringConstants.SetupDeferTaskrun)) != 0)
        {
            // In these modes completions can wait as task work until the next GETEVENTS enter;
            // TASKRUN_FLAG makes the kernel say so in sq_ring->flags (IORING_SQ_TASKRUN), which is
            // what lets TryGetCompletion flush them instead of reporting an empty ring.
            p.Flags |= IoUringConstants.SetupTaskrunFlag;
        }
        if (options.CqEntries != 0)
        {
            p.Flags |= IoUringConstants.SetupCqSize;
            p.CqEntries = options.CqEntries;
        }
        int fd = Libc.IoUringSetup(sqEntries, ref p);
        if (fd < 0)
        {
            error = fd;
            return false;
        }
        if ((p.Features & RequiredFeatures) != RequiredFeatures)
        {
            Libc.Close(fd);
            error = -Errno.EOPNOTSUPP;
            return false;
        }

        ulong sqRingSize = p.SqOff.Array + (ulong)p.SqEntries * sizeof(uint);
        ulong cqRingSize = p.CqOff.Cqes + (ulong)p.CqEntries * (ulong)sizeof(IoUringCqe);
        ulong ringSize = Math.Max(sqRingSize, cqRingSize);
        nint ringMemory = Libc.Mmap(0, ringSize, Libc.PROT_READ | Libc.PROT_WRITE,
            Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, IoUringConstants.OffSqRing);
        if (ringMemory < 0)
        {
            Libc.Close(fd);
            error = (int)ringMemory;
            return false;
        }
        // With IORING_SETUP_SQE128 every slot is two io_uring_sqe long (io_uring.h: "the sqe array is twice the size").
        ulong sqeBytes = (p.Flags & IoUringConstants.SetupSqe128) != 0 ? 2ul * (ulong)sizeof(IoUringSqe) : (ulong)sizeof(IoUringSqe);
        ulong sqesSize = p.SqEntries * sqeBytes;
        nint sqes = Libc.Mmap(0, sqesSize, Libc.PROT_READ | Libc.PROT_WRITE,
            Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, IoUringConstants.OffSqes);
        if (sqes < 0)
        {
            Libc.Munmap(ringMemory, ringSize);
            Libc.Close(fd);
            error = (int)sqes;
            return false;
        }

        ring = new Ring(fd, p, (byte*)ringMemory, ringSize, (IoUringSqe*)sqes, sqesSize);
        ring.LoadProbe();
        error = 0;
        return true;
    }

    /// <summary>
    /// Cancels every operation in flight, waits for each to post its final completion (the
    /// kernel may still be writing into caller buffers until then), then unmaps and closes.
    /// Blocks for as long as an uncancellable operation (e.g. a disk read in an io-wq worker) runs.
    /// </summary>
    public void Dispose()
    {
        if (_fd < 0)
        {
            return;
        }
        bool drained = CancelAndDrain();
        if (drained)
        {
            Libc.Munmap((nint)_sqes, _sqesSize);
            Libc.Munmap((nint)_ringMemory, _ringSize);
        }
        // If draining failed (enter itself failed, which only a broken fd causes) the mappings are
        // leaked on purpose: closing the fd still makes the kernel cancel, and leaving the pages
        // mapped is the conservative choice.
        Libc.Close(_fd);
        _fd = -1;
    }

    private void LoadProbe()
    {
        const int MaxOps = 256;
        byte* buffer = stackalloc byte[sizeof(IoUringProbe) + (MaxOps * sizeof(IoUringProbeOp))];
        new Span<byte>(buffer, sizeof(IoUringProbe) + (MaxOps * sizeof(IoUringProbeOp))).Clear();
        if (Libc.IoUringRegister(_fd, IoUringConstants.RegisterProbe, buffer, MaxOps) < 0)
        {
            return; // Pre-5.6 kernels: no probe, IsSupported says false for everything.
        }
        var header = (IoUringProbe*)buffer;
        var ops = (IoUringProbeOp*)(buffer + sizeof(IoUringProbe));
        int count = Math.Min(header->OpsLength, (byte)(MaxOps - 1));
        for (int i = 0; i < count; i++)
        {
            _supportedOps[ops[i].Op] = (ops[i].Flags & IoUringConstants.ProbeOpSupported) != 0;
        }
    }
}
