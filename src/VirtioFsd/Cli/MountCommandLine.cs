using System.CommandLine;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.FuseMount;

namespace VirtioFsd.Cli;

/// <summary>What <c>virtiofsd mount ...</c> asked for: the filesystem options and where and how to mount.</summary>
internal sealed record MountCommand(DaemonOptions Daemon, HostMountOptions Mount);

/// <summary>
/// <c>virtiofsd mount --shared-dir DIR --mountpoint MNT [--transport uring|dev]</c>: serve the share
/// on a host mount point through /dev/fuse (as root) instead of to a VM. A separate grammar: the
/// default command stays exactly virtiofsd's.
/// </summary>
internal static class MountCommandLine
{
    /// <summary>The first argument that selects this mode.</summary>
    public const string Verb = "mount";

    private static readonly Option<string> SharedDir = new("--shared-dir") { Description = "Directory to serve", HelpName = "DIR", Required = true };
    private static readonly Option<string> MountPoint = new("--mountpoint") { Description = "Where to mount it (an existing directory)", HelpName = "MNT", Required = true };
    private static readonly Option<string> Transport = new("--transport") { Description = "uring (FUSE-over-io_uring, /dev/fuse when the kernel lacks it) or dev [default: uring]" };
    private static readonly Option<int> Threads = new("--threads") { Description = "Threads reading /dev/fuse [default: 4]", DefaultValueFactory = _ => 4 };
    private static readonly Option<int> QueueDepth = new("--queue-depth") { Description = "Entries per io_uring queue (one queue per CPU) [default: 16]", DefaultValueFactory = _ => 16 };
    private static readonly Option<string> Cache = new("--cache") { Description = "How long the kernel may cache names (missing ones too), attributes and data: auto (1 s), metadata (names and attributes a day, no data), always (a day), never [default: auto]" };
    private static readonly Option<bool> Xattr = new("--xattr") { Description = "Enable extended attributes" };
    private static readonly Option<bool> ReadOnly = new("--readonly") { Description = "Refuse every change" };
    private static readonly Option<bool> Writeback = new("--writeback") { Description = "Enable the writeback cache" };
    private static readonly Option<bool> AllowDirectIo = new("--allow-direct-io") { Description = "Honour O_DIRECT" };
    private static readonly Option<string> LogLevelOption = new("--log-level") { Description = "error, warn, info, debug, trace, off [default: info]" };

    private static RootCommand Grammar() => new("virtiofsd mount: serve DIR on the host mount point MNT through FUSE")
    {
        SharedDir, MountPoint, Transport, Threads, QueueDepth, Cache, Xattr, ReadOnly, Writeback, AllowDirectIo, LogLevelOption,
    };

    /// <summary>Parses the arguments after the verb; returns the command or a one-line error.</summary>
    public static MountCommand? Parse(IReadOnlyList<string> args, out string? error)
    {
        ParseResult r = Grammar().Parse(args);
        if (r.Errors.Count > 0)
        {
            error = r.Errors[0].Message;
            return null;
        }
        error = null;
        FuseTransportKind? transport = (r.GetValue(Transport) ?? "uring") switch
        {
            "uring" => FuseTransportKind.Uring,
            "dev" => FuseTransportKind.Dev,
            _ => null,
        };
        CacheMode? cache = r.GetValue(Cache) is { } text ? CliValues.ParseCache(text) : new FuseServerOptions().Cache;
        LogLevel? level = CliValues.ParseLogLevel(r.GetValue(LogLevelOption) ?? "info");
        int threads = r.GetValue(Threads);
        int depth = r.GetValue(QueueDepth);
        error = transport is null ? "--transport must be uring or dev"
            : cache is null ? "--cache must be auto, always, metadata or never"
            : level is null ? "--log-level must be error, warn, info, debug, trace or off"
            : threads is < 1 or > 256 ? "--threads must be 1 to 256"
            : depth is < 1 or > 1024 ? "--queue-depth must be 1 to 1024"
            : null;
        if (error is not null)
        {
            return null;
        }
        string dir = Path.GetFullPath(r.GetValue(SharedDir)!);
        bool xattr = r.GetValue(Xattr);
        var daemon = new DaemonOptions
        {
            FileSystem = new PassthroughOptions { SharedDirectory = dir, Xattr = xattr },
            Fuse = new FuseServerOptions
            {
                Cache = cache!.Value,
                Xattr = xattr,
                ReadOnly = r.GetValue(ReadOnly),
                Writeback = r.GetValue(Writeback),
                AllowDirectIo = r.GetValue(AllowDirectIo),
            },
            Sandbox = SandboxMode.None,
            LogLevel = level!.Value,
        };
        var mount = new HostMountOptions
        {
            MountPoint = Path.GetFullPath(r.GetValue(MountPoint)!),
            Source = dir,
            Transport = transport!.Value,
            DevThreads = threads,
            QueueDepth = depth,
        };
        return new MountCommand(daemon, mount);
    }

    /// <summary>Writes the usage text of the mount mode.</summary>
    public static void WriteHelp(TextWriter output) =>
        Grammar().Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output });
}
