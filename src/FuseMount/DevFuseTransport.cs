using System.Buffers.Binary;
using System.Collections.Concurrent;
using Serilog;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.FuseMount;

/// <summary>
/// The classic FUSE transport: several threads read requests from /dev/fuse and write replies back
/// (fuse(4)). Each read returns exactly one request; each write must be exactly one reply. A read that
/// fails with ENODEV means the connection is gone (unmounted, or aborted): the transport ends.
/// With FUSE-over-io_uring this transport stays up for INIT, FORGET and INTERRUPT, which the kernel
/// always sends through /dev/fuse.
/// </summary>
internal sealed class DevFuseTransport : IFuseRequestCompletion, IDisposable
{
    /// <summary>
    /// Headroom over max_write in the read buffer: fuse_dev_do_read wants room for fuse_in_header (40) +
    /// fuse_write_in (40) + max_write, and at least FUSE_MIN_READ_BUFFER (8192).
    /// </summary>
    private const int ReadHeadroom = 4096;

    private readonly int fd;
    private readonly FuseServer server;
    private readonly ILogger log;
    private readonly int bufferSize;
    private readonly ConcurrentBag<RequestBuffers> pool = new();
    private readonly List<Thread> threads = [];
    private readonly int stopEvent;
    private readonly Action? onInitReplied;
    private int ended;
    private long requests;

    public DevFuseTransport(int fd, FuseServer server, uint maxWrite, ILogger log, Action? onInitReplied)
    {
        this.fd = fd;
        this.server = server;
        this.log = log.ForContext<DevFuseTransport>();
        this.onInitReplied = onInitReplied;
        bufferSize = Math.Max(FuseConstants.MinReadBuffer, checked((int)maxWrite + ReadHeadroom));
        stopEvent = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (stopEvent < 0)
        {
            throw new IOException($"eventfd: {Errno.Describe(stopEvent)}");
        }
    }

    /// <summary>Set once the connection is gone (a read saw ENODEV) or <see cref="Stop"/> was called.</summary>
    public ManualResetEventSlim Ended { get; } = new();

    /// <summary>True when the kernel ended the connection (not <see cref="Stop"/>).</summary>
    public bool ConnectionGone { get; private set; }

    /// <summary>Requests read from /dev/fuse so far.</summary>
    public long Requests => Interlocked.Read(ref requests);

    public void Start(int threadCount)
    {
        for (int i = 0; i < threadCount; i++)
        {
            var t = new Thread(Serve) { Name = $"fuse-dev-{i}", IsBackground = true };
            threads.Add(t);
            t.Start();
        }
    }

    /// <summary>Wakes every reader and waits for them to leave (requests being handled finish first).</summary>
    public void Stop()
    {
        Interlocked.Exchange(ref ended, 1);
        Libc.EventFdWrite(stopEvent);
        foreach (Thread t in threads)
        {
            t.Join();
        }
        Ended.Set();
    }

    public void Complete(FuseRequest request)
    {
        var buffers = (RequestBuffers)request.TransportState!;
        if (request.ReplyLength > 0)
        {
            long w = Libc.Write(fd, buffers.Reply(request.ReplyLength));
            // ENOENT: the request was interrupted or the connection aborted meanwhile (fuse_dev_do_write); nothing to do.
            if (w < 0 && w != -Errno.ENOENT && w != -Errno.ENODEV && w != -Errno.ECONNABORTED)
            {
                log.Warning("Writing a FUSE reply of {Length} bytes to /dev/fuse failed: {Error}", request.ReplyLength, Errno.Describe((int)w));
            }
        }
        pool.Add(buffers);
    }

    private void Serve()
    {
        Span<Libc.PollFd> fds = stackalloc Libc.PollFd[2];
        while (Volatile.Read(ref ended) == 0)
        {
            if (!pool.TryTake(out RequestBuffers? buffers))
            {
                buffers = new RequestBuffers(bufferSize, bufferSize, this);
            }
            long n = Libc.Read(fd, buffers.Input);
            if (n == -Errno.EAGAIN)
            {
                pool.Add(buffers);
                fds[0] = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
                fds[1] = new Libc.PollFd { Fd = stopEvent, Events = Libc.POLLIN };
                if (Libc.Poll(fds, -1) > 0 && fds[1].Revents != 0)
                {
                    break;
                }
                continue;
            }
            if (n == -Errno.ENOENT || n == -Errno.EINTR)
            {
                pool.Add(buffers); // The request was interrupted before we got it (fuse_dev_do_read); read the next.
                continue;
            }
            if (n < 0)
            {
                pool.Add(buffers);
                if (n != -Errno.ENODEV && n != -Errno.ECONNABORTED)
                {
                    log.Error("Reading /dev/fuse failed: {Error}; ending the mount's transport", Errno.Describe((int)n));
                }
                EndConnection();
                break;
            }
            Interlocked.Increment(ref requests);
            bool init = n >= 8 && BinaryPrimitives.ReadUInt32LittleEndian(buffers.Input[4..]) == (uint)FuseOpcode.Init;
            buffers.Prepare((int)n);
            server.Handle(buffers.Request);
            if (init)
            {
                onInitReplied?.Invoke();
            }
        }
    }

    private void EndConnection()
    {
        if (Interlocked.Exchange(ref ended, 1) == 0)
        {
            ConnectionGone = true;
            Libc.EventFdWrite(stopEvent);
            Ended.Set();
        }
    }

    public void Dispose()
    {
        Libc.Close(stopEvent);
        while (pool.TryTake(out RequestBuffers? b))
        {
            b.Dispose();
        }
        Ended.Dispose();
    }
}
