using System.Globalization;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Process;

/// <summary>
/// The sandboxes, observed from outside (every thread's /proc/PID/task/TID/root) and from inside (the
/// self-check report). These need root, as the sandboxes do; this project's test machines run as root.
/// </summary>
public class SandboxTests
{
    [Theory]
    [InlineData("namespace")]
    [InlineData("chroot")]
    public void The_share_is_the_root_of_every_thread_and_the_runtime_still_works(string mode)
    {
        Assert.Equal(0u, Libc.GetEuid());
        using var t = new TempTree("virtiofsd-sandbox-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", mode]);
        Dictionary<string, string> report = d.WaitForLine("self-check ready");

        Assert.Equal(TempTree.ShareListing, report["root"]);
        Assert.Equal("/", report["shared-dir"]);
        Assert.Equal("ok", report["proc-self-fd"]);
        Assert.Equal("listening", report["listen-fd"]);
        Assert.Equal("ok", report["runtime"]);
        if (mode == "namespace")
        {
            Assert.Equal("1", report["pid"]); // pid 1 of a new pid namespace
        }

        int daemon = SandboxedPid(d.Pid, mode);
        string[] threads = Directory.GetDirectories($"/proc/{daemon}/task");
        Assert.True(threads.Length > 1);
        foreach (string task in threads)
        {
            string listing = string.Join(',', Directory.EnumerateFileSystemEntries(task + "/root/").Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.Equal(TempTree.ShareListing, listing);
        }

        // The launch stage stays on the host: it holds the pid file and the socket.
        Assert.Equal(d.Pid.ToString(CultureInfo.InvariantCulture), UnlockedFile.ReadAllText(t.PidFile).Trim());
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.Contains("self-check stopping", d.Output);
        Assert.False(File.Exists(t.Socket));
        Assert.False(File.Exists(t.PidFile));
    }

    [Fact]
    public void Namespace_sandbox_hides_host_network_and_mounts()
    {
        using var t = new TempTree("virtiofsd-sandbox-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket]);
        d.WaitForLine("self-check ready");
        int daemon = SandboxedPid(d.Pid, "namespace");
        foreach (string ns in new[] { "mnt", "pid", "net", "ipc", "uts" })
        {
            Assert.NotEqual(NamespaceOf("self", ns), NamespaceOf(daemon.ToString(CultureInfo.InvariantCulture), ns));
        }
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
    }

    [Fact]
    public void Inherited_listening_fd_reaches_the_sandboxed_daemon()
    {
        using var t = new TempTree("virtiofsd-sandbox-");
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM, 0); // no CLOEXEC: inherited like libvirt's --fd
        Assert.True(fd > 2);
        using var owned = new UnixFd(fd);
        Assert.Equal(0, Libc.BindUnix(fd, t.Socket));
        Assert.Equal(0, Libc.Listen(fd, 1));
        using DaemonProcess d = DaemonProcess.Start(["--fd=" + fd.ToString(CultureInfo.InvariantCulture), "--shared-dir", t.Share, "--sandbox", "namespace"]);
        Dictionary<string, string> report = d.WaitForLine("self-check ready");
        Assert.Equal("listening", report["listen-fd"]);
        Assert.Equal(TempTree.ShareListing, report["root"]);
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        // With --fd the parent owns the socket file: it is left alone.
        Assert.True(File.Exists(t.Socket));
    }

