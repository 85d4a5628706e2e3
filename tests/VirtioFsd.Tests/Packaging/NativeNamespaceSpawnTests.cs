using System.Globalization;
using VirtioFsd.Linux;
using VirtioFsd.Linux.Capabilities;
using VirtioFsd.Tests.Process;

namespace VirtioFsd.Tests.Packaging;

/// <summary>
/// <c>--sandbox namespace</c> in the NativeAOT binary: the launch stage clones the daemon into its new namespaces
/// itself (src/VirtioFsd/Native/spawn_namespaced.c), so the process tree is the launch stage and the daemon, as
/// the Rust virtiofsd's is; the JIT build puts unshare(1) between them. Observed from /proc, as root and as a user
/// without privileges (then inside a user namespace of its own ids, with the capabilities kept across the exec).
/// </summary>
[Collection(NativeAotCollection.Name)]
public class NativeNamespaceSpawnTests(NativeAotPublish aot)
{
    private const uint Nobody = 65534;

    private static readonly string[] Namespaces = ["mnt", "pid", "net", "ipc", "uts"];

    [Fact]
    public void As_root_the_daemon_is_the_launch_stages_only_child_and_pid_1_of_its_namespaces()
    {
        using var t = new TempTree("virtiofsd-aot-namespace-");
        using DaemonProcess d = DaemonProcess.Start(aot.Binary,
            ["--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "namespace"], selfCheck: true);
        int daemon = AssertTwoProcessTree(d, t);
        Assert.Equal(SandboxTests.NamespaceOf("self", "user"), SandboxTests.NamespaceOf(Pid(daemon), "user"));
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.False(File.Exists(t.Socket));
    }

    [Fact]
    public void Without_privileges_the_daemon_is_cloned_into_a_user_namespace_of_its_own_ids_and_keeps_its_capabilities()
    {
        using var t = new TempTree("virtiofsd-aot-userns-");
        t.GiveTo(Nobody, Nobody);
        // Where that user can run it: the publish directory is private to root.
        using var bin = new TempDirectory("virtiofsd-aot-userns-bin-");
        Assert.Equal(0, Libc.Chmod(bin.Path, 0b111_101_101));
        string binary = bin.Combine("virtiofsd");
        File.Copy(aot.Binary, binary);
        Assert.Equal(0, Libc.Chmod(binary, 0b111_101_101));
        string id = Nobody.ToString(CultureInfo.InvariantCulture);
        using DaemonProcess d = DaemonProcess.Start("setpriv",
            [$"--reuid={id}", $"--regid={id}", "--clear-groups", "--", binary, "--shared-dir", t.Share, "--socket-path", t.Socket, "--sandbox", "namespace"],
            selfCheck: true);
        int daemon = AssertTwoProcessTree(d, t);
        Assert.NotEqual(SandboxTests.NamespaceOf("self", "user"), SandboxTests.NamespaceOf(Pid(daemon), "user"));
        Assert.Equal($"{id} {id} 1", string.Join(' ', File.ReadAllText($"/proc/{daemon}/uid_map").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)));
        // The sandbox needed the namespace's capabilities after the exec (pivot_root, mounts), and the daemon keeps
        // its serving set: made ambient before the exec, as unshare --keep-caps does.
        string status = File.ReadAllText($"/proc/{daemon}/status");
        Assert.Contains($"Uid:\t{id}\t{id}", status, StringComparison.Ordinal);
        Assert.True(TaskDirectory.TryParse(daemon, status, out ThreadCapabilitySets sets));
        Assert.NotEqual(0UL, sets.Effective);
        d.Signal(Libc.SIGTERM);
        Assert.Equal(0, d.WaitForExit());
        Assert.False(File.Exists(t.Socket));
    }

    /// <summary>
    /// The sandbox is set up (its self-check report), the launch stage has exactly one child, the daemon itself, which
    /// has none, is pid 1 of a new pid namespace and has new mount, net, ipc and uts namespaces. Returns its host pid.
    /// </summary>
    private static int AssertTwoProcessTree(DaemonProcess d, TempTree t)
    {
        Dictionary<string, string> report = d.WaitForLine("self-check ready");
        Assert.Equal(TempTree.ShareListing, report["root"]);
        Assert.Equal("1", report["pid"]);
        string[] children = Children(d.Pid);
        int daemon = int.Parse(Assert.Single(children), CultureInfo.InvariantCulture);
        Assert.Equal("virtiofsd", SandboxTests.Command(daemon));
        Assert.Empty(Children(daemon));
        string nsPid = File.ReadAllLines($"/proc/{daemon}/status").Single(l => l.StartsWith("NSpid:", StringComparison.Ordinal));
        Assert.Equal(["NSpid:", Pid(daemon), "1"], nsPid.Split('\t', StringSplitOptions.RemoveEmptyEntries));
        foreach (string ns in Namespaces)
        {
            Assert.NotEqual(SandboxTests.NamespaceOf("self", ns), SandboxTests.NamespaceOf(Pid(daemon), ns));
        }
        Assert.True(File.Exists(t.Socket));
        return daemon;
    }

    private static string Pid(int pid) => pid.ToString(CultureInfo.InvariantCulture);

    private static string[] Children(int pid) =>
        File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
