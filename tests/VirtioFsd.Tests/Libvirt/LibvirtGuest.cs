using System.Globalization;
using System.Security;
using System.Text;
using System.Text.RegularExpressions;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Process;
using VirtioFsd.Tests.Vm;

namespace VirtioFsd.Tests.Libvirt;

/// <summary>
/// One transient libvirt domain and what it needs on the host: the guest kernel and a busybox initramfs that runs
/// scripts/guest/libvirt_test.sh (built by scripts/lib/initramfs.sh, as scripts/run_vm.sh does), a share the host
/// fills first, and the serial console as a file (scripts/guest/init prints the script's exit status there).
/// The domain is the README's ("Using it with libvirt") under TCG: q35, -cpu max, memfd shared memory, a virtiofs
/// filesystem whose &lt;binary&gt; is the daemon under test.
/// </summary>
internal sealed partial class LibvirtGuest : IDisposable
{
    private const string Tag = "libvirtfs";

    /// <summary>For one create-and-wait run; a boot took 20-25 s here at load 10. Reaching this means a hang.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(300);

    private readonly string _token = Guid.NewGuid().ToString("N");
    private readonly TempDirectory _work;

    public LibvirtGuest(string mode)
    {
        Name = $"virtiofsd-cs-test-{mode}-{_token[..8]}";
        _work = new TempDirectory("virtiofsd-libvirt-");
        // QEMU of the system instance runs as libvirt-qemu: it must reach the kernel and initramfs (libvirt's DAC
        // driver relabels the files it names, not the directories above them).
        Assert.Equal(0, Libc.Chmod(Work, 0b111_101_101)); // 0755
        Share = Path.Combine(Work, "share");
        Directory.CreateDirectory(Share);
        File.WriteAllText(Path.Combine(Share, "from-host.txt"), _token);
        File.WriteAllText(Path.Combine(Share, "to-remove.txt"), "the guest removes this\n");
        Kernel = Path.Combine(Work, "vmlinuz");
        File.Copy(VmRun.Script(".cache/guest/vmlinuz"), Kernel);
        Initrd = Path.Combine(Work, "initrd.gz");
        (int code, string output) = Command.Run("bash",
        [
            "-c", ". \"$0/scripts/lib/initramfs.sh\" && build_initramfs \"$1\" script \"$2\" 1 \"$3\"",
            VmRun.RepoRoot, Initrd, Tag, VmRun.Script("scripts/guest/libvirt_test.sh"),
        ], TimeSpan.FromMinutes(2));
        Assert.True(code == 0, $"building the initramfs: {output}");
        Console = Path.Combine(Work, "console.log");
    }

    public string Name { get; }

    public string Work => _work.Path;

    public string Share { get; }

    public string Kernel { get; }

    public string Initrd { get; }

    public string Console { get; }

    /// <summary>Hands the whole work directory to a session-mode user: their libvirt and QEMU open everything in it.</summary>
    public void GiveTo(uint uid, uint gid)
    {
        foreach (string path in Directory.EnumerateFileSystemEntries(Work, "*", SearchOption.AllDirectories).Append(Work))
        {
            Assert.Equal(0, Libc.Chown(path, uid, gid));
        }
    }

    /// <summary>The domain XML, with <paramref name="binary"/> as the virtiofs daemon and the README's binary options.</summary>
    public string WriteDomainXml(string binary)
    {
        static string X(string s) => SecurityElement.Escape(s);
        string xml = $"""
            <domain type='qemu'>
              <name>{X(Name)}</name>
              <memory unit='MiB'>512</memory>
              <vcpu>1</vcpu>
              <memoryBacking>
                <source type='memfd'/>
                <access mode='shared'/>
              </memoryBacking>
              <os>
                <type arch='x86_64' machine='q35'>hvm</type>
                <kernel>{X(Kernel)}</kernel>
                <initrd>{X(Initrd)}</initrd>
                <cmdline>console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init nohz=off no_timer_check</cmdline>
              </os>
              <cpu mode='maximum'/>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>destroy</on_reboot>
              <on_crash>destroy</on_crash>
              <devices>
                <filesystem type='mount' accessmode='passthrough'>
                  <driver type='virtiofs' queue='1024'/>
                  <binary path='{X(binary)}' xattr='on'>
                    <cache mode='always'/>
                    <sandbox mode='namespace'/>
                    <thread_pool size='2'/>
                  </binary>
                  <source dir='{X(Share)}'/>
                  <target dir='{Tag}'/>
                </filesystem>
                <serial type='file'>
                  <source path='{X(Console)}'/>
                  <target port='0'/>
                </serial>
                <controller type='usb' model='none'/>
                <memballoon model='none'/>
              </devices>
            </domain>
            """;
        string path = Path.Combine(Work, "domain.xml");
        File.WriteAllText(path, xml);
        return path;
    }

