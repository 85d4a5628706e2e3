using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.FileSystem;

/// <summary>
/// Connects a filesystem with the FUSE server (and through it with any transport). One method per
/// FUSE operation; each returns 0 (or a non-negative count where stated) on success and a negative
/// errno on failure. Every operation defaults to -ENOSYS, so an implementation provides only what it
/// supports and the guest sees ENOSYS for the rest.
/// </summary>
/// <remarks>
/// Names are the raw bytes the guest sent, without the terminating NUL, already checked by the server
/// to be non-empty, NUL-free and at most 255 bytes; whether they contain '/' or are "." / ".." is the
/// filesystem's to refuse. Data buffers are lists of <see cref="IoVec"/> pointing at the request's own
/// memory (mapped guest memory for virtio-fs), valid until the request completes: read and write them
/// in place, no managed copy. The file data operations (READ, WRITE, FSYNC, FALLOCATE) move bytes through the
/// <see cref="IFileIo"/> the request brings (its transport's I/O engine) and may complete later, as may a SETLKW
/// that waits; everything else completes before it returns. Methods may be called concurrently from several threads.
/// </remarks>
public interface IFileSystem
{
    /// <summary>FUSE_INIT: <paramref name="capable"/> holds the FUSE_* init flags the server is willing to
    /// enable (already limited by the guest and the options); return the subset the filesystem supports, which is
    /// what the session then has.</summary>
    FuseInitFlags Init(FuseInitFlags capable) => capable;

    /// <summary>FUSE_DESTROY or a new INIT: drop every node and handle except the root.</summary>
    void Destroy()
    {
    }

    int Lookup(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, out Entry entry)
    {
        entry = default;
        return -Errno.ENOSYS;
    }

    /// <summary>FUSE_FORGET / BATCH_FORGET: drop <paramref name="count"/> lookups (hostile counts saturate). No reply.</summary>
    void Forget(NodeId node, ulong count)
    {
    }

    int GetAttr(in RequestContext ctx, NodeId node, HandleId? handle, out FileAttr attr)
    {
        attr = default;
        return -Errno.ENOSYS;
    }

    int SetAttr(in RequestContext ctx, NodeId node, HandleId? handle, in SetAttrRequest request, out FileAttr attr)
    {
        attr = default;
        return -Errno.ENOSYS;
    }

    /// <summary>Writes the link target into <paramref name="target"/>; returns its length or -errno (-ERANGE if too small).</summary>
    int ReadLink(in RequestContext ctx, NodeId node, Span<byte> target) => -Errno.ENOSYS;

    int Symlink(in RequestContext ctx, ReadOnlySpan<byte> linkTarget, NodeId parent, ReadOnlySpan<byte> name, out Entry entry)
    {
        entry = default;
        return -Errno.ENOSYS;
    }

    int Mknod(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, uint rdev, out Entry entry)
    {
        entry = default;
        return -Errno.ENOSYS;
    }

    int Mkdir(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, out Entry entry)
    {
        entry = default;
        return -Errno.ENOSYS;
    }

    int Unlink(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name) => -Errno.ENOSYS;

    int Rmdir(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name) => -Errno.ENOSYS;

    /// <summary>RENAME / RENAME2; <paramref name="flags"/> are RENAME_NOREPLACE (1), RENAME_EXCHANGE (2), RENAME_WHITEOUT (4).</summary>
    int Rename(in RequestContext ctx, NodeId oldParent, ReadOnlySpan<byte> oldName, NodeId newParent, ReadOnlySpan<byte> newName, uint flags)
        => -Errno.ENOSYS;

    int Link(in RequestContext ctx, NodeId node, NodeId newParent, ReadOnlySpan<byte> newName, out Entry entry)
    {
        entry = default;
        return -Errno.ENOSYS;
    }

    /// <summary>FUSE_OPEN with the guest's open(2) flags (O_CREAT/O_EXCL already stripped by the guest kernel).</summary>
    int Open(in RequestContext ctx, NodeId node, uint flags, out OpenResult result)
    {
        result = default;
        return -Errno.ENOSYS;
    }

    int Create(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, uint flags, out Entry entry, out OpenResult result)
    {
        entry = default;
        result = default;
        return -Errno.ENOSYS;
    }

    /// <summary>FUSE_TMPFILE: an unnamed file in <paramref name="parent"/> (O_TMPFILE).</summary>
    int Tmpfile(in RequestContext ctx, NodeId parent, uint mode, uint flags, out Entry entry, out OpenResult result)
    {
        entry = default;
        result = default;
        return -Errno.ENOSYS;
    }

    /// <summary>
    /// Reads up to the total length of <paramref name="destination"/> at <paramref name="offset"/> through
    /// <paramref name="io"/>; bytes read or -errno.
    /// </summary>
    ValueTask<long> Read(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, ReadOnlySpan<IoVec> destination, IFileIo io)
        => new(-Errno.ENOSYS);

