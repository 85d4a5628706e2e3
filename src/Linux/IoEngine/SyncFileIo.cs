namespace VirtioFsd.Linux.IoEngine;

/// <summary>Every file operation as a blocking syscall on the calling thread; results are complete on return.</summary>
public sealed class SyncFileIo : IFileIo
{
    public static SyncFileIo Instance { get; } = new();

    private SyncFileIo()
    {
    }

    public ValueTask<long> Read(FdLease file, ReadOnlySpan<IoVec> destination, long offset)
    {
        try
        {
            return new(Libc.Preadv(file.Fd, destination, offset));
        }
        finally
        {
            file.Release();
        }
    }

    public ValueTask<long> Write(FdLease file, ReadOnlySpan<IoVec> source, long offset)
    {
        try
        {
            return new(Libc.Pwritev(file.Fd, source, offset));
        }
        finally
        {
            file.Release();
        }
    }

    public ValueTask<int> Fsync(FdLease file, bool dataOnly)
    {
        try
        {
            return new(dataOnly ? Libc.Fdatasync(file.Fd) : Libc.Fsync(file.Fd));
        }
        finally
        {
            file.Release();
        }
    }

    public ValueTask<int> Fallocate(FdLease file, int mode, long offset, long length)
    {
        try
        {
            return new(Libc.Fallocate(file.Fd, mode, offset, length));
        }
        finally
        {
            file.Release();
        }
    }
}
