using System.Runtime.InteropServices;

namespace VirtioFsd.Lifecycle;

/// <summary>
/// SIGTERM, SIGINT and SIGHUP end the daemon cleanly: the runtime's default (process exit) is cancelled
/// and the token handed to the daemon fires instead, so sockets and the pid file are removed on the way
/// out. An optional callback lets the launch stage forward the signal to the sandboxed child.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<PosixSignalRegistration> _registrations = [];

    public StopSignals()
    {
        foreach (PosixSignal signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGHUP })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                Received = context.Signal;
                OnSignal?.Invoke(context.Signal);
                _stop.Cancel();
            }));
        }
    }

    /// <summary>
    /// The daemon's handlers, for the rest of the process: they stay registered after the daemon stops, because
    /// a stop signal may come again while the runtime shuts down (the launch stage resends it every second), and
    /// without a handler the runtime re-raises it with kill(2), which the seccomp filter answers with SIGSYS.
    /// </summary>
    public static StopSignals ForProcess() => new();

    public CancellationToken Token => _stop.Token;

    /// <summary>Called on every stop signal (the launch stage forwards it to its child); may be set after construction.</summary>
    public Action<PosixSignal>? OnSignal { get; set; }

    /// <summary>The first stop signal seen, if any (for the log line).</summary>
    public PosixSignal? Received { get; private set; }

    /// <summary>Stops without a signal (e.g. the launch stage died).</summary>
    public void Stop() => _stop.Cancel();

    public void Dispose()
    {
        foreach (PosixSignalRegistration r in _registrations)
        {
            r.Dispose();
        }
        _stop.Dispose();
    }
}
