using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Server;
using VirtioFsd.VhostUser.Tests.Support;

namespace VirtioFsd.VhostUser.Tests.Server;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ListenerTests : IDisposable
{
    private readonly TempDirectory _dir = new("virtiofsd-vhost-user-listener-");
    private readonly Serilog.ILogger _log = new LogCollector(Serilog.Events.LogEventLevel.Debug).Logger;

    public void Dispose() => _dir.Dispose();

    private string SocketPath => _dir.Combine("vu.sock");

    [Fact]
    public void Binds_runs_the_hook_before_listening_and_removes_the_socket_on_dispose()
    {
        string? hooked = null;
        Assert.Equal(0, VhostUserListener.TryBind(SocketPath, _log, out VhostUserListener? listener, path =>
        {
            hooked = path;
            return Libc.Chmod(path, Convert.ToUInt32("600", 8));
        }));
        Assert.Equal(SocketPath, hooked);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
        using (listener)
        {
            using var client = Connect(SocketPath);
            Assert.Equal(0, listener!.Accept(-1, out UnixFd? conn));
            conn!.Dispose();
        }
        Assert.False(File.Exists(SocketPath));
    }

    [Fact]
    public void A_failing_hook_aborts_and_leaves_no_socket_file()
    {
        Assert.Equal(-Errno.EPERM, VhostUserListener.TryBind(SocketPath, _log, out VhostUserListener? listener, _ => -Errno.EPERM));
        Assert.Null(listener);
        Assert.False(File.Exists(SocketPath));
    }

    [Fact]
    public void A_stale_socket_file_is_replaced()
    {
        // A bound socket whose owner never listens (as after a crash): connect is refused.
        int stale = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        Assert.Equal(0, Libc.BindUnix(stale, SocketPath));
        Libc.Close(stale);
        Assert.True(File.Exists(SocketPath));
        Assert.Equal(0, VhostUserListener.TryBind(SocketPath, _log, out VhostUserListener? listener));
        listener!.Dispose();
    }

    [Fact]
    public void A_regular_file_at_the_socket_path_is_left_alone()
    {
        File.WriteAllText(SocketPath, "precious");
        Assert.Equal(-Errno.EEXIST, VhostUserListener.TryBind(SocketPath, _log, out VhostUserListener? listener));
        Assert.Null(listener);
        Assert.Equal("precious", File.ReadAllText(SocketPath));
    }

    [Fact]
    public void A_socket_a_live_backend_listens_on_is_not_taken_over()
    {
        Assert.Equal(0, VhostUserListener.TryBind(SocketPath, _log, out VhostUserListener? first));
        using (first)
        {
            Assert.Equal(-Errno.EADDRINUSE, VhostUserListener.TryBind(SocketPath, _log, out VhostUserListener? second));
            Assert.Null(second);
        }
    }

    [Fact]
    public void Adopts_an_inherited_listening_socket_and_refuses_other_fds()
    {
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        Assert.Equal(0, Libc.BindUnix(fd, SocketPath));
        Assert.Equal(-Errno.EINVAL, VhostUserListener.TryAdopt(fd, _log, out _)); // bound, not listening yet
        Assert.Equal(0, Libc.Listen(fd, 1));
        Assert.Equal(0, VhostUserListener.TryAdopt(fd, _log, out VhostUserListener? listener));
        using (listener)
        {
            Assert.Null(listener!.SocketPath);
            using var client = Connect(SocketPath);
            Assert.Equal(0, listener.Accept(-1, out UnixFd? conn));
            conn!.Dispose();
        }
        // The parent created the path; an adopted listener leaves it alone.
        Assert.True(File.Exists(SocketPath));
        using var eventFd = new UnixFd(Libc.EventFd(0, Libc.EFD_CLOEXEC));
        Assert.True(VhostUserListener.TryAdopt(eventFd.Value, _log, out _) < 0);
    }

    [Fact]
    public void Accept_returns_when_the_stop_fd_fires()
    {
        using var stop = new UnixFd(Libc.EventFd(0, Libc.EFD_CLOEXEC));
        Assert.Equal(0, VhostUserListener.TryBind(SocketPath, _log, out VhostUserListener? listener));
        using (listener)
        {
            Libc.EventFdWrite(stop.Value);
            Assert.Equal(-Errno.ECANCELED, listener!.Accept(stop.Value, out UnixFd? conn));
            Assert.Null(conn);
        }
    }

    [Fact]
    public void Server_serves_one_connection_and_returns_control_to_the_caller()
    {
        var backend = new EchoBackend();
        var server = new VhostUserServer(backend, _log);
        Assert.Equal(0, VhostUserListener.TryBind(SocketPath, _log, out VhostUserListener? listener));
        using (listener)
        {
            ConnectionEnd? end = null;
            var t = new Thread(() => end = server.AcceptAndServe(listener!));
            t.Start();
            using (var ram = VhostUserFrontend.GuestRam.Single(0x10000))
            using (var frontend = VhostUserFrontend.VhostUserFrontend.Connect(SocketPath, ram))
            {
                Assert.Equal(2, frontend.Initialize());
            }
            Assert.True(t.Join(TimeSpan.FromSeconds(10)));
            Assert.Equal(ConnectionEnd.PeerClosed, end);
            Assert.Equal(1, backend.ResetCount);
        }
    }

    private static UnixFd Connect(string path)
    {
        var fd = new UnixFd(Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0));
        Assert.Equal(0, Libc.ConnectUnix(fd.Value, path));
        return fd;
    }
}
