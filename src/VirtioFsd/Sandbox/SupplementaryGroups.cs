using Serilog;
using VirtioFsd.Linux;

namespace VirtioFsd.Sandbox;

/// <summary>
/// A daemon that can act as any uid must not also carry the groups of whoever started it (root's, or a
/// user's in a user namespace whose root it became): a guest request served under the daemon's own identity
/// would use them. As the Rust virtiofsd, every thread drops all supplementary groups then, unless
/// setgroups(2) is denied here (a user namespace with a single-id map, where no identity can be switched to).
/// </summary>
internal static class SupplementaryGroups
{
    /// <summary>False (logged) when groups had to go and could not.</summary>
    public static bool DropWhenRoot(ILogger log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (Libc.GetEuid() != 0 || SetgroupsDenied())
        {
            return true;
        }
        int count = Libc.GetGroupsThread(default);
        if (count == 0)
        {
            return true;
        }
        int r = Libc.ClearGroupsAllThreads();
        if (r < 0)
        {
            log.Error("Cannot drop the supplementary groups: {Error:l}", Errno.Describe(r));
            return false;
        }
        log.Debug("Dropped {Count} supplementary groups", count);
        return true;
    }

    private static bool SetgroupsDenied()
    {
        // Absent without user namespaces in the kernel: then setgroups is allowed to a root process.
        Span<byte> text = stackalloc byte[16];
        int n = Libc.ReadSmallFile("/proc/self/setgroups", text);
        return n > 0 && text[..n].TrimEnd((byte)'\n').SequenceEqual("deny"u8);
    }
}
