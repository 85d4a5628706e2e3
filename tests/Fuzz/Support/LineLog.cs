using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace VirtioFsd.Fuzz.Support;

/// <summary>A logger that keeps rendered lines, so a target can check what the code under test reported.</summary>
public sealed class LineLog : ILogEventSink
{
    private readonly List<string> _lines = [];

    public LineLog(LogEventLevel minimum = LogEventLevel.Verbose)
    {
        Logger = new LoggerConfiguration().MinimumLevel.Is(minimum).WriteTo.Sink(this).CreateLogger();
    }

    public ILogger Logger { get; }

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

    public void Clear()
    {
        lock (_lines)
        {
            _lines.Clear();
        }
    }

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        lock (_lines)
        {
            _lines.Add($"{logEvent.Level}: {logEvent.RenderMessage(System.Globalization.CultureInfo.InvariantCulture)}"
                + (logEvent.Exception is null ? "" : $" {logEvent.Exception}"));
        }
    }
}
