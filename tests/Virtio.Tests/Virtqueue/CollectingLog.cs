using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>A Serilog logger that keeps rendered messages, so tests can check what a queue reported.</summary>
internal sealed class CollectingLog : ILogEventSink
{
    private readonly List<string> _lines = [];

    public CollectingLog()
    {
        Logger = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(this).CreateLogger();
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

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        lock (_lines)
        {
            _lines.Add(logEvent.RenderMessage(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
