using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Server;

namespace VirtioFsd.Device;

/// <summary>
/// Runs the daemon: opens the share, listens (or adopts the inherited socket), serves one frontend
/// connection and returns when it ends, as virtiofsd does.
/// </summary>
public static class VirtioFsDaemon
{
    /// <summary>Serves until the frontend disconnects or <paramref name="stop"/> fires; returns the process exit code.</summary>
    public static int Run(DaemonOptions options, ILogger log, CancellationToken stop)
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
            fs = new PassthroughFileSystem(ToPassthroughOptions(options), log);
        }
        catch (IOException e)
        {
            log.Error("{Message}", e.Message);
            return 1;
        }
        using (fs)
        {
            var server = new FuseServer(fs, ToServerOptions(options), log);
            var device = new VirtioFsDevice(server, fs, log, options.IoEngine)
            {
                Polling = QueuePolling.ForThisMachine(TimeSpan.FromMicroseconds(options.QueuePollMicroseconds)),
                Tag = options.Tag,
                MaxWorkersPerQueue = (uint)options.ThreadPoolSize,
            };
            using VhostUserListener? listener = Listen(options, log);
            if (listener is null)
            {
                return 1;
            }
            log.Information("Waiting for vhost-user socket connection...");
            ConnectionEnd? end = new VhostUserServer(device, log).AcceptAndServe(listener, stopEvent.Value);
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

    internal static FuseServerOptions ToServerOptions(DaemonOptions o) => new()
    {
        Cache = o.Cache switch
        {
            Cli.CacheMode.Never => Fuse.Server.CacheMode.Never,
            Cli.CacheMode.Metadata => Fuse.Server.CacheMode.Metadata,
            Cli.CacheMode.Always => Fuse.Server.CacheMode.Always,
            _ => Fuse.Server.CacheMode.Auto,
        },
        Writeback = o.Writeback,
        AllowDirectIo = o.AllowDirectIo,
        AllowMmap = o.AllowMmap,
        SecurityLabel = o.SecurityLabel,
        Uids = new IdTranslation(o.TranslateUid),
        Gids = new IdTranslation(o.TranslateGid),
        ReadDirPlus = o.ReadDirPlus,
        Xattr = o.Xattr,
        PosixAcl = o.PosixAcl,
        KillPrivV2 = o.KillPrivV2,
        AnnounceSubmounts = o.AnnounceSubmounts,
        PosixLocks = true,
        FlockLocks = true,
        ReadOnly = o.ReadOnly,
    };

    internal static PassthroughOptions ToPassthroughOptions(DaemonOptions o) => new()
    {
        SharedDirectory = o.SharedDir,
        ProcSelfFd = o.ProcSelfFd,
        // As both existing virtiofsd daemons: a guest root may create device nodes (the daemon
        // itself never opens one; OPEN of a device node is refused).
        DeviceNodes = DeviceNodePolicy.AllowForRoot,
        Xattr = o.Xattr,
        PosixAcl = o.PosixAcl,
        AnnounceSubmounts = o.AnnounceSubmounts,
        Writeback = o.Writeback,
        KillPrivV2 = o.KillPrivV2,
        InodeFileHandles = o.InodeFileHandles,
        PreserveNoatime = o.PreserveNoatime,
        XattrMap = o.XattrMap,
        InodeFdCacheSize = o.InodeFdCacheSize,
    };
}