    /// <summary>
    /// Writes the bytes of <paramref name="source"/> at <paramref name="offset"/> through <paramref name="io"/>; bytes
    /// written or -errno. <paramref name="killPrivileges"/>: FUSE_WRITE_KILL_SUIDGID (clear SUID/SGID as a non-owner's
    /// write would).
    /// </summary>
    ValueTask<long> Write(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, ReadOnlySpan<IoVec> source, uint writeFlags,
        bool killPrivileges, IFileIo io)
        => new(-Errno.ENOSYS);

    int Flush(in RequestContext ctx, NodeId node, HandleId handle, ulong lockOwner) => -Errno.ENOSYS;

    /// <summary>FUSE_RELEASE; <paramref name="releaseFlock"/>: FUSE_RELEASE_FLOCK_UNLOCK.</summary>
    int Release(in RequestContext ctx, NodeId node, HandleId handle, uint flags, ulong lockOwner, bool releaseFlock) => -Errno.ENOSYS;

    ValueTask<int> Fsync(in RequestContext ctx, NodeId node, HandleId handle, bool dataSync, IFileIo io) => new(-Errno.ENOSYS);

    int OpenDir(in RequestContext ctx, NodeId node, uint flags, out OpenResult result)
    {
        result = default;
        return -Errno.ENOSYS;
    }

    /// <summary>Adds entries from <paramref name="offset"/> (0 = start; otherwise a nextOffset given earlier) until one does not fit.</summary>
    int ReadDir(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, IDirectoryEntrySink sink) => -Errno.ENOSYS;

    /// <summary>As <see cref="ReadDir"/> with a lookup per entry (READDIRPLUS); "." and ".." get no lookup.</summary>
    int ReadDirPlus(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, IDirectoryEntrySink sink) => -Errno.ENOSYS;

    int ReleaseDir(in RequestContext ctx, NodeId node, HandleId handle) => -Errno.ENOSYS;

    ValueTask<int> FsyncDir(in RequestContext ctx, NodeId node, HandleId handle, bool dataSync, IFileIo io) => new(-Errno.ENOSYS);

    int StatFs(in RequestContext ctx, NodeId node, out StatFs stat)
    {
        stat = default;
        return -Errno.ENOSYS;
    }

    /// <summary>FUSE_ACCESS with an access(2) mask (R_OK 4, W_OK 2, X_OK 1, F_OK 0).</summary>
    int Access(in RequestContext ctx, NodeId node, uint mask) => -Errno.ENOSYS;

    int SetXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, uint flags) => -Errno.ENOSYS;

    /// <summary>Value into <paramref name="value"/>; returns its length, or with an empty buffer the size needed; -ERANGE if too small.</summary>
    int GetXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name, Span<byte> value) => -Errno.ENOSYS;

    /// <summary>NUL-separated names into <paramref name="list"/>; returns the length, or with an empty buffer the size needed.</summary>
    int ListXattr(in RequestContext ctx, NodeId node, Span<byte> list) => -Errno.ENOSYS;

    int RemoveXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name) => -Errno.ENOSYS;

    ValueTask<int> Fallocate(in RequestContext ctx, NodeId node, HandleId handle, uint mode, ulong offset, ulong length, IFileIo io)
        => new(-Errno.ENOSYS);

    /// <summary>FUSE_LSEEK (SEEK_DATA 3 / SEEK_HOLE 4 matter; the guest handles SET/CUR/END itself). Returns the offset or -errno.</summary>
    long Lseek(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, uint whence) => -Errno.ENOSYS;

    long CopyFileRange(in RequestContext ctx, NodeId nodeIn, HandleId handleIn, ulong offsetIn,
        NodeId nodeOut, HandleId handleOut, ulong offsetOut, ulong length, ulong flags) => -Errno.ENOSYS;

    int SyncFs(in RequestContext ctx, NodeId node) => -Errno.ENOSYS;

    /// <summary>FUSE_GETLK: the first lock that would conflict with <paramref name="request"/>, or F_UNLCK.</summary>
    int GetLock(in RequestContext ctx, NodeId node, HandleId handle, ulong owner, in FileLock request, out FileLock conflicting)
    {
        conflicting = default;
        return -Errno.ENOSYS;
    }

    /// <summary>
    /// FUSE_SETLK / SETLKW; <paramref name="isFlock"/> when FUSE_LK_FLOCK (flock(2) semantics). With
    /// <paramref name="wait"/> the result completes once the lock is granted, without holding the calling thread
    /// (other requests, including the unlock that ends the wait, keep being served). A wait must end with -EINTR
    /// soon after <paramref name="cancel"/> fires (the guest interrupted it, the queue is stopping or the device
    /// resets: GET_VRING_BASE waits for every request in flight).
    /// </summary>
    ValueTask<int> SetLock(in RequestContext ctx, NodeId node, HandleId handle, ulong owner, in FileLock request, bool wait, bool isFlock,
        CancellationToken cancel)
        => new(-Errno.ENOSYS);

    int Ioctl(in RequestContext ctx, NodeId node, HandleId handle, uint flags, uint command, ReadOnlySpan<byte> input, Span<byte> output, out int outputLength)
    {
        outputLength = 0;
        return -Errno.ENOTTY;
    }
}
