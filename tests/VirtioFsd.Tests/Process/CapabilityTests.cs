using System.Globalization;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Linux.Capabilities;
using VirtioFsd.Tests.Escape;

namespace VirtioFsd.Tests.Process;

/// <summary>
/// Root's capabilities after start, read from outside in every thread's /proc/PID/task/TID/status: the serving
/// process keeps the Rust virtiofsd's set, changed by --modcaps, on every thread (the runtime's own included);
/// the launcher of a sandbox keeps DAC_OVERRIDE only. And a removed capability changes what the guest can do.
/// </summary>
public class CapabilityTests
{
    /// <summary>CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, SETGID, SETUID, MKNOD, SETFCAP.</summary>
    private const ulong Serving = 0b1000_1000_0000_0000_0000_0000_1101_1111;

    private const ulong DacReadSearch = 1UL << 2;
    private const ulong Mknod = 1UL << 27;
    private const ulong SysAdmin = 1UL << 21;

    [Theory]
    [InlineData("none")]
    [InlineData("chroot")]
    [InlineData("namespace")]
    public void Every_thread_of_the_daemon_keeps_exactly_the_serving_set_and_the_runtime_still_works(string mode)
    {
        Assert.Equal(0u, Libc.GetEuid());
        using var t = new TempTree("virtiofsd-capabilities-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", mode]);
        Dictionary<string, string> report = d.WaitForLine("self-check ready");
        // Pool threads, a full GC and finalizers ran after the drop; threads made then inherit the kept set.
        Assert.Equal("ok", report["runtime"]);

        AssertEveryThreadHolds(ServingPid(d.Pid, mode), Serving);
        if (mode != "none")
        {
            AssertEveryThreadHolds(d.Pid, 1UL << 1);
        }
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.Contains("Capabilities of the daemon on every thread: CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH", d.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(t.Socket), "the launcher, left with DAC_OVERRIDE, still removes its socket");
    }

    [Theory]
    [InlineData("none")]
    [InlineData("namespace")]
    public void Root_drops_the_supplementary_groups_it_was_started_with_on_every_thread(string mode)
    {
        string[] withGroups = ["--groups=4,24", "--"];
        // The control: setpriv does hand these groups on.
        using (DaemonProcess control = DaemonProcess.Start("setpriv", [.. withGroups, "grep", "^Groups:", "/proc/self/status"], selfCheck: false))
        {
            Assert.Equal(0, control.WaitForExit());
            Assert.Equal("Groups:\t4 24", control.Output.Single().Trim());
        }
        using var t = new TempTree("virtiofsd-capabilities-");
        using DaemonProcess d = DaemonProcess.Start("setpriv", [.. withGroups, DaemonProcess.Executable, "--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", mode], selfCheck: true);
        d.WaitForLine("self-check ready");
        foreach (int pid in new[] { d.Pid, ServingPid(d.Pid, mode) }.Distinct())
        {
            foreach (string task in Directory.GetDirectories($"/proc/{pid}/task"))
            {
                string groups = File.ReadAllLines(task + "/status").Single(l => l.StartsWith("Groups:", StringComparison.Ordinal));
                Assert.Equal("Groups:", groups.Trim());
            }
        }
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
    }

    [Fact]
    public void Modcaps_adds_and_removes_capabilities_of_the_serving_process()
    {
        using var t = new TempTree("virtiofsd-capabilities-");
        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--modcaps=+sys_admin:-mknod"]);
        d.WaitForLine("self-check ready");
        AssertEveryThreadHolds(ServingPid(d.Pid, "namespace"), (Serving | SysAdmin) & ~Mknod);
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
    }

    [Fact]
    public void Dac_read_search_can_be_removed_only_without_inode_file_handles()
    {
        using var t = new TempTree("virtiofsd-capabilities-");
        (int code, string stdout, string stderr) = DaemonProcess.RunToExit("--shared-dir", t.Share, "--socket-path", t.Socket,
            "--sandbox", "none", "--modcaps=-dac_read_search");
        Assert.NotEqual(0, code);
        Assert.Contains("--inode-file-handles=prefer needs it", stdout + stderr, StringComparison.Ordinal);

        using DaemonProcess d = DaemonProcess.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none",
            "--inode-file-handles=never", "--modcaps=-dac_read_search"]);
        d.WaitForLine("self-check ready");
        AssertEveryThreadHolds(d.Pid, Serving & ~DacReadSearch);
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
    }

    [Fact]
    public void A_capability_the_process_does_not_have_cannot_be_kept()
    {
        // CAP_SYS_RESOURCE where the machine's bounding set lacks it (this project's test machines), else a
        // launch that drops it first: either way the daemon must refuse rather than run with less than asked.
        using var t = new TempTree("virtiofsd-capabilities-");
        bool have = Libc.CapBoundingRead(24) == 1;
        string[] args = ["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "none", "--modcaps=+sys_resource"];
        (int code, string stdout, string stderr) = have
            ? RunWithoutSysResource(args)
            : DaemonProcess.RunToExit(args);
        Assert.NotEqual(0, code);
        Assert.Contains("Cannot keep CAP_SYS_RESOURCE", stdout + stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Without_cap_chown_root_in_the_guest_cannot_give_a_file_away(bool removeChown)
    {
        using var share = new EscapeShare();
        using var d = DeviceUnderTest.Start(DeviceKind.SandboxNamespace, share.Share, extraArgs: removeChown ? ["--modcaps=-chown"] : []);
        FuseDeviceClient c = d.Client;
        ulong node = c.Call(FuseOpcode.Lookup, 1, EscapeShare.N("f")).NodeId;
        int error = c.Call(FuseOpcode.SetAttr, node, FuseBytes.Of(new FuseSetAttrIn { Valid = FuseConstants.FattrUid, Uid = 1000 })).Error;
        Assert.Equal(removeChown ? -Errno.EPERM : 0, error);
        Assert.Equal(removeChown ? 0u : 1000u, EscapeShare.Stat(share.Host("f")).Uid);
    }

    /// <summary>The daemon through setpriv(1) with CAP_SYS_RESOURCE out of its bounding set, run to its exit.</summary>
    private static (int Code, string Stdout, string Stderr) RunWithoutSysResource(string[] args)
    {
        using DaemonProcess d = DaemonProcess.Start("setpriv", ["--bounding-set=-sys_resource", "--inh-caps=-all", "--", DaemonProcess.Executable, .. args], selfCheck: false);
        int code = d.WaitForExit();
        return (code, string.Join('\n', d.Output), d.Stderr);
    }

    private static void AssertEveryThreadHolds(int pid, ulong kept)
    {
        string[] threads = Directory.GetDirectories($"/proc/{pid}/task");
        Assert.True(threads.Length > 1, $"pid {pid} has {threads.Length} thread(s)");
        foreach (string task in threads)
        {
            int tid = int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture);
            Assert.True(TaskDirectory.TryParse(tid, File.ReadAllText(task + "/status"), out ThreadCapabilitySets sets));
            Assert.True(sets.HoldsExactly(kept), $"expected {kept:x16} on every thread of {pid}, got {sets}");
        }
    }

    /// <summary>The host pid of the process that serves: the daemon itself with --sandbox none.</summary>
    private static int ServingPid(int launcher, string mode) => mode == "none" ? launcher : SandboxTests.SandboxedPid(launcher, mode);
}
