using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text;
using VirtioFsd.Fuse.Passthrough;
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
        var syntax = new CommandLineSyntax();
        syntax.Root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = output });
    }

    private static CliResult Validate(CommandLineSyntax s, ParseResult r, bool isRoot)
    {
        foreach (Option o in s.Unimplemented.Cast<Option>().Concat(s.UnimplementedFlags))
        {
            if (Given(r, o))
            {
                return CliResult.Failed($"{o.Name} is not implemented");
            }
        }
        var b = new OptionsBuilder();
        if (r.GetValue(s.ModCaps) is { } modcaps && b.SetModCaps(modcaps, "--modcaps") is { } modcapsError)
        {
            return CliResult.Failed(modcapsError);
        }
        if (r.GetValue(s.SharedDir) is { } dir)
        {
            b.SharedDir = dir;
            b.SharedDirSource = $"'--shared-dir {dir}'";
        }
        b.Tag = r.GetValue(s.Tag) ?? "";
        if (Given(r, s.Tag) && (b.Tag.Length == 0 || Encoding.UTF8.GetByteCount(b.Tag) > MaxTagBytes))
        {
            return CliResult.Failed($"--tag must be 1 to {MaxTagBytes} bytes long");
        }
        b.SocketPath = r.GetValue(s.SocketPath);
        if (r.GetValue(s.Socket) is { } legacySocket)
        {
            if (b.SocketPath is not null)
            {
                return CliResult.Failed("--socket and --socket-path both given");
            }
            b.SocketPath = legacySocket;
            b.Warnings.Add("Use of deprecated option '--socket': please use '--socket-path'");
        }
        b.ListenFd = r.GetValue(s.Fd);
        b.SocketGroup = r.GetValue(s.SocketGroup);
        b.ThreadPoolSize = r.GetValue(s.ThreadPoolSize);
        b.Xattr = r.GetValue(s.Xattr);
        b.PosixAcl = r.GetValue(s.PosixAcl);
        b.SecurityLabel = r.GetValue(s.SecurityLabel);
        b.ReadOnly = r.GetValue(s.ReadOnly);
        b.AllowMmap = r.GetValue(s.AllowMmap);
        b.NoReadDirPlus = r.GetValue(s.NoReadDirPlus);
        b.Writeback = r.GetValue(s.Writeback);
        b.AllowDirectIo = r.GetValue(s.AllowDirectIo);
        b.PreserveNoatime = r.GetValue(s.PreserveNoatime);
        b.Syslog = r.GetValue(s.Syslog);
        b.RlimitNofile = r.GetValue(s.RlimitNofile);

        if (Given(r, s.AnnounceSubmounts) && Given(r, s.NoAnnounceSubmounts))
        {
            return CliResult.Failed("--announce-submounts and --no-announce-submounts both given");
        }
        b.AnnounceSubmounts = !r.GetValue(s.NoAnnounceSubmounts);
        if (r.GetValue(s.KillPrivV2) && r.GetValue(s.NoKillPrivV2))
        {
            return CliResult.Failed("--killpriv-v2 and --no-killpriv-v2 both given");
        }
        b.KillPrivV2 = r.GetValue(s.KillPrivV2);

        string? error = ParseEnums(s, r, b);
        if (error is not null)
        {
            return CliResult.Failed(error);
        }
        if (r.GetValue(s.CompatDebug))
        {
            b.LogLevel = LogLevel.Debug;
            b.Warnings.Add("Use of deprecated flag '-d': please use '--log-level debug'");
        }
        if (r.GetValue(s.CompatForeground))
        {
            b.Warnings.Add("Use of deprecated flag '-f': it has no effect, the daemon never daemonizes");
        }
        if (r.GetValue(s.Compat) is { Length: > 0 } compat)
        {
            foreach (string value in compat)
            {
                if (CompatOptions.Apply(value, b) is { } compatError)
                {
                    return CliResult.Failed(compatError);
                }
            }
            b.Warnings.Add("Use of deprecated option format '-o': please use the long options (e.g. '--cache auto')");
        }
        return Finish(b, isRoot);
    }

    private static string? ParseEnums(CommandLineSyntax s, ParseResult r, OptionsBuilder b)
    {
        if (r.GetValue(s.Cache) is { } cache)
        {
            CacheMode? mode = cache switch
            {
                "auto" => CacheMode.Auto,
                "always" => CacheMode.Always,
                "metadata" => CacheMode.Metadata,
                "never" => CacheMode.Never,
                _ => null,
            };
            if (mode is null)
            {
                return $"invalid value '{cache}' for --cache (expected auto, always, metadata or never)";
            }
            b.Cache = mode.Value;
        }
        if (r.GetValue(s.Sandbox) is { } sandbox)
        {
            SandboxMode? mode = sandbox.ToLowerInvariant() switch
            {
                "namespace" => SandboxMode.Namespace,
                "chroot" => SandboxMode.Chroot,
                "none" => SandboxMode.None,
                _ => null,
            };
            if (mode is null)
            {
                return $"invalid value '{sandbox}' for --sandbox (expected namespace, chroot or none)";
            }
            b.Sandbox = mode.Value;
        }
        if (r.GetValue(s.Seccomp) is { } seccomp)
        {
            switch (seccomp)
            {
                case "none":
                    b.Seccomp = SeccompMode.None;
                    break;
                case "log":
                    b.Seccomp = SeccompMode.Log;
                    break;
                case "kill":
                    b.Seccomp = SeccompMode.Kill;
                    break;
                case "trap":
                    b.Seccomp = SeccompMode.Trap;
                    break;
                default:
                    return $"invalid value '{seccomp}' for --seccomp (expected none, kill, log or trap)";
            }
        }
        if (r.GetValue(s.LogLevel) is { } level)
        {
            LogLevel? parsed = CliValues.ParseLogLevel(level);
            if (parsed is null)
            {
                return $"invalid value '{level}' for --log-level (expected error, warn, info, debug, trace or off)";
            }
            b.LogLevel = parsed.Value;
        }
        if (r.GetValue(s.IoEngine) is { } engine)
        {
            IoEngine? parsed = engine switch
            {
                "sync" => Cli.IoEngine.Sync,
                "io-uring" or "io_uring" => Cli.IoEngine.IoUring,
                _ => null,
            };
            if (parsed is null)
            {
                return $"invalid value '{engine}' for --io-engine (expected sync or io-uring)";
            }
            b.IoEngine = parsed.Value;
        }
        if (r.GetValue(s.QueuePollUs) is { } poll)
        {
            if (!uint.TryParse(poll, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint us) || us > 1000)
            {
                return $"invalid value '{poll}' for --queue-poll-us (expected 0 to 1000)";
            }
            b.QueuePollMicroseconds = us;
        }
        if (r.GetValue(s.InodeFileHandles) is { } handles)
        {
            b.InodeFileHandles = handles switch
            {
                "never" => InodeFileHandleMode.Never,
                // "fallback" is the Rust daemon's older spelling of prefer.
                "prefer" or "fallback" => InodeFileHandleMode.Prefer,
                "mandatory" => InodeFileHandleMode.Mandatory,
                _ => null,
            };
            if (b.InodeFileHandles is null)
            {
                return $"invalid value '{handles}' for --inode-file-handles (expected never, prefer or mandatory)";
            }
        }
        if (r.GetValue(s.InodeFdCacheSize) is { } cacheSize)
        {
            if (!int.TryParse(cacheSize, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) || n > 1_000_000)
            {
                return $"invalid value '{cacheSize}' for --inode-fd-cache-size (expected 0 to 1000000)";
            }
            b.InodeFdCacheSize = n;
        }
        if (r.GetValue(s.XattrMap) is { } xattrMap)
        {
            string? error = b.SetXattrMap(xattrMap, "--xattrmap");
            if (error is not null)
            {
                return error;
            }
        }
        foreach ((Option<string[]> option, List<IdRule> rules) in new[] { (s.TranslateUid, b.TranslateUid), (s.TranslateGid, b.TranslateGid) })
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
        foreach ((Option<string[]> option, List<IdMapRange> ranges) in new[] { (s.UidMap, b.UidMap), (s.GidMap, b.GidMap) })
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
        return null;
    }

    private static CliResult Finish(OptionsBuilder b, bool isRoot)
    {
        if (b.SharedDir is null)
        {
            return CliResult.Failed("missing --shared-dir (or -o source=DIR)");
        }
        if (b.SharedDir.Length == 0)
        {
            return CliResult.Failed("--shared-dir must not be empty");
        }
        if (b.SocketPath is null == b.ListenFd is null)
        {
            return CliResult.Failed(b.SocketPath is null
                ? "missing --socket-path PATH or --fd N"
                : "--socket-path and --fd are mutually exclusive");
        }
        if (b.SocketPath is { Length: 0 })
        {
            return CliResult.Failed("--socket-path must not be empty");
        }
        if (b.ListenFd is < 0)
        {
            return CliResult.Failed($"--fd {b.ListenFd} is not a file descriptor");
        }
        if (b.SocketGroup is not null && b.ListenFd is not null)
        {
            return CliResult.Failed("--socket-group needs --socket-path (with --fd the parent owns the socket)");
        }
        if (b.PosixAcl && (b.TranslateUid.Count > 0 || b.TranslateGid.Count > 0))
        {
            // As the Rust daemon: ACL entries name host ids the translation would not touch.
            return CliResult.Failed("--translate-uid and --translate-gid cannot be used with --posix-acl");
        }
        if (b.ThreadPoolSize < 0)
        {
            return CliResult.Failed("--thread-pool-size must not be negative");
        }
        // As the Rust virtiofsd: namespace by default for everyone (without root inside a user namespace, see
        // Sandbox/UserNamespace); chroot needs root; the id maps describe that user namespace and nothing else.
        SandboxMode sandbox = b.Sandbox ?? SandboxMode.Namespace;
        if (sandbox == SandboxMode.Chroot && !isRoot)
        {
            return CliResult.Failed("--sandbox chroot can only be used by root (use --sandbox namespace or none)");
        }
        foreach ((string name, List<IdMapRange> ranges) in new[] { ("--uid-map", b.UidMap), ("--gid-map", b.GidMap) })
        {
            if (ranges.Count > 0 && (isRoot || sandbox != SandboxMode.Namespace))
            {
                return CliResult.Failed($"{name} can only be used by an unprivileged user with --sandbox namespace (it maps the ids of that sandbox's user namespace)");
            }
        }
        return new CliResult(CliAction.Run, b.Build(b.SharedDir, sandbox), null, b.Warnings);
    }

    private static bool Given(ParseResult r, Option o) => r.GetResult(o) is { Implicit: false };

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
