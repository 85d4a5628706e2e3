using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.FuseMount;
using VirtioFsd.Linux;

namespace VirtioFsd.Lifecycle;

/// <summary>
/// The life of <c>virtiofsd mount</c>: open the share, mount it, serve until SIGTERM/SIGINT/SIGHUP (then
/// unmount) or until someone unmounts it from outside, and exit 0 either way.
/// </summary>
internal static class HostMountHost
{
    public static int Run(MountCommand command, ILogger log)
    {
        DaemonOptions options = command.Daemon;
        if (!Directory.Exists(options.SharedDir))
        {
            log.Error("Shared directory {Dir:l} does not exist or is not a directory", options.SharedDir);
            return 1;
        }
        if (!Directory.Exists(command.Mount.MountPoint))
        {
            log.Error("Mount point {Dir:l} does not exist or is not a directory", command.Mount.MountPoint);
            return 1;
        }
        using var signals = new StopSignals();
        int procSelfFd = Libc.OpenAbsolute("/proc/self/fd", Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (procSelfFd < 0)
        {
            log.Error("Cannot open /proc/self/fd: {Error:l}", Errno.Describe(procSelfFd));
            return 1;
        }
        options = options with { FileSystem = options.FileSystem with { ProcSelfFd = procSelfFd } };
        PassthroughFileSystem fs;
        try
        {
            fs = new PassthroughFileSystem(options.FileSystem, log);
        }
        catch (IOException e)
        {
            log.Error("{Message:l}", e.Message);
            return 1;
        }
        using (fs)
        {
            HostMount mount;
            try
            {
                mount = HostMount.Start(fs, options.Fuse, command.Mount, log);
            }
            catch (IOException e)
            {
                log.Error("{Message:l}", e.Message);
                return 1;
            }
            using (mount)
            {
                log.Information("Mounted {Dir:l} on {MountPoint:l} (transport {Transport:l})",
                    options.SharedDir, command.Mount.MountPoint, command.Mount.Transport.ToString().ToLowerInvariant());
                if (mount.WaitForEnd(signals.Token))
                {
                    log.Information("{MountPoint:l} was unmounted; shutting down", command.Mount.MountPoint);
                }
                else
                {
                    log.Information("Stopped by {Signal}; unmounting {MountPoint:l}", signals.Received, command.Mount.MountPoint);
                }
            }
            log.Information("Served {Dev} requests through /dev/fuse and {Uring} through io_uring", mount.DevRequests, mount.UringRequests);
        }
        return 0;
    }
}
