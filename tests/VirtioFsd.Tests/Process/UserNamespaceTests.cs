using System.Globalization;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Escape;
using static VirtioFsd.Tests.Escape.EscapeShare;

namespace VirtioFsd.Tests.Process;

/// <summary>
/// The namespace sandbox started by a normal user (<see cref="UnprivilegedUser"/>): it runs in a user namespace
/// whose ids are the user's own, or libvirt's session-mode ranges, and the owners the host sees on what the guest
/// creates follow that map. Observed from outside (/proc of the serving process, stat on the host) and through a
/// frontend speaking FUSE to the daemon.
/// </summary>
[Collection(UnprivilegedUserCollection.Name)]
public class UserNamespaceTests
{
    private const uint Overflow = 65534;

    private readonly UnprivilegedUser _user;

    public UserNamespaceTests(UnprivilegedUser user)
    {
        _user = user;
    }

    private string[] LibvirtSessionMaps =>
    [
        $"--uid-map=:0:{_user.Uid}:1:", $"--uid-map=:1:{UnprivilegedUser.SubordinateBase}:{UnprivilegedUser.SubordinateCount}:",
        $"--gid-map=:0:{_user.Gid}:1:", $"--gid-map=:1:{UnprivilegedUser.SubordinateBase}:{UnprivilegedUser.SubordinateCount}:",
    ];

    [Fact]
    public void A_user_gets_the_namespace_sandbox_by_default_in_a_user_namespace_of_their_own_ids()
    {
        using var t = new TempTree("virtiofsd-user-namespace-");
        t.GiveTo(_user.Uid, _user.Gid);
        using DaemonProcess d = _user.Start(["--shared-dir", t.Share, "--socket-path", t.Socket], selfCheck: true);
        Dictionary<string, string> report = d.WaitForLine("self-check ready");
        Assert.Equal(TempTree.ShareListing, report["root"]);
        Assert.Equal("1", report["pid"]);
        Assert.Equal("ok", report["runtime"]);

        int daemon = SandboxTests.SandboxedPid(d.Pid, "namespace");
        Assert.Equal($"{_user.Uid} {_user.Uid} 1", MapOf(daemon, "uid"));
        Assert.Equal($"{_user.Gid} {_user.Gid} 1", MapOf(daemon, "gid"));
        foreach (string ns in new[] { "user", "mnt", "pid", "net" })
        {
            Assert.NotEqual(SandboxTests.NamespaceOf("self", ns), SandboxTests.NamespaceOf(daemon.ToString(CultureInfo.InvariantCulture), ns));
        }
        // The launch stage stays the user on the host, with nothing; the daemon, on the host, is that user too.
        Assert.Contains($"Uid:\t{_user.Uid}\t{_user.Uid}", File.ReadAllText($"/proc/{d.Pid}/status"), StringComparison.Ordinal);
        Assert.Contains($"Uid:\t{_user.Uid}\t{_user.Uid}", File.ReadAllText($"/proc/{daemon}/status"), StringComparison.Ordinal);
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.False(File.Exists(t.Socket));
    }

    [Fact]
    public void With_only_the_users_own_ids_everything_the_guest_creates_belongs_to_the_user()
    {
        using var t = new TempTree("virtiofsd-user-namespace-");
        t.GiveTo(_user.Uid, _user.Gid);
        File.WriteAllText(Path.Combine(t.Share, "by-host-root"), "x"); // root's, which the namespace cannot name
        using (var dev = DeviceUnderTest.Start(DeviceKind.SandboxNamespace, t.Share, user: _user))
        {
            FuseDeviceClient c = dev.Client;
            Assert.Equal((_user.Uid, _user.Gid), Owner(c, "a-file"));
            Assert.Equal((Overflow, Overflow), Owner(c, "by-host-root"));
            Assert.Equal(0, Create(c, "by-guest-root", 0, 0));
            Assert.Equal(0, Create(c, "by-guest-1000", 1000, 1000));
        }
        Assert.Equal((_user.Uid, _user.Gid), HostOwner(Path.Combine(t.Share, "by-guest-root")));
        Assert.Equal((_user.Uid, _user.Gid), HostOwner(Path.Combine(t.Share, "by-guest-1000")));
    }

