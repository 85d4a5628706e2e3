using VirtioFsd.Linux;

namespace VirtioFsd.VhostUser.Protocol;

/// <summary>Outcome of reading one message from the socket.</summary>
public enum ReceiveStatus
{
    /// <summary>A complete, framed message (its body and fds are not validated yet).</summary>
    Message,

    /// <summary>The peer closed the connection between messages.</summary>
    Closed,

    /// <summary>The stop descriptor fired: the owner asked the connection to end.</summary>
    Stopped,

    /// <summary>Framing broke: short read, EOF inside a message, bad header, too many fds, socket error.</summary>
    Broken,
}

/// <summary>
/// The vhost-user socket codec (vhost-user.rst "Message Specification"): a 12-byte header, a body of
/// <c>size</c> bytes, and SCM_RIGHTS descriptors sent with the header. It frames messages and nothing
/// more; what a request means is the handler's business. Blocking reads wait in poll(2) on the socket
/// and an optional stop eventfd so the owner can end a connection whose peer went silent mid-message.
/// </summary>
public sealed class VhostUserChannel : IDisposable
{
    private readonly UnixFd _socket;
    private readonly int _stopFd;

    /// <param name="socket">Connected stream socket; the channel owns it.</param>
    /// <param name="stopFd">Readable when the owner wants receiving to stop; -1 for none. Not owned.</param>
    public VhostUserChannel(UnixFd socket, int stopFd = -1)
    {
        _socket = socket;
        _stopFd = stopFd;
    }

    public int Fd => _socket.Value;

    /// <summary>Why the last <see cref="Receive"/> returned <see cref="ReceiveStatus.Broken"/>, for the log line.</summary>
    public string? LastError { get; private set; }

    /// <summary>
    /// The last <see cref="ReceiveStatus.Broken"/> was the peer closing its end part-way through a message
    /// (a frontend killed while sending): the peer is gone, it did not send a malformed message.
    /// </summary>
    public bool ClosedInsideMessage { get; private set; }

    /// <summary>Reads one message. On anything but <see cref="ReceiveStatus.Message"/> no fds stay open.</summary>
    public ReceiveStatus Receive(out VhostUserMessage? message)
    {
        message = null;
        LastError = null;
        ClosedInsideMessage = false;
        ReceiveStatus wait = WaitReadable();
        if (wait != ReceiveStatus.Message)
        {
            return wait;
        }
        Span<byte> headerBytes = stackalloc byte[MessageHeader.Size];
        // One spare slot beyond the protocol maximum so "too many fds" is detected, not silently truncated.
        Span<int> fds = stackalloc int[VhostUserLimits.MaxFds + 1];
        long n = Libc.RecvMsg(_socket.Value, headerBytes, fds, out int fdCount, out bool truncated);
        int[] received = fds[..fdCount].ToArray();
        if (n == 0)
        {
            CloseAll(received);
            return ReceiveStatus.Closed;
        }
        if (n < 0)
        {
            CloseAll(received);
            return Fail($"recvmsg failed: {Errno.Describe((int)n)}");
        }
        if (truncated || fdCount > VhostUserLimits.MaxFds)
        {
            CloseAll(received);
            return Fail($"message carries more than {VhostUserLimits.MaxFds} fds");
        }
        if (n < MessageHeader.Size)
        {
            ReceiveStatus rest = ReadExactly(headerBytes[(int)n..]);
            if (rest != ReceiveStatus.Message)
            {
                CloseAll(received);
                return rest == ReceiveStatus.Stopped ? rest : Fail(LastError ?? "EOF inside the header");
            }
        }
        MessageHeader header = Wire.Read<MessageHeader>(headerBytes);
        if (!header.IsValid)
        {
            CloseAll(received);
            return Fail(header.BodySize > VhostUserLimits.MaxBodySize
                ? $"{MessageRules.NameOf(header.Request)} announces a {header.BodySize}-byte body (max {VhostUserLimits.MaxBodySize})"
                : $"bad header flags 0x{header.Flags:x} on {MessageRules.NameOf(header.Request)} (version 1, no reply bit, bits 4-31 zero)");
        }
        byte[] body = new byte[header.BodySize];
        ReceiveStatus bodyStatus = ReadExactly(body);
        if (bodyStatus != ReceiveStatus.Message)
        {
            CloseAll(received);
            return bodyStatus == ReceiveStatus.Stopped ? bodyStatus : Fail(LastError ?? "EOF inside the body");
        }
        message = new VhostUserMessage(header, body, received);
        return ReceiveStatus.Message;
    }

