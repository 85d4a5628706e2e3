using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Cli;

/// <summary>
/// Parses and validates the command line into a <see cref="CliResult"/>. Rules (Rust virtiofsd's, made
/// strict): exactly one of --socket-path and --fd; a shared directory from --shared-dir or -o source;
/// an option this daemon cannot honour is refused by name, never ignored.
/// </summary>
internal static class VirtiofsdCommandLine
{
    /// <summary>virtio_fs.h: <c>__u8 tag[36]</c>, not NUL-terminated when full.</summary>
    public const int MaxTagBytes = 36;

    public static CliResult Parse(IReadOnlyList<string> args, bool isRoot)
    {
        ArgumentNullException.ThrowIfNull(args);
        // vhost-user.rst "Backend program conventions": --print-capabilities prints and exits 0
        // whatever else is on the line, so management tools can probe with their usual arguments.
        if (args.Contains("--print-capabilities"))
        {
            return CliResult.Just(CliAction.PrintCapabilities);
        }
        if (args.Contains("-h") || args.Contains("--help"))
        {
            return CliResult.Just(CliAction.PrintHelp);
        }
        if (args.Contains("-V") || args.Contains("--version"))
        {
            return CliResult.Just(CliAction.PrintVersion);
        }

        var syntax = new CommandLineSyntax();
        ParseResult r = syntax.Root.Parse(args);
        if (r.Errors.Count > 0)
        {
            return CliResult.Failed(OneLine(r.Errors[0].Message));
        }
        try
        {
            return Validate(syntax, r, isRoot);
        }
        catch (InvalidOperationException e)
        {
            // GetValue throws when a value failed conversion in a way Errors did not report.
            return CliResult.Failed(OneLine(e.Message));
        }
    }

