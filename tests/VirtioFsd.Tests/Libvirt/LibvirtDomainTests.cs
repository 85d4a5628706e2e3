using System.Globalization;
using System.Runtime.InteropServices;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Process;
using VirtioFsd.Tests.Vm;
using Xunit.Abstractions;

namespace VirtioFsd.Tests.Libvirt;

/// <summary>
/// A real client: libvirt defines and starts a TCG domain whose virtiofs &lt;filesystem&gt; names our daemon as its
/// &lt;binary&gt;; the guest mounts the share and uses it (scripts/guest/libvirt_test.sh), powers off, and the host checks
/// what it did, which command line libvirt started our daemon with, and that our daemon's log shows the FUSE session.
/// System mode: Debian 12's libvirt 9.0 (libvirt-daemon-system, qemu:///system, QEMU 7.2) as root. Session mode:
/// Debian 13's libvirt 11 (qemu:///session, QEMU 10) as a normal user with subordinate ids, from the Debian 13 root
/// (scripts/trixie-user-run.sh), because libvirt 9.0 refuses virtiofs in session mode ("virtiofs is not yet
/// supported in session mode"; 10.0 added it, passing --uid-map/--gid-map). One class, so the two boots run one
/// after the other; in the unprivileged-user collection for its test user.
/// </summary>
[Collection(UnprivilegedUserCollection.Name)]
public class LibvirtDomainTests : IClassFixture<SystemLibvirtd>
{
    private readonly UnprivilegedUser _user;
    private readonly SystemLibvirtd _libvirtd;
    private readonly ITestOutputHelper _log;

    public LibvirtDomainTests(UnprivilegedUser user, SystemLibvirtd libvirtd, ITestOutputHelper log)
    {
        _user = user;
        _libvirtd = libvirtd;
        _log = log;
    }

    [SkippableFact]
    public void System_libvirt_as_root_starts_our_daemon_for_a_guest_that_uses_the_share()
    {
        _libvirtd.EnsureRunning();
        string binary = DaemonProcess.Executable;
        SkipUnlessItRunsWithoutEnvironment(binary);
        using var guest = new LibvirtGuest("system");
        string xml = guest.WriteDomainXml(binary);
        string domainLog = Path.Combine(SystemLibvirtd.LogDirectory, guest.Name + ".log");
        string daemonLog = Path.Combine(SystemLibvirtd.LogDirectory, guest.Name + "-fs0-virtiofsd.log");
        try
        {
            (int code, string output) = Command.Run("sh", guest.CreateAndWaitScript(SystemLibvirtd.Uri, xml), LibvirtGuest.HangGuard);
            string commandLine = Report(guest, output, domainLog, daemonLog);
            Assert.True(code == 0, $"virsh: {output}");
            // libvirt 9.0 knows only the legacy -o form (it does not read --print-capabilities' separate-options).
            Assert.StartsWith($"{binary} --fd=", commandLine, StringComparison.Ordinal);
            Assert.Contains($"-o source={guest.Share},cache=always,sandbox=namespace,xattr", commandLine, StringComparison.Ordinal);
            Assert.Contains("FUSE session up", File.ReadAllText(daemonLog), StringComparison.Ordinal);
            guest.CheckHost(guestRoot: (0, 0), guest1000: (1000, 1000));
        }
        finally
        {
            // Gone already when the guest powered off; this is for a run that failed or hung.
            Command.Run("virsh", ["-q", "-c", SystemLibvirtd.Uri, "destroy", guest.Name], DaemonProcess.HangGuard);
            File.Delete(domainLog);
            File.Delete(daemonLog);
        }
    }

