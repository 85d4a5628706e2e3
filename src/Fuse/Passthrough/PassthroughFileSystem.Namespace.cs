using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>Removing and renaming names: single components below O_PATH directory fds.</summary>
public sealed partial class PassthroughFileSystem
{
    private const uint RenameFlagsKnown = Libc.RENAME_NOREPLACE | Libc.RENAME_EXCHANGE | Libc.RENAME_WHITEOUT;

    public int Unlink(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name) => Remove(parent, name, 0);

    public int Rmdir(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name) => Remove(parent, name, Libc.AT_REMOVEDIR);

    private int Remove(NodeId parent, ReadOnlySpan<byte> name, int flags)
    {
        int r = BorrowParent(parent, name, out Inode dir);
        if (r < 0)
        {
            return r;
        }
        try
        {
            return Libc.Unlinkat(dir.Fd, name, flags);
        }
        finally
        {
            _inodes.Return(dir);
        }
    }

    /// <summary>RENAME / RENAME2 through renameat2(2); the kernel checks the flag combinations (EXCHANGE with NOREPLACE is EINVAL).</summary>
    public int Rename(in RequestContext ctx, NodeId oldParent, ReadOnlySpan<byte> oldName, NodeId newParent, ReadOnlySpan<byte> newName, uint flags)
    {
        if ((flags & ~RenameFlagsKnown) != 0)
        {
            return -Errno.EINVAL;
        }
        int r = Names.Validate(oldName);
        if (r == 0)
        {
            r = Names.Validate(newName);
        }
        if (r < 0)
        {
            return r;
        }
        Inode? from = _inodes.Borrow(oldParent);
        if (from is null)
        {
            return -Errno.ESTALE;
        }
        Inode? to = _inodes.Borrow(newParent);
        try
        {
            return to is null ? -Errno.ESTALE : Libc.Renameat2(from.Fd, oldName, to.Fd, newName, flags);
        }
        finally
        {
            if (to is not null)
            {
                _inodes.Return(to);
            }
            _inodes.Return(from);
        }
    }
}
