namespace VirtioFsd.Lifecycle;

/// <summary>
/// When to trim, from the CPU time the process used in each sampling window: a window with at least
/// <see cref="IdleCpuMicroseconds"/> is work; the first quiet window after work is the moment to trim. While there
/// is work the windows are <see cref="Window"/> long; while there is none each is twice the last, up to
/// <see cref="MaxInterval"/>, so that an unused daemon wakes up about four times a minute.
/// </summary>
internal sealed class IdlePolicy
{
    /// <summary>The sampling window while the daemon works. 250 ms: set-up phases and request bursts are seconds apart in a VM.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest sleep while idle.</summary>
    public static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(16);

    /// <summary>CPU time (µs) below which a window is quiet: sampling costs the trimmer microseconds, a single FUSE request
    /// tens of them, the connection set-up milliseconds.</summary>
    public const long IdleCpuMicroseconds = 500;

    private bool _worked;

    /// <summary>How long to sleep before the next sample.</summary>
    public TimeSpan Interval { get; private set; } = Window;

    /// <summary>Takes the CPU time of the window that just ended; true when the working set should be trimmed now.</summary>
    public bool TrimAfter(long cpuMicroseconds)
    {
        if (cpuMicroseconds >= IdleCpuMicroseconds)
        {
            _worked = true;
            Interval = Window;
            return false;
        }
        bool trim = _worked;
        _worked = false;
        Interval = Interval * 2 < MaxInterval ? Interval * 2 : MaxInterval;
        return trim;
    }
}
