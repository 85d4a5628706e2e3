using System.Globalization;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using VirtioFsd.Linux;

namespace VirtioFsd.Logging;

/// <summary>
/// --syslog: each event is one datagram to /dev/log, "&lt;PRI&gt;TIMESTAMP virtiofsd[PID]: message" (RFC 3164, what
/// syslog(3) sends), facility LOG_USER as the Rust daemon's. The socket is connected once, at start, so it
/// still reaches the host's syslog after a sandbox hides /dev. glibc's syslog(3) is not used: after a failed
/// send it makes a new socket(2), which the seccomp filter kills (socket is not on the list), and with no
/// syslog daemon it would do so on every message. Here a failed send only reconnects the same socket
/// (connect(2), allowed) where /dev/log is still reachable, or drops the message.
/// </summary>
internal sealed class SyslogSink : ILogEventSink, IDisposable
{
    public const string DevLog = "/dev/log";

    private readonly object _lock = new();
    private readonly UnixFd _socket;

    private SyslogSink(UnixFd socket)
    {
        _socket = socket;
    }

    /// <summary>Connects to /dev/log; null with <paramref name="error"/> when there is no syslog to log to.</summary>
    public static SyslogSink? Connect(out string? error)
    {
        error = null;
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            error = $"socket: {Errno.Describe(fd)}";
            return null;
        }
        var socket = new UnixFd(fd);
        int r = Libc.ConnectUnix(fd, DevLog);
        if (r < 0)
        {
            socket.Dispose();
            error = $"{DevLog}: {Errno.Describe(r)}";
            return null;
        }
        return new SyslogSink(socket);
    }

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        byte[] datagram = Format(Priority(logEvent.Level), logEvent.Timestamp.LocalDateTime, Libc.GetPid(), VirtiofsdTextFormatter.MessageText(logEvent));
        lock (_lock)
        {
            if (Libc.Write(_socket.Value, datagram) < 0 && Libc.ConnectUnix(_socket.Value, DevLog) == 0)
            {
                // The syslog daemon restarted (ECONNREFUSED): its new socket has the same path.
                Libc.Write(_socket.Value, datagram);
            }
        }
    }

    /// <summary>One RFC 3164 message: LOG_USER | priority, the local time as syslog(3) prints it, ident and pid.</summary>
    public static byte[] Format(int priority, DateTime localTime, int pid, string message) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"<{Libc.LOG_USER | priority}>{localTime.ToString("MMM", CultureInfo.InvariantCulture)} {localTime.Day,2} {localTime:HH:mm:ss} virtiofsd[{pid}]: {message}"));

    /// <summary>sys/syslog.h priorities: trace and debug are LOG_DEBUG, as the Rust syslog backend maps them.</summary>
    public static int Priority(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose or LogEventLevel.Debug => Libc.LOG_DEBUG,
        LogEventLevel.Information => Libc.LOG_INFO,
        LogEventLevel.Warning => Libc.LOG_WARNING,
        _ => Libc.LOG_ERR,
    };

    public void Dispose() => _socket.Dispose();
}
