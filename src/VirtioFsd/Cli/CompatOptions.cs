namespace VirtioFsd.Cli;

/// <summary>
/// The legacy <c>-o opt[,opt...]</c> form of the C virtiofsd (QEMU &lt;= 7.2), which the Rust one still
/// accepts: <c>source=DIR</c>, <c>cache=auto|always|none|metadata</c>, <c>xattr</c>/<c>no_xattr</c>, ...
/// An item this daemon cannot honour is an error, never silently dropped.
/// </summary>
internal static class CompatOptions
{
    /// <summary>Applies one <c>-o</c> value (comma-separated items) to <paramref name="b"/>; returns an error or null.</summary>
    public static string? Apply(string value, OptionsBuilder b)
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

    private static string? ApplyFlag(string name, OptionsBuilder b)
    {
        switch (name)
        {
            case "xattr": b.Xattr = true; break;
            case "no_xattr": b.Xattr = false; break;
            case "readdirplus": b.NoReadDirPlus = false; break;
            case "no_readdirplus": b.NoReadDirPlus = true; break;
            case "writeback": b.Writeback = true; break;
            case "no_writeback": b.Writeback = false; break;
            case "allow_direct_io": b.AllowDirectIo = true; break;
            case "no_allow_direct_io": b.AllowDirectIo = false; break;
            case "announce_submounts": b.AnnounceSubmounts = true; break;
            case "killpriv_v2": b.KillPrivV2 = true; break;
            case "no_killpriv_v2": b.KillPrivV2 = false; break;
            case "posix_acl": b.PosixAcl = true; break;
            case "no_posix_acl": b.PosixAcl = false; break;
            case "security_label": b.SecurityLabel = true; break;
            case "no_security_label": b.SecurityLabel = false; break;
            case "debug": b.LogLevel = LogLevel.Debug; break;

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

    private static string? ApplyPair(string name, string value, OptionsBuilder b)
    {
        switch (name)
        {
            case "source":
                if (value.Length == 0)
                {
                    return "'-o source=' needs a directory";
                }
                if (b.SharedDir is not null && b.SharedDir != value)
                {
                    return $"conflicting shared directories: {b.SharedDirSource} and '-o source={value}'";
                }
                b.SharedDir = value;
                b.SharedDirSource = $"'-o source={value}'";
                return null;
            case "cache":
                CacheMode? cache = value switch
                {
                    "auto" => CacheMode.Auto,
                    "always" => CacheMode.Always,
                    "none" or "never" => CacheMode.Never,
                    "metadata" => CacheMode.Metadata,
                    _ => null,
                };
                if (cache is null)
                {
                    return $"invalid value '{value}' for '-o cache' (expected auto, always, none or metadata)";
                }
                b.Cache = cache.Value;
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
                b.LogLevel = level.Value;
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
                b.Sandbox = mode.Value;
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
