namespace VirtioFsd.Cli;

/// <summary>What the command line asks the program to do.</summary>
internal enum CliAction
{
    /// <summary>Serve: <see cref="CliResult.Options"/> is set.</summary>
    Run,

    /// <summary>--print-capabilities: print the vhost-user.json capabilities and exit 0.</summary>
    PrintCapabilities,

    /// <summary>-V / --version.</summary>
    PrintVersion,

    /// <summary>-h / --help.</summary>
    PrintHelp,

    /// <summary>Rejected: <see cref="CliResult.Error"/> is the one-line reason; exit non-zero.</summary>
    Fail,
}

/// <summary>The outcome of parsing: an action, the options to run with, or an error; plus deprecation warnings to log.</summary>
internal sealed record CliResult(CliAction Action, DaemonOptions? Options, string? Error, IReadOnlyList<string> Warnings)
{
    public static CliResult Failed(string error) => new(CliAction.Fail, null, error, []);

    public static CliResult Just(CliAction action) => new(action, null, null, []);
}
