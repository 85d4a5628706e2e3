using System.Text.Json;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Process;

public class LifecycleTests
{
    [Fact]
    public void Print_capabilities_prints_json_and_exits_zero_whatever_else_is_given()
    {
        (int code, string stdout, _) = DaemonProcess.RunToExit("--bogus", "--print-capabilities", "--cache", "sometimes");
        Assert.Equal(0, code);
        using JsonDocument json = JsonDocument.Parse(stdout);
        Assert.Equal("fs", json.RootElement.GetProperty("type").GetString());
        // As the Rust virtiofsd: live migration (dirty logging, device state) and the separate options libvirt then passes.
        Assert.Equal(["migrate-precopy", "separate-options"], json.RootElement.GetProperty("features").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void Version_prints_and_exits_zero()
    {
        (int code, string stdout, _) = DaemonProcess.RunToExit("-V");
        Assert.Equal(0, code);
        Assert.StartsWith("virtiofsd ", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Command_line_error_is_one_line_and_non_zero()
    {
        (int code, _, string stderr) = DaemonProcess.RunToExit("--shared-dir", "/tmp");
        Assert.NotEqual(0, code);
        Assert.Contains("--socket-path", stderr.Split('\n')[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_shared_directory_is_refused()
    {
        using var t = new TempTree("virtiofsd-lifecycle-");
        (int code, _, string stderr) = DaemonProcess.RunToExit("--shared-dir", Path.Combine(t.Root, "nope"), "--socket-path", t.Socket, "--sandbox", "none");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(t.Socket));
    }

    [Fact]
    public void Second_instance_on_the_same_socket_refuses_and_sigterm_cleans_up()
    {
        using var t = new TempTree("virtiofsd-lifecycle-");
        string[] args = ["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none"];
        using DaemonProcess first = DaemonProcess.Start(args);
        Dictionary<string, string> report = first.WaitForLine("self-check ready");
        Assert.Equal("listening", report["listen-fd"]);
        Assert.Equal("ok", report["proc-self-fd"]);
        Assert.Equal(first.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), UnlockedFile.ReadAllText(t.PidFile).Trim());

        (int code, _, string stderr) = DaemonProcess.RunToExit(args);
        Assert.Equal(1, code);
        Assert.Contains("refusing to start", stderr, StringComparison.Ordinal);
        // The refused instance must not have touched the live one's socket.
        Assert.True(File.Exists(t.Socket));

        first.Signal(Libc.SIGTERM);
        Assert.Equal(0, first.WaitForExit());
        Assert.Contains("self-check stopping", first.Output);
        Assert.False(File.Exists(t.Socket));
        Assert.False(File.Exists(t.PidFile));
    }

    [Theory]
    [InlineData(Libc.SIGINT)]
    [InlineData(Libc.SIGHUP)]
    public void Sigint_and_sighup_stop_cleanly_too(int signal)
    {
        using var t = new TempTree("virtiofsd-lifecycle-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none"]);
        d.WaitForLine("self-check ready");
        d.Signal(signal);
        Assert.Equal(0, d.WaitForExit());
        Assert.False(File.Exists(t.Socket));
    }

    [Fact]
    public void Stale_socket_and_pid_file_from_a_dead_instance_are_reused()
    {
        using var t = new TempTree("virtiofsd-lifecycle-");
        File.WriteAllText(t.PidFile, "999999\n");
        // A dead daemon's socket: bound, then closed without unlinking, so nobody accepts on it.
        int stale = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        using (new UnixFd(stale))
        {
            Assert.Equal(0, Libc.BindUnix(stale, t.Socket));
        }
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none"]);
        Assert.Equal("listening", d.WaitForLine("self-check ready")["listen-fd"]);
        Assert.Equal(d.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), UnlockedFile.ReadAllText(t.PidFile).Trim());
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Socket_group_sets_group_and_mode()
    {
        using var t = new TempTree("virtiofsd-lifecycle-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--socket-group", "daemon"]);
        d.WaitForLine("self-check ready");
        UnixFileMode mode = File.GetUnixFileMode(t.Socket);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute, mode);
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
    }

    [Fact]
    public void Unknown_socket_group_is_refused()
    {
        using var t = new TempTree("virtiofsd-lifecycle-");
        (int code, _, string stderr) = DaemonProcess.RunToExit("--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--socket-group", "no-such-group-d2");
        Assert.Equal(1, code);
        Assert.Contains("no-such-group-d2", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(t.PidFile));
    }

    [Fact]
    public void Log_level_off_prints_nothing()
    {
        using var t = new TempTree("virtiofsd-lifecycle-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--log-level", "off"]);
        d.WaitForLine("self-check ready");
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.Equal("", d.Stderr);
    }

    [Fact]
    public void Log_lines_have_the_rust_daemon_format()
    {
        using var t = new TempTree("virtiofsd-lifecycle-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--log-level", "debug"]);
        d.WaitForLine("self-check ready");
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        string[] lines = d.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.Matches(@"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (ERROR|WARN |INFO |DEBUG|TRACE) virtiofsd\] \S", l));
        Assert.Contains(lines, l => l.Contains("DEBUG virtiofsd] Listening on " + t.Socket, StringComparison.Ordinal));
    }
}
