namespace VirtioFsd.Fuse.FileSystem;

/// <summary>What a lease on a file handle is for; decides the checks made before the fd is lent.</summary>
public enum FileLeasePurpose
{
    /// <summary>READ: a file handle (not a directory).</summary>
    Read,

    /// <summary>WRITE: a file handle (not a directory).</summary>
    Write,

    /// <summary>WRITE with FUSE_WRITE_KILL_SUIDGID: as <see cref="Write"/>, and SUID/SGID/capabilities are cleared first.</summary>
    WriteKillPrivileges,

    /// <summary>FSYNC, FALLOCATE: any handle of the node.</summary>
    Sync,
}

/// <summary>
/// A host fd lent for one asynchronous operation. The fd stays open (RELEASE cannot close it and let
/// its number be reused) until <see cref="Release"/> is called, exactly once, after the kernel is done
/// with the operation.
/// </summary>
public readonly struct FileLease
{
    private readonly IFileHandleLeases? owner;
    private readonly object? token;

    public FileLease(IFileHandleLeases owner, object token, int fd)
    {
        this.owner = owner;
        this.token = token;
        Fd = fd;
    }

    public int Fd { get; }

    public bool IsValid => owner is not null;

    public void Release() => owner?.ReturnLease(token!);
}

/// <summary>
/// Optional capability of an <see cref="IFileSystem"/> whose handles are host fds: lets the server
/// run READ/WRITE/FSYNC/FALLOCATE itself (inline or through an asynchronous engine such as io_uring)
/// straight into the request's buffers. A filesystem without it is always called synchronously.
/// </summary>
public interface IFileHandleLeases
{
    /// <summary>Lends the handle's fd for <paramref name="purpose"/>; 0, or -errno as the synchronous operation would fail.</summary>
    int LeaseHandle(in RequestContext ctx, NodeId node, HandleId handle, FileLeasePurpose purpose, out FileLease lease);

    /// <summary>Ends a lease made by <see cref="LeaseHandle"/>; call through <see cref="FileLease.Release"/>.</summary>
    void ReturnLease(object token);
}
