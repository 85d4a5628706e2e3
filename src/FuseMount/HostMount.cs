using Serilog;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.FuseMount;

/// <summary>How a host mount moves requests between the kernel and the server.</summary>
public enum FuseTransportKind
{
    /// <summary>read(2)/write(2) on /dev/fuse from several threads.</summary>
    Dev,

    /// <summary>FUSE-over-io_uring (Linux >= 6.14, fuse.enable_uring=Y); /dev/fuse when the kernel lacks it.</summary>
    Uring,
}

/// <summary>Where and how to mount.</summary>
public sealed record HostMountOptions
{
    public required string MountPoint { get; init; }

    /// <summary>What /proc/mounts shows as the source (the shared directory).</summary>
    public required string Source { get; init; }

    public FuseTransportKind Transport { get; init; } = FuseTransportKind.Uring;

    /// <summary>Threads reading /dev/fuse (all requests with --transport dev; INIT, FORGET and INTERRUPT with uring).</summary>
    public int DevThreads { get; init; } = 4;

    /// <summary>Entries per io_uring queue: requests one CPU's queue can hold at once.</summary>
    public int QueueDepth { get; init; } = 16;
}

/// <summary>
/// A FUSE server mounted on the host: the same server and filesystem as the virtio-fs device, behind
/// /dev/fuse and, when asked and available, FUSE-over-io_uring. Lives until <see cref="Dispose"/>
/// (unmount) or until the mount is unmounted from outside (<see cref="WaitForEnd"/> returns true).
/// </summary>
public sealed class HostMount : IDisposable
{
    private readonly int fd;
    private readonly HostMountOptions options;
    private readonly FuseServer server;
    private readonly DevFuseTransport dev;
    private readonly UringFuseTransport? uring;
    private readonly ILogger log;
    private long connectionId = -1;
    private bool disposed;

    private HostMount(int fd, HostMountOptions options, IFileSystem fs, FuseServerOptions serverOptions, ILogger log, out string? fallback)
    {
        this.fd = fd;
        this.options = options;
        this.log = log.ForContext<HostMount>();
        // The kernel's ring payload is max(FUSE_MIN_READ_BUFFER, max_write, max_pages * PAGE_SIZE) (fuse_uring_create).
        uint maxWrite = Math.Clamp(serverOptions.MaxWrite, 4096u, FuseServerOptions.DefaultMaxWrite);
        int payloadSize = Math.Max(FuseConstants.MinReadBuffer, (int)((maxWrite + 4095) / 4096 * 4096));
        fallback = null;
        if (options.Transport == FuseTransportKind.Uring)
        {
            uring = UringFuseTransport.TryCreate(fd, options.QueueDepth, payloadSize, log, out fallback);
        }
        server = new FuseServer(fs, serverOptions with { OverIoUring = uring is not null, DirectIoForODirect = true, NegativeEntries = true }, log);
        dev = new DevFuseTransport(fd, server, maxWrite, log, OnInitReplied);
        MaxWrite = maxWrite;
    }

    public uint MaxWrite { get; }

    /// <summary>Requests read from /dev/fuse (INIT, FORGET and INTERRUPT at least).</summary>
    public long DevRequests => dev.Requests;

    /// <summary>Requests served through FUSE-over-io_uring.</summary>
    public long UringRequests => uring?.Requests ?? 0;

    /// <summary>True once the io_uring queues were registered after INIT.</summary>
    public bool UringActive => uring?.Started ?? false;

    /// <summary>Set when the INIT exchange is done (and the rings, if any, are being registered).</summary>
    public ManualResetEventSlim Initialized { get; } = new();

