namespace VirtioFsd.Linux.IoUring;

/// <summary>IORING_OP_* (enum io_uring_op in linux/io_uring.h); the values are positions in that enum.</summary>
public enum IoUringOp : byte
{
    Nop = 0,
    Readv = 1,
    Writev = 2,
    Fsync = 3,
    ReadFixed = 4,
    WriteFixed = 5,
    PollAdd = 6,
    PollRemove = 7,
    SyncFileRange = 8,
    SendMsg = 9,
    RecvMsg = 10,
    Timeout = 11,
    TimeoutRemove = 12,
    Accept = 13,
    AsyncCancel = 14,
    LinkTimeout = 15,
    Connect = 16,
    Fallocate = 17,
    OpenAt = 18,
    Close = 19,
    FilesUpdate = 20,
    Statx = 21,
    Read = 22,
    Write = 23,
    Fadvise = 24,
    Madvise = 25,
    Send = 26,
    Recv = 27,
    OpenAt2 = 28,
    EpollCtl = 29,
    Splice = 30,
    ProvideBuffers = 31,
    RemoveBuffers = 32,
    Tee = 33,
    Shutdown = 34,
    RenameAt = 35,
    UnlinkAt = 36,
    MkdirAt = 37,
    SymlinkAt = 38,
    LinkAt = 39,

    /// <summary>IORING_OP_URING_CMD (5.19): a command for the file's driver (e.g. FUSE's ring commands) in the SQE's cmd area.</summary>
    UringCmd = 46,
}

/// <summary>Flag and offset constants of linux/io_uring.h (values copied with their C names).</summary>
public static class IoUringConstants
{
    // io_uring_setup(2) flags (IORING_SETUP_*).
    public const uint SetupCqSize = 1u << 3;
    public const uint SetupClamp = 1u << 4;
    public const uint SetupSubmitAll = 1u << 7;
    public const uint SetupCoopTaskrun = 1u << 8;
    public const uint SetupTaskrunFlag = 1u << 9;

    /// <summary>IORING_SETUP_SQE128 (5.19): 128-byte SQEs, whose last 80 bytes carry a URING_CMD's command.</summary>
    public const uint SetupSqe128 = 1u << 10;
    public const uint SetupSingleIssuer = 1u << 12;
    public const uint SetupDeferTaskrun = 1u << 13;

    // Features reported in io_uring_params.features (IORING_FEAT_*).
    /// <summary>SQ and CQ rings share one mmap (5.4).</summary>
    public const uint FeatSingleMmap = 1u << 0;
    /// <summary>Completions are never dropped: a full CQ spills into a kernel list (5.5).</summary>
    public const uint FeatNoDrop = 1u << 1;
    /// <summary>Everything an SQE points at (paths, iovec arrays, timespecs) is consumed at submit (5.5).</summary>
    public const uint FeatSubmitStable = 1u << 2;
    /// <summary>io_uring_enter takes a struct io_uring_getevents_arg with a timeout (5.11).</summary>
    public const uint FeatExtArg = 1u << 8;

    // mmap offsets (IORING_OFF_*).
    public const long OffSqRing = 0;
    public const long OffSqes = 0x10000000;

    // sq_ring->flags (IORING_SQ_*).
    /// <summary>IORING_SQ_CQ_OVERFLOW: completions wait in the kernel's overflow list.</summary>
    public const uint SqCqOverflow = 1u << 1;
    /// <summary>IORING_SQ_TASKRUN: completions wait as task work (with SETUP_TASKRUN_FLAG).</summary>
    public const uint SqTaskrun = 1u << 2;

    // io_uring_enter(2) flags (IORING_ENTER_*).
    public const uint EnterGetEvents = 1u << 0;
    public const uint EnterExtArg = 1u << 3;

    // sqe->flags (IOSQE_*).
    public const byte SqeFixedFile = 1 << 0;
    public const byte SqeIoDrain = 1 << 1;
    /// <summary>IOSQE_IO_LINK: the next SQE starts only after this one succeeds.</summary>
    public const byte SqeIoLink = 1 << 2;
    public const byte SqeIoHardLink = 1 << 3;
    public const byte SqeAsync = 1 << 4;

    // cqe->flags (IORING_CQE_F_*).
    public const uint CqeFlagMore = 1u << 1;

    /// <summary>IORING_FSYNC_DATASYNC: fdatasync instead of fsync.</summary>
    public const uint FsyncDataSync = 1u << 0;

    /// <summary>IORING_POLL_ADD_MULTI (in sqe->len): the poll stays armed and posts a CQE per event.</summary>
    public const uint PollAddMulti = 1u << 0;

    // sqe->timeout_flags (IORING_TIMEOUT_*).
    public const uint TimeoutAbs = 1u << 0;
    public const uint TimeoutEtimeSuccess = 1u << 5;

    // sqe->cancel_flags (IORING_ASYNC_CANCEL_*).
    public const uint AsyncCancelAll = 1u << 0;
    public const uint AsyncCancelFd = 1u << 1;
    public const uint AsyncCancelAny = 1u << 2;

    // io_uring_register(2) opcodes (IORING_REGISTER_*).
    public const uint RegisterBuffers = 0;
    public const uint UnregisterBuffers = 1;
    public const uint RegisterProbe = 8;
    public const uint RegisterBuffers2 = 15;
    public const uint RegisterBuffersUpdate = 16;
    public const uint RegisterIowqMaxWorkers = 19;

    /// <summary>IORING_RSRC_REGISTER_SPARSE: register an empty table to be filled by updates.</summary>
    public const uint RsrcRegisterSparse = 1u << 0;

    /// <summary>IO_URING_OP_SUPPORTED in io_uring_probe_op.flags.</summary>
    public const ushort ProbeOpSupported = 1;

    // poll(2) event bits as io_uring takes them (poll32_events).
    public const uint PollIn = 0x001;
    public const uint PollOut = 0x004;
    public const uint PollErr = 0x008;
    public const uint PollHup = 0x010;
}
