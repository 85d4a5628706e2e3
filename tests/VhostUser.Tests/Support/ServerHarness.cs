using Serilog;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Server;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests.Support;

/// <summary>
/// Runs a <see cref="VhostUserServer"/> for one connection on a thread and hands the test a connected
/// <see cref="VhostUserFrontend"/>: over a socketpair, or through a real listening socket path.
/// </summary>
internal sealed class ServerHarness : IDisposable
{
    private readonly UnixFd _stop = new(Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _handlerReady = new();
    private VhostUserListener? _listener;
    private VhostUserHandler? _handler;

    private ServerHarness(EchoBackend backend, Func<ServerHarness, ConnectionEnd?> run)
    {
        Backend = backend;
        Log = Sink.Logger;
        Server = new VhostUserServer(backend, Log);
        _thread = new Thread(() =>
        {
            try
            {
                End = run(this);
            }
            catch (Exception e)
            {
                Escaped = e;
            }
        })
        { IsBackground = true, Name = "vhost-user-server" };
    }

    public EchoBackend Backend { get; }

    public ILogger Log { get; }

    /// <summary>Log lines the server wrote (from Debug up).</summary>
    public LogCollector Sink { get; } = new(Serilog.Events.LogEventLevel.Debug);

    public VhostUserServer Server { get; }

    public VhostUserFrontend.VhostUserFrontend Frontend { get; private set; } = null!;

    /// <summary>How the connection ended, once <see cref="WaitForEnd"/> returned true.</summary>
    public ConnectionEnd? End { get; private set; }

    /// <summary>An exception that escaped the server (must never happen).</summary>
    public Exception? Escaped { get; private set; }

    /// <summary>The server's handler (valid while connected; touch only when the connection thread is idle).</summary>
    public VhostUserHandler Handler
    {
        get
        {
            _handlerReady.Wait(TimeSpan.FromSeconds(10));
            return _handler!;
        }
    }

    /// <summary>Server and frontend connected through a socketpair.</summary>
    public static ServerHarness OverSocketPair(GuestRam ram, EchoBackend? backend = null)
    {
        if (Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int serverFd, out int frontendFd) < 0)
        {
            throw new InvalidOperationException("socketpair failed");
        }
        var h = new ServerHarness(backend ?? new EchoBackend(),
            self => self.Server.Serve(new UnixFd(serverFd), self._stop.Value, self.OnHandler));
        h.Frontend = new VhostUserFrontend.VhostUserFrontend(new FrontendSocket(frontendFd), ram);
        h._thread.Start();
        return h;
    }

    /// <summary>Server listening on a real socket path; the frontend connects through it.</summary>
    public static ServerHarness OverSocketPath(string path, GuestRam ram, EchoBackend? backend = null)
    {
        ILogger log = new LogCollector(Serilog.Events.LogEventLevel.Debug).Logger;
        int r = VhostUserListener.TryBind(path, log, out VhostUserListener? listener);
        if (r < 0)
        {
            throw new InvalidOperationException($"bind {path}: {Errno.Describe(r)}");
        }
        var h = new ServerHarness(backend ?? new EchoBackend(), self =>
        {
            int a = self._listener!.Accept(self._stop.Value, out UnixFd? conn);
            return a < 0 ? null : self.Server.Serve(conn!, self._stop.Value, self.OnHandler);
        });
        h._listener = listener;
        h._thread.Start();
        h.Frontend = VhostUserFrontend.VhostUserFrontend.Connect(path, ram);
        return h;
    }

    /// <summary>Waits for the server to finish the connection (true) or gives up after 10 s (false).</summary>
    public bool WaitForEnd() => _thread.Join(TimeSpan.FromSeconds(10));

    public void Dispose()
    {
        Frontend?.Dispose();
        Libc.EventFdWrite(_stop.Value);
        _thread.Join(TimeSpan.FromSeconds(10));
        _listener?.Dispose();
        _stop.Dispose();
        _handlerReady.Dispose();
    }

    private void OnHandler(VhostUserHandler handler)
    {
        _handler = handler;
        _handlerReady.Set();
    }
}
