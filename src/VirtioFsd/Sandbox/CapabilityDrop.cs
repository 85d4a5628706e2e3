using Serilog;
using VirtioFsd.Cli;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;
using VirtioFsd.Linux.Capabilities;

namespace VirtioFsd.Sandbox;

/// <summary>
/// What a daemon started as root keeps of root's capabilities, as the Rust virtiofsd: the serving process keeps
/// what serving files for any uid needs (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETGID, SETUID, MKNOD, SETFCAP,
/// and DAC_READ_SEARCH unless --inode-file-handles=never), changed by --modcaps; the launcher of a sandboxed
/// child keeps nothing but DAC_OVERRIDE, to remove the socket and pid file where it made them. Bounding,
/// permitted and effective sets all become the kept set, on every thread; inheritable and ambient are emptied.
/// In the user namespace of an unprivileged namespace sandbox the daemon holds every capability of that namespace
/// (whatever its uid there): the same set is kept. Otherwise not root, an unprivileged user has nothing to drop.
/// </summary>
internal static class CapabilityDrop
{
    private static readonly int[] Serving =
    [
        CapabilityNames.Chown, CapabilityNames.DacOverride, CapabilityNames.Fowner, CapabilityNames.Fsetid,
        CapabilityNames.Setgid, CapabilityNames.Setuid, CapabilityNames.Mknod, CapabilityNames.Setfcap,
    ];

    /// <summary>The set the serving process keeps, or null with <paramref name="error"/> when --modcaps removes what another option needs.</summary>
    public static ulong? ServingSet(DaemonOptions options, out string? error)
    {
        ArgumentNullException.ThrowIfNull(options);
        ulong kept = 0;
        foreach (int c in Serving)
        {
            kept |= 1UL << c;
        }
        bool handles = options.FileSystem.InodeFileHandles != InodeFileHandleMode.Never;
        foreach (CapabilityChange change in options.ModCaps)
        {
            if (!change.Add && change.Capability == CapabilityNames.DacReadSearch && handles)
            {
                error = $"--modcaps cannot remove {CapabilityNames.Describe(change.Capability)}: --inode-file-handles={options.FileSystem.InodeFileHandles.ToString().ToLowerInvariant()} needs it (use --inode-file-handles=never)";
                return null;
            }
            kept = change.Add ? kept | (1UL << change.Capability) : kept & ~(1UL << change.Capability);
        }
        error = null;
        return handles ? kept | (1UL << CapabilityNames.DacReadSearch) : kept;
    }

    /// <summary>What the launcher of a sandboxed child keeps once the child runs.</summary>
    public static ulong LauncherSet => 1UL << CapabilityNames.DacOverride;

    /// <summary>True when this process runs as root, or in the sandbox's own user namespace, and so has capabilities to drop.</summary>
    public static bool Applies => Libc.GetEuid() == 0 || LaunchStage.InheritedFd(LaunchStage.UserNamespaceVariable) is not null;

    /// <summary>Opens /proc/self/task for <see cref="Apply"/>, before a sandbox hides /proc. Null when not root.</summary>
    public static TaskDirectory? OpenTasks(ILogger log, out bool failed)
    {
        ArgumentNullException.ThrowIfNull(log);
        failed = false;
        if (!Applies)
        {
            return null;
        }
        int r = TaskDirectory.Open(out TaskDirectory? tasks);
        if (r < 0)
        {
            log.Error("Cannot open /proc/self/task to drop capabilities: {Error:l}", Errno.Describe(r));
            failed = true;
        }
        return tasks;
    }

    /// <summary>Restricts every thread to <paramref name="kept"/>; false (and logged) when that fails, and the caller must exit.</summary>
    public static bool Apply(TaskDirectory tasks, ulong kept, string who, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(log);
        if (Libc.CapGetThread(out _, out ulong permitted, out _) < 0)
        {
            log.Error("capget failed; capabilities not dropped");
            return false;
        }
        if ((kept & ~permitted) != 0)
        {
            log.Error("Cannot keep {Missing:l}: this process does not have it (check --modcaps and the capabilities virtiofsd is started with)",
                CapabilityNames.Describe(kept & ~permitted));
            return false;
        }
        string? error = AllThreadsCapabilities.Restrict(tasks, kept);
        if (error is not null)
        {
            log.Error("Cannot drop capabilities: {Error:l}", error);
            return false;
        }
        log.Information("Capabilities of the {Who:l} on every thread: {Kept:l}", who, CapabilityNames.Describe(kept));
        return true;
    }
}
