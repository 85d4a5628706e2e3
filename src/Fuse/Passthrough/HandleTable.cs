using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// FUSE file handles to open fds. A RELEASE racing a READ on the same handle (a hostile guest can
/// send them together on two queues) must not close the fd under the read, or the number could be
/// reused by another open: each request borrows the handle and the last one out closes it. A borrow
/// lent to an I/O engine as an <see cref="FdLease"/> ends when the engine releases the lease.
/// </summary>
internal sealed partial class HandleTable : IFdLeaseOwner, IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, OpenFile> _handles = new();
    private ulong _next = 1;

    private readonly GuestFdQuota? _quota;

    /// <param name="quota">Counts every handle's fd against the guest's fd quota.</param>
    public HandleTable(GuestFdQuota? quota = null)
    {
        _quota = quota;
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _handles.Count;
            }
        }
    }

    /// <summary>Takes ownership of the file's fd and returns its new handle.</summary>
    public HandleId Add(OpenFile file)
    {
        _quota?.Add();
        lock (_lock)
        {
            ulong id = _next++;
            _handles.Add(id, file);
            return new HandleId(id);
        }
    }

    /// <summary>Borrows the handle for one request; null if unknown, released, or opened for another node.</summary>
    public OpenFile? Borrow(HandleId handle, NodeId node)
    {
        lock (_lock)
        {
            if (!_handles.TryGetValue(handle.Value, out OpenFile? file) || file.Node != node)
            {
                return null;
            }
            file.Borrows++;
            return file;
        }
    }

    public void Return(OpenFile file)
    {
        bool close;
        lock (_lock)
        {
            file.Borrows--;
            close = file.Released && file.Borrows == 0;
        }
        if (close)
        {
            Close(file);
        }
    }

    /// <summary>
    /// <paramref name="reopen"/> of the fd of some open file of <paramref name="node"/> (borrowed for the call), or
    /// -ENOENT when the guest has none open. A scan: only a handle inode that can no longer be opened by handle comes here.
    /// </summary>
    public int ReopenAnyOf(NodeId node, Func<int, int> reopen)
    {
        OpenFile? open = null;
        lock (_lock)
        {
            foreach (OpenFile file in _handles.Values)
            {
                if (file.Node == node)
                {
                    open = file;
                    file.Borrows++;
                    break;
                }
            }
        }
        if (open is null)
        {
            return -Errno.ENOENT;
        }
        try
        {
            return reopen(open.Fd);
        }
        finally
        {
            Return(open);
        }
    }

    /// <summary>Lends a borrowed file's fd to one file operation; the lease's release returns the borrow.</summary>
    public FdLease Lend(OpenFile file) => new(file.Fd, this, file);

    void IFdLeaseOwner.ReturnLease(object? token) => Return((OpenFile)token!);

    /// <summary>RELEASE: forgets the handle; false if unknown or opened for another node.</summary>
    public bool Remove(HandleId handle, NodeId node)
    {
        OpenFile? file;
        bool close;
        lock (_lock)
        {
            if (!_handles.TryGetValue(handle.Value, out file) || file.Node != node)
            {
                return false;
            }
            _handles.Remove(handle.Value);
            file.Released = true;
            close = file.Borrows == 0;
        }
        if (close)
        {
            Close(file);
        }
        return true;
    }

    /// <summary>DESTROY: releases every handle.</summary>
    public void Clear()
    {
        List<OpenFile> close = new();
        lock (_lock)
        {
            foreach (OpenFile file in _handles.Values)
            {
                file.Released = true;
                if (file.Borrows == 0)
                {
                    close.Add(file);
                }
            }
            _handles.Clear();
        }
        foreach (OpenFile file in close)
        {
            Close(file);
        }
    }

    public void Dispose() => Clear();

    private void Close(OpenFile file)
    {
        Libc.Close(file.Fd);
        _quota?.Remove();
    }
}
