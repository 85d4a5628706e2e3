using VirtioFsd.Linux;

namespace VirtioFsd.VhostUser.Protocol;

/// <summary>
/// One received front-end message: header, body, and the descriptors that came with it. The message
/// owns its descriptors; a handler takes the ones it keeps with <see cref="TakeFd"/> and disposing the
/// message closes every descriptor nobody took, so a message can never leak an fd.
/// </summary>
public sealed class VhostUserMessage : IDisposable
{
    private readonly byte[] _body;
    private readonly int[] _fds;

    public VhostUserMessage(MessageHeader header, byte[] body, int[] fds)
    {
        Header = header;
        _body = body;
        _fds = fds;
    }

    public MessageHeader Header { get; }

    public uint RequestCode => Header.Request;

    public VhostUserRequest Request => (VhostUserRequest)Header.Request;

    public ReadOnlySpan<byte> Body => _body;

    public int FdCount => _fds.Length;

    /// <summary>Transfers ownership of descriptor <paramref name="index"/> to the caller; -1 if already taken.</summary>
    public int TakeFd(int index)
    {
        int fd = _fds[index];
        _fds[index] = -1;
        return fd;
    }

    /// <summary>Descriptor <paramref name="index"/> for use during handling; the message still owns (and closes) it.</summary>
    public int PeekFd(int index) => _fds[index];

    /// <summary>Closes descriptors not taken by the handler.</summary>
    public void Dispose()
    {
        for (int i = 0; i < _fds.Length; i++)
        {
            if (_fds[i] >= 0)
            {
                Libc.Close(_fds[i]);
                _fds[i] = -1;
            }
        }
    }
}
