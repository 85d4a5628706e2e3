namespace VirtioFsd.Linux.IoEngine;

/// <summary>
/// Moves file data for a filesystem: the host calls behind FUSE READ, WRITE, FSYNC and FALLOCATE, straight between
/// a host file and the request's own buffers (mapped guest memory for virtio-fs: no copy). Every call owns the
/// <see cref="FdLease"/> it is given and releases it once the kernel is done with the fd. The result is usually
/// complete when the call returns; an asynchronous engine (io_uring) completes it later on its own thread, where
/// the awaiting continuation then runs. Results are byte counts (or 0) or -errno, never exceptions.
/// </summary>
/// <remarks>
/// The buffers must stay valid until the result is complete; an engine that defers copies the iovec array, not
/// the data. As with the Rust virtiofsd's ZeroCopyReader/Writer, the filesystem decides which fd and offset, the
/// engine how the bytes move.
/// </remarks>
public interface IFileIo
{
    /// <summary>preadv(fd, destination, offset): bytes read (0 at end of file) or -errno.</summary>
    ValueTask<long> Read(FdLease file, ReadOnlySpan<IoVec> destination, long offset);

    /// <summary>pwritev(fd, source, offset): bytes written or -errno.</summary>
    ValueTask<long> Write(FdLease file, ReadOnlySpan<IoVec> source, long offset);

    /// <summary>fsync(fd), or fdatasync(fd) with <paramref name="dataOnly"/>: 0 or -errno.</summary>
    ValueTask<int> Fsync(FdLease file, bool dataOnly);

    /// <summary>fallocate(fd, mode, offset, length): 0 or -errno.</summary>
    ValueTask<int> Fallocate(FdLease file, int mode, long offset, long length);
}
