using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Lifecycle;
using VirtioFsd.Linux;
using VirtioFsd.Linux.Capabilities;

namespace VirtioFsd.Sandbox;

/// <summary>
/// The launch stage of <c>--sandbox namespace|chroot</c>. A .NET process is multithreaded from its first
/// instruction, and unshare(CLONE_NEWNS) then applies to the calling thread only (CLONE_NEWUSER fails
/// outright), so the sandbox cannot be entered in place: this process re-executes the program as a child
/// with the listening socket inherited, forwards stop signals to it, and returns its exit code. For namespace
/// the child is pid 1 of new namespaces: cloned into them by <see cref="NamespaceSpawn"/> in the NativeAOT
/// binary, forked by <c>unshare --mount --pid --fork --ipc --uts --net</c> in the JIT build. The host-side
/// duties (pid file, socket file removal) stay here, outside the sandbox.
/// </summary>
internal static partial class SandboxLauncher
{
    /// <summary>How long a child gets to stop after a forwarded signal before it is killed.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    /// <summary>How often a stop signal is forwarded again while the child runs on.</summary>
    private static readonly TimeSpan ResendInterval = TimeSpan.FromSeconds(1);

    private static readonly string[] UnshareCandidates = ["/usr/bin/unshare", "/bin/unshare"];

    public static int Run(DaemonOptions options, IReadOnlyList<string> args, int listenFd, StopSignals signals, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(signals);
        ArgumentNullException.ThrowIfNull(log);
        var psi = new ProcessStartInfo { UseShellExecute = false };
        bool userNamespaced = options.Sandbox == SandboxMode.Namespace && Libc.GetEuid() != 0;
        bool throughUnshare = options.Sandbox == SandboxMode.Namespace && !NamespaceSpawn.IsAvailable;
        if (throughUnshare)
        {
            string? unshare = UnshareCandidates.FirstOrDefault(File.Exists);
            if (unshare is null)
            {
                log.Error("--sandbox namespace needs unshare(1) from util-linux, which is not installed; use --sandbox chroot or none");
                return 1;
            }
            psi.FileName = unshare;
            if (userNamespaced)
            {
                foreach (string a in UserNamespace.UnshareOptions)
                {
                    psi.ArgumentList.Add(a);
                }
            }
            // --kill-child: if unshare itself dies (e.g. SIGHUP, which it does not block), the daemon gets SIGTERM.
            foreach (string a in new[] { "--mount", "--pid", "--fork", "--ipc", "--uts", "--net", "--kill-child=SIGTERM", "--" })
            {
                psi.ArgumentList.Add(a);
            }
            AddSelf(psi);
        }
        else
        {
            psi.FileName = SelfCommand()[0];
            foreach (string a in SelfCommand().Skip(1))
            {
                psi.ArgumentList.Add(a);
            }
        }
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        // The child must inherit the listening socket; the pipe's write end stays here (close-on-exec).
        int r = Libc.Fcntl(listenFd, Libc.F_SETFD, 0);
        if (r < 0)
        {
            log.Error("Cannot pass the listening socket to the sandbox: {Error:l}", Errno.Describe(r));
            return 1;
        }
        r = Libc.Pipe2(Libc.O_CLOEXEC, out int pipeRead, out int pipeWrite);
        if (r < 0)
        {
            log.Error("pipe2: {Error:l}", Errno.Describe(r));
            return 1;
        }
        using var parentAlive = new UnixFd(pipeWrite);
        using (var childEnd = new UnixFd(pipeRead))
        {
            Libc.Fcntl(pipeRead, Libc.F_SETFD, 0);
            psi.Environment[LaunchStage.ChildVariable] = "1";
            psi.Environment[LaunchStage.ListenFdVariable] = listenFd.ToString(CultureInfo.InvariantCulture);
            psi.Environment[LaunchStage.ParentPipeVariable] = pipeRead.ToString(CultureInfo.InvariantCulture);
            using UserNamespace? userNamespace = userNamespaced ? UserNamespace.Create(psi, log) : null;
            if (userNamespaced && userNamespace is null)
            {
                return 1;
            }
            using SandboxChild? child = Start(psi, options.Sandbox, throughUnshare, userNamespaced, log);
            return child is null ? 1 : Supervise(child, options, childEnd, listenFd, userNamespace, signals, log);
        }
    }

