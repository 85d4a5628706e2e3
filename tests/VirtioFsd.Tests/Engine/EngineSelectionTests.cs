using Serilog;
using Serilog.Events;
using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Tests.Engine;

/// <summary>Which engine the device runs, and the fallback when io_uring cannot be used.</summary>
public class EngineSelectionTests
{
    [Fact]
    public void Io_uring_unavailable_falls_back_to_the_synchronous_engine_with_a_warning_saying_why()
    {
        var sink = new LogCollector();
        ILogger log = sink.Logger;
        using var dir = new TempDirectory("virtiofsd-engine-selection-");
        using var fs = new PassthroughFileSystem(new PassthroughOptions { SharedDirectory = dir.Path }, log);
        var server = new FuseServer(fs, new FuseServerOptions(), log);

        var device = new VirtioFsDevice(server, new DeviceOptions { IoEngine = IoEngineKind.IoUring }, log,
            () => new IoUringAvailability(false, "disabled by the administrator (/proc/sys/kernel/io_uring_disabled = 2)", 0));

        Assert.Equal(IoEngineKind.Sync, device.Engine);
        Assert.Contains(sink.Events, e => e.Level == LogEventLevel.Warning
            && e.RenderMessage().Contains("io_uring unavailable: disabled by the administrator", StringComparison.Ordinal));
    }

    [Fact]
    public void Sync_is_used_as_asked_without_probing_io_uring()
    {
        using var dir = new TempDirectory("virtiofsd-engine-selection-");
        ILogger log = new LoggerConfiguration().CreateLogger();
        using var fs = new PassthroughFileSystem(new PassthroughOptions { SharedDirectory = dir.Path }, log);
        var server = new FuseServer(fs, new FuseServerOptions(), log);
        bool probed = false;

        var device = new VirtioFsDevice(server, new DeviceOptions { IoEngine = IoEngineKind.Sync }, log, () =>
        {
            probed = true;
            return new IoUringAvailability(true, "", 0);
        });

        Assert.Equal(IoEngineKind.Sync, device.Engine);
        Assert.False(probed);
    }

    [Fact]
    public void The_daemon_defaults_to_io_uring()
        => Assert.Equal(IoEngineKind.IoUring, new DeviceOptions().IoEngine);
}
