using System.Reflection;
using Serilog.Core;
using VirtioFsd.Cli;
using VirtioFsd.Lifecycle;
using VirtioFsd.Linux;
using VirtioFsd.Sandbox;
using VirtioFsd.Logging;

namespace VirtioFsd;

/// <summary>
/// virtiofsd: parse the command line (Rust virtiofsd compatible), then print what was asked for or run
/// the daemon. Exit codes: 0 after a clean stop or a print, 1 on a start-up or serving failure, 2 on a
/// command-line error.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == MountCommandLine.Verb)
        {
            return MountMain(args[1..]);
        }

        // The child of an unprivileged namespace sandbox may be uid 0 of its user namespace: the command line is
        // judged as the user who started the launch stage, not as that root.
        bool isRoot = Libc.GetEuid() == 0 && LaunchStage.InheritedFd(LaunchStage.UserNamespaceVariable) is null;
        CliResult cli = VirtiofsdCommandLine.Parse(args, isRoot);
        switch (cli.Action)
        {
            case CliAction.PrintCapabilities:
                Console.Out.Write(Capabilities.Json);
                return 0;
            case CliAction.PrintVersion:
                Console.Out.WriteLine($"virtiofsd {Version}");
                return 0;
            case CliAction.PrintHelp:
                VirtiofsdCommandLine.WriteHelp(Console.Out);
                return 0;
            case CliAction.Fail:
                Console.Error.WriteLine($"virtiofsd: error: {cli.Error}");
                Console.Error.WriteLine("Try 'virtiofsd --help' for more information.");
                return 2;
        }

        DaemonOptions options = cli.Options!;
        using Logger log = DaemonLogging.Create(options.LogLevel, options.Syslog, out string? syslogError);
        if (syslogError is not null)
        {
            log.Warning("Can't enable syslog ({Error:l}); logging to stderr", syslogError);
        }
        foreach (string warning in cli.Warnings)
        {
            log.Warning(warning);
        }
        return DaemonHost.Run(options, args, log);
    }

    /// <summary><c>virtiofsd mount ...</c>: the share on a host mount point (exit codes as above).</summary>
    private static int MountMain(string[] args)
    {
        if (args.Contains("-h") || args.Contains("--help"))
        {
            MountCommandLine.WriteHelp(Console.Out);
            return 0;
        }
        MountCommand? command = MountCommandLine.Parse(args, out string? error);
        if (command is null)
        {
            Console.Error.WriteLine($"virtiofsd mount: error: {error}");
            Console.Error.WriteLine("Try 'virtiofsd mount --help' for more information.");
            return 2;
        }
        using Logger log = DaemonLogging.Create(command.Daemon.LogLevel, syslog: false, out _);
        return HostMountHost.Run(command, log);
    }

    private static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";
}
