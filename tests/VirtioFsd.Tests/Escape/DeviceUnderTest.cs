using VirtioFsd.Device;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Engine;
using VirtioFsd.Tests.Process;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Tests.Escape;

/// <summary>Where the device under test runs.</summary>
public enum DeviceKind
{
    /// <summary>The daemon's device in this process (passthrough, FUSE server, VirtioFsDevice) over a socketpair.</summary>
    InProcess,

    /// <summary>The virtiofsd executable with <c>--sandbox none</c>, the weakest mode.</summary>
    SandboxNone,

    /// <summary>The virtiofsd executable with its default sandbox as root (<c>--sandbox namespace</c>).</summary>
    SandboxNamespace,
}

/// <summary>
/// A virtio-fs device (in-process or a real daemon process) serving a share, with a
/// <see cref="FuseDeviceClient"/> connected and past INIT.
/// </summary>
internal sealed class DeviceUnderTest : IDisposable
{
    /// <summary>What a Linux 6.12 guest offers in INIT.</summary>
    public const FuseInitFlags GuestFlags = FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks | FuseInitFlags.AtomicOTrunc
        | FuseInitFlags.ExportSupport | FuseInitFlags.BigWrites | FuseInitFlags.DontMask | FuseInitFlags.FlockLocks
        | FuseInitFlags.HasIoctlDir | FuseInitFlags.AutoInvalData | FuseInitFlags.DoReadDirPlus | FuseInitFlags.ReadDirPlusAuto
        | FuseInitFlags.AsyncDio | FuseInitFlags.ParallelDirOps | FuseInitFlags.HandleKillPriv | FuseInitFlags.AbortError
        | FuseInitFlags.MaxPages | FuseInitFlags.CacheSymlinks | FuseInitFlags.ExplicitInvalData | FuseInitFlags.Submounts
        | FuseInitFlags.SetXattrExt | FuseInitFlags.InitExt | FuseInitFlags.SecurityCtx | FuseInitFlags.CreateSuppGroup;

    private readonly GuestRam _ram;
    private readonly DaemonProcess? _daemon;
    private readonly InProcessDevice? _inProcess;
    private readonly TempDirectory? _socketDir;
    private readonly bool _ownsDaemon = true;

    private DeviceUnderTest(DeviceKind kind, string share, bool readOnly, bool xattr, IReadOnlyList<string>? extraArgs, UnprivilegedUser? user)
    {
        Kind = kind;
        _ram = GuestRam.Single(128UL << 20);
        VhostUserFrontend.VhostUserFrontend frontend;
        if (kind == DeviceKind.InProcess)
        {
            _inProcess = new InProcessDevice(
                new PassthroughOptions { SharedDirectory = share, Xattr = xattr, DeviceNodes = DeviceNodePolicy.AllowForRoot },
                new FuseServerOptions { Xattr = xattr, PosixLocks = true, FlockLocks = true, ReadOnly = readOnly },
                (server, log) => new VirtioFsDevice(server, new DeviceOptions { IoEngine = IoEngineKind.Sync }, log));
            frontend = new VhostUserFrontend.VhostUserFrontend(new FrontendSocket(_inProcess.FrontendFd), _ram);
        }
        else
        {
            _socketDir = new TempDirectory("virtiofsd-device-socket-");
            if (user is not null)
            {
                Assert.Equal(0, Libc.Chown(_socketDir.Path, user.Uid, user.Gid));
            }
            string socket = _socketDir.Combine("vfs.sock");
            List<string> args = ["--shared-dir", share, "--socket-path", socket, "--sandbox", kind == DeviceKind.SandboxNone ? "none" : "namespace"];
            if (readOnly)
            {
                args.Add("--readonly");
            }
            if (xattr)
            {
                args.Add("--xattr");
            }
            args.AddRange(extraArgs ?? []);
            _daemon = user is null ? DaemonProcess.Start(args, selfCheck: false) : user.Start(args);
            _daemon.WaitForLog("Waiting for vhost-user socket connection");
            frontend = VhostUserFrontend.VhostUserFrontend.Connect(socket, _ram);
        }
        Client = new FuseDeviceClient(frontend, _ram);
    }

    /// <summary>A daemon started by the test itself, with its own command line, listening on <paramref name="socket"/>.</summary>
    private DeviceUnderTest(DaemonProcess daemon, string socket)
    {
        Kind = DeviceKind.SandboxNone;
        _ram = GuestRam.Single(128UL << 20);
        _daemon = daemon;
        _ownsDaemon = false;
        Client = new FuseDeviceClient(VhostUserFrontend.VhostUserFrontend.Connect(socket, _ram), _ram);
    }

    public DeviceKind Kind { get; }

    public FuseDeviceClient Client { get; }

    /// <summary>Starts the device and, unless <paramref name="init"/> is false, sends INIT.</summary>
    /// <param name="extraArgs">More daemon options (a process device only).</param>
    /// <param name="user">Run the daemon process as this user instead of root.</param>
    public static DeviceUnderTest Start(DeviceKind kind, string share, bool readOnly = false, bool xattr = true, bool init = true,
        IReadOnlyList<string>? extraArgs = null, UnprivilegedUser? user = null)
    {
        Assert.True((extraArgs is null && user is null) || kind != DeviceKind.InProcess, "daemon options need a daemon process");
        var d = new DeviceUnderTest(kind, share, readOnly, xattr, extraArgs, user);
        if (init)
        {
            Assert.Equal(0, d.Client.Init(GuestFlags).Error);
        }
        return d;
    }

    /// <summary>Connects to a daemon the test started with a launch line of its own (and still owns), and sends INIT.</summary>
    public static DeviceUnderTest Attach(DaemonProcess daemon, string socket)
    {
        var d = new DeviceUnderTest(daemon, socket);
        Assert.Equal(0, d.Client.Init(GuestFlags).Error);
        return d;
    }

    /// <summary>The daemon process is still running (an in-process device always is).</summary>
    public bool IsAlive => _daemon is null || !_daemon.HasExited;

    /// <summary>The daemon process (the launch stage when sandboxed); null for an in-process device.</summary>
    public DaemonProcess? Daemon => _daemon;

    public void Dispose()
    {
        Client.Dispose();
        _inProcess?.Dispose();
        if (_daemon is not null)
        {
            // The daemon ends when its one frontend leaves; a crash shows as a non-zero exit.
            Assert.Equal(0, _daemon.WaitForExit());
            if (_ownsDaemon)
            {
                _daemon.Dispose();
            }
        }
        _ram.Dispose();
        _socketDir?.Dispose();
    }
}