    /// <summary>Opens /dev/fuse, prepares the transport and mounts. Throws <see cref="IOException"/> with the reason on failure.</summary>
    public static HostMount Start(IFileSystem fs, FuseServerOptions serverOptions, HostMountOptions options, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(fs);
        ArgumentNullException.ThrowIfNull(serverOptions);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        int fd = FuseDevice.Open();
        if (fd < 0)
        {
            throw new IOException($"Cannot open /dev/fuse: {Errno.Describe(fd)}");
        }
        var mount = new HostMount(fd, options, fs, serverOptions, log, out string? fallback);
        if (fallback is not null)
        {
            mount.log.Warning("FUSE-over-io_uring: {Reason}; falling back to /dev/fuse read/write", fallback);
        }
        int r = FuseDevice.Mount(fd, options.Source, options.MountPoint, mount.MaxWrite);
        if (r < 0)
        {
            mount.Release();
            throw new IOException($"mount of /dev/fuse on {options.MountPoint} failed: {Errno.Describe(r)}");
        }
        // Readers start only now: /dev/fuse refuses reads (EPERM) until mount(2) attached the fd to a
        // connection; the kernel's INIT waits for them. The id comes from mountinfo, not from a stat
        // that would itself be a FUSE request.
        mount.connectionId = FuseDevice.ConnectionId(options.MountPoint);
        mount.dev.Start(Math.Max(1, options.DevThreads));
        return mount;
    }

    /// <summary>Waits until the mount goes away from outside (true) or <paramref name="stop"/> fires (false).</summary>
    public bool WaitForEnd(CancellationToken stop)
    {
        int which = WaitHandle.WaitAny([dev.Ended.WaitHandle, stop.WaitHandle]);
        return which == 0 && dev.ConnectionGone;
    }

    /// <summary>
    /// Unmounts (lazily: a busy mount is detached at once and aborted if it stays busy), stops the
    /// transports and releases the buffers. Nothing to unmount when the mount went away from outside.
    /// </summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        if (!dev.ConnectionGone)
        {
            int r = Libc.Umount2(options.MountPoint, Libc.MNT_DETACH);
            if (r < 0 && r != -Errno.EINVAL)
            {
                log.Warning("umount2({MountPoint}, MNT_DETACH): {Error}", options.MountPoint, Errno.Describe(r));
            }
            // The connection ends when the superblock dies, i.e. once nobody holds a file of the mount.
            if (!dev.Ended.Wait(TimeSpan.FromSeconds(2)) && connectionId >= 0)
            {
                log.Information("The detached mount is still in use; aborting FUSE connection {Id}", connectionId);
                int a = FuseDevice.Abort(connectionId);
                if (a < 0)
                {
                    log.Warning("Aborting FUSE connection {Id}: {Error}", connectionId, Errno.Describe(a));
                }
            }
        }
        dev.Stop();
        if (uring is { Started: true } && !uring.Join(TimeSpan.FromSeconds(10)))
        {
            // A queue still holds a request (e.g. a SETLKW blocked in the filesystem): its buffers may
            // still be written by the kernel, so they are left allocated rather than freed under it.
            log.Warning("An io_uring queue did not stop; leaving its buffers allocated");
            dev.Dispose();
            Libc.Close(fd);
            return;
        }
        Release();
    }

    private void Release()
    {
        uring?.Dispose();
        dev.Dispose();
        Libc.Close(fd);
        Initialized.Dispose();
    }

    private void OnInitReplied()
    {
        if (uring is not null && !uring.Started)
        {
            if (server.NegotiatedFlags is { } flags && flags.HasFlag(FuseInitFlags.OverIoUring))
            {
                uring.Start(server);
                log.Information("FUSE-over-io_uring: registering {Queues} queues of {Depth} entries", uring.QueueCount, options.QueueDepth);
            }
            else
            {
                log.Warning("The kernel did not offer FUSE_OVER_IO_URING (it needs Linux >= 6.14 and /sys/module/fuse/parameters/enable_uring = Y, now {Value}); serving through /dev/fuse read/write",
                    ReadEnableUring());
            }
        }
        Initialized.Set();
    }

    private static string ReadEnableUring()
    {
        const string path = "/sys/module/fuse/parameters/enable_uring";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : "absent";
    }
}
