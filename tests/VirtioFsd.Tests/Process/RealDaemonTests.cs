using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Process;

/// <summary>The real device behind the lifecycle: it stops on SIGTERM and when its one front-end goes away.</summary>
public class RealDaemonTests
{
    private const string Waiting = "Waiting for vhost-user socket connection";

    [Theory]
    [InlineData("none")]
    [InlineData("namespace")]
    public void Sigterm_while_waiting_for_the_frontend_exits_zero_and_cleans_up(string mode)
    {
        using var t = new TempTree("virtiofsd-real-daemon-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", mode], selfCheck: false);
        d.WaitForLog(Waiting);
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.False(File.Exists(t.Socket));
        Assert.False(File.Exists(t.PidFile));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("namespace")]
    public void Frontend_disconnect_ends_the_daemon(string mode)
    {
        using var t = new TempTree("virtiofsd-real-daemon-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", mode], selfCheck: false);
        d.WaitForLog(Waiting);
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        using (new UnixFd(fd))
        {
            Assert.Equal(0, Libc.ConnectUnix(fd, t.Socket));
            d.WaitForLog("front-end connected");
        }
        Assert.Equal(0, d.WaitForExit());
        Assert.False(File.Exists(t.Socket));
        Assert.False(File.Exists(t.PidFile));
    }

    [Fact]
    public void Sigterm_right_after_start_still_stops_the_sandboxed_daemon_cleanly()
    {
        using var t = new TempTree("virtiofsd-real-daemon-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "namespace", "--log-level", "debug"], selfCheck: false);
        // As soon as the launch stage has its child (before the child can have a handler), not after "Waiting".
        d.WaitForLog("launched Namespace child");
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.False(File.Exists(t.Socket));
    }
}
