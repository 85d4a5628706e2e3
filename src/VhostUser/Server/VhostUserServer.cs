using Serilog;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Protocol;

namespace VirtioFsd.VhostUser.Server;

/// <summary>Why a connection ended.</summary>
public enum ConnectionEnd
{
    /// <summary>The front-end closed the socket between messages (QEMU shut down or unplugged the device).</summary>
    PeerClosed,

    /// <summary>The stop eventfd fired (SIGTERM or test teardown).</summary>
    Stopped,

    /// <summary>The front-end broke the protocol; the reason was logged.</summary>
    ProtocolError,
}

/// <summary>
/// Serves vhost-user connections for one back-end: read a message, validate, dispatch, reply, until the
/// connection ends; then stop every queue, reset the device and release memory and fds. The caller
/// decides what happens after a connection (virtiofsd exits after the first).
/// </summary>
public sealed class VhostUserServer
{
    private readonly IVhostUserBackend _backend;
    private readonly ILogger _log;

    public VhostUserServer(IVhostUserBackend backend, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(log);
        _backend = backend;
        _log = log.ForContext<VhostUserServer>();
    }

    /// <summary>Accepts one front-end on <paramref name="listener"/> and serves it to the end. Null when stopped or accept failed before a connection.</summary>
    public ConnectionEnd? AcceptAndServe(VhostUserListener listener, int stopFd = -1)
    {
        ArgumentNullException.ThrowIfNull(listener);
        int r = listener.Accept(stopFd, out UnixFd? connection);
        if (r < 0)
        {
            if (r != -Errno.ECANCELED)
            {
                _log.Error("vhost-user: accept failed: {Errno}", Errno.Describe(r));
            }
            return null;
        }
        return Serve(connection!, stopFd);
    }

    /// <summary>
    /// Serves one connected front-end (the server owns <paramref name="connection"/> from here) until it
    /// disconnects, breaks the protocol, or <paramref name="stopFd"/> becomes readable.
    /// </summary>
    public ConnectionEnd Serve(UnixFd connection, int stopFd = -1) => Serve(connection, stopFd, null);

    /// <summary>As <see cref="Serve(UnixFd, int)"/>, handing the live handler to <paramref name="onHandler"/> first (tests inspect it).</summary>
    internal ConnectionEnd Serve(UnixFd connection, int stopFd, Action<VhostUserHandler>? onHandler)
    {
        ArgumentNullException.ThrowIfNull(connection);
        using var channel = new VhostUserChannel(connection, stopFd);
        var handler = new VhostUserHandler(_backend, _log);
        try
        {
            return Run(channel, handler, onHandler);
        }
        finally
        {
            try
            {
                // Stops every queue, resets the backend, unmaps memory, closes ring fds.
                handler.Dispose();
            }
            catch (Exception e)
            {
                _log.Error(e, "vhost-user: tearing down the connection state failed");
            }
        }
    }

    private ConnectionEnd Run(VhostUserChannel channel, VhostUserHandler handler, Action<VhostUserHandler>? onHandler)
    {
        onHandler?.Invoke(handler);
        while (true)
        {
            ReceiveStatus status = channel.Receive(out VhostUserMessage? message);
            switch (status)
            {
                case ReceiveStatus.Closed:
                    _log.Information("vhost-user: front-end disconnected");
                    return ConnectionEnd.PeerClosed;
                case ReceiveStatus.Stopped:
                    _log.Information("vhost-user: connection stopped by request");
                    return ConnectionEnd.Stopped;
                case ReceiveStatus.Broken when channel.ClosedInsideMessage:
                    // The frontend died while sending (QEMU killed): a disconnect, as the Rust virtiofsd treats it.
                    _log.Warning("vhost-user: front-end disconnected inside a message ({Problem})", channel.LastError);
                    return ConnectionEnd.PeerClosed;
                case ReceiveStatus.Broken:
                    _log.Error("vhost-user: {Problem}; closing the connection", channel.LastError);
                    return ConnectionEnd.ProtocolError;
            }
            using (message)
            {
                if (_log.IsEnabled(Serilog.Events.LogEventLevel.Debug))
                {
                    _log.Debug("vhost-user: <- {Request} ({Size} bytes, {Fds} fds)",
                        MessageRules.NameOf(message!.RequestCode), message.Body.Length, message.FdCount);
                }
                HandleOutcome outcome;
                try
                {
                    outcome = handler.Handle(message!, channel);
                }
                catch (Exception e)
                {
                    // A bug (ours or the backend's) must end this connection cleanly, not the daemon.
                    _log.Error(e, "vhost-user: handling {Request} threw; closing the connection",
                        MessageRules.NameOf(message!.RequestCode));
                    return ConnectionEnd.ProtocolError;
                }
                if (outcome == HandleOutcome.Disconnect)
                {
                    return ConnectionEnd.ProtocolError;
                }
            }
        }
    }
}
