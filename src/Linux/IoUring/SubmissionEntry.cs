namespace VirtioFsd.Linux.IoUring;

/// <summary>
/// A zeroed SQE slot handed out by <see cref="Ring.TryGetSqe"/>, with one preparation method per
/// operation. Field placement follows the kernel's <c>io_*_prep</c> functions (the same choices
/// liburing's <c>io_uring_prep_*</c> make).
/// <para>
/// Pointer lifetimes: with IORING_FEAT_SUBMIT_STABLE (required by <see cref="Ring"/>) the kernel
/// copies paths, iovec arrays, <see cref="OpenHow"/> and timespecs while the SQE is submitted, so
/// they need to live only until <see cref="Ring.Submit"/> returns. Data buffers (the memory iovecs
/// point at, fixed buffers, eventfd counters) and statx output buffers are written at completion
/// and must live until the CQE is reaped.
/// </para>
/// A ref struct so that it cannot outlive the next submission, after which the slot belongs to the kernel.
/// Unsafe, and sound: the only pointer dereferenced is the SQE slot the ring handed out, inside the
/// live SQE mapping; the caller's pointers are stored as numbers for the kernel, never dereferenced here.
/// </summary>
public readonly unsafe ref struct SubmissionEntry
{
    /// <summary>Offset of the command area in a 128-byte SQE (io_uring.h: <c>__u8 cmd[0]</c> overlays addr3).</summary>
    public const int CommandOffset = 48;

    /// <summary>Bytes of command area in a 128-byte SQE: 128 - 48.</summary>
    public const int CommandLength = 80;

    private readonly IoUringSqe* _sqe;
    private readonly bool _large;

    internal SubmissionEntry(IoUringSqe* sqe, bool large)
    {
        _sqe = sqe;
        _large = large;
    }

    /// <summary>
    /// The 80-byte command area of a 128-byte SQE (zeroed), where a URING_CMD's driver-specific
    /// argument goes. Empty on a ring of 64-byte SQEs.
    /// </summary>
    // Sound: on an SQE128 ring the slot is 128 bytes long, so [48, 128) lies inside it.
    public Span<byte> Command => _large ? new Span<byte>((byte*)_sqe + CommandOffset, CommandLength) : default;

    /// <summary>
    /// IORING_OP_URING_CMD: <paramref name="commandOp"/> goes in cmd_op (the low half of off) and the
    /// driver reads its argument from <see cref="Command"/>; addr and len are the driver's (FUSE: an
    /// iovec array and its count). Needs a ring of 128-byte SQEs for any command longer than 16 bytes.
    /// </summary>
    public void UringCmd(int fd, uint commandOp, ulong address, uint length, ulong userData)
    {
        Prepare(IoUringOp.UringCmd, fd, address, length, commandOp, userData);
    }

    /// <summary>The raw entry, for operations without a helper or for IOSQE flags.</summary>
    // Sound: the pointer is a slot of the mmapped SQE array, which lives as long as the ring.
    public ref IoUringSqe Sqe => ref *_sqe;

    /// <summary>Sets IOSQE_* flags, e.g. <see cref="IoUringConstants.SqeIoLink"/> before a LINK_TIMEOUT.</summary>
    public void SetFlags(byte flags) => _sqe->Flags |= flags;

    /// <summary>The common shape of io_uring_prep_rw: opcode, fd, addr, len, off, user_data.</summary>
    private void Prepare(IoUringOp op, int fd, ulong address, uint length, ulong offset, ulong userData)
    {
        _sqe->Opcode = (byte)op;
        _sqe->Fd = fd;
        _sqe->Address = address;
        _sqe->Length = length;
        _sqe->Offset = offset;
        _sqe->UserData = userData;
    }

    public void Nop(ulong userData) => Prepare(IoUringOp.Nop, -1, 0, 0, 0, userData);

    /// <summary>preadv2 into <paramref name="count"/> segments; offset -1 uses the file position.</summary>
    public void Readv(int fd, IoVec* iov, uint count, long offset, ulong userData, uint rwFlags = 0)
    {
        Prepare(IoUringOp.Readv, fd, (ulong)iov, count, (ulong)offset, userData);
        _sqe->OpFlags = rwFlags;
    }

    /// <summary>pwritev2 from <paramref name="count"/> segments; offset -1 uses the file position.</summary>
    public void Writev(int fd, IoVec* iov, uint count, long offset, ulong userData, uint rwFlags = 0)
    {
        Prepare(IoUringOp.Writev, fd, (ulong)iov, count, (ulong)offset, userData);
        _sqe->OpFlags = rwFlags;
    }

    /// <summary>pread into one buffer (also how an eventfd counter is read: 8 bytes).</summary>
    public void Read(int fd, void* buffer, uint length, long offset, ulong userData) =>
        Prepare(IoUringOp.Read, fd, (ulong)buffer, length, (ulong)offset, userData);

    public void Write(int fd, void* buffer, uint length, long offset, ulong userData) =>
        Prepare(IoUringOp.Write, fd, (ulong)buffer, length, (ulong)offset, userData);

    /// <summary>Read into a registered buffer: [buffer, buffer+length) must lie inside buffer <paramref name="bufferIndex"/>.</summary>
    public void ReadFixed(int fd, void* buffer, uint length, long offset, ushort bufferIndex, ulong userData)
    {
        Prepare(IoUringOp.ReadFixed, fd, (ulong)buffer, length, (ulong)offset, userData);
        _sqe->BufferIndex = bufferIndex;
    }

    public void WriteFixed(int fd, void* buffer, uint length, long offset, ushort bufferIndex, ulong userData)
    {
        Prepare(IoUringOp.WriteFixed, fd, (ulong)buffer, length, (ulong)offset, userData);
        _sqe->BufferIndex = bufferIndex;
    }

    /// <summary>fsync, or fdatasync when <paramref name="dataSync"/> (IORING_FSYNC_DATASYNC).</summary>
    public void Fsync(int fd, bool dataSync, ulong userData)
    {
        Prepare(IoUringOp.Fsync, fd, 0, 0, 0, userData);
        _sqe->OpFlags = dataSync ? IoUringConstants.FsyncDataSync : 0;
    }

    /// <summary>fallocate(fd, mode, offset, length): the kernel reads mode from len and length from addr.</summary>
    public void Fallocate(int fd, int mode, long offset, long length, ulong userData) =>
        Prepare(IoUringOp.Fallocate, fd, (ulong)length, (uint)mode, (ulong)offset, userData);

    /// <summary>openat2(dirFd, path, how); the CQE result is the new fd. <paramref name="path"/> is NUL-terminated.</summary>
    public void OpenAt2(int dirFd, byte* path, OpenHow* how, ulong userData) =>
        Prepare(IoUringOp.OpenAt2, dirFd, (ulong)path, (uint)sizeof(OpenHow), (ulong)how, userData);

    /// <summary>statx(dirFd, path, flags, mask, buffer): the kernel writes <paramref name="statxBuffer"/> at completion.</summary>
    public void Statx(int dirFd, byte* path, uint flags, uint mask, Linux.Statx* statxBuffer, ulong userData)
    {
        Prepare(IoUringOp.Statx, dirFd, (ulong)path, mask, (ulong)statxBuffer, userData);
        _sqe->OpFlags = flags;
    }

    public void Close(int fd, ulong userData) => Prepare(IoUringOp.Close, fd, 0, 0, 0, userData);

    public void MkdirAt(int dirFd, byte* path, uint mode, ulong userData) =>
        Prepare(IoUringOp.MkdirAt, dirFd, (ulong)path, mode, 0, userData);

    /// <summary>unlinkat; <paramref name="flags"/> = <see cref="Libc.AT_REMOVEDIR"/> for rmdir.</summary>
    public void UnlinkAt(int dirFd, byte* path, uint flags, ulong userData)
    {
        Prepare(IoUringOp.UnlinkAt, dirFd, (ulong)path, 0, 0, userData);
        _sqe->OpFlags = flags;
    }

    /// <summary>renameat2: the new dir fd travels in len and the new path in addr2; flags are RENAME_*.</summary>
    public void RenameAt(int oldDirFd, byte* oldPath, int newDirFd, byte* newPath, uint flags, ulong userData)
    {
        Prepare(IoUringOp.RenameAt, oldDirFd, (ulong)oldPath, (uint)newDirFd, (ulong)newPath, userData);
        _sqe->OpFlags = flags;
    }

    /// <summary>linkat: same placement as renameat; flags are AT_SYMLINK_FOLLOW / AT_EMPTY_PATH.</summary>
    public void LinkAt(int oldDirFd, byte* oldPath, int newDirFd, byte* newPath, uint flags, ulong userData)
    {
        Prepare(IoUringOp.LinkAt, oldDirFd, (ulong)oldPath, (uint)newDirFd, (ulong)newPath, userData);
        _sqe->OpFlags = flags;
    }

    /// <summary>symlinkat(target, newDirFd, linkPath): the link path travels in addr2.</summary>
    public void SymlinkAt(byte* target, int newDirFd, byte* linkPath, ulong userData) =>
        Prepare(IoUringOp.SymlinkAt, newDirFd, (ulong)target, 0, (ulong)linkPath, userData);

    /// <summary>
    /// Waits for poll <paramref name="events"/> on <paramref name="fd"/>. Multishot
    /// (IORING_POLL_ADD_MULTI, in len) stays armed and posts a CQE with IORING_CQE_F_MORE per wakeup;
    /// a CQE without F_MORE means it ended (cancelled, error, or the kernel dropped it) and must be re-armed.
    /// </summary>
    public void PollAdd(int fd, uint events, bool multishot, ulong userData)
    {
        Prepare(IoUringOp.PollAdd, fd, 0, multishot ? IoUringConstants.PollAddMulti : 0, 0, userData);
        _sqe->OpFlags = events;
    }

    public void PollRemove(ulong targetUserData, ulong userData) =>
        Prepare(IoUringOp.PollRemove, -1, targetUserData, 0, 0, userData);

    /// <summary>Cancels the request(s) carrying <paramref name="targetUserData"/>; flags are IORING_ASYNC_CANCEL_*.</summary>
    public void AsyncCancel(ulong targetUserData, uint flags, ulong userData)
    {
        Prepare(IoUringOp.AsyncCancel, -1, targetUserData, 0, 0, userData);
        _sqe->OpFlags = flags;
    }

    /// <summary>Cancels requests on <paramref name="fd"/> (IORING_ASYNC_CANCEL_FD, 5.19).</summary>
    public void AsyncCancelFd(int fd, uint flags, ulong userData)
    {
        Prepare(IoUringOp.AsyncCancel, fd, 0, 0, 0, userData);
        _sqe->OpFlags = flags | IoUringConstants.AsyncCancelFd;
    }

    /// <summary>
    /// A timer that completes with -ETIME after <paramref name="timespec"/>, or with 0 once
    /// <paramref name="count"/> other completions were posted (count 0 = pure timer).
    /// </summary>
    public void Timeout(KernelTimespec* timespec, uint count, uint flags, ulong userData)
    {
        Prepare(IoUringOp.Timeout, -1, (ulong)timespec, 1, count, userData);
        _sqe->OpFlags = flags;
    }

    /// <summary>Bounds the previous SQE (which must carry IOSQE_IO_LINK): it is cancelled after <paramref name="timespec"/>.</summary>
    public void LinkTimeout(KernelTimespec* timespec, uint flags, ulong userData)
    {
        Prepare(IoUringOp.LinkTimeout, -1, (ulong)timespec, 1, 0, userData);
        _sqe->OpFlags = flags;
    }

    public void TimeoutRemove(ulong targetUserData, uint flags, ulong userData)
    {
        Prepare(IoUringOp.TimeoutRemove, -1, targetUserData, 0, 0, userData);
        _sqe->OpFlags = flags;
    }
}
