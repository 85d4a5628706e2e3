using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace VirtioFsd.VhostUser.Tests.Support;

/// <summary>Loggers for tests: events are kept in memory so a test can assert a log line was written.</summary>
internal static class TestLog
{
    public static ILogger Create() => new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(new ListSink()).CreateLogger();

    public static ILogger Create(ListSink sink) => new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(sink).CreateLogger();
}

/// <summary>Collects rendered log lines.</summary>
internal sealed class ListSink : ILogEventSink
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public void Emit(LogEvent logEvent)
    {
        lock (_lines)
        {
            // Unquoted, so tests can match "malformed SetFeatures" rather than Serilog's quoted rendering.
            _lines.Add($"{logEvent.Level}: {logEvent.RenderMessage().Replace("\"", "", StringComparison.Ordinal)}");
        }
    }
}
