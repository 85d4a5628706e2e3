using System.Diagnostics;
using VirtioFsd.VhostUser.Server;
using VirtioFsd.VhostUser.Tests.Support;

namespace VirtioFsd.VhostUser.Tests;

/// <summary>
/// Real QEMU against our server, without a guest: realizing vhost-user-fs-pci performs the device
/// initialisation handshake (features, protocol features, queue count, owner, backend channel), and
/// quitting closes the connection. Skipped, with the reason, when QEMU is not installed.
/// </summary>
public sealed class QemuHandshakeTests : IDisposable
{
    private const string Qemu = "/usr/bin/qemu-system-x86_64";
    private readonly TempDirectory _dir = new("virtiofsd-qemu-handshake-");

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void Qemu_initialises_the_device_and_its_disconnect_ends_the_connection()
    {
        Skip.IfNot(File.Exists(Qemu), $"{Qemu} is not installed (scripts/setup.sh installs it)");
        string socket = _dir.Combine("vu.sock");
        var sink = new LogCollector(Serilog.Events.LogEventLevel.Debug);
        Serilog.ILogger log = sink.Logger;
        var backend = new EchoBackend(queueCount: 2);
        Assert.Equal(0, VhostUserListener.TryBind(socket, log, out VhostUserListener? listener));
        using (listener)
        {
            ConnectionEnd? end = null;
            var server = new Thread(() => end = new VhostUserServer(backend, log).AcceptAndServe(listener!));
            server.Start();
            using var qemu = Process.Start(new ProcessStartInfo(Qemu,
            [
                "-machine", "q35,accel=tcg", "-S", "-display", "none", "-nodefaults", "-monitor", "stdio",
                "-m", "64M", "-object", "memory-backend-memfd,id=mem,size=64M,share=on", "-numa", "node,memdev=mem",
                "-chardev", "socket,id=vfs,path=" + socket,
                "-device", "vhost-user-fs-pci,chardev=vfs,tag=test,queue-size=128",
            ])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            try
            {
                // QEMU answers the monitor only after the device realized, i.e. after the handshake.
                qemu.StandardInput.WriteLine("info qtree");
                qemu.StandardInput.WriteLine("quit");
                qemu.StandardInput.Flush();
                Assert.True(qemu.WaitForExit(60_000), "QEMU did not exit");
                string err = qemu.StandardError.ReadToEnd();
                Assert.True(server.Join(TimeSpan.FromSeconds(30)), "server did not see QEMU go away");
                Assert.True(end == ConnectionEnd.PeerClosed, $"connection ended {end}; QEMU said: {err}\n{string.Join("\n", sink.Lines)}");
                Assert.Contains(sink.Lines, l => l.Contains("<- GetProtocolFeatures", StringComparison.Ordinal));
                Assert.Contains(sink.Lines, l => l.Contains("<- SetOwner", StringComparison.Ordinal));
                Assert.DoesNotContain(sink.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Warning", StringComparison.Ordinal));
            }
            finally
            {
                if (!qemu.HasExited)
                {
                    qemu.Kill();
                }
            }
        }
    }
}
