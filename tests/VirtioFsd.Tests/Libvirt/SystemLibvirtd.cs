using System.Net.Sockets;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Process;

namespace VirtioFsd.Tests.Libvirt;

/// <summary>
/// libvirt's system instance (qemu:///system) as Debian 12's libvirt-daemon-system installs it: the running one if
/// there is one, else virtlogd and libvirtd started here in the foreground and stopped (SIGTERM) when the tests are
/// done. A fresh CI machine gets the packages from scripts/setup.sh but has no init system that starts them.
/// Started on first use, so a machine without libvirt or without root skips instead of failing the class.
/// </summary>
public sealed class SystemLibvirtd : IDisposable
{
    public const string Uri = "qemu:///system";

    /// <summary>Where libvirt's qemu driver keeps each domain's log and its virtiofsd's log (qemu.conf log_dir).</summary>
    public const string LogDirectory = "/var/log/libvirt/qemu";

    private const string Libvirtd = "/usr/sbin/libvirtd";
    private const string Virtlogd = "/usr/sbin/virtlogd";

    // The daemons' listening sockets (libvirtd.conf unix_sock_dir, virtlogd.conf): a daemon that answers is running.
    private const string LibvirtdSocket = "/run/libvirt/libvirt-sock";
    private const string VirtlogdSocket = "/run/libvirt/virtlogd-sock";

    private readonly object _lock = new();
    private readonly List<DaemonProcess> _started = [];
    private bool _ready;

    /// <summary>Makes sure qemu:///system answers, or skips saying what is missing.</summary>
    public void EnsureRunning()
    {
        Skip.IfNot(Libc.GetEuid() == 0, "libvirt's system instance needs root");
        Skip.IfNot(File.Exists(Libvirtd) && File.Exists(Virtlogd) && File.Exists("/usr/bin/virsh"),
            "libvirt is not installed (Debian's libvirt-daemon-system and libvirt-clients; scripts/setup.sh installs them)");
        lock (_lock)
        {
            if (_ready)
            {
                return;
            }
            // qemu.conf's default stdio_handler is "logd": QEMU's and virtiofsd's output goes through virtlogd, which
            // systemd would socket-activate; without it libvirtd cannot start a domain.
            if (!Answers(VirtlogdSocket))
            {
                Start(Virtlogd, VirtlogdSocket);
            }
            if (!Answers(LibvirtdSocket))
            {
                Start(Libvirtd, LibvirtdSocket);
            }
            (int code, string output) = Command.Run("virsh", ["-c", Uri, "uri"], DaemonProcess.HangGuard);
            Assert.True(code == 0, $"virsh -c {Uri} uri: {output}");
            _ready = true;
        }
    }

    private void Start(string daemon, string socket)
    {
        DaemonProcess d = DaemonProcess.Start(daemon, [], selfCheck: false);
        _started.Add(d);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!Answers(socket))
        {
            Assert.False(d.HasExited, $"{daemon} exited before listening on {socket}: {d.Stderr}");
            Assert.True(clock.Elapsed < DaemonProcess.HangGuard, $"{daemon} does not listen on {socket}: {d.Stderr}");
            Thread.Sleep(100);
        }
    }

    private static bool Answers(string socket)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(socket));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        // libvirtd before virtlogd, the reverse of the start order.
        for (int i = _started.Count - 1; i >= 0; i--)
        {
            using DaemonProcess d = _started[i];
            if (!d.HasExited)
            {
                d.Signal(Libc.SIGTERM);
                d.WaitForExit();
            }
        }
    }
}
