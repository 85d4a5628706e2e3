using Serilog;
using VirtioFsd.Linux;

namespace VirtioFsd.VhostUser.Server;

/// <summary>
/// One SET_DEVICE_STATE_FD transfer: the state moves through the front-end's fd (a pipe) on a thread of its own, because
/// the front-end reads (saving) or writes (loading) that pipe right after our reply and only then sends
/// CHECK_DEVICE_STATE: doing it on the connection thread would deadlock on a state larger than the pipe's buffer.
/// <see cref="Finish"/> (CHECK_DEVICE_STATE) waits for the thread and gives its result.
/// </summary>
internal sealed class DeviceStateTransfer
{
    private readonly Thread _thread;
    private readonly ILogger _log;
    private int _result = -Errno.EIO;

    private DeviceStateTransfer(ILogger log, ThreadStart work, string name)
    {
        _log = log;
        _thread = new Thread(work) { IsBackground = true, Name = name };
    }

    /// <summary>Saving (the source): writes <see cref="IDeviceState.Save"/>'s bytes into <paramref name="fd"/>, then closes it.</summary>
    public static DeviceStateTransfer StartSave(IDeviceState state, int fd, ILogger log)
    {
        DeviceStateTransfer? transfer = null;
        transfer = new DeviceStateTransfer(log, () => transfer!.RunSave(state, fd), "state-save");
        transfer._thread.Start();
        return transfer;
    }

    /// <summary>Loading (the destination): reads <paramref name="fd"/> to its end (bounded), closes it, then loads the bytes.</summary>
    public static DeviceStateTransfer StartLoad(IDeviceState state, int fd, ILogger log)
    {
        DeviceStateTransfer? transfer = null;
        transfer = new DeviceStateTransfer(log, () => transfer!.RunLoad(state, fd), "state-load");
        transfer._thread.Start();
        return transfer;
    }

    /// <summary>Waits for the transfer to end; 0 or -errno.</summary>
    public int Finish()
    {
        _thread.Join();
        return Volatile.Read(ref _result);
    }

    private void RunSave(IDeviceState state, int fd)
    {
        try
        {
            byte[]? bytes = state.Save();
            if (bytes is null)
            {
                Volatile.Write(ref _result, -Errno.EIO);
                return;
            }
            int r = WriteAll(fd, bytes);
            if (r < 0)
            {
                _log.Error("Device state: writing {Bytes} bytes to the front-end failed: {Errno}", bytes.Length, Errno.Describe(r));
            }
            else
            {
                _log.Information("Device state saved: {Bytes} bytes sent to the front-end", bytes.Length);
            }
            Volatile.Write(ref _result, r);
        }
        catch (Exception e)
        {
            _log.Error(e, "Device state: saving failed");
            Volatile.Write(ref _result, -Errno.EIO);
        }
        finally
        {
            // Closing our end is the end-of-state mark the front-end reads up to (vhost-user.rst SET_DEVICE_STATE_FD).
            Libc.Close(fd);
        }
    }

    private void RunLoad(IDeviceState state, int fd)
    {
        byte[]? bytes;
        try
        {
            bytes = ReadAll(fd, state.MaxStateBytes, out int r);
            if (bytes is null)
            {
                _log.Error("Device state: reading it from the front-end failed: {Errno}", Errno.Describe(r));
                Volatile.Write(ref _result, r);
                return;
            }
        }
        finally
        {
            Libc.Close(fd);
        }
        try
        {
            Volatile.Write(ref _result, state.Load(bytes));
        }
        catch (Exception e)
        {
            _log.Error(e, "Device state: loading failed");
            Volatile.Write(ref _result, -Errno.EIO);
        }
    }

    private static int WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            long n = Libc.Write(fd, data);
            if (n == -Errno.EINTR)
            {
                continue;
            }
            if (n == -Errno.EAGAIN)
            {
                // A non-blocking pipe from the front-end: wait until it drains.
                WaitFd(fd, Libc.POLLOUT);
                continue;
            }
            if (n <= 0)
            {
                return n < 0 ? (int)n : -Errno.EIO;
            }
            data = data[(int)n..];
        }
        return 0;
    }

    /// <summary>Everything up to end of file, or null with <paramref name="error"/> (EFBIG beyond <paramref name="limit"/>).</summary>
    private static byte[]? ReadAll(int fd, long limit, out int error)
    {
        error = 0;
        var stream = new MemoryStream();
        byte[] chunk = new byte[64 * 1024];
        while (true)
        {
            long n = Libc.Read(fd, chunk);
            if (n == -Errno.EINTR)
            {
                continue;
            }
            if (n == -Errno.EAGAIN)
            {
                WaitFd(fd, Libc.POLLIN);
                continue;
            }
            if (n < 0)
            {
                error = (int)n;
                return null;
            }
            if (n == 0)
            {
                return stream.ToArray();
            }
            if (stream.Length + n > limit)
            {
                error = -Errno.EFBIG;
                return null;
            }
            stream.Write(chunk, 0, (int)n);
        }
    }

    private static void WaitFd(int fd, short events)
    {
        Span<Libc.PollFd> pfd = stackalloc Libc.PollFd[1];
        pfd[0] = new Libc.PollFd { Fd = fd, Events = events };
        Libc.Poll(pfd, 1000);
    }
}
