using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Lends a handle's fd to the server's asynchronous I/O: the lease is a borrow in the
/// <see cref="HandleTable"/>, so a RELEASE racing an in-flight ring operation closes the fd only
/// when the lease ends, never under the kernel.
/// </summary>
public sealed partial class PassthroughFileSystem : IFileHandleLeases
{
    public int LeaseHandle(in RequestContext ctx, NodeId node, HandleId handle, FileLeasePurpose purpose, out FileLease lease)
    {
        lease = default;
        OpenFile? file = _handles.Borrow(handle, node);
        if (file is null)
        {
            return -Errno.EBADF;
        }
        if (file.IsDirectory && purpose != FileLeasePurpose.Sync)
        {
            // Same answer as Read/Write give for a directory handle.
            _handles.Return(file);
            return -Errno.EBADF;
        }
        if (purpose == FileLeasePurpose.WriteKillPrivileges)
        {
            int k = KillPrivileges(file.Fd);
            if (k < 0)
            {
                _handles.Return(file);
                return k;
            }
        }
        lease = new FileLease(this, file, file.Fd);
        return 0;
    }

    public void ReturnLease(object token) => _handles.Return((OpenFile)token);
}
