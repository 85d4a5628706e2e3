using System.Diagnostics;
using VirtioFsd.FuseMount;
using VirtioFsd.Tests.Vm;

namespace VirtioFsd.Tests.HostMount;

/// <summary>
/// The VM tests' POSIX-semantics scripts (scripts/guest/fs_test.sh, then fs_verify.sh) run on a host
/// mount through the real kernel, once per transport, with busybox applets first in PATH as in the
/// guest; then the host checks the exact tree they left (the VM tests' HostChecks). The scripts are
/// run from adapted copies: lib.sh from the repository instead of /guest, and the mount type the
/// host mount has (fuse.virtiofsd) where they check for a virtiofs mount; nothing else changes.
/// </summary>
[Collection(HostMountCollection.Name)]
public sealed class HostMountScriptTests
{
    public static TheoryData<FuseTransportKind> Transports => new() { FuseTransportKind.Dev, FuseTransportKind.Uring };

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void Fs_test_then_fs_verify_pass_and_leave_the_expected_tree(FuseTransportKind transport)
    {
        using var tree = new SharedTree("virtiofsd-hostmount-fs-test-");
        // The VM matrix's smaller sizes (8 MiB each way, 1,000 entries): the same operations, less CI time.
        tree.PrepareHostFiles(bigMib: 8, manyEntries: 1000);
        var binDir = new TempDirectory("virtiofsd-hostmount-busybox-");
        string bin = binDir.Path;
        try
        {
            BusyboxPath(bin);
            // Two mounts, as the VM test's two boots: the second starts with empty kernel caches.
            foreach (string script in new[] { "fs_test.sh", "fs_verify.sh" })
            {
                using var s = new HostMountSession(transport, tree.Root);
                RunScript(s.MountPoint, bin, script);
                s.AssertTransport(transport);
            }
            HostChecks.AssertOutTree(tree);
        }
        finally
        {
            binDir.Dispose();
        }
    }

    /// <summary>A directory of busybox applet links, plus the xattr helper scripts/setup.sh builds for the guest.</summary>
    private static void BusyboxPath(string bin)
    {
        string busybox = File.Exists("/bin/busybox") ? "/bin/busybox" : "/usr/bin/busybox";
        var psi = new ProcessStartInfo(busybox) { UseShellExecute = false, RedirectStandardOutput = true };
        psi.ArgumentList.Add("--list");
        using var list = System.Diagnostics.Process.Start(psi)!;
        foreach (string applet in list.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            File.CreateSymbolicLink(Path.Combine(bin, applet), busybox);
        }
        list.WaitForExit();
        string xattr = Path.Combine(VmRun.RepoRoot, ".cache", "guest", "xattr");
        Assert.True(File.Exists(xattr), $"{xattr} is missing: scripts/setup.sh builds it");
        File.CreateSymbolicLink(Path.Combine(bin, "xattr"), xattr);
    }

    private static void RunScript(string mountPoint, string bin, string name)
    {
        string guest = Path.Combine(VmRun.RepoRoot, "scripts", "guest");
        string text = File.ReadAllText(Path.Combine(guest, name))
            .Replace(". /guest/lib.sh", $". {Path.Combine(guest, "lib.sh")}", StringComparison.Ordinal)
            .Replace("\" $MNT virtiofs \"", "\" $MNT fuse.virtiofsd \"", StringComparison.Ordinal);
        string script = Path.Combine(bin, "script-" + name);
        File.WriteAllText(script, text);
        var psi = new ProcessStartInfo(Path.Combine(bin, "sh"))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = mountPoint,
        };
        psi.ArgumentList.Add(script);
        psi.Environment["PATH"] = bin;
        using var p = System.Diagnostics.Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(10)), $"{name} hung");
        Assert.True(p.ExitCode == 0, $"{name} exited {p.ExitCode}:\n{stdout}\n{stderr.Result}");
    }
}
