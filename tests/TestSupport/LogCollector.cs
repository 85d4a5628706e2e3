using System.Globalization;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace VirtioFsd.TestSupport;

/// <summary>A logger whose events are kept in memory, so a test can assert what the code under test reported.</summary>
public sealed class LogCollector : ILogEventSink
{
    private readonly List<LogEvent> events = [];

    public LogCollector(LogEventLevel minimum = LogEventLevel.Verbose)
    {
        Logger = new LoggerConfiguration().MinimumLevel.Is(minimum).WriteTo.Sink(this).CreateLogger();
    }

    public ILogger Logger { get; }

    public IReadOnlyList<LogEvent> Events
    {
        get
        {
            lock (events)
            {
                return [.. events];
            }
        }
    }

    /// <summary>
    /// Each event as "Level: message", string values unquoted (so a test can match "malformed SetFeatures"
    /// rather than Serilog's quoted rendering), and the exception after it if there was one.
    /// </summary>
    public IReadOnlyList<string> Lines => [.. Events.Select(Render)];

    public void Clear()
    {
        lock (events)
        {
            events.Clear();
        }
    }

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        lock (events)
        {
            events.Add(logEvent);
        }
    }

    private static string Render(LogEvent e)
        => $"{e.Level}: {e.RenderMessage(CultureInfo.InvariantCulture).Replace("\"", "", StringComparison.Ordinal)}"
            + (e.Exception is null ? "" : $" {e.Exception}");
}
