using Serilog;
using Serilog.Core;
using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.FuseMount;

namespace VirtioFsd.Tests.HostMount;

/// <summary>
/// The passthrough filesystem of a temp share mounted in this test process on a temp mount point,
/// through /dev/fuse with the given transport (needs root). Dispose unmounts and removes both.
/// </summary>
internal sealed class HostMountSession : IDisposable
{
    private readonly PassthroughFileSystem fs;
    private readonly TempDirectory? ownShare;

    public HostMountSession(FuseTransportKind transport, string? share = null, bool enableUring = true)
    {
        if (transport == FuseTransportKind.Uring && enableUring)
        {
            UringSwitch.EnableOrSkip();
        }
        ownShare = share is null ? new TempDirectory("virtiofsd-hostmount-share-") : null;
        Share = share ?? ownShare!.Path;
        // Removed with rmdir only, never recursively: were it still mounted, that would empty the share through it.
        MountPoint = Directory.CreateTempSubdirectory("virtiofsd-hostmount-mnt-").FullName;
        Log = new LoggerConfiguration().WriteTo.Sink(Logged).CreateLogger();
        fs = new PassthroughFileSystem(new PassthroughOptions { SharedDirectory = Share, Xattr = true }, Log);
        Mount = FuseMount.HostMount.Start(fs, new FuseServerOptions { Xattr = true },
            new HostMountOptions { MountPoint = MountPoint, Source = Share, Transport = transport }, Log);
    }

    public string Share { get; }

    public string MountPoint { get; }

    public FuseMount.HostMount Mount { get; }

    public Logger Log { get; }

    /// <summary>What the mount logged.</summary>
    public LogCollector Logged { get; } = new();

    /// <summary>
    /// Asserts that the requests went through the transport asked for. A uring session exists only where the
    /// kernel offers FUSE-over-io_uring (the constructor skips the test elsewhere), so there a silent fallback
    /// to /dev/fuse is a failure.
    /// </summary>
    public void AssertTransport(FuseTransportKind transport)
    {
        if (transport == FuseTransportKind.Dev)
        {
            Assert.Equal(0, Mount.UringRequests);
            Assert.True(Mount.DevRequests > 1);
        }
        else
        {
            Assert.True(Mount.UringActive, string.Join('\n', Logged.Lines));
            Assert.True(Mount.UringRequests > 0);
        }
    }

    public void Dispose()
    {
        Mount.Dispose();
        fs.Dispose();
        Log.Dispose();
        Directory.Delete(MountPoint);
        ownShare?.Dispose();
    }
}

/// <summary>
/// FUSE-over-io_uring is off by default (fuse.enable_uring=N): the tests switch it on where the kernel has
/// it (Linux >= 6.14, as root); elsewhere the uring tests are skipped with the reason, never passed on /dev/fuse.
/// </summary>
internal static class UringSwitch
{
    private const string Parameter = "/sys/module/fuse/parameters/enable_uring";

    public static bool Available => File.Exists(Parameter) && File.ReadAllText(Parameter).Trim() == "Y";

    /// <summary>Switches FUSE-over-io_uring on, or skips the calling test (a [SkippableFact]/[SkippableTheory]) saying why it cannot.</summary>
    public static void EnableOrSkip()
    {
        Skip.IfNot(File.Exists(Parameter), $"this kernel ({Environment.OSVersion.Version}) has no FUSE-over-io_uring ({Parameter} is missing; it needs Linux >= 6.14)");
        TrySet(true);
        Skip.IfNot(Available, $"FUSE-over-io_uring is off ({Parameter} = N) and this process cannot switch it on (not root?)");
    }

    /// <summary>Sets the switch where the kernel has it; connections already using io_uring keep it.</summary>
    public static void TrySet(bool on)
    {
        if (File.Exists(Parameter) && Available != on)
        {
            try
            {
                File.WriteAllText(Parameter, on ? "Y" : "N");
            }
            catch (IOException)
            {
                // Not writable (no root, or a read-only sysfs): the fallback is tested instead.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
