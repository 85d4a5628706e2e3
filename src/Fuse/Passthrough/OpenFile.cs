using VirtioFsd.Fuse.FileSystem;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>An open file or directory behind a FUSE handle: a real (non-O_PATH) fd of the node's inode.</summary>
internal sealed class OpenFile
{
    public OpenFile(NodeId node, int fd, int flags, bool isDirectory)
    {
        Node = node;
        Fd = fd;
        Flags = flags;
        IsDirectory = isDirectory;
        _directoryLock = isDirectory ? new Lock() : null;
    }

    public NodeId Node { get; }

    public int Fd { get; }

    /// <summary>The open(2) flags the fd was opened with (after the daemon's adjustments).</summary>
    public int Flags { get; }

    public bool IsDirectory { get; }

    public bool CanRead => (Flags & Linux.Libc.O_ACCMODE) != Linux.Libc.O_WRONLY;

    public bool CanWrite => (Flags & Linux.Libc.O_ACCMODE) != Linux.Libc.O_RDONLY;

    /// <summary>
    /// Serialises seek + getdents64 of a directory handle (the fd's position is shared state). Directory handles only:
    /// a file's CREATE or OPEN does not allocate one.
    /// </summary>
    public Lock DirectoryLock => _directoryLock ?? throw new InvalidOperationException("not a directory handle");

    private readonly Lock? _directoryLock;

    /// <summary>Requests using <see cref="Fd"/>; guarded by the <see cref="HandleTable"/> lock.</summary>
    internal int Borrows;

    /// <summary>Released by the guest; the fd closes when the last borrower returns.</summary>
    internal bool Released;
}