    /// <summary>Starts the sandboxed child; null (logged) when it cannot be started.</summary>
    private static SandboxChild? Start(ProcessStartInfo psi, SandboxMode mode, bool throughUnshare, bool userNamespaced, ILogger log)
    {
        if (mode == SandboxMode.Namespace && !throughUnshare)
        {
            int pid = NamespaceSpawn.Start(psi, userNamespaced);
            if (pid > 0)
            {
                return new SandboxChild.Spawned(pid);
            }
            string hint = pid == -Errno.EPERM || pid == -Errno.ENOSPC || pid == -Errno.EINVAL
                ? userNamespaced
                    ? " (if this system does not allow unprivileged user namespaces, use --sandbox none)"
                    : " (a container without CAP_SYS_ADMIN cannot make namespaces: use --sandbox chroot or none)"
                : "";
            log.Error("Cannot start the sandboxed daemon {File:l} in new namespaces: {Error:l}{Hint:l}", psi.FileName, Errno.Describe(pid), hint);
            return null;
        }
        try
        {
            Process process = Process.Start(psi) ?? throw new InvalidOperationException("no process");
            return new SandboxChild.Started(process, throughUnshare);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            log.Error("Cannot start the sandboxed daemon {File:l}: {Error:l}", psi.FileName, e.Message);
            return null;
        }
    }

    private static int Supervise(SandboxChild child, DaemonOptions options, UnixFd childEnd, int listenFd, UserNamespace? userNamespace,
        StopSignals signals, ILogger log)
    {
        SandboxMode mode = options.Sandbox;
        // The child has its copies now; this process must not keep the pipe's read end (EOF would never come)
        // nor the listening socket (a front-end must not connect to a socket nobody serves after the child exits).
        childEnd.Dispose();
        Libc.Fcntl(listenFd, Libc.F_SETFD, Libc.FD_CLOEXEC);
        log.Debug("Sandbox: launched {Mode} child, pid {Pid}", mode, child.Id);
        if (userNamespace is not null && !userNamespace.MapAndRelease(child.Id, options, log))
        {
            child.WaitForExit(Timeout.InfiniteTimeSpan);
            return 1;
        }
        if (!DropOwnCapabilities(log))
        {
            Libc.Kill(child.Id, Libc.SIGKILL);
            child.WaitForExit(Timeout.InfiniteTimeSpan);
            return 1;
        }
        int lastSignal = Libc.SIGTERM;
        signals.OnSignal = signal =>
        {
            Volatile.Write(ref lastSignal, SignalNumber(signal));
            Forward(child, SignalNumber(signal), log);
        };
        WaitForExitOrStop(child, signals);
        TimeSpan waited = TimeSpan.Zero;
        // A signal that arrived while the child was being started is forwarded by the first pass below.
        while (!child.WaitForExit(signals.Token.IsCancellationRequested ? TimeSpan.Zero : ResendInterval))
        {
            if (!signals.Token.IsCancellationRequested)
            {
                continue;
            }
            // Pid 1 of a pid namespace ignores a signal it has no handler for yet (the runtime installs
            // it early, but not at exec): a signal that came too soon is lost, so it is sent again.
            if (waited < StopGrace)
            {
                Forward(child, Volatile.Read(ref lastSignal), log);
                Thread.Sleep(ResendInterval);
                waited += ResendInterval;
                continue;
            }
            log.Warning("Sandboxed daemon did not stop in {Seconds} s; killing it", StopGrace.TotalSeconds);
            Forward(child, Libc.SIGKILL, log);
            Libc.Kill(child.Id, Libc.SIGKILL);
        }
        log.Debug("Sandboxed daemon exited with {Code}", child.ExitCode);
        // A stop signal that reached the child before its runtime had handlers ends it by the signal's
        // default action (exit status 128 + signal): that is the stop that was asked for, not a failure.
        if (signals.Token.IsCancellationRequested && child.ExitCode == 128 + Volatile.Read(ref lastSignal))
        {
            return 0;
        }
        return child.ExitCode;
    }

