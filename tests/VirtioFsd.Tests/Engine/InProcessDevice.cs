using Serilog;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Server;

namespace VirtioFsd.Tests.Engine;

/// <summary>
/// The daemon's device in this process: the passthrough filesystem over a share, the FUSE server, a
/// <see cref="VirtioFsDevice"/> and the vhost-user server serving one end of a socketpair on a thread of its own.
/// A test's frontend takes the other end (<see cref="FrontendFd"/>); disconnecting it ends the connection (the
/// device stops its workers and resets), and <see cref="Dispose"/> waits for that.
/// </summary>
internal sealed class InProcessDevice : IDisposable
{
    private readonly UnixFd _stop = new(Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
    private readonly PassthroughFileSystem _fs;
    private readonly Thread _serverThread;

    /// <param name="device">Makes the device over the server (its options, and what tests replace in it).</param>
    public InProcessDevice(PassthroughOptions filesystem, FuseServerOptions server, Func<FuseServer, ILogger, VirtioFsDevice> device)
    {
        ArgumentNullException.ThrowIfNull(device);
        ILogger log = new LoggerConfiguration().MinimumLevel.Warning().CreateLogger();
        _fs = new PassthroughFileSystem(filesystem, log);
        Device = device(new FuseServer(_fs, server, log), log);
        Assert.Equal(0, Libc.SocketPair(Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, out int serverFd, out int frontendFd));
        FrontendFd = frontendFd;
        var vhost = new VhostUserServer(Device, log);
        _serverThread = new Thread(() => vhost.Serve(new UnixFd(serverFd), _stop.Value)) { IsBackground = true, Name = "vhost-user" };
        _serverThread.Start();
    }

    public VirtioFsDevice Device { get; }

    /// <summary>The frontend's end of the socketpair (a FrontendSocket takes ownership of it).</summary>
    public int FrontendFd { get; }

    /// <summary>Waits for the connection to end (the frontend must have left), then closes the filesystem.</summary>
    public void Dispose()
    {
        Assert.True(_serverThread.Join(TimeSpan.FromSeconds(60)), "the in-process device did not end after the frontend left");
        _fs.Dispose();
        _stop.Dispose();
    }
}
