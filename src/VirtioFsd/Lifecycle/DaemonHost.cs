using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Linux;
using VirtioFsd.Linux.Capabilities;
using VirtioFsd.Sandbox;
using VirtioFsd.VhostUser.Server;

namespace VirtioFsd.Lifecycle;

/// <summary>
/// The life of the process once the command line says "run": on the host, raise the fd limit, take the pid
/// file, bind the socket, then serve in-process (--sandbox none) or through the sandboxed child (see
/// <see cref="SandboxLauncher"/>), and finally remove the socket and the pid file. In the child, enter the
/// sandbox and serve on the inherited socket. Never daemonizes.
/// </summary>
internal static class DaemonHost
{
    public static int Run(DaemonOptions options, IReadOnlyList<string> args, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        string sharedDir = Path.GetFullPath(options.SharedDir);
        if (!Directory.Exists(sharedDir))
        {
            log.Error("Shared directory {Dir:l} does not exist or is not a directory", options.SharedDir);
            return 1;
        }
        options = options with { FileSystem = options.FileSystem with { SharedDirectory = sharedDir } };
        // Before any sandbox hides /proc: the trims after start-up need it to tell page-cache pages from private copies.
        WorkingSet.OpenPageMap();
        return LaunchStage.IsChild ? RunChild(options, log) : RunHost(options, args, log);
    }

