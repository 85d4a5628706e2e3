using Serilog;
using VirtioFsd.Linux;
using VirtioFsd.Linux.Capabilities;

namespace VirtioFsd.Sandbox;

/// <summary>
/// <c>--sandbox namespace</c>, inside the re-executed child (which <c>unshare(1)</c> started in new mount,
/// pid, ipc, uts and net namespaces as pid 1). Makes the shared directory the root of the process with
/// pivot_root(2) and detaches the host's root, so no path names anything outside the share.
/// </summary>
/// <remarks>
/// Sequence (the one of the C and Rust virtiofsd, with a .NET step):
/// 1. every mount becomes a slave: nothing done here propagates to the host, host mounts under the share still appear;
/// 2. a fresh proc for the new pid namespace (it shows this process only), then <c>/proc/self/fd</c> bind-mounted
///    over <c>/proc</c> and opened O_PATH: the one proc directory the filesystem needs (reopening O_PATH inode fds),
///    whose ".." leads to no other process;
/// 3. every assembly the program can use is loaded (<see cref="RuntimePreload"/>): after step 5 the runtime's files are gone;
/// 4. the share is bind-mounted onto itself (pivot_root needs a mount point);
/// 5. pivot_root(".", ".") inside the share, then the old root (stacked underneath) is made a slave and lazily unmounted.
/// pivot_root moves the root and cwd of every thread of the process (they share one fs_struct), which the
/// .NET runtime's threads, created before this point, require.
/// </remarks>
internal static class NamespaceSandbox
{
    /// <summary>
    /// Enters the sandbox; returns the O_PATH fd of /proc/self/fd, or -errno with <paramref name="step"/> naming
    /// what failed. <paramref name="tasks"/> is this pid namespace's /proc/self/task when capabilities are to be
    /// dropped (thread ids must be the ones tgkill understands here), else null.
    /// </summary>
    public static int Enter(string sharedDir, ILogger log, out string step, out TaskDirectory? tasks)
    {
        ArgumentNullException.ThrowIfNull(sharedDir);
        ArgumentNullException.ThrowIfNull(log);
        tasks = null;
        step = "make mounts slaves";
        int r = Libc.Mount(null, "/", null, Libc.MS_SLAVE | Libc.MS_REC);
        if (r < 0)
        {
            return r;
        }
        step = "mount a fresh /proc";
        r = Libc.Mount("proc", "/proc", "proc", Libc.MS_NODEV | Libc.MS_NOEXEC | Libc.MS_NOSUID | Libc.MS_RELATIME);
        if (r < 0)
        {
            return r;
        }
        if (CapabilityDrop.Applies)
        {
            step = "open /proc/self/task";
            r = TaskDirectory.Open(out tasks);
            if (r < 0)
            {
                return r;
            }
        }
        int loaded = RuntimePreload.LoadReferenceClosure(log);
        log.Debug("Sandbox: preloaded {Count} assemblies", loaded);

        step = "bind /proc/self/fd over /proc";
        r = Libc.Mount("/proc/self/fd", "/proc", null, Libc.MS_BIND);
        if (r < 0)
        {
            return r;
        }
        step = "open /proc/self/fd";
        int procSelfFd = Libc.OpenAbsolute("/proc", Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (procSelfFd < 0)
        {
            return procSelfFd;
        }
        r = PivotInto(sharedDir, out step);
        if (r < 0)
        {
            Libc.Close(procSelfFd);
            return r;
        }
        RuntimePreload.ReportLateLoads(log);
        return procSelfFd;
    }

    private static int PivotInto(string sharedDir, out string step)
    {
        step = "bind-mount the shared directory";
        int r = Libc.Mount(sharedDir, sharedDir, null, Libc.MS_BIND | Libc.MS_REC);
        if (r < 0)
        {
            return r;
        }
        step = "open the old root";
        using var oldRoot = new UnixFd(Libc.OpenAbsolute("/", Libc.O_DIRECTORY | Libc.O_RDONLY | Libc.O_CLOEXEC));
        if (!oldRoot.IsValid)
        {
            return -Errno.EIO;
        }
        step = "open the shared directory";
        int fd = Libc.OpenAbsolute(sharedDir, Libc.O_DIRECTORY | Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            return fd;
        }
        using var newRoot = new UnixFd(fd);
        if (Path.GetFullPath(sharedDir) == "/")
        {
            // Sharing / itself: there is no other root to hide.
            return Libc.Fchdir(newRoot.Value);
        }
        step = "enter the shared directory";
        r = Libc.Fchdir(newRoot.Value);
        if (r < 0)
        {
            return r;
        }
        step = "pivot_root";
        r = Libc.PivotRoot(".", ".");
        if (r < 0)
        {
            return r;
        }
        step = "detach the old root";
        r = Libc.Fchdir(oldRoot.Value);
        if (r >= 0)
        {
            r = Libc.Mount(null, ".", null, Libc.MS_SLAVE | Libc.MS_REC);
        }
        if (r >= 0)
        {
            r = Libc.Umount2(".", Libc.MNT_DETACH);
        }
        if (r < 0)
        {
            return r;
        }
        step = "return to the new root";
        r = Libc.Fchdir(newRoot.Value);
        return r < 0 ? r : Libc.Chdir("/");
    }
}
