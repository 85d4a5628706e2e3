using System.Buffers.Binary;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Protocol;
using VirtioFsd.VhostUser.Tests.Support;

namespace VirtioFsd.VhostUser.Tests.Protocol;

/// <summary>Framing over a socketpair: what arrives intact, and what breaks the connection without leaking fds.</summary>
public sealed class ChannelTests : IDisposable
{
    private readonly int _peer;
    private readonly VhostUserChannel _channel;

    public ChannelTests()
    {
        Assert.Equal(0, Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int a, out _peer));
        _channel = new VhostUserChannel(new UnixFd(a));
    }

    public void Dispose()
    {
        _channel.Dispose();
        Libc.Close(_peer);
    }

    private static byte[] Message(uint request, uint flags, uint size, int bodyBytes)
    {
        byte[] b = new byte[12 + bodyBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(b, request);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), size);
        return b;
    }

    private static int[] EventFds(int n) => Enumerable.Range(0, n).Select(_ => Libc.EventFd(0, Libc.EFD_CLOEXEC)).ToArray();

    [Fact]
    public void A_message_with_body_and_fds_arrives_whole()
    {
        int[] fds = EventFds(2);
        byte[] msg = Message(5, 1, 8, 8);
        msg[12] = 0x42;
        Libc.SendMsg(_peer, msg, fds);
        Assert.Equal(ReceiveStatus.Message, _channel.Receive(out VhostUserMessage? m));
        using (m)
        {
            Assert.Equal(VhostUserRequest.SetMemTable, m!.Request);
            Assert.Equal(8, m.Body.Length);
            Assert.Equal(0x42, m.Body[0]);
            Assert.Equal(2, m.FdCount);
        }
        foreach (int fd in fds)
        {
            Libc.Close(fd);
        }
    }

    [Fact]
    public void A_message_split_over_several_writes_is_reassembled()
    {
        byte[] msg = Message(2, 1, 8, 8);
        Libc.Write(_peer, msg.AsSpan(0, 5));
        var writer = new Thread(() =>
        {
            Libc.Write(_peer, msg.AsSpan(5, 10));
            Libc.Write(_peer, msg.AsSpan(15));
        });
        writer.Start();
        Assert.Equal(ReceiveStatus.Message, _channel.Receive(out VhostUserMessage? m));
        Assert.Equal(8, m!.Body.Length);
        m.Dispose();
        writer.Join();
    }

    [Fact]
    public void Eof_between_messages_is_a_clean_close() => FdTable.AssertNoLeak(() =>
    {
        Assert.Equal(0, Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int a, out int b));
        using var channel = new VhostUserChannel(new UnixFd(a));
        Libc.Close(b);
        Assert.Equal(ReceiveStatus.Closed, channel.Receive(out _));
    });

    [Theory]
    [InlineData(0)]
    [InlineData(11)]
    public void Eof_inside_the_header_breaks_the_connection(int bytes) => FdTable.AssertNoLeak(() =>
    {
        Assert.Equal(0, Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int a, out int b));
        using var channel = new VhostUserChannel(new UnixFd(a));
        int[] fds = EventFds(1);
        Libc.SendMsg(b, Message(3, 1, 0, 0).AsSpan(0, Math.Max(bytes, 1)), fds);
        Libc.Close(fds[0]);
        Libc.Close(b);
        Assert.Equal(ReceiveStatus.Broken, channel.Receive(out VhostUserMessage? m));
        Assert.Null(m);
        // The peer went away part-way: the server treats that as a disconnect, not a protocol violation.
        Assert.True(channel.ClosedInsideMessage);
    });

    [Fact]
    public void Eof_inside_the_body_breaks_the_connection_and_closes_its_fds() => FdTable.AssertNoLeak(() =>
    {
        Assert.Equal(0, Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int a, out int b));
        using var channel = new VhostUserChannel(new UnixFd(a));
        int[] fds = EventFds(3);
        Libc.SendMsg(b, Message(5, 1, 72, 20), fds);
        foreach (int fd in fds)
        {
            Libc.Close(fd);
        }
        Libc.Close(b);
        Assert.Equal(ReceiveStatus.Broken, channel.Receive(out _));
        Assert.Contains("EOF", channel.LastError, StringComparison.Ordinal);
        Assert.True(channel.ClosedInsideMessage);
    });

    [Theory]
    [InlineData(0u)]
    [InlineData(2u)]
    [InlineData(3u)]
    [InlineData(1u | 4u)]
    public void Bad_version_or_reply_flag_breaks_the_connection(uint flags)
    {
        Libc.SendMsg(_peer, Message(1, flags, 0, 0), []);
        Assert.Equal(ReceiveStatus.Broken, _channel.Receive(out _));
        Assert.False(_channel.ClosedInsideMessage);
    }

    [Fact]
    public void Oversized_body_breaks_the_connection_before_reading_it()
    {
        Libc.SendMsg(_peer, Message(5, 1, 4097, 0), []);
        Assert.Equal(ReceiveStatus.Broken, _channel.Receive(out _));
        Assert.Contains("4097", _channel.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public void More_than_eight_fds_break_the_connection_and_are_all_closed() => FdTable.AssertNoLeak(() =>
    {
        Assert.Equal(0, Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int a, out int b));
        using var channel = new VhostUserChannel(new UnixFd(a));
        int[] fds = EventFds(12);
        Libc.SendMsg(b, Message(5, 1, 0, 0), fds);
        foreach (int fd in fds)
        {
            Libc.Close(fd);
        }
        Assert.Equal(ReceiveStatus.Broken, channel.Receive(out _));
        Libc.Close(b);
    });

    [Fact]
    public void Stop_fd_ends_a_wait_for_a_silent_peer()
    {
        using var stop = new UnixFd(Libc.EventFd(0, Libc.EFD_CLOEXEC));
        Assert.Equal(0, Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int a, out int b));
        using var channel = new VhostUserChannel(new UnixFd(a), stop.Value);
        // Half a header, then silence: only the stop fd can end the wait.
        Libc.Write(b, Message(1, 1, 0, 0).AsSpan(0, 6));
        Libc.EventFdWrite(stop.Value);
        Assert.Equal(ReceiveStatus.Stopped, channel.Receive(out _));
        Libc.Close(b);
    }

    [Fact]
    public void Unclaimed_fds_are_closed_when_the_message_is_disposed_and_taken_ones_are_not()
    {
        int[] fds = EventFds(2);
        Libc.SendMsg(_peer, Message(5, 1, 0, 0), fds);
        foreach (int fd in fds)
        {
            Libc.Close(fd);
        }
        Assert.Equal(ReceiveStatus.Message, _channel.Receive(out VhostUserMessage? m));
        int taken = m!.TakeFd(0);
        int untaken = m.PeekFd(1);
        m.Dispose();
        Assert.True(Libc.Fcntl(taken, Libc.F_GETFD, 0) >= 0);
        Assert.Equal(-Errno.EBADF, Libc.Fcntl(untaken, Libc.F_GETFD, 0));
        Libc.Close(taken);
    }

    [Fact]
    public void Replies_carry_the_reply_flag_and_version()
    {
        Assert.Equal(0, _channel.SendReplyU64(1, 0x1234));
        byte[] buf = new byte[20];
        Assert.Equal(20, Libc.Read(_peer, buf));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(buf));
        Assert.Equal(MessageFlags.Version | MessageFlags.Reply, BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(4)));
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(8)));
        Assert.Equal(0x1234UL, BinaryPrimitives.ReadUInt64LittleEndian(buf.AsSpan(12)));
    }
}
