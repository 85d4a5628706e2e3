using System.Net.Sockets;

namespace VirtioFsd.Tests.Vm.Migration;

/// <summary>
/// Sits between the source and the destination QEMU on the migration connection and forwards both directions (the
/// return path flows back). With <c>corrupt</c>, it flips one byte of our device state in flight: the first byte 24
/// bytes after the state's magic, inside the state's body, so only the state's own checksum can notice.
/// </summary>
internal sealed class MigrationProxy : IDisposable
{
    private static readonly byte[] Magic = "VFSDCS\r\n"u8.ToArray();
    private const int FlipOffset = 24;

    private readonly Socket _listener;
    private readonly string _target;
    private readonly bool _corrupt;
    private readonly Task _run;

    public MigrationProxy(string listenPath, string targetPath, bool corrupt)
    {
        _target = targetPath;
        _corrupt = corrupt;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(listenPath));
        _listener.Listen(1);
        _run = Task.Run(RunAsync);
    }

    /// <summary>Whether a byte of the state was flipped.</summary>
    public bool Flipped { get; private set; }

    public void Dispose()
    {
        _listener.Dispose();
        try
        {
            _run.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The connection ended badly: that is what a corrupted migration does.
        }
    }

    private async Task RunAsync()
    {
        using Socket source = await _listener.AcceptAsync();
        using var destination = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await destination.ConnectAsync(new UnixDomainSocketEndPoint(_target));
        Task forward = PumpAsync(source, destination, _corrupt);
        Task back = PumpAsync(destination, source, false);
        await Task.WhenAny(forward, back);
        source.Shutdown(SocketShutdown.Both);
        destination.Shutdown(SocketShutdown.Both);
        await Task.WhenAll(forward, back).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private async Task PumpAsync(Socket from, Socket to, bool corrupt)
    {
        byte[] buffer = new byte[256 * 1024];
        // The magic may straddle two reads: the last bytes of the previous read are searched again with the next.
        var window = new List<byte>();
        long flipAt = -1;
        long position = 0;
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                if (corrupt && !Flipped)
                {
                    if (flipAt < 0)
                    {
                        window.AddRange(buffer.AsSpan(0, n).ToArray());
                        int found = window.ToArray().AsSpan().IndexOf(Magic);
                        if (found >= 0)
                        {
                            flipAt = position - (window.Count - n) + found + FlipOffset;
                        }
                        else if (window.Count > Magic.Length)
                        {
                            window.RemoveRange(0, window.Count - Magic.Length);
                        }
                    }
                    if (flipAt >= position && flipAt < position + n)
                    {
                        buffer[flipAt - position] ^= 0x01;
                        Flipped = true;
                    }
                }
                position += n;
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
            }
        }
        catch (SocketException)
        {
            // The other side went away (a refused load ends the destination): stop forwarding.
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
