using System.Buffers.Binary;
using VirtioFsd.Linux;

namespace VirtioFsd.VhostUserFrontend;

/// <summary>The frontend's end of the vhost-user socket: raw message send/receive with fds, with timeouts.</summary>
public sealed class FrontendSocket : IDisposable
{
    private readonly UnixFd _fd;

    public FrontendSocket(int fd) => _fd = new UnixFd(fd);

    public int Fd => _fd.Value;

    /// <summary>Connects to a listening backend, retrying while the socket file does not accept yet.</summary>
    public static FrontendSocket Connect(string path, int timeoutMs = 10_000)
    {
        DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
            if (fd < 0)
            {
                throw new VhostUserFrontendException($"socket: {Errno.Describe(fd)}");
            }
            int r = Libc.ConnectUnix(fd, path);
            if (r == 0)
            {
                return new FrontendSocket(fd);
            }
            Libc.Close(fd);
            if (DateTime.UtcNow > deadline || (r != -Errno.ENOENT && r != -Libc.ECONNREFUSED))
            {
                throw new VhostUserFrontendException($"connect {path}: {Errno.Describe(r)}");
            }
            Thread.Sleep(10);
        }
    }

    /// <summary>Sends header + body (+fds) as one sendmsg, as QEMU does.</summary>
    public void Send(uint request, uint flags, ReadOnlySpan<byte> body, ReadOnlySpan<int> fds)
    {
        byte[] buffer = new byte[Proto.HeaderSize + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, request);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(8), (uint)body.Length);
        body.CopyTo(buffer.AsSpan(Proto.HeaderSize));
        SendRaw(buffer, fds);
    }

    /// <summary>Sends arbitrary bytes with fds: for malformed-input tests. Returns false if the peer is gone.</summary>
    public bool SendRaw(ReadOnlySpan<byte> bytes, ReadOnlySpan<int> fds)
    {
        long n = Libc.SendMsg(_fd.Value, bytes, fds);
        if (n == -Errno.EPIPE || n == -Errno.ECONNRESET)
        {
            return false;
        }
        if (n < 0)
        {
            throw new VhostUserFrontendException($"sendmsg: {Errno.Describe((int)n)}");
        }
        if (n < bytes.Length)
        {
            return SendRaw(bytes[(int)n..], ReadOnlySpan<int>.Empty);
        }
        return true;
    }

    /// <summary>Receives one reply; null when the backend closed the connection. Throws on timeout.</summary>
    public Reply? Receive(int timeoutMs = 10_000)
    {
        byte[] header = new byte[Proto.HeaderSize];
        if (!ReadExactly(header, timeoutMs))
        {
            return null;
        }
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
        if (size > 4096)
        {
            throw new VhostUserFrontendException($"reply announces {size} bytes");
        }
        byte[] body = new byte[size];
        if (!ReadExactly(body, timeoutMs))
        {
            throw new VhostUserFrontendException("backend closed inside a reply");
        }
        return new Reply(BinaryPrimitives.ReadUInt32LittleEndian(header),
            BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)), body);
    }

    /// <summary>True once the backend has closed its end (EOF), false if still open after the timeout.</summary>
    public bool WaitForClose(int timeoutMs = 10_000)
    {
        byte[] scratch = new byte[4096];
        Span<int> fds = stackalloc int[8];
        DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            int left = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
            if (!WaitReadable(left))
            {
                return false;
            }
            long n = Libc.RecvMsg(_fd.Value, scratch, fds, out int count, out _);
            for (int i = 0; i < count; i++)
            {
                Libc.Close(fds[i]);
            }
            if (n <= 0)
            {
                return true;
            }
        }
    }

    public void Dispose() => _fd.Dispose();

    private bool ReadExactly(Span<byte> buffer, int timeoutMs)
    {
        Span<int> fds = stackalloc int[8];
        while (!buffer.IsEmpty)
        {
            if (!WaitReadable(timeoutMs))
            {
                throw new VhostUserFrontendException($"no reply within {timeoutMs} ms");
            }
            long n = Libc.RecvMsg(_fd.Value, buffer, fds, out int count, out _);
            for (int i = 0; i < count; i++)
            {
                Libc.Close(fds[i]);
            }
            if (n == 0 || n == -Errno.ECONNRESET)
            {
                return false;
            }
            if (n < 0)
            {
                throw new VhostUserFrontendException($"recvmsg: {Errno.Describe((int)n)}");
            }
            buffer = buffer[(int)n..];
        }
        return true;
    }

    private bool WaitReadable(int timeoutMs)
    {
        Span<Libc.PollFd> p = stackalloc Libc.PollFd[1];
        p[0] = new Libc.PollFd { Fd = _fd.Value, Events = Libc.POLLIN };
        int r;
        do
        {
            r = Libc.Poll(p, timeoutMs);
        }
        while (r == -Errno.EINTR);
        return r > 0;
    }
}
