namespace VirtioFsd.Linux;

/// <summary>
/// Owns one file descriptor and closes it exactly once. A plain int is used on the hot paths;
/// this type is for fds whose lifetime spans components (sockets, eventfds, memfds).
/// </summary>
public sealed class UnixFd : IDisposable
{
    private int _fd;

    public UnixFd(int fd) => _fd = fd;

    /// <summary>The descriptor, or -1 once disposed.</summary>
    public int Value => Volatile.Read(ref _fd);

    public bool IsValid => Value >= 0;

    /// <summary>Gives up ownership: the caller must close the returned fd.</summary>
    public int Release() => Interlocked.Exchange(ref _fd, -1);

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            Libc.Close(fd);
        }
    }

    public override string ToString() => $"fd {Value}";
}
