using System.Diagnostics;

namespace VirtioFsd.Virtio;

/// <summary>
/// How queue workers poll their avail ring for a moment after serving instead of going to sleep at once
/// (<c>--queue-poll-us</c>), like QEMU's iothread polling (poll-max-ns). A guest that issues its next
/// request within the window then costs neither a kick (notifications stay off while polling) nor a
/// wake-up of the worker (docs/benchmark.md has what it buys at depth 1). Spinning threads must not
/// outnumber the CPUs the guest and the other queues need: at most <see cref="MaxPollers"/> workers poll at a time.
/// </summary>
public sealed class QueuePolling
{
    private int _pollers;

    public QueuePolling(TimeSpan window, int maxPollers)
    {
        WindowTicks = (long)(window.TotalSeconds * Stopwatch.Frequency);
        MaxPollers = maxPollers;
    }

    /// <summary>No polling: workers sleep as soon as their ring is empty.</summary>
    public static QueuePolling Off { get; } = new(TimeSpan.Zero, 0);

    /// <summary>Polling for <paramref name="window"/>, by at most half the CPUs at once (none on a single CPU).</summary>
    public static QueuePolling ForThisMachine(TimeSpan window) => new(window, Environment.ProcessorCount / 2);

    /// <summary>The window in <see cref="Stopwatch"/> ticks.</summary>
    public long WindowTicks { get; }

    public int MaxPollers { get; }

    /// <summary>Takes a poller's place; false when polling is off or enough workers poll already.</summary>
    public bool TryEnter()
    {
        if (WindowTicks <= 0)
        {
            return false;
        }
        int now = Interlocked.Increment(ref _pollers);
        if (now <= MaxPollers)
        {
            return true;
        }
        Interlocked.Decrement(ref _pollers);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _pollers);
}
