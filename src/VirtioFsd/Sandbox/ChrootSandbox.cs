using Serilog;
using VirtioFsd.Linux;

namespace VirtioFsd.Sandbox;

/// <summary>
/// <c>--sandbox chroot</c>, inside the re-executed child: chroot(2) into the shared directory. The root of
/// a process lives in its fs_struct, which all threads created with CLONE_FS (every pthread, so every
/// .NET thread) share, so one chroot call moves the whole process.
/// Weaker than <see cref="NamespaceSandbox"/>: the host's mounts, processes and network stay visible
/// through descriptors and to a process that escapes a chroot (root can: chroot again, fchdir to an open
/// directory fd); it only removes host paths from path lookup.
/// </summary>
internal static class ChrootSandbox
{
    public static int Enter(string sharedDir, ILogger log, out string step)
    {
        ArgumentNullException.ThrowIfNull(sharedDir);
        ArgumentNullException.ThrowIfNull(log);
        step = "open /proc/self/fd";
        int procSelfFd = Libc.OpenAbsolute("/proc/self/fd", Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (procSelfFd < 0)
        {
            return procSelfFd;
        }
        int loaded = RuntimePreload.LoadReferenceClosure(log);
        log.Debug("Sandbox: preloaded {Count} assemblies", loaded);
        step = "chroot";
        int r = Libc.Chroot(sharedDir);
        if (r >= 0)
        {
            step = "chdir /";
            r = Libc.Chdir("/");
        }
        if (r < 0)
        {
            Libc.Close(procSelfFd);
            return r;
        }
        RuntimePreload.ReportLateLoads(log);
        return procSelfFd;
    }
}
