using System.Globalization;
using Serilog.Events;
using Serilog.Formatting;

namespace VirtioFsd.Logging;

/// <summary>
/// Formats a line as the Rust virtiofsd (env_logger) does, so log scrapers keep working:
/// <c>[2024-07-18T12:53:55Z INFO  virtiofsd] message</c> (UTC, level padded to 5).
/// </summary>
internal sealed class VirtiofsdTextFormatter : ITextFormatter
{
    public void Format(LogEvent logEvent, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        ArgumentNullException.ThrowIfNull(output);
        output.Write('[');
        output.Write(logEvent.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        output.Write(' ');
        output.Write(LevelName(logEvent.Level).PadRight(5));
        output.Write(" virtiofsd] ");
        output.Write(MessageText(logEvent));
        output.Write('\n');
    }

    /// <summary>The rendered message with the exception (if any) on the same logical entry.</summary>
    public static string MessageText(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        string message = logEvent.RenderMessage(CultureInfo.InvariantCulture);
        return logEvent.Exception is null ? message : $"{message}: {logEvent.Exception}";
    }

    /// <summary>env_logger's level names; Serilog's Fatal has no counterpart there and prints as ERROR.</summary>
    public static string LevelName(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose => "TRACE",
        LogEventLevel.Debug => "DEBUG",
        LogEventLevel.Information => "INFO",
        LogEventLevel.Warning => "WARN",
        _ => "ERROR",
    };
}