    /// <summary>Writes the usage text (for -h).</summary>
    public static void WriteHelp(TextWriter output)
    {
        var syntax = new CommandLineSyntax(forHelp: true);
        syntax.Root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output });
    }

    private static CliResult Validate(CommandLineSyntax s, ParseResult r, bool isRoot)
    {
        var warnings = new List<string>();
        var parsed = new Parsed(new DaemonOptions { FileSystem = new PassthroughOptions { SharedDirectory = "" } });
        string? error = ParseFlags(s, r, parsed, warnings) ?? ParseValues(s, r, parsed) ?? ParseLists(s, r, parsed);
        if (error is not null)
        {
            return CliResult.Failed(error);
        }
        if (r.GetValue(s.CompatDebug))
        {
            parsed.Options = parsed.Options with { LogLevel = LogLevel.Debug };
            warnings.Add("Use of deprecated flag '-d': please use '--log-level debug'");
        }
        if (r.GetValue(s.CompatForeground))
        {
            warnings.Add("Use of deprecated flag '-f': it has no effect, the daemon never daemonizes");
        }
        if (r.GetValue(s.Compat) is { Length: > 0 } compat)
        {
            foreach (string value in compat)
            {
                if (CompatOptions.Apply(value, parsed) is { } compatError)
                {
                    return CliResult.Failed(compatError);
                }
            }
            warnings.Add("Use of deprecated option format '-o': please use the long options (e.g. '--cache auto')");
        }
        return Finish(parsed, isRoot, warnings);
    }

    /// <summary>The options as parsing goes: each option given replaces its default (the owning record's) with <c>with</c>.</summary>
    internal sealed class Parsed(DaemonOptions options)
    {
        public DaemonOptions Options { get; set; } = options;

        /// <summary>Where the shared directory came from, for the conflict message (--shared-dir or -o source).</summary>
        public string? SharedDirSource { get; set; }

        public FuseServerOptions Fuse
        {
            get => Options.Fuse;
            set => Options = Options with { Fuse = value };
        }

        public PassthroughOptions FileSystem
        {
            get => Options.FileSystem;
            set => Options = Options with { FileSystem = value };
        }

        public DeviceOptions Device
        {
            get => Options.Device;
            set => Options = Options with { Device = value };
        }

        /// <summary>Parses and keeps an xattr mapping; returns the error message for <paramref name="option"/> if malformed.</summary>
        public string? SetXattrMap(string text, string option)
        {
            XattrMap? map = XattrMap.Parse(text, out string? error);
            if (map is null)
            {
                return $"invalid value for {option}: {error}";
            }
            FileSystem = FileSystem with { XattrMap = map };
            return null;
        }

        /// <summary>Parses and keeps a --modcaps list; returns the error message for <paramref name="option"/> if malformed.</summary>
        public string? SetModCaps(string text, string option)
        {
            IReadOnlyList<CapabilityChange>? changes = CapabilityChanges.Parse(text, out string? error);
            if (changes is null)
            {
                return $"invalid value for {option}: {error}";
            }
            Options = Options with { ModCaps = changes };
            return null;
        }
    }

    private static string? ParseFlags(CommandLineSyntax s, ParseResult r, Parsed p, List<string> warnings)
    {
        if (r.GetValue(s.ModCaps) is { } modcaps && p.SetModCaps(modcaps, "--modcaps") is { } modcapsError)
        {
            return modcapsError;
        }
        if (r.GetValue(s.SharedDir) is { } dir)
        {
            p.FileSystem = p.FileSystem with { SharedDirectory = dir };
            p.SharedDirSource = $"'--shared-dir {dir}'";
        }
        string? tag = r.GetValue(s.Tag);
        if (Given(r, s.Tag) && (string.IsNullOrEmpty(tag) || Encoding.UTF8.GetByteCount(tag) > MaxTagBytes))
        {
            return $"--tag must be 1 to {MaxTagBytes} bytes long";
        }
        string? socketPath = r.GetValue(s.SocketPath);
        if (r.GetValue(s.Socket) is { } legacySocket)
        {
            if (socketPath is not null)
            {
                return "--socket and --socket-path both given";
            }
            socketPath = legacySocket;
            warnings.Add("Use of deprecated option '--socket': please use '--socket-path'");
        }
        if (Given(r, s.AnnounceSubmounts) && Given(r, s.NoAnnounceSubmounts))
        {
            return "--announce-submounts and --no-announce-submounts both given";
        }
        if (r.GetValue(s.KillPrivV2) && r.GetValue(s.NoKillPrivV2))
        {
            return "--killpriv-v2 and --no-killpriv-v2 both given";
        }
        int threadPoolSize = r.GetValue(s.ThreadPoolSize);
        if (threadPoolSize < 0)
        {
            return "--thread-pool-size must not be negative";
        }
        p.Options = p.Options with
        {
            SocketPath = socketPath,
            ListenFd = r.GetValue(s.Fd),
            SocketGroup = r.GetValue(s.SocketGroup),
            Syslog = r.GetValue(s.Syslog),
            RlimitNofile = r.GetValue(s.RlimitNofile),
        };
        p.Device = p.Device with { Tag = tag ?? p.Device.Tag, ThreadPoolSize = (uint)threadPoolSize };
        p.Fuse = p.Fuse with
        {
            Xattr = r.GetValue(s.Xattr),
            PosixAcl = r.GetValue(s.PosixAcl),
            SecurityLabel = r.GetValue(s.SecurityLabel),
            ReadOnly = r.GetValue(s.ReadOnly),
            AllowMmap = r.GetValue(s.AllowMmap),
            ReadDirPlus = !r.GetValue(s.NoReadDirPlus),
            Writeback = r.GetValue(s.Writeback),
            AllowDirectIo = r.GetValue(s.AllowDirectIo),
            AnnounceSubmounts = Given(r, s.NoAnnounceSubmounts) ? false : p.Fuse.AnnounceSubmounts,
            KillPrivV2 = r.GetValue(s.KillPrivV2),
        };
        p.FileSystem = p.FileSystem with { PreserveNoatime = r.GetValue(s.PreserveNoatime) };
        return null;
    }

    private static string? ParseValues(CommandLineSyntax s, ParseResult r, Parsed p)
    {
        if (r.GetValue(s.Cache) is { } cache)
        {
            if (CliValues.ParseCache(cache) is not { } mode)
            {
                return $"invalid value '{cache}' for --cache (expected auto, always, metadata or never)";
            }
            p.Fuse = p.Fuse with { Cache = mode };
        }
        if (r.GetValue(s.Sandbox) is { } sandbox)
        {
            if (Choose("--sandbox", sandbox.ToLowerInvariant(), out SandboxMode mode, CliValues.Sandbox) is { } error)
            {
                return error;
            }
            p.Options = p.Options with { Sandbox = mode };
        }
        if (r.GetValue(s.Seccomp) is { } seccomp)
        {
            if (Choose("--seccomp", seccomp, out SeccompMode mode, CliValues.Seccomp) is { } error)
            {
                return error;
            }
            p.Options = p.Options with { Seccomp = mode };
        }
        if (r.GetValue(s.LogLevel) is { } level)
        {
            if (CliValues.ParseLogLevel(level) is not { } parsedLevel)
            {
                return $"invalid value '{level}' for --log-level (expected error, warn, info, debug, trace or off)";
            }
            p.Options = p.Options with { LogLevel = parsedLevel };
        }
        if (r.GetValue(s.IoEngine) is { } engine)
        {
            if (Choose("--io-engine", engine, out IoEngineKind kind, CliValues.IoEngine) is { } error)
            {
                return error;
            }
            p.Device = p.Device with { IoEngine = kind };
        }
        if (r.GetValue(s.QueuePollUs) is { } poll)
        {
            if (!uint.TryParse(poll, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint us) || us > 1000)
            {
                return $"invalid value '{poll}' for --queue-poll-us (expected 0 to 1000)";
            }
            p.Device = p.Device with { QueuePollMicroseconds = us };
        }
        if (r.GetValue(s.InodeFileHandles) is { } handles)
        {
            if (Choose("--inode-file-handles", handles, out InodeFileHandleMode mode, CliValues.InodeFileHandles) is { } error)
            {
                return error;
            }
            p.FileSystem = p.FileSystem with { InodeFileHandles = mode };
        }
        if (r.GetValue(s.InodeFdCacheSize) is { } cacheSize)
        {
            if (!int.TryParse(cacheSize, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) || n > 1_000_000)
            {
                return $"invalid value '{cacheSize}' for --inode-fd-cache-size (expected 0 to 1000000)";
            }
            p.FileSystem = p.FileSystem with { InodeFdCacheSize = n };
        }
        return ParseMigration(s, r, p) ?? (r.GetValue(s.XattrMap) is { } xattrMap ? p.SetXattrMap(xattrMap, "--xattrmap") : null);
    }

    /// <summary>The Rust virtiofsd's migration options, same values and defaults.</summary>
    private static string? ParseMigration(CommandLineSyntax s, ParseResult r, Parsed p)
    {
        MigrationOptions migration = p.FileSystem.Migration;
        if (r.GetValue(s.MigrationMode) is { } mode)
        {
            if (Choose("--migration-mode", mode, out MigrationMode parsed, CliValues.MigrationModes) is { } error)
            {
                return error;
            }
            migration = migration with { Mode = parsed };
        }
        if (r.GetValue(s.MigrationOnError) is { } onError)
        {
            if (Choose("--migration-on-error", onError, out MigrationErrorPolicy parsed, CliValues.MigrationOnError) is { } error)
            {
                return error;
            }
            migration = migration with { OnError = parsed };
        }
        if (r.GetValue(s.MigrationStateFormat) is { } format)
        {
            if (Choose("--migration-state-format", format, out MigrationStateFormat parsed, CliValues.MigrationStateFormats) is { } error)
            {
                return error;
            }
            migration = migration with { StateFormat = parsed };
            if (parsed == MigrationStateFormat.Rust113)
            {
                // The guest is to move to a Rust virtiofsd 1.13, which implements no POSIX or flock locks: negotiated
                // from the start as it would, so that the guest's locks behave the same before and after the move
                // (local to the guest) instead of failing with ENOSYS there. docs/migration.md.
                p.Fuse = p.Fuse with { PosixLocks = false, FlockLocks = false };
            }
        }
        migration = migration with
        {
            VerifyHandles = r.GetValue(s.MigrationVerifyHandles),
            ConfirmPaths = r.GetValue(s.MigrationConfirmPaths),
        };
        if ((migration.VerifyHandles || migration.ConfirmPaths) && migration.Mode != MigrationMode.FindPaths)
        {
            // As the Rust daemon: both checks are for find-paths; file handles need neither.
            return "--migration-verify-handles and --migration-confirm-paths need --migration-mode find-paths";
        }
        p.FileSystem = p.FileSystem with { Migration = migration };
        return null;
    }

    /// <summary>
    /// <paramref name="value"/> as one of <paramref name="choices"/> ("name" or "name|alias|..."): null and the choice,
    /// or the usage error, which lists the first name of each ("expected a, b or c").
    /// </summary>
    private static string? Choose<T>(string option, string value, out T result, (string Names, T Value)[] choices)
        where T : struct, Enum
    {
        if (CliValues.TryParse(choices, value, out result))
        {
            return null;
        }
        string[] first = [.. choices.Select(c => CliValues.FirstName(c.Names))];
        string expected = first.Length == 1 ? first[0] : $"{string.Join(", ", first[..^1])} or {first[^1]}";
        return $"invalid value '{value}' for {option} (expected {expected})";
    }

    private static string? ParseLists(CommandLineSyntax s, ParseResult r, Parsed p)
    {
        var uids = new List<IdRule>();
        var gids = new List<IdRule>();
        foreach ((Option<string[]> option, List<IdRule> rules) in new[] { (s.TranslateUid, uids), (s.TranslateGid, gids) })
        {
            foreach (string text in r.GetValue(option) ?? [])
            {
                if (IdRule.Parse(text, out string? error) is not { } rule)
                {
                    return $"invalid value '{text}' for {option.Name}: {error}";
                }
                rules.Add(rule);
            }
        }
        if (uids.Count > 0 || gids.Count > 0)
        {
            p.Fuse = p.Fuse with { Uids = new IdTranslation(uids), Gids = new IdTranslation(gids) };
        }
        var uidMap = new List<IdMapRange>();
        var gidMap = new List<IdMapRange>();
        foreach ((Option<string[]> option, List<IdMapRange> ranges) in new[] { (s.UidMap, uidMap), (s.GidMap, gidMap) })
        {
            foreach (string text in r.GetValue(option) ?? [])
            {
                if (IdMapRange.Parse(text, out string? error) is not { } range)
                {
                    return $"invalid value '{text}' for {option.Name}: {error}";
                }
                ranges.Add(range);
            }
        }
        p.Options = p.Options with { UidMap = uidMap, GidMap = gidMap };
        return null;
    }

    /// <summary>
    /// Checks what only the whole line can tell, and derives settings as the Rust virtiofsd does: --posix-acl,
    /// --security-label and --xattrmap imply --xattr; cache=never disables READDIRPLUS (its entries would be dropped
    /// at once anyway). The filesystem serves extended attributes and ACLs exactly when the server offers them.
    /// </summary>
    private static CliResult Finish(Parsed p, bool isRoot, List<string> warnings)
    {
        DaemonOptions o = p.Options;
        if (p.SharedDirSource is null)
        {
            return CliResult.Failed("missing --shared-dir (or -o source=DIR)");
        }
        if (o.SharedDir.Length == 0)
        {
            return CliResult.Failed("--shared-dir must not be empty");
        }
        if (o.SocketPath is null == o.ListenFd is null)
        {
            return CliResult.Failed(o.SocketPath is null
                ? "missing --socket-path PATH or --fd N"
                : "--socket-path and --fd are mutually exclusive");
        }
        if (o.SocketPath is { Length: 0 })
        {
            return CliResult.Failed("--socket-path must not be empty");
        }
        if (o.ListenFd is < 0)
        {
            return CliResult.Failed($"--fd {o.ListenFd} is not a file descriptor");
        }
        if (o.SocketGroup is not null && o.ListenFd is not null)
        {
            return CliResult.Failed("--socket-group needs --socket-path (with --fd the parent owns the socket)");
        }
        if (o.Fuse.PosixAcl && (!o.Fuse.Uids.IsIdentity || !o.Fuse.Gids.IsIdentity))
        {
            // As the Rust daemon: ACL entries name host ids the translation would not touch.
            return CliResult.Failed("--translate-uid and --translate-gid cannot be used with --posix-acl");
        }
        // As the Rust virtiofsd: chroot needs root; the id maps describe the user namespace of an unprivileged
        // namespace sandbox (see Sandbox/UserNamespace) and nothing else.
        if (o.Sandbox == SandboxMode.Chroot && !isRoot)
        {
            return CliResult.Failed("--sandbox chroot can only be used by root (use --sandbox namespace or none)");
        }
        foreach ((string name, IReadOnlyList<IdMapRange> ranges) in new[] { ("--uid-map", o.UidMap), ("--gid-map", o.GidMap) })
        {
            if (ranges.Count > 0 && (isRoot || o.Sandbox != SandboxMode.Namespace))
            {
                return CliResult.Failed($"{name} can only be used by an unprivileged user with --sandbox namespace (it maps the ids of that sandbox's user namespace)");
            }
        }
        bool xattr = o.Fuse.Xattr || o.Fuse.PosixAcl || o.Fuse.SecurityLabel || o.FileSystem.XattrMap is not null;
        o = o with
        {
            Fuse = o.Fuse with { Xattr = xattr, ReadDirPlus = o.Fuse.ReadDirPlus && o.Fuse.Cache != CacheMode.Never },
            FileSystem = o.FileSystem with { Xattr = xattr, PosixAcl = o.Fuse.PosixAcl },
        };
        return new CliResult(CliAction.Run, o, null, warnings);
    }

    private static bool Given(ParseResult r, Option o) => r.GetResult(o) is { Implicit: false };

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
