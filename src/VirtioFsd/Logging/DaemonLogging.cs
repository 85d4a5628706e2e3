using Serilog;
using Serilog.Core;
using Serilog.Events;
using VirtioFsd.Cli;

namespace VirtioFsd.Logging;

/// <summary>Builds the process logger from --log-level and --syslog: stderr by default, syslog(3) instead when asked.</summary>
internal static class DaemonLogging
{
    /// <summary>
    /// The logger. As the Rust daemon, --syslog without a reachable /dev/log falls back to stderr, and
    /// <paramref name="syslogError"/> says why (for a warning).
    /// </summary>
    public static Logger Create(LogLevel level, bool syslog, out string? syslogError)
    {
        syslogError = null;
        var config = new LoggerConfiguration();
        if (MinimumLevel(level) is not { } minimum)
        {
            // --log-level off: a logger with no sink writes nothing at all.
            return config.CreateLogger();
        }
        config.MinimumLevel.Is(minimum);
        if (syslog && SyslogSink.Connect(out syslogError) is { } sink)
        {
            config.WriteTo.Sink(sink);
        }
        else
        {
            config.WriteTo.Console(new VirtiofsdTextFormatter(), standardErrorFromLevel: LogEventLevel.Verbose);
        }
        return config.CreateLogger();
    }

    /// <summary>Serilog level for a --log-level name; null for off.</summary>
    public static LogEventLevel? MinimumLevel(LogLevel level) => level switch
    {
        LogLevel.Off => null,
        LogLevel.Error => LogEventLevel.Error,
        LogLevel.Warn => LogEventLevel.Warning,
        LogLevel.Info => LogEventLevel.Information,
        LogLevel.Debug => LogEventLevel.Debug,
        _ => LogEventLevel.Verbose,
    };
}
