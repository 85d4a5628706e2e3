using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Tests.Engine;

/// <summary>
/// Where io_uring is unavailable (kernel.io_uring_disabled, a container's seccomp profile, an old kernel) the
/// daemon falls back to the synchronous engine, so an "io-uring" variant would test the synchronous engine twice
/// and pass. Such a variant is skipped with the reason instead (a [SkippableFact]/[SkippableTheory]).
/// </summary>
internal static class IoUringRequirement
{
    private static readonly Lazy<IoUringAvailability> Availability = new(IoUringSupport.Detect);

    public static void SkipUnlessAvailable()
    {
        IoUringAvailability a = Availability.Value;
        Skip.IfNot(a.IsAvailable, $"the io-uring engine cannot run here ({a}); it would fall back to the synchronous engine");
    }

    /// <summary>The same for a daemon command line that asks for <c>--io-engine io-uring</c>.</summary>
    public static void SkipUnlessAvailable(IReadOnlyList<string> daemonArgs)
    {
        for (int i = 0; i + 1 < daemonArgs.Count; i++)
        {
            if (daemonArgs[i] == "--io-engine" && daemonArgs[i + 1] == "io-uring")
            {
                SkipUnlessAvailable();
            }
        }
    }
}
