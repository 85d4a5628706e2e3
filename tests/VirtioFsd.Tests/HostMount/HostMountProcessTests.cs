using VirtioFsd.Linux;
using VirtioFsd.Tests.Process;

namespace VirtioFsd.Tests.HostMount;

/// <summary>
/// <c>virtiofsd mount</c> as a real process: it mounts, serves, and ends cleanly on SIGTERM (unmounting,
/// even with a file of the mount held open) and when the mount is unmounted from outside.
/// </summary>
[Collection(HostMountCollection.Name)]
public sealed class HostMountProcessTests
{
    [SkippableTheory]
    [InlineData("dev", false)]
    [InlineData("uring", false)]
    [InlineData("dev", true)]
    [InlineData("uring", true)]
    public void Sigterm_unmounts_and_exits_0(string transport, bool busy)
    {
        using var dirs = new Dirs();
        using DaemonProcess d = dirs.Start(transport);
        Assert.Equal("shared", File.ReadAllText(Path.Combine(dirs.MountPoint, "file.txt")));
        FileStream? held = busy ? new FileStream(Path.Combine(dirs.MountPoint, "file.txt"), FileMode.Open, FileAccess.Read) : null;
        try
        {
            d.Signal(15);
            Assert.Equal(0, d.WaitForExit());
            Assert.Contains("Stopped by SIGTERM", d.Stderr, StringComparison.Ordinal);
            Assert.False(Dirs.IsMounted(dirs.MountPoint), d.Stderr);
            if (held is not null)
            {
                // The detached, still-busy mount was aborted: its open files fail instead of hanging.
                Assert.Contains("aborting FUSE connection", d.Stderr, StringComparison.Ordinal);
                Assert.ThrowsAny<IOException>(() => held.ReadByte());
            }
        }
        finally
        {
            held?.Dispose();
        }
    }

    [SkippableTheory]
    [InlineData("dev")]
    [InlineData("uring")]
    public void Unmount_from_outside_ends_the_daemon(string transport)
    {
        using var dirs = new Dirs();
        using DaemonProcess d = dirs.Start(transport);
        Assert.Equal("shared", File.ReadAllText(Path.Combine(dirs.MountPoint, "file.txt")));
        Assert.Equal(0, Libc.Umount2(dirs.MountPoint, 0));
        Assert.Equal(0, d.WaitForExit());
        Assert.Contains("was unmounted; shutting down", d.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--transport", "tcp")]
    [InlineData("--threads", "0")]
    public void Bad_mount_options_exit_2(string option, string value)
    {
        (int code, _, string stderr) = DaemonProcess.RunToExit("mount", "--shared-dir", "/tmp", "--mountpoint", "/tmp", option, value);
        Assert.Equal(2, code);
        Assert.Contains("virtiofsd mount: error:", stderr, StringComparison.Ordinal);
    }

    /// <summary>A share holding file.txt and an empty mount point; Dispose lazily unmounts whatever is left.</summary>
    private sealed class Dirs : IDisposable
    {
        private readonly TempDirectory share = new("virtiofsd-hostmount-process-share-");

        public Dirs()
        {
            // Removed with rmdir only, never recursively: were it still mounted, that would empty the share through it.
            MountPoint = Directory.CreateTempSubdirectory("virtiofsd-hostmount-process-mnt-").FullName;
            File.WriteAllText(Path.Combine(Share, "file.txt"), "shared");
        }

        public string Share => share.Path;

        public string MountPoint { get; }

        public DaemonProcess Start(string transport)
        {
            if (transport == "uring")
            {
                UringSwitch.EnableOrSkip();
            }
            DaemonProcess d = DaemonProcess.Start(
                ["mount", "--shared-dir", Share, "--mountpoint", MountPoint, "--transport", transport], selfCheck: false);
            d.WaitForLog("Mounted ");
            if (transport == "uring")
            {
                // The kernel offers io_uring here (EnableOrSkip): a daemon that fell back to /dev/fuse fails the test.
                d.WaitForLog("FUSE-over-io_uring: registering");
                Assert.DoesNotContain("falling back to /dev/fuse", d.Stderr, StringComparison.Ordinal);
                Assert.DoesNotContain("serving through /dev/fuse", d.Stderr, StringComparison.Ordinal);
            }
            return d;
        }

        public static bool IsMounted(string path) =>
            File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ') is { Length: > 4 } f && f[4] == path);

        public void Dispose()
        {
            if (IsMounted(MountPoint))
            {
                Libc.Umount2(MountPoint, Libc.MNT_DETACH);
            }
            Directory.Delete(MountPoint);
            share.Dispose();
        }
    }
}
