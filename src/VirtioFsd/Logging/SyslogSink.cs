using Serilog.Core;
using Serilog.Events;
using VirtioFsd.Linux;

namespace VirtioFsd.Logging;

/// <summary>
/// --syslog: each event goes to syslog(3) as "virtiofsd[PID]" with facility LOG_USER (the Rust
/// daemon's choice). openlog is called with LOG_NDELAY so the /dev/log connection exists before a
/// sandbox hides /dev; glibc reconnects on its own only while /dev/log is reachable.
/// </summary>
internal sealed class SyslogSink : ILogEventSink, IDisposable
{
    public SyslogSink()
    {
        Libc.OpenLog("virtiofsd", Libc.LOG_PID | Libc.LOG_NDELAY, Libc.LOG_USER);
    }

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        Libc.Syslog(Priority(logEvent.Level), VirtiofsdTextFormatter.MessageText(logEvent));
    }

    /// <summary>sys/syslog.h priorities: trace and debug are LOG_DEBUG, as the Rust syslog backend maps them.</summary>
    public static int Priority(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose or LogEventLevel.Debug => Libc.LOG_DEBUG,
        LogEventLevel.Information => Libc.LOG_INFO,
        LogEventLevel.Warning => Libc.LOG_WARNING,
        _ => Libc.LOG_ERR,
    };

    public void Dispose() => Libc.CloseLog();
}