    /// <summary>Sends a reply (reply flag set, version 1) with <paramref name="body"/>; returns 0 or -errno.</summary>
    public int SendReply(uint request, ReadOnlySpan<byte> body)
        => Send(request, MessageFlags.Version | MessageFlags.Reply, body, ReadOnlySpan<int>.Empty);

    /// <summary>Sends a u64 reply (REPLY_ACK status or a GET_* value).</summary>
    public int SendReplyU64(uint request, ulong value)
    {
        Span<byte> body = stackalloc byte[8];
        Wire.Write(body, value);
        return SendReply(request, body);
    }

    /// <summary>Sends one message (header + body in one sendmsg so fds ride with the header); 0 or -errno.</summary>
    public int Send(uint request, uint flags, ReadOnlySpan<byte> body, ReadOnlySpan<int> fds)
    {
        Span<byte> buffer = stackalloc byte[MessageHeader.Size + body.Length];
        MessageHeader header = new() { Request = request, Flags = flags, BodySize = (uint)body.Length };
        Wire.Write(buffer, header);
        body.CopyTo(buffer[MessageHeader.Size..]);
        long sent = Libc.SendMsg(_socket.Value, buffer, fds);
        if (sent < 0)
        {
            return (int)sent;
        }
        if (sent < buffer.Length)
        {
            // A stream socket may accept part of a message; the rest goes without fds.
            long rest = WriteAll(buffer[(int)sent..]);
            if (rest < 0)
            {
                return (int)rest;
            }
        }
        return 0;
    }

    public void Dispose() => _socket.Dispose();

    private long WriteAll(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            long n = Libc.SendMsg(_socket.Value, data, ReadOnlySpan<int>.Empty);
            if (n < 0)
            {
                return n;
            }
            data = data[(int)n..];
        }
        return 0;
    }

    private ReceiveStatus ReadExactly(Span<byte> buffer)
    {
        Span<int> stray = stackalloc int[VhostUserLimits.MaxFds + 1];
        while (!buffer.IsEmpty)
        {
            ReceiveStatus wait = WaitReadable();
            if (wait != ReceiveStatus.Message)
            {
                return wait;
            }
            long n = Libc.RecvMsg(_socket.Value, buffer, stray, out int strayCount, out _);
            // Descriptors belong with the header; any arriving mid-message are closed and the message is broken.
            CloseAll(stray[..strayCount]);
            if (strayCount > 0)
            {
                LastError = "fds arrived inside a message body";
                return ReceiveStatus.Broken;
            }
            if (n <= 0)
            {
                ClosedInsideMessage = n == 0 || n == -Errno.ECONNRESET;
                LastError = n == 0 ? "EOF inside a message" : $"recvmsg failed: {Errno.Describe((int)n)}";
                return ReceiveStatus.Broken;
            }
            buffer = buffer[(int)n..];
        }
        return ReceiveStatus.Message;
    }

    private ReceiveStatus WaitReadable()
    {
        Span<Libc.PollFd> pfds = stackalloc Libc.PollFd[2];
        pfds[0] = new Libc.PollFd { Fd = _socket.Value, Events = Libc.POLLIN };
        pfds[1] = new Libc.PollFd { Fd = _stopFd, Events = Libc.POLLIN };
        int count = _stopFd >= 0 ? 2 : 1;
        while (true)
        {
            int r = Libc.Poll(pfds[..count], -1);
            if (r == -Errno.EINTR)
            {
                continue;
            }
            if (r < 0)
            {
                return Fail($"poll failed: {Errno.Describe(r)}");
            }
            if (count == 2 && pfds[1].Revents != 0)
            {
                return ReceiveStatus.Stopped;
            }
            // POLLHUP/POLLERR also fall through to recvmsg, which reports EOF or the error.
            return ReceiveStatus.Message;
        }
    }

    private ReceiveStatus Fail(string why)
    {
        LastError = why;
        return ReceiveStatus.Broken;
    }

    private static void CloseAll(ReadOnlySpan<int> fds)
    {
        foreach (int fd in fds)
        {
            Libc.Close(fd);
        }
    }
}
