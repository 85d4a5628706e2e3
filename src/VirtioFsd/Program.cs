using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Device;

namespace VirtioFsd;

internal static class Program
{
    private static int Main(string[] args)
    {
        // Placeholder until the command line lands: virtiofsd --shared-dir DIR --socket-path PATH.
        using var log = new LoggerConfiguration().WriteTo.Console(standardErrorFromLevel: Serilog.Events.LogEventLevel.Verbose).CreateLogger();
        string? dir = null, sock = null;
        for (int i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] == "--shared-dir") { dir = args[i + 1]; }
            if (args[i] == "--socket-path") { sock = args[i + 1]; }
        }
        if (dir is null || sock is null)
        {
            log.Error("usage: virtiofsd --shared-dir DIR --socket-path PATH");
            return 2;
        }
        return VirtioFsDaemon.Run(new DaemonOptions { SharedDir = dir, SocketPath = sock }, log, CancellationToken.None);
    }
}
