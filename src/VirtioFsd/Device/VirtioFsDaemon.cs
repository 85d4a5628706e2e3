using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Server;
using VirtioFsd.Virtio;

namespace VirtioFsd.Device;

/// <summary>
/// Runs the daemon: opens the share, listens (or adopts the inherited socket), serves one frontend
/// connection and returns when it ends, as virtiofsd does.
/// </summary>
public static class VirtioFsDaemon
{
    /// <summary>
    /// Serves until the frontend disconnects or <paramref name="stop"/> fires; returns the process exit code.
    /// <paramref name="beforeAccept"/> runs once start-up is done, just before the daemon waits for its frontend.
    /// </summary>
    public static int Run(DaemonOptions options, ILogger log, CancellationToken stop, Action? beforeAccept = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);

        int efd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (efd < 0)
        {
            log.Error("eventfd failed: {Error}", Errno.Describe(efd));
            return 1;
        }
        using var stopEvent = new UnixFd(efd);
        using CancellationTokenRegistration onStop = stop.Register(() => Libc.EventFdWrite(stopEvent.Value));

        PassthroughFileSystem fs;
        try
        {
            fs = new PassthroughFileSystem(options.FileSystem, log);
        }
        catch (IOException e)
        {
            log.Error("{Message}", e.Message);
            return 1;
        }
        using (fs)
        {
            var server = new FuseServer(fs, options.Fuse, log);
            var device = new VirtioFsDevice(server, options.Device, log)
            {
                DeviceState = new Migration.VirtioFsDeviceState(server, fs, log),
            };
            using VhostUserListener? listener = Listen(options, log);
            if (listener is null)
            {
                return 1;
            }
            var vhostUser = new VhostUserServer(device, log);
            log.Information("Waiting for vhost-user socket connection...");
            beforeAccept?.Invoke();
            ConnectionEnd? end = vhostUser.AcceptAndServe(listener, stopEvent.Value);
            switch (end)
            {
                case null when stop.IsCancellationRequested:
                case ConnectionEnd.Stopped:
                    log.Information("Stopped by signal");
                    return 0;
                case null:
                    return 1;
                case ConnectionEnd.PeerClosed:
                    log.Information("Client disconnected, shutting down");
                    return 0;
                default:
                    log.Error("Frontend broke the vhost-user protocol, shutting down");
                    return 1;
            }
        }
    }

    private static VhostUserListener? Listen(DaemonOptions options, ILogger log)
    {
        VhostUserListener? listener;
        int r;
        if (options.ListenFd is int fd)
        {
            r = VhostUserListener.TryAdopt(fd, log, out listener);
            if (r < 0)
            {
                log.Error("--fd={Fd} is not a listening Unix socket: {Error}", fd, Errno.Describe(r));
            }
            return listener;
        }
        string path = options.SocketPath!;
        r = VhostUserListener.TryBind(path, log, out listener);
        if (r < 0)
        {
            log.Error("Cannot listen on {Path}: {Error}", path, Errno.Describe(r));
        }
        return listener;
    }
}
