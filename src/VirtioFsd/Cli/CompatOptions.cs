using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Cli;

/// <summary>
/// The legacy <c>-o opt[,opt...]</c> form of the C virtiofsd (QEMU &lt;= 7.2), which the Rust one still
/// accepts: <c>source=DIR</c>, <c>cache=auto|always|none|metadata</c>, <c>xattr</c>/<c>no_xattr</c>, ...
/// An item this daemon cannot honour is an error, never silently dropped.
/// </summary>
internal static class CompatOptions
{
    /// <summary>Applies one <c>-o</c> value (comma-separated items) over the long options; returns an error or null.</summary>
    public static string? Apply(string value, VirtiofsdCommandLine.Parsed b)
    {
        foreach (string item in value.Split(','))
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            string? error = eq < 0 ? ApplyFlag(item, b) : ApplyPair(item[..eq], item[(eq + 1)..], b);
            if (error is not null)
            {
                return error;
            }
        }
        return null;
    }

    private static string? ApplyFlag(string name, VirtiofsdCommandLine.Parsed b)
    {
        switch (name)
        {
            case "xattr": b.Fuse = b.Fuse with { Xattr = true }; break;
            case "no_xattr": b.Fuse = b.Fuse with { Xattr = false }; break;
            case "readdirplus": b.Fuse = b.Fuse with { ReadDirPlus = true }; break;
            case "no_readdirplus": b.Fuse = b.Fuse with { ReadDirPlus = false }; break;
            case "writeback": b.Fuse = b.Fuse with { Writeback = true }; break;
            case "no_writeback": b.Fuse = b.Fuse with { Writeback = false }; break;
            case "allow_direct_io": b.Fuse = b.Fuse with { AllowDirectIo = true }; break;
            case "no_allow_direct_io": b.Fuse = b.Fuse with { AllowDirectIo = false }; break;
            case "announce_submounts": b.Fuse = b.Fuse with { AnnounceSubmounts = true }; break;
            case "killpriv_v2": b.Fuse = b.Fuse with { KillPrivV2 = true }; break;
            case "no_killpriv_v2": b.Fuse = b.Fuse with { KillPrivV2 = false }; break;
            case "posix_acl": b.Fuse = b.Fuse with { PosixAcl = true }; break;
            case "no_posix_acl": b.Fuse = b.Fuse with { PosixAcl = false }; break;
            case "security_label": b.Fuse = b.Fuse with { SecurityLabel = true }; break;
            case "no_security_label": b.Fuse = b.Fuse with { SecurityLabel = false }; break;
            case "debug": b.Options = b.Options with { LogLevel = LogLevel.Debug }; break;

            // Locking through the legacy switches is what the guest gets anyway (the C daemon's defaults);
            // turning remote locks *on* by -o is not offered by the Rust daemon either.
            case "no_posix_lock":
            case "no_flock":
            case "allow_root":
                break;
            case "":
                return "empty item in -o";
            default:
                return $"unsupported legacy option '-o {name}'";
        }
        return null;
    }

    private static string? ApplyPair(string name, string value, VirtiofsdCommandLine.Parsed b)
    {
        switch (name)
        {
            case "source":
                if (value.Length == 0)
                {
                    return "'-o source=' needs a directory";
                }
                if (b.SharedDirSource is not null && b.FileSystem.SharedDirectory != value)
                {
                    return $"conflicting shared directories: {b.SharedDirSource} and '-o source={value}'";
                }
                b.FileSystem = b.FileSystem with { SharedDirectory = value };
                b.SharedDirSource = $"'-o source={value}'";
                return null;
            case "cache":
                if (CliValues.ParseCache(value) is not { } cache)
                {
                    return $"invalid value '{value}' for '-o cache' (expected auto, always, none or metadata)";
                }
                b.Fuse = b.Fuse with { Cache = cache };
                return null;
            case "log_level":
            case "loglevel":
                LogLevel? level = value switch
                {
                    "debug" => LogLevel.Debug,
                    "info" => LogLevel.Info,
                    "warn" => LogLevel.Warn,
                    "err" => LogLevel.Error,
                    _ => null,
                };
                if (level is null)
                {
                    return $"invalid value '{value}' for '-o {name}' (expected debug, info, warn or err)";
                }
                b.Options = b.Options with { LogLevel = level.Value };
                return null;
            case "sandbox":
                SandboxMode? mode = value switch
                {
                    "namespace" => SandboxMode.Namespace,
                    "chroot" => SandboxMode.Chroot,
                    _ => null,
                };
                if (mode is null)
                {
                    return $"invalid value '{value}' for '-o sandbox' (expected namespace or chroot)";
                }
                b.Options = b.Options with { Sandbox = mode.Value };
                return null;
            case "xattrmap":
                return b.SetXattrMap(value, "-o xattrmap");
            case "modcaps":
                return b.SetModCaps(value, "'-o modcaps'");
            default:
                return $"unsupported legacy option '-o {name}={value}'";
        }
    }
}
