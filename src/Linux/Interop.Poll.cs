using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>poll(2): waiting on sockets and eventfds in the synchronous paths.</summary>
public static unsafe partial class Libc
{
    public const short POLLIN = 0x001;
    public const short POLLOUT = 0x004;
    public const short POLLERR = 0x008;
    public const short POLLHUP = 0x010;
    public const short POLLNVAL = 0x020;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    private static partial int PollRaw(PollFd* fds, nuint nfds, int timeout);

    /// <summary>poll(2); returns the number of ready fds, 0 on timeout, or -errno (EINTR included).</summary>
    public static int Poll(Span<PollFd> fds, int timeoutMs)
    {
        fixed (PollFd* p = fds)
        {
            return Check(PollRaw(p, (nuint)fds.Length, timeoutMs));
        }
    }
}
