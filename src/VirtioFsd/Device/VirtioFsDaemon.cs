using Serilog;
using VirtioFsd.Cli;

namespace VirtioFsd.Device;

/// <summary>Runs the daemon: listens, serves one frontend connection, returns the exit code.</summary>
public static class VirtioFsDaemon
{
    /// <summary>Serves until the frontend disconnects or <paramref name="stop"/> fires; returns the process exit code.</summary>
    public static int Run(DaemonOptions options, ILogger log, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        log.Error("The virtio-fs device is not wired up yet");
        return 1;
    }
}