    [Fact]
    public void Libvirt_session_maps_make_the_user_the_guests_root_and_give_other_guest_ids_the_subordinate_range()
    {
        using var t = new TempTree("virtiofsd-user-namespace-");
        t.GiveTo(_user.Uid, _user.Gid);
        File.WriteAllText(Path.Combine(t.Share, "by-host-root"), "x");
        string open = Path.Combine(t.Share, "open");
        Directory.CreateDirectory(open);
        Assert.Equal(0, Libc.Chmod(open, 0b111_111_111)); // 0777
        Assert.Equal(0, Libc.Chown(open, _user.Uid, _user.Gid));
        using (var dev = DeviceUnderTest.Start(DeviceKind.SandboxNamespace, t.Share, user: _user, extraArgs: LibvirtSessionMaps))
        {
            int daemon = SandboxTests.SandboxedPid(dev.Daemon!.Pid, "namespace");
            Assert.Equal($"0 {_user.Uid} 1\n1 {UnprivilegedUser.SubordinateBase} {UnprivilegedUser.SubordinateCount}", MapOf(daemon, "uid"));
            FuseDeviceClient c = dev.Client;
            Assert.Equal((0u, 0u), Owner(c, "a-file"));
            Assert.Equal((Overflow, Overflow), Owner(c, "by-host-root"));
            Assert.Equal(0, Create(c, "by-guest-root", 0, 0));
            ulong dir = c.Call(FuseOpcode.Lookup, 1, N("open")).NodeId;
            Assert.Equal(0, Create(c, "by-guest-1000", 1000, 1000, dir));
            // An id the namespace has no mapping for cannot be taken, so nothing is created.
            Assert.Equal(-Errno.EPERM, Create(c, "by-guest-70000", 70000, 70000, dir));
        }
        Assert.Equal((_user.Uid, _user.Gid), HostOwner(Path.Combine(t.Share, "by-guest-root")));
        Assert.Equal((UnprivilegedUser.SubordinateBase + 999, UnprivilegedUser.SubordinateBase + 999), HostOwner(Path.Combine(open, "by-guest-1000")));
        Assert.False(File.Exists(Path.Combine(open, "by-guest-70000")));
    }

    [Fact]
    public void Translate_uid_and_gid_apply_to_the_ids_of_the_user_namespace()
    {
        using var t = new TempTree("virtiofsd-user-namespace-");
        t.GiveTo(_user.Uid, _user.Gid);
        string uid = _user.Uid.ToString(CultureInfo.InvariantCulture);
        string gid = _user.Gid.ToString(CultureInfo.InvariantCulture);
        using (var dev = DeviceUnderTest.Start(DeviceKind.SandboxNamespace, t.Share, user: _user,
            extraArgs: ["--translate-uid", $"map:0:{uid}:1", "--translate-gid", $"map:0:{gid}:1"]))
        {
            FuseDeviceClient c = dev.Client;
            // The user's files are the guest root's, and what the guest's root makes is the user's.
            Assert.Equal((0u, 0u), Owner(c, "a-file"));
            Assert.Equal(0, Create(c, "made", 0, 0));
            Assert.Equal((0u, 0u), Owner(c, "made"));
        }
        Assert.Equal((_user.Uid, _user.Gid), HostOwner(Path.Combine(t.Share, "made")));
    }

    [Fact]
    public void A_map_outside_the_users_subordinate_ids_stops_the_daemon_with_newuidmaps_reason()
    {
        using var t = new TempTree("virtiofsd-user-namespace-");
        t.GiveTo(_user.Uid, _user.Gid);
        using DaemonProcess d = _user.Start(["--shared-dir", t.Share, "--socket-path", t.Socket, $"--uid-map=:0:{_user.Uid}:1:", "--uid-map=:1:5000000:10:"]);
        Assert.Equal(1, d.WaitForExit());
        Assert.Contains("cannot map the user namespace's ids: newuidmap failed", d.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(t.Socket));
    }

    private static string MapOf(int pid, string kind) =>
        string.Join('\n', File.ReadAllLines($"/proc/{pid}/{kind}_map").Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))));

    private static (uint Uid, uint Gid) Owner(FuseDeviceClient c, string name)
    {
        FuseEntryOut e = c.Call(FuseOpcode.Lookup, 1, N(name)).Read<FuseEntryOut>();
        return (e.Attr.Uid, e.Attr.Gid);
    }

    /// <summary>CREATE as the guest caller uid/gid; 0 or -errno.</summary>
    private static int Create(FuseDeviceClient c, string name, uint uid, uint gid, ulong parent = 1)
    {
        byte[] body = [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = 0x81a4 }), .. N(name)];
        return c.Call(FuseOpcode.Create, parent, body, uid: uid, gid: gid).Error;
    }

    private static (uint Uid, uint Gid) HostOwner(string path)
    {
        Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD, System.Text.Encoding.UTF8.GetBytes(path), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Statx st));
        return (st.Uid, st.Gid);
    }
}