    /// <summary>
    /// From here the launch stage only waits, so what its start-up touched (the runtime's, the parser's and libc's
    /// code, garbage) is given back (<see cref="WorkingSet"/>), and it blocks until the child exits or a stop signal
    /// arrives without waking up in between: poll(2) on a pidfd of the child (readable once it has exited) and on
    /// an eventfd the stop signal writes. Without pidfds (Linux before 5.3) it returns after the trim, and the
    /// caller's one-second loop does the waiting.
    /// </summary>
    private static void WaitForExitOrStop(SandboxChild child, StopSignals signals)
    {
        int pidfd = child.Pidfd;
        int efd = Libc.EventFd(0, Libc.EFD_CLOEXEC);
        using var stop = new UnixFd(efd);
        using CancellationTokenRegistration onStop = signals.Token.Register(() => Libc.EventFdWrite(efd));
        Span<Libc.PollFd> fds = stackalloc Libc.PollFd[2];
        fds[0] = new Libc.PollFd { Fd = pidfd, Events = Libc.POLLIN };
        fds[1] = new Libc.PollFd { Fd = efd, Events = Libc.POLLIN };
        // Last, so that the set-up above is not mapped again by the wait.
        WorkingSet.Trim();
        if (pidfd < 0 || efd < 0 || child.WaitForExit(TimeSpan.Zero))
        {
            return;
        }
        while (Libc.Poll(fds, -1) == -Errno.EINTR)
        {
        }
    }

    /// <summary>Once the child runs, this process only waits, forwards signals and removes its files: it keeps DAC_OVERRIDE at most.</summary>
    private static bool DropOwnCapabilities(ILogger log)
    {
        using TaskDirectory? tasks = CapabilityDrop.OpenTasks(log, out bool failed);
        return !failed && (tasks is null || CapabilityDrop.Apply(tasks, CapabilityDrop.LauncherSet, "launcher", log));
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to the daemon. unshare(1) blocks SIGINT and SIGTERM while it waits, so
    /// through it the daemon is found as unshare's child; if it is not there yet, unshare gets SIGHUP and
    /// --kill-child passes SIGTERM on.
    /// </summary>
    private static void Forward(SandboxChild child, int signal, ILogger log)
    {
        if (child.Daemon is not { } target)
        {
            Libc.Kill(child.Id, Libc.SIGHUP);
            return;
        }
        int r = Libc.Kill(target, signal);
        if (r < 0 && r != -Errno.ESRCH)
        {
            log.Warning("Cannot forward signal {Signal} to {Pid}: {Error:l}", signal, target, Errno.Describe(r));
        }
    }

    /// <summary>The first child of a process (/proc/PID/task/PID/children, CONFIG_PROC_CHILDREN).</summary>
    public static int? FirstChild(int pid)
    {
        try
        {
            string text = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
            string first = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
            return int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out int child) ? child : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static int SignalNumber(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGINT => Libc.SIGINT,
        PosixSignal.SIGHUP => Libc.SIGHUP,
        _ => Libc.SIGTERM,
    };

    private static void AddSelf(ProcessStartInfo psi)
    {
        foreach (string a in SelfCommand())
        {
            psi.ArgumentList.Add(a);
        }
    }

    /// <summary>
    /// How to run this program again: the apphost or the NativeAOT binary (both are the process image), or
    /// the dotnet host plus the entry assembly, which sits in the application directory (Assembly.Location
    /// would be empty in a single-file build, so the path is made from the directory and the name).
    /// </summary>
    private static string[] SelfCommand()
    {
        string host = Environment.ProcessPath ?? "/proc/self/exe";
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            string entry = Path.Combine(AppContext.BaseDirectory, typeof(SandboxLauncher).Assembly.GetName().Name + ".dll");
            return [host, entry];
        }
        return [host];
    }
}