    /// <summary>
    /// Arguments for <c>sh -c</c> that start the domain from <paramref name="xmlPath"/> through <paramref name="uri"/> and
    /// return once it is gone (a transient domain disappears when the guest powers off).
    /// </summary>
    public string[] CreateAndWaitScript(string uri, string xmlPath) =>
    [
        "-c",
        "virsh -q -c \"$0\" create \"$1\" && while virsh -q -c \"$0\" domstate \"$2\" >/dev/null 2>&1; do sleep 1; done",
        uri, xmlPath, Name,
    ];

    /// <summary>What the guest printed on its serial console.</summary>
    public string ConsoleText() => File.Exists(Console) ? File.ReadAllText(Console) : "(no console log)";

    /// <summary>
    /// The guest script finished with status 0, and the host sees exactly what it did: contents, the rename and the
    /// removal, the xattr, 4 MiB of data the guest checksummed, and the host owners the guest's uid/gid 0
    /// (<paramref name="guestRoot"/>) and 1000 (<paramref name="guest1000"/>) map to.
    /// </summary>
    public void CheckHost((uint Uid, uint Gid) guestRoot, (uint Uid, uint Gid) guest1000)
    {
        string console = ConsoleText();
        Assert.True(Marker().Match(console) is { Success: true } m && m.Groups[1].Value == "0", $"guest script status; console:\n{console}");
        Assert.Contains($"guest read: {_token}", console, StringComparison.Ordinal);

        Assert.Equal($"seen by the guest: {_token}\nappended\n", File.ReadAllText(Path.Combine(Share, "from-guest.txt")));
        Assert.Equal("renamed by the guest\n", File.ReadAllText(Path.Combine(Share, "dir", "after.txt")));
        Assert.False(File.Exists(Path.Combine(Share, "dir", "before.txt")));
        Assert.False(File.Exists(Path.Combine(Share, "to-remove.txt")));
        Assert.Equal((0, "set in the guest"), SharedTree.GetXattr(Path.Combine(Share, "from-guest.txt"), "user.libvirt"));

        byte[] data = File.ReadAllBytes(Path.Combine(Share, "random.bin"));
        Assert.Equal(4 << 20, data.Length);
        string md5 = SharedTree.Md5Hex(data);
        Assert.Contains($"guest wrote md5 {md5}", console, StringComparison.Ordinal);
        Assert.Contains($"guest reread md5 {md5}", console, StringComparison.Ordinal);

        foreach (string made in new[] { "from-guest.txt", "dir", "dir/after.txt", "random.bin" })
        {
            Assert.Equal(guestRoot, Owner(made));
        }
        Assert.Equal(guest1000, Owner("owned-by-1000.txt"));
    }

    /// <summary>
    /// The command line libvirt started the virtiofs daemon with: libvirt writes "Starting external device: virtiofsd"
    /// and the command on the next line into the domain's log.
    /// </summary>
    public static string DaemonCommandLine(string domainLog)
    {
        string[] lines = File.ReadAllLines(domainLog);
        int at = Array.FindIndex(lines, l => l.EndsWith("Starting external device: virtiofsd", StringComparison.Ordinal));
        Assert.True(at >= 0 && at + 1 < lines.Length, $"no virtiofsd start in {domainLog}:\n{string.Join('\n', lines)}");
        return lines[at + 1];
    }

    private (uint Uid, uint Gid) Owner(string relative)
    {
        string path = Path.Combine(Share, relative);
        Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD, Encoding.UTF8.GetBytes(path), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Statx st));
        return (st.Uid, st.Gid);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name} in {Work}");

    public void Dispose() => _work.Dispose();

    // scripts/guest/init's last word; keep in sync with it (and with run_vm.sh's MARKER_RE).
    [GeneratedRegex("@@VIRTIOFSD-GUEST-EXIT=([0-9]+)@@")]
    private static partial Regex Marker();
}
