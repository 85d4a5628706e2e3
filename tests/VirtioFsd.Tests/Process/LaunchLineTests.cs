using System.Globalization;
using System.Text;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Escape;
using static VirtioFsd.Tests.Escape.EscapeShare;

namespace VirtioFsd.Tests.Process;

/// <summary>
/// The command lines Kata Containers and Podman machine start virtiofsd with (README, "Options"), each run as
/// those programs run it, and then used by a frontend as a guest would: a file created, written and read back
/// through FUSE, and found on the host.
/// </summary>
[Collection(UnprivilegedUserCollection.Name)]
public class LaunchLineTests
{
    private readonly UnprivilegedUser _user;

    public LaunchLineTests(UnprivilegedUser user)
    {
        _user = user;
    }

    [Fact]
    public void Kata_starts_the_daemon_as_root_on_a_listening_socket_it_passes_as_fd_3()
    {
        Assert.Equal(0u, Libc.GetEuid());
        using var t = new TempTree("virtiofsd-launch-line-");
        // Kata's runtime binds and listens itself and hands the socket over as fd 3 (cmd.ExtraFiles), logs to syslog.
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM, 0);
        using var listening = new UnixFd(fd);
        Assert.Equal(0, Libc.BindUnix(fd, t.Socket));
        Assert.Equal(0, Libc.Listen(fd, 1));
        string n = fd.ToString(CultureInfo.InvariantCulture);
        using DaemonProcess d = DaemonProcess.Start("bash",
        [
            "-c", (fd == 3 ? "" : $"exec 3<&{n} {n}<&-; ") + "exec \"$0\" \"$@\"", DaemonProcess.Executable,
            "--syslog", "--cache=auto", $"--shared-dir={t.Share}", "--fd=3", "--thread-pool-size=1", "--announce-submounts",
        ], selfCheck: false);
        listening.Dispose();
        using (var dev = DeviceUnderTest.Attach(d, t.Socket))
        {
            WriteAndReadBack(dev.Client, "from-kata", 0, 0);
        }
        Assert.Equal("hello from the guest\n", File.ReadAllText(Path.Combine(t.Share, "from-kata")));
    }

    [Fact]
    public void Podman_machine_starts_the_daemon_as_the_user_in_the_shared_directory()
    {
        using var t = new TempTree("virtiofsd-launch-line-");
        t.GiveTo(_user.Uid, _user.Gid);
        // podman machine (qemu provider): the user's own daemon, `--shared-dir .` from the mount's directory.
        using DaemonProcess d = DaemonProcess.Start("setpriv",
        [
            .. _user.SetprivPrefix, "bash", "-c", "cd \"$0\" && exec \"$@\"", t.Share, _user.Executable,
            "--sandbox", "none", "--socket-path", t.Socket, "--shared-dir", ".", "--seccomp=none",
        ], selfCheck: false);
        d.WaitForLog("Waiting for vhost-user socket connection");
        using (var dev = DeviceUnderTest.Attach(d, t.Socket))
        {
            WriteAndReadBack(dev.Client, "from-podman", 1000, 1000);
        }
        string made = Path.Combine(t.Share, "from-podman");
        Assert.Equal("hello from the guest\n", File.ReadAllText(made));
        Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD, Encoding.UTF8.GetBytes(made), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Statx st));
        Assert.Equal((_user.Uid, _user.Gid), (st.Uid, st.Gid));
    }

    private static void WriteAndReadBack(FuseDeviceClient c, string name, uint uid, uint gid)
    {
        byte[] text = "hello from the guest\n"u8.ToArray();
        byte[] create = [.. FuseBytes.Of(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = 0x81a4 }), .. N(name)];
        FuseReply made = c.Call(FuseOpcode.Create, 1, create, uid: uid, gid: gid);
        ulong node = made.NodeId;
        ulong fh = made.Read<FuseOpenOut>(System.Runtime.InteropServices.Marshal.SizeOf<FuseEntryOut>()).Fh;
        Assert.Equal(0, c.Call(FuseOpcode.Write, node, [.. FuseBytes.Of(new FuseWriteIn { Fh = fh, Size = (uint)text.Length }), .. text], uid: uid, gid: gid).Error);
        FuseReply read = c.Call(FuseOpcode.Read, node, FuseBytes.Of(new FuseReadIn { Fh = fh, Size = 4096 }), uid: uid, gid: gid);
        Assert.Equal(0, read.Error);
        Assert.Equal(text, read.Body);
        Assert.Equal(0, c.Call(FuseOpcode.Release, node, FuseBytes.Of(new FuseReleaseIn { Fh = fh })).Error);
    }
}
