using System.Net.Sockets;
using System.Text;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Process;

/// <summary>
/// --syslog end to end: the daemon runs in a private mount namespace whose /dev holds a /dev/log bound to a
/// datagram socket of this test (plus /dev/null and /dev/urandom), so what syslog(3) sends is read here.
/// </summary>
public class SyslogTests
{
    [Fact]
    public void Syslog_receives_the_log_from_both_stages_and_after_the_pivot_and_stderr_stays_empty()
    {
        using var t = new TempTree("virtiofsd-syslog-");
        string dev = Path.Combine(t.Root, "dev");
        Directory.CreateDirectory(dev);
        foreach (string node in new[] { "log", "null", "urandom" })
        {
            File.WriteAllText(Path.Combine(dev, node), "");
        }
        string logSocket = Path.Combine(t.Root, "log.sock");
        using var receiver = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        receiver.Bind(new UnixDomainSocketEndPoint(logSocket));
        receiver.ReceiveTimeout = (int)DaemonProcess.HangGuard.TotalMilliseconds;

        string script = $"mount --bind /dev/null {dev}/null && mount --bind /dev/urandom {dev}/urandom && "
            + $"mount --bind {logSocket} {dev}/log && mount --rbind {dev} /dev && exec \"$0\" \"$@\"";
        using DaemonProcess d = DaemonProcess.Start("/usr/bin/unshare",
            ["--mount", "--", "/bin/sh", "-c", script, DaemonProcess.Executable,
             "--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "namespace", "--syslog", "--log-level", "debug"],
            selfCheck: true);
        Assert.Equal(TempTree.ShareListing, d.WaitForLine("self-check ready")["root"]);

        var received = new List<string>();
        var buffer = new byte[4096];
        while (!received.Any(m => m.Contains("is now the root", StringComparison.Ordinal)))
        {
            int n = receiver.Receive(buffer);
            received.Add(Encoding.UTF8.GetString(buffer, 0, n));
        }
        // <15> = LOG_USER | LOG_DEBUG from the launch stage; <14> = LOG_USER | LOG_INFO from pid 1 after the pivot.
        Assert.Contains(received, m => m.StartsWith("<15>", StringComparison.Ordinal) && m.Contains("Listening on " + t.Socket, StringComparison.Ordinal));
        Assert.Contains(received, m => m.StartsWith("<14>", StringComparison.Ordinal) && m.Contains("virtiofsd[1]: Sandbox (Namespace)", StringComparison.Ordinal));

        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.Equal("", d.Stderr);
    }

    [Fact]
    public void Without_a_dev_log_the_daemon_warns_on_stderr_and_serves_with_seccomp_on()
    {
        using var t = new TempTree("virtiofsd-syslog-");
        string dev = Path.Combine(t.Root, "dev");
        Directory.CreateDirectory(dev);
        foreach (string node in new[] { "null", "urandom" })
        {
            File.WriteAllText(Path.Combine(dev, node), "");
        }
        string script = $"mount --bind /dev/null {dev}/null && mount --bind /dev/urandom {dev}/urandom && "
            + $"mount --rbind {dev} /dev && exec \"$0\" \"$@\"";
        using DaemonProcess d = DaemonProcess.Start("/usr/bin/unshare",
            ["--mount", "--", "/bin/sh", "-c", script, DaemonProcess.Executable,
             "--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--syslog"],
            selfCheck: false);
        // Every later line would have been a new socket(2) for glibc's syslog(3), which the seccomp filter kills.
        d.WaitForLog("Waiting for vhost-user socket connection");
        Assert.Contains("Can't enable syslog (/dev/log: ", d.Stderr, StringComparison.Ordinal);
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        using (new UnixFd(fd))
        {
            Assert.Equal(0, Libc.ConnectUnix(fd, t.Socket));
            d.WaitForLog("front-end connected");
        }
        Assert.Equal(0, d.WaitForExit());
    }
}