    private static int RunHost(DaemonOptions options, IReadOnlyList<string> args, ILogger log)
    {
        // First thing: a stop signal during start-up must take the clean path too, not the runtime's default exit.
        // Never disposed (see StopSignals.ForProcess).
        StopSignals signals = StopSignals.ForProcess();
        (ulong limit, string? limitError) = FileLimit.Raise(options.RlimitNofile, log);
        if (limitError is not null)
        {
            log.Error("Error increasing the number of open files: {Error:l}", limitError);
            return 1;
        }
        log.Debug("Open file limit: {Limit}", limit);
        if (!SupplementaryGroups.DropWhenRoot(log))
        {
            return 1;
        }

        PidFile? pidFile = null;
        VhostUserListener? listener = null;
        try
        {
            int listenFd;
            if (options.SocketPath is { } socketPath)
            {
                if (!AcquireSocket(options, socketPath, log, out pidFile, out listener))
                {
                    return 1;
                }
                listenFd = listener!.Fd;
            }
            else
            {
                listenFd = options.ListenFd!.Value;
                if (!IsListeningSocket(listenFd))
                {
                    log.Error("--fd {Fd} is not a listening Unix socket", listenFd);
                    return 1;
                }
            }

            if (options.Sandbox != SandboxMode.None)
            {
                return SandboxLauncher.Run(options, args, listenFd, signals, log);
            }
            int procSelfFd = Libc.OpenAbsolute("/proc/self/fd", Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
            if (procSelfFd < 0)
            {
                log.Error("Cannot open /proc/self/fd: {Error:l}", Errno.Describe(procSelfFd));
                return 1;
            }
            using var procFd = new UnixFd(procSelfFd);
            // The daemon owns what it is given: a duplicate, so the listener here can still remove its path.
            int served = listener is null ? listenFd : Libc.Dup(listenFd);
            if (served < 0)
            {
                log.Error("dup: {Error:l}", Errno.Describe(served));
                return 1;
            }
            using (TaskDirectory? tasks = CapabilityDrop.OpenTasks(log, out bool failed))
            {
                if (failed || !DropServingCapabilities(tasks, options, log))
                {
                    return 1;
                }
            }
            return Serve(options with { SocketPath = null, ListenFd = served, FileSystem = options.FileSystem with { ProcSelfFd = procSelfFd } }, signals, log);
        }
        finally
        {
            listener?.Dispose();
            pidFile?.Dispose();
        }
    }

    private static int RunChild(DaemonOptions options, ILogger log)
    {
        if (LaunchStage.InheritedFd(LaunchStage.ListenFdVariable) is not { } listenFd || !IsListeningSocket(listenFd))
        {
            log.Error("Sandboxed child started without an inherited listening socket ({Variable:l})", LaunchStage.ListenFdVariable);
            return 1;
        }
        // Unprivileged namespace mode: nothing happens before the launch stage has mapped this user namespace.
        if (!UserNamespace.AwaitMapping(log) || !SupplementaryGroups.DropWhenRoot(log))
        {
            return 1;
        }
        StopSignals signals = StopSignals.ForProcess();
        if (LaunchStage.InheritedFd(LaunchStage.ParentPipeVariable) is { } pipeFd)
        {
            ParentWatch.Start(pipeFd, signals, log);
        }
        // The capabilities are dropped from inside the sandbox, through a /proc/self/task opened while /proc is
        // reachable: here for chroot, by the namespace sandbox once this pid namespace has its own /proc.
        string step;
        int procSelfFd;
        TaskDirectory? tasks = null;
        if (options.Sandbox == SandboxMode.Namespace)
        {
            procSelfFd = NamespaceSandbox.Enter(options.SharedDir, log, out step, out tasks);
        }
        else
        {
            tasks = CapabilityDrop.OpenTasks(log, out bool failed);
            if (failed)
            {
                return 1;
            }
            procSelfFd = ChrootSandbox.Enter(options.SharedDir, log, out step);
        }
        using TaskDirectory? taskDirectory = tasks;
        if (procSelfFd < 0)
        {
            log.Error("Sandbox ({Mode}): cannot {Step:l}: {Error:l}", options.Sandbox, step, Errno.Describe(procSelfFd));
            return 1;
        }
        log.Information("Sandbox ({Mode}): {Dir:l} is now the root", options.Sandbox, options.SharedDir);
        if (!DropServingCapabilities(tasks, options, log))
        {
            return 1;
        }
        return Serve(options with
        {
            SocketPath = null,
            ListenFd = listenFd,
            FileSystem = options.FileSystem with { SharedDirectory = "/", ProcSelfFd = procSelfFd },
        }, signals, log);
    }

    /// <summary>As root: every thread keeps only what serving needs (and --modcaps adds). Not root: nothing to do.</summary>
    private static bool DropServingCapabilities(TaskDirectory? tasks, DaemonOptions options, ILogger log)
    {
        if (tasks is null)
        {
            return true;
        }
        if (CapabilityDrop.ServingSet(options, out string? error) is not { } kept)
        {
            log.Error("{Error:l}", error);
            return false;
        }
        return CapabilityDrop.Apply(tasks, kept, "daemon", log);
    }

    private static int Serve(DaemonOptions options, StopSignals signals, ILogger log)
    {
        if (options.Seccomp != SeccompMode.None)
        {
            if (System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
            {
                // The allow-list is x86_64 system call numbers, and the filter refuses any other AUDIT_ARCH: on
                // another architecture every call would be refused, so say so instead of dying at the first one.
                log.Error("The seccomp allow-list exists for x86_64 only; on {Architecture} start with --seccomp none",
                    System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture);
                return 1;
            }
            // Last step before serving: everything above (sandbox set-up, preloading) ran unfiltered.
            long r = SeccompFilter.Install(options.Seccomp);
            if (r < 0)
            {
                log.Error("Cannot install the seccomp filter: {Error:l}", Errno.Describe((int)r));
                return 1;
            }
            log.Information("Seccomp filter installed on all threads: calls outside the allow-list are {Action:l}", options.Seccomp.ToString().ToLowerInvariant());
        }
        // Start-up is over once the daemon waits for its frontend: what it touched is given back, and from then on
        // again whenever the daemon goes idle after work (docs/benchmark.md "One native binary").
        int code = SandboxSelfCheck.Requested
            ? SandboxSelfCheck.Run(options, signals.Token)
            : VirtioFsDaemon.Run(options, log, signals.Token, beforeAccept: IdleTrimmer.Start);
        if (signals.Received is { } signal)
        {
            log.Information("Stopped by {Signal}", signal);
        }
        return code;
    }

    private static bool AcquireSocket(DaemonOptions options, string socketPath, ILogger log, out PidFile? pidFile, out VhostUserListener? listener)
    {
        listener = null;
        string pidPath = socketPath + ".pid";
        string? parent = Path.GetDirectoryName(Path.GetFullPath(socketPath));
        if (parent is null || !Directory.Exists(parent))
        {
            log.Error("{Dir:l} does not exist or is not a directory", parent ?? socketPath);
            pidFile = null;
            return false;
        }
        int r = PidFile.TryAcquire(pidPath, out pidFile);
        if (r == -Errno.EAGAIN)
        {
            log.Error("Another virtiofsd holds {PidFile:l}; refusing to start on {Socket:l}", pidPath, socketPath);
            return false;
        }
        if (r < 0)
        {
            log.Error("Error creating pid file {PidFile:l}: {Error:l}", pidPath, Errno.Describe(r));
            return false;
        }
        uint group = uint.MaxValue;
        if (options.SocketGroup is { } groupName)
        {
            long gid = Libc.GetGroupId(groupName);
            if (gid < 0)
            {
                log.Error("Unknown group {Group:l} for --socket-group", groupName);
                return false;
            }
            group = (uint)gid;
        }
        // As the Rust daemon: the socket is the owner's only (0700), or the owner's and the group's (0770).
        uint mode = options.SocketGroup is null ? 0x1C0u : 0x1F8u; // 0700 : 0770
        r = VhostUserListener.TryBind(socketPath, log, out listener, path =>
        {
            int c = group == uint.MaxValue ? 0 : Libc.Chown(path, uint.MaxValue, group);
            return c < 0 ? c : Libc.Chmod(path, mode);
        });
        if (r < 0)
        {
            log.Error("Error creating listener on {Socket:l}: {Error:l}", socketPath, Errno.Describe(r));
            return false;
        }
        log.Debug("Listening on {Socket:l}", socketPath);
        return true;
    }

    private static bool IsListeningSocket(int fd) =>
        Libc.GetSockOptInt(fd, Libc.SOL_SOCKET, Libc.SO_ACCEPTCONN, out int accepting) == 0 && accepting == 1
        && Libc.GetSockOptInt(fd, Libc.SOL_SOCKET, Libc.SO_DOMAIN, out int domain) == 0 && domain == Libc.AF_UNIX;
}