    [Fact]
    public void Sandboxed_daemon_stops_when_the_launch_stage_is_killed()
    {
        using var t = new TempTree("virtiofsd-sandbox-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "chroot"]);
        d.WaitForLine("self-check ready");
        int daemon = SandboxedPid(d.Pid, "chroot");
        using var child = System.Diagnostics.Process.GetProcessById(daemon);
        d.Signal(Libc.SIGKILL);
        Assert.True(child.WaitForExit(DaemonProcess.HangGuard), "the sandboxed daemon outlived its launch stage");
    }

    [Theory]
    [InlineData("none")]
    [InlineData("namespace")]
    public void Seccomp_log_filters_every_thread_and_the_runtime_keeps_working(string mode)
    {
        using var t = new TempTree("virtiofsd-sandbox-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", mode, "--seccomp=log"]);
        Dictionary<string, string> report = d.WaitForLine("self-check ready");
        Assert.Equal("ok", report["runtime"]);
        int daemon = mode == "none" ? d.Pid : SandboxedPid(d.Pid, mode);
        string[] threads = Directory.GetDirectories($"/proc/{daemon}/task");
        Assert.True(threads.Length > 1);
        int inherited = FilterCount("/proc/self/status"); // a container runtime may have stacked its own
        foreach (string task in threads)
        {
            string[] status = File.ReadAllLines(task + "/status");
            Assert.Contains("Seccomp:\t2", status); // SECCOMP_MODE_FILTER
            Assert.Contains("NoNewPrivs:\t1", status);
            Assert.Equal(inherited + 1, FilterCount(task + "/status"));
        }
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.False(File.Exists(t.Socket));
    }

    [Theory]
    [InlineData("kill", 128 + 31)]
    [InlineData("trap", 128 + 31)]
    [InlineData("log", 0)]
    public void A_call_outside_the_allow_list_ends_the_daemon_by_sigsys_unless_only_logged(string action, int exitCode)
    {
        using var t = new TempTree("virtiofsd-sandbox-");
        // personality(2), harmless and not in the list; the self-check makes it once the filter is on.
        var environment = new Dictionary<string, string> { [VirtioFsd.Sandbox.SandboxSelfCheck.SyscallVariable] = "135" };
        string[] args = ["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", .. action == "kill" ? (string[])[] : ["--seccomp", action]];
        using DaemonProcess d = DaemonProcess.Start(args, environment: environment);
        if (action == "log")
        {
            Assert.True(long.Parse(d.WaitForLine("self-check ready")["syscall"], CultureInfo.InvariantCulture) >= 0);
            d.Signal(Libc.SIGTERM);
        }
        Assert.Equal(exitCode, d.WaitForExit());
        Assert.Equal(action != "log", d.Output.TrueForAll(l => !l.StartsWith("self-check syscall=", StringComparison.Ordinal)));
    }

    [Fact]
    public void Without_seccomp_no_filter_is_installed()
    {
        using var t = new TempTree("virtiofsd-sandbox-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--seccomp", "none"]);
        d.WaitForLine("self-check ready");
        Assert.Equal(FilterCount("/proc/self/status"), FilterCount($"/proc/{d.Pid}/status"));
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
    }

    /// <summary>Seccomp_filters of a /proc status file (Linux 5.9+): how many filters are stacked.</summary>
    private static int FilterCount(string statusPath)
    {
        string line = File.ReadAllLines(statusPath).Single(l => l.StartsWith("Seccomp_filters:", StringComparison.Ordinal));
        return int.Parse(line["Seccomp_filters:".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The host pid of the sandboxed daemon: the launch stage's child, or for namespace in the JIT build unshare's
    /// child (the NativeAOT binary clones the daemon into its namespaces itself).
    /// </summary>
    internal static int SandboxedPid(int launcher, string mode)
    {
        int child = FirstChild(launcher);
        return mode == "namespace" && Command(child) == "unshare" ? FirstChild(child) : child;
    }

    /// <summary>Which namespace of a kind a process ("self" or a pid) is in: the link's text, e.g. "mnt:[4026531841]".</summary>
    internal static string NamespaceOf(string process, string kind) => new FileInfo($"/proc/{process}/ns/{kind}").LinkTarget!;

    /// <summary>A process's command name (/proc/PID/comm).</summary>
    internal static string Command(int pid) => File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');

    private static int FirstChild(int pid) =>
        VirtioFsd.Sandbox.SandboxLauncher.FirstChild(pid) ?? throw new InvalidOperationException($"pid {pid} has no child");
}
