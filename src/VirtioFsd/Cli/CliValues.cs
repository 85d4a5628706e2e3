using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Cli;

/// <summary>Option values both command lines (the daemon's and <c>virtiofsd mount</c>) spell the same way.</summary>
internal static class CliValues
{
    /// <summary>--log-level: error, warn, info, debug, trace or off; null for anything else.</summary>
    public static LogLevel? ParseLogLevel(string text) => text switch
    {
        "error" => LogLevel.Error,
        "warn" => LogLevel.Warn,
        "info" => LogLevel.Info,
        "debug" => LogLevel.Debug,
        "trace" => LogLevel.Trace,
        "off" => LogLevel.Off,
        _ => null,
    };

    /// <summary>--cache: auto, always, metadata or never (and the C daemon's "none"); null for anything else.</summary>
    public static CacheMode? ParseCache(string text) => text switch
    {
        "auto" => CacheMode.Auto,
        "always" => CacheMode.Always,
        "metadata" => CacheMode.Metadata,
        "never" or "none" => CacheMode.Never,
        _ => null,
    };
}