    [SkippableFact]
    public void Session_libvirt_as_a_normal_user_starts_our_daemon_with_the_users_id_maps()
    {
        Skip.IfNot(Libc.GetEuid() == 0, "the session test makes a test user and enters the Debian 13 root, which needs root");
        string trixie = VmRun.Script(".cache/trixie");
        Skip.IfNot(File.Exists(Path.Combine(trixie, "usr/sbin/libvirtd")) && File.Exists(Path.Combine(trixie, "usr/bin/virsh")),
            "no Debian 13 root with libvirt (scripts/setup.sh makes it as root; see .cache/trixie.log); Debian 12's libvirt 9.0 " +
            "refuses virtiofs in session mode");
        string binary = _user.Executable;
        SkipUnlessItRunsWithoutEnvironment(binary);
        using var guest = new LibvirtGuest("session");
        string home = Path.Combine(guest.Work, "home");
        Directory.CreateDirectory(home);
        string xml = guest.WriteDomainXml(binary);
        guest.GiveTo(_user.Uid, _user.Gid);
        string logs = Path.Combine(home, ".cache", "libvirt", "qemu", "log");
        string domainLog = Path.Combine(logs, guest.Name + ".log");
        string daemonLog = Path.Combine(logs, guest.Name + "-fs0-virtiofsd.log");

        // The apphost finds the .NET runtime at its default place, which must then exist inside the root too.
        var binds = new List<string> { DotnetRoot() };
        if (Directory.Exists("/etc/dotnet"))
        {
            binds.Add("/etc/dotnet");
        }
        (int code, string output) = Command.Run(VmRun.Script("scripts/trixie-user-run.sh"),
            [UnprivilegedUser.Name, home, "sh", .. guest.CreateAndWaitScript("qemu:///session", xml)], LibvirtGuest.HangGuard,
            new Dictionary<string, string> { ["TRIXIE_BIND"] = string.Join(':', binds) });
        string commandLine = Report(guest, output, domainLog, daemonLog);
        Assert.True(code == 0, $"virsh: {output}");
        // libvirt >= 10 reads separate-options from --print-capabilities, and maps the user's id to the guest's root
        // and the first subordinate range (/etc/subuid, /etc/subgid) to the guest's ids from 1 on.
        Assert.StartsWith($"{binary} --fd=", commandLine, StringComparison.Ordinal);
        Assert.Contains($"--shared-dir {guest.Share} --cache always --sandbox namespace --xattr", commandLine, StringComparison.Ordinal);
        string range = string.Create(CultureInfo.InvariantCulture, $":1:{UnprivilegedUser.SubordinateBase}:{UnprivilegedUser.SubordinateCount}:");
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"--uid-map=:0:{_user.Uid}:1: --uid-map={range}"), commandLine, StringComparison.Ordinal);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"--gid-map=:0:{_user.Gid}:1: --gid-map={range}"), commandLine, StringComparison.Ordinal);
        Assert.Contains("FUSE session up", File.ReadAllText(daemonLog), StringComparison.Ordinal);
        // Guest uid 1000 is the 1000th id of the subordinate range, which starts at guest id 1.
        uint mapped1000 = UnprivilegedUser.SubordinateBase + 999;
        guest.CheckHost(guestRoot: (_user.Uid, _user.Gid), guest1000: (mapped1000, mapped1000));
    }

    /// <summary>
    /// libvirt starts the daemon with a clean environment (no DOTNET_ROOT): an apphost whose runtime is not at the
    /// default place cannot start there. The NativeAOT binary (VIRTIOFSD_BINARY) always can.
    /// </summary>
    private static void SkipUnlessItRunsWithoutEnvironment(string binary)
    {
        (int code, string output) = Command.Run("env", ["-i", binary, "--version"], DaemonProcess.HangGuard);
        Skip.IfNot(code == 0, $"{binary} does not run with an empty environment, as libvirt starts it ({output.Trim()}); " +
            "point VIRTIOFSD_BINARY at the NativeAOT binary");
    }

    /// <summary>The .NET installation this test runs on (the runtime directory is DOTNET_ROOT/shared/Microsoft.NETCore.App/VERSION).</summary>
    private static string DotnetRoot() =>
        Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));

    /// <summary>Writes what the run left (for a failure, and as evidence) and returns the daemon's command line.</summary>
    private string Report(LibvirtGuest guest, string virshOutput, string domainLog, string daemonLog)
    {
        _log.WriteLine($"domain {guest}; virsh: {virshOutput}");
        _log.WriteLine($"console:\n{guest.ConsoleText()}");
        if (File.Exists(daemonLog))
        {
            _log.WriteLine($"{daemonLog}:\n{File.ReadAllText(daemonLog)}");
        }
        Assert.True(File.Exists(domainLog), $"libvirt wrote no {domainLog}; virsh: {virshOutput}");
        string commandLine = LibvirtGuest.DaemonCommandLine(domainLog);
        _log.WriteLine($"libvirt started: {commandLine}");
        return commandLine;
    }
}
