namespace VirtioFsd.Linux.IoUring;

/// <summary>
/// Registered (fixed) buffers for READ_FIXED/WRITE_FIXED: the kernel pins the pages once instead
/// of on every operation. Guest memory regions are the intended use: a sparse table sized for the
/// frontend's memory slots, filled and cleared as regions are added and removed.
/// Pinned pages count against RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK.
/// </summary>
public sealed unsafe partial class Ring
{
    /// <summary>IORING_REGISTER_BUFFERS: buffer i of the table is <paramref name="buffers"/>[i]. Returns 0 or -errno.</summary>
    public int RegisterBuffers(ReadOnlySpan<IoVec> buffers)
    {
        ThrowIfDisposed();
        // Sound: the iovec array is pinned for the call; the kernel copies it and pins the pages it names.
        fixed (IoVec* p = buffers)
        {
            return Libc.IoUringRegister(_fd, IoUringConstants.RegisterBuffers, p, (uint)buffers.Length);
        }
    }

    /// <summary>IORING_REGISTER_BUFFERS2 with IORING_RSRC_REGISTER_SPARSE (5.19): an empty table of <paramref name="count"/> slots.</summary>
    public int RegisterSparseBuffers(uint count)
    {
        ThrowIfDisposed();
        var reg = new IoUringRsrcRegister { Count = count, Flags = IoUringConstants.RsrcRegisterSparse };
        return Libc.IoUringRegister(_fd, IoUringConstants.RegisterBuffers2, &reg, (uint)sizeof(IoUringRsrcRegister));
    }

    /// <summary>
    /// IORING_REGISTER_BUFFERS_UPDATE (5.13): replaces slots from <paramref name="offset"/> on; an
    /// iovec of {0, 0} empties a slot. The kernel keeps a replaced buffer pinned until operations
    /// using it complete. Returns the number of slots updated or -errno.
    /// </summary>
    public int UpdateBuffers(uint offset, ReadOnlySpan<IoVec> buffers)
    {
        ThrowIfDisposed();
        // Sound: as in RegisterBuffers; the update struct is a local that outlives the call.
        fixed (IoVec* p = buffers)
        {
            var update = new IoUringRsrcUpdate2 { Offset = offset, Data = (ulong)p, Count = (uint)buffers.Length };
            return Libc.IoUringRegister(_fd, IoUringConstants.RegisterBuffersUpdate, &update, (uint)sizeof(IoUringRsrcUpdate2));
        }
    }

    /// <summary>IORING_UNREGISTER_BUFFERS: drops the whole table. Returns 0 or -errno (ENXIO when none).</summary>
    public int UnregisterBuffers()
    {
        ThrowIfDisposed();
        return Libc.IoUringRegister(_fd, IoUringConstants.UnregisterBuffers, null, 0);
    }

    /// <summary>
    /// IORING_REGISTER_IOWQ_MAX_WORKERS (5.15): at most <paramref name="bounded"/> kernel workers for regular-file
    /// work and <paramref name="unbounded"/> for the rest run this ring's blocking operations (for the tasks that
    /// submit to it, including those attaching later). 0 leaves a limit as it is. Returns 0 or -errno.
    /// </summary>
    public int SetMaxWorkers(uint bounded, uint unbounded)
    {
        // Sound: the two-element array is a local that outlives the call; the kernel writes the old limits back.
        uint* limits = stackalloc uint[2];
        limits[0] = bounded;
        limits[1] = unbounded;
        return Libc.IoUringRegister(_fd, IoUringConstants.RegisterIowqMaxWorkers, limits, 2);
    }
}
