using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Cli;

/// <summary>
/// How the command lines (the daemon's and <c>virtiofsd mount</c>) spell enumerated values: "name" or
/// "name|alias|...", the first name being the one the help and the error messages show. The help's defaults are
/// spelled from here too, not with <c>Enum.ToString</c>, which in the NativeAOT binary reads reflection data and
/// cost start-up time before the socket was ready.
/// </summary>
internal static class CliValues
{
    public static readonly (string Names, SandboxMode Value)[] Sandbox =
        [("namespace", SandboxMode.Namespace), ("chroot", SandboxMode.Chroot), ("none", SandboxMode.None)];

    public static readonly (string Names, SeccompMode Value)[] Seccomp =
        [("none", SeccompMode.None), ("kill", SeccompMode.Kill), ("log", SeccompMode.Log), ("trap", SeccompMode.Trap)];

    /// <summary>"fallback" is the Rust daemon's older spelling of prefer.</summary>
    public static readonly (string Names, InodeFileHandleMode Value)[] InodeFileHandles =
        [("never", InodeFileHandleMode.Never), ("prefer|fallback", InodeFileHandleMode.Prefer), ("mandatory", InodeFileHandleMode.Mandatory)];

    /// <summary>"none" is the C daemon's spelling of never.</summary>
    public static readonly (string Names, CacheMode Value)[] Cache =
        [("auto", CacheMode.Auto), ("always", CacheMode.Always), ("metadata", CacheMode.Metadata), ("never|none", CacheMode.Never)];

    public static readonly (string Names, LogLevel Value)[] LogLevels =
        [("error", LogLevel.Error), ("warn", LogLevel.Warn), ("info", LogLevel.Info), ("debug", LogLevel.Debug), ("trace", LogLevel.Trace), ("off", LogLevel.Off)];

    public static readonly (string Names, IoEngineKind Value)[] IoEngine =
        [("sync", IoEngineKind.Sync), ("io-uring|io_uring", IoEngineKind.IoUring)];

    public static readonly (string Names, MigrationMode Value)[] MigrationModes =
        [("find-paths", MigrationMode.FindPaths), ("file-handles", MigrationMode.FileHandles)];

    public static readonly (string Names, MigrationErrorPolicy Value)[] MigrationOnError =
        [("abort", MigrationErrorPolicy.Abort), ("guest-error", MigrationErrorPolicy.GuestError)];

    public static readonly (string Names, MigrationStateFormat Value)[] MigrationStateFormats =
        [("native", MigrationStateFormat.Native), ("rust-1.13", MigrationStateFormat.Rust113)];

    /// <summary>--log-level: error, warn, info, debug, trace or off; null for anything else.</summary>
    public static LogLevel? ParseLogLevel(string text) => TryParse(LogLevels, text, out LogLevel level) ? level : null;

    /// <summary>--cache: auto, always, metadata or never (and the C daemon's "none"); null for anything else.</summary>
    public static CacheMode? ParseCache(string text) => TryParse(Cache, text, out CacheMode mode) ? mode : null;

    /// <summary><paramref name="text"/> as one of <paramref name="choices"/>' names or aliases.</summary>
    public static bool TryParse<T>((string Names, T Value)[] choices, string text, out T value)
        where T : struct, Enum
    {
        foreach ((string names, T choice) in choices)
        {
            foreach (Range part in names.AsSpan().Split('|'))
            {
                if (names.AsSpan()[part].SequenceEqual(text))
                {
                    value = choice;
                    return true;
                }
            }
        }
        value = default;
        return false;
    }

    /// <summary>The name <paramref name="value"/> is spelled with (the first of its names).</summary>
    public static string Spelling<T>((string Names, T Value)[] choices, T value)
        where T : struct, Enum
    {
        foreach ((string names, T choice) in choices)
        {
            if (EqualityComparer<T>.Default.Equals(choice, value))
            {
                return FirstName(names);
            }
        }
        throw new ArgumentOutOfRangeException(nameof(value), value, "no spelling for this value");
    }

    /// <summary>The name of a choice's "name|alias|..." that the help and the error messages show.</summary>
    public static string FirstName(string names)
    {
        int bar = names.IndexOf('|', StringComparison.Ordinal);
        return bar < 0 ? names : names[..bar];
    }
}
