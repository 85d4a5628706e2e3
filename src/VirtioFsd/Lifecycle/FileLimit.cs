using System.Globalization;
using VirtioFsd.Linux;

namespace VirtioFsd.Lifecycle;

/// <summary>
/// RLIMIT_NOFILE as the Rust virtiofsd sets it: every inode the guest looks up holds an O_PATH fd, so
/// the soft and hard limit are raised to --rlimit-nofile, or by default to min(1,000,000, fs.nr_open)
/// falling back to the current hard limit when raising it is not permitted; 0 leaves it unchanged.
/// </summary>
internal static class FileLimit
{
    /// <summary>Rust virtiofsd's DEFAULT_NOFILE.</summary>
    public const ulong DefaultTarget = 1_000_000;

    /// <summary>Applies the policy; returns the limit in force, or an error message.</summary>
    public static (ulong Limit, string? Error) Raise(ulong? requested, Serilog.ILogger log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (Libc.GetRlimit(Libc.RLIMIT_NOFILE, out Libc.RLimit current) is int e and < 0)
        {
            return (0, $"getrlimit: {Errno.Describe(e)}");
        }
        if (requested == 0)
        {
            return (current.Current, null);
        }
        ulong nrOpen = ReadNrOpen() ?? current.Maximum;
        ulong target;
        if (requested is { } wanted)
        {
            target = wanted;
        }
        else
        {
            if (current.Current >= DefaultTarget)
            {
                return (current.Current, null);
            }
            target = Math.Min(DefaultTarget, nrOpen);
        }
        if (target > nrOpen)
        {
            return (0, $"--rlimit-nofile {target} is above fs.nr_open ({nrOpen})");
        }
        int r = Libc.SetRlimit(Libc.RLIMIT_NOFILE, new Libc.RLimit { Current = target, Maximum = target });
        if (r >= 0)
        {
            return (target, null);
        }
        if (requested is not null)
        {
            return (0, $"cannot set the open file limit to {target}: {Errno.Describe(r)}");
        }
        log.Warning("Cannot raise the open file limit to {Target} ({Error:l}); using the hard limit {Hard}", target, Errno.Describe(r), current.Maximum);
        r = Libc.SetRlimit(Libc.RLIMIT_NOFILE, new Libc.RLimit { Current = current.Maximum, Maximum = current.Maximum });
        return r < 0 ? (0, $"cannot raise the open file limit to the hard limit: {Errno.Describe(r)}") : (current.Maximum, null);
    }

    private static ulong? ReadNrOpen()
    {
        Span<byte> text = stackalloc byte[32];
        int n = Libc.ReadSmallFile("/proc/sys/fs/nr_open", text);
        return n > 0 && ulong.TryParse(text[..n].TrimEnd((byte)'\n'), NumberStyles.None, CultureInfo.InvariantCulture, out ulong value)
            ? value
            : null;
    }
}
