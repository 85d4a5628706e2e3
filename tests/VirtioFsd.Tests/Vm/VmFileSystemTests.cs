using Xunit.Abstractions;

namespace VirtioFsd.Tests.Vm;

/// <summary>
/// Boots a real guest (TCG) on a virtio-fs daemon through scripts/run_vm.sh: boot 1 runs
/// scripts/guest/fs_test.sh, boot 2 runs scripts/guest/fs_verify.sh (same daemon if it stays up after
/// the first guest disconnects, else a fresh one), then the host checks exactly what the guest left.
/// The frontend is QEMU 10 (Debian 13's, what users run today; scripts/setup.sh makes the root as root),
/// with one entry on the host's QEMU 7.2 for compatibility. Ours runs request queues x cache mode; the Rust
/// virtiofsd 1.13 (the peer this daemon replaces) each cache mode, and QEMU 7.2's C daemon (one queue: it has
/// no multiqueue) once, through the same scripts and host checks. One class, so xunit runs the entries one
/// after the other (2 cores, TCG). Needs root (mknod, chown in the guest are passed through to the host as root).
/// </summary>
public class VmFileSystemTests(ITestOutputHelper log)
{
    public static TheoryData<int, string> OursMatrix() => Matrix([1, 4]);

    public static TheoryData<int, string> RustMatrix() => Matrix([1]);

    [SkippableTheory]
    [MemberData(nameof(OursMatrix))]
    public void Our_daemon_guest_file_operations_reach_the_host_and_survive_a_reconnect(int queues, string cache) =>
        RunAndCheck(VmDaemon.Ours, queues, cache, "10");

    [Fact]
    public void Our_daemon_serves_qemu_7_2_too() => RunAndCheck(VmDaemon.Ours, 1, "auto", "7.2");

    /// <summary>QEMU 10 offering the packed ring and queue reset: the guest works on what our daemon negotiates (split).</summary>
    [SkippableFact]
    public void Our_daemon_with_packed_ring_and_queue_reset_offered() =>
        RunAndCheck(VmDaemon.Ours, 1, "always", "10", "packed=on,queue_reset=on");

    [SkippableTheory]
    [MemberData(nameof(RustMatrix))]
    public void Rust_daemon_passes_the_same_guest_file_operations(int queues, string cache) =>
        RunAndCheck(VmDaemon.Rust, queues, cache, "10");

    [SkippableFact]
    public void C_daemon_guest_file_operations_reach_the_host_and_survive_a_reconnect() =>
        RunAndCheck(VmDaemon.C, 1, "auto", "10");

    private static TheoryData<int, string> Matrix(int[] queueCounts)
    {
        var data = new TheoryData<int, string>();
        foreach (int queues in queueCounts)
        {
            foreach (string cache in new[] { "never", "auto", "always" })
            {
                data.Add(queues, cache);
            }
        }

        return data;
    }

    private void RunAndCheck(VmDaemon daemon, int queues, string cache, string qemu, string? deviceProps = null)
    {
        Assert.True(Environment.UserName == "root", "the VM tests need root: the guest's mknod and chown are done by the daemon on the host");
        if (qemu == "10" || daemon == VmDaemon.Rust)
        {
            Skip.IfNot(VmRun.HasTrixieRoot, "no Debian 13 root with QEMU 10 and the Rust virtiofsd (scripts/setup.sh makes it as root; see .cache/trixie.log)");
        }
        using var tree = new SharedTree("virtiofsd-vm-fs-test-");
        // Time budget (TCG costs milliseconds per FUSE request; measured with the C daemon on a loaded
        // 2-core host: cache=auto 75 s, cache=never 236 s for the full sizes). The full 64 MiB each
        // way and 10000 entries run with the default cache=auto for every daemon and queue count;
        // never and always run the same operations at 8 MiB and 1000 entries.
        if (cache == "auto")
        {
            tree.PrepareHostFiles(bigMib: 64, manyEntries: 10000);
        }
        else
        {
            tree.PrepareHostFiles(bigMib: 8, manyEntries: 1000);
        }

        var args = new List<string>(daemon.RunVmArgs)
        {
            "--shared-dir", tree.Root,
            "--queues", queues.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--cache", cache,
            "--qemu", qemu,
            "--device-props", deviceProps ?? "",
            "--timeout", VmRun.BootTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--guest-script", VmRun.Script("scripts/guest/fs_test.sh"),
            "--guest-script", VmRun.Script("scripts/guest/fs_verify.sh"),
        };
        (int exit, string output) = VmRun.Run(args);
        // Section and boot timings, for budgeting the matrix (they are logged, never asserted).
        foreach (string line in output.Split('\n'))
        {
            if ((line.StartsWith("== ", StringComparison.Ordinal) && line.Contains(" done in ", StringComparison.Ordinal)) ||
                line.StartsWith("run_vm.sh: ", StringComparison.Ordinal))
            {
                log.WriteLine(line.TrimEnd('\r'));
            }
        }

        Assert.True(exit == 0, $"run_vm.sh exited with {exit}; its output:\n{output}");
        // Both boots must have reported; a guest that never ran its script cannot pass by accident.
        Assert.Contains("@@VIRTIOFSD-GUEST-EXIT=0@@", output, StringComparison.Ordinal);
        Assert.Contains("run_vm.sh: boot 2 ended", output, StringComparison.Ordinal);

        HostChecks.AssertOutTree(tree);
    }
}
