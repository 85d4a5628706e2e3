namespace VirtioFsd.Linux.IoEngine;

/// <summary>
/// The synchronous engine: file operations are blocking syscalls on the serving thread (<see cref="SyncFileIo"/>)
/// and the thread sleeps in poll(2) on its stop and wake fds.
/// </summary>
public sealed class SyncEngine : IIoEngine
{
    public string Name => "synchronous";

    private int _stopFd = -1;
    private int _wakeFd = -1;

    public int InFlight => 0;

    public int LastError { get; private set; }

    public void Watch(int stopFd, int wakeFd)
    {
        _stopFd = stopFd;
        _wakeFd = wakeFd;
    }

    public EngineWake Wait(TimeSpan? timeout)
    {
        Span<Libc.PollFd> fds = stackalloc Libc.PollFd[2];
        fds[0] = new Libc.PollFd { Fd = _stopFd, Events = Libc.POLLIN };
        fds[1] = new Libc.PollFd { Fd = _wakeFd, Events = Libc.POLLIN };
        int timeoutMs = timeout is { } t ? (int)Math.Clamp(Math.Ceiling(t.TotalMilliseconds), 0, int.MaxValue) : -1;
        int n;
        do
        {
            n = Libc.Poll(fds, timeoutMs);
        }
        while (n == -Errno.EINTR);
        if (n < 0)
        {
            LastError = n;
            return EngineWake.Stop;
        }
        EngineWake wake = fds[0].Revents != 0 ? EngineWake.Stop : EngineWake.None;
        if ((fds[1].Revents & (Libc.POLLERR | Libc.POLLNVAL)) != 0)
        {
            _wakeFd = -1;
            wake |= EngineWake.WakeFdFailed;
        }
        else if (fds[1].Revents != 0)
        {
            wake |= EngineWake.Wake;
        }
        return wake;
    }

    public void Drain()
    {
    }

    public ValueTask<long> Read(FdLease file, ReadOnlySpan<IoVec> destination, long offset)
        => SyncFileIo.Instance.Read(file, destination, offset);

    public ValueTask<long> Write(FdLease file, ReadOnlySpan<IoVec> source, long offset)
        => SyncFileIo.Instance.Write(file, source, offset);

    public ValueTask<int> Fsync(FdLease file, bool dataOnly) => SyncFileIo.Instance.Fsync(file, dataOnly);

    public ValueTask<int> Fallocate(FdLease file, int mode, long offset, long length)
        => SyncFileIo.Instance.Fallocate(file, mode, offset, length);

    public void Dispose()
    {
    }
}
