using System.Globalization;

namespace VirtioFsd.Tests.Vm;

/// <summary>
/// scripts/run_vm.sh boots a script's guest a second time when QEMU's multi-threaded TCG aborted in
/// iotlb_to_section before the guest's init ran (an emulator race seen in CI, not the daemon's), and only
/// then. A wrapper in front of QEMU (RUN_VM_QEMU_WRAPPER) plays the abort: it prints QEMU's assertion and
/// dies of SIGABRT for its first N runs, then runs the real QEMU. The guest script appends one line per run
/// to a file in the share, so the host sees how often it really ran.
/// </summary>
public sealed class VmRunTcgRaceTests : IDisposable
{
    private const string RaceAssertion =
        "qemu-system-x86_64: ../system/physmem.c:2671: iotlb_to_section: Assertion `section_index < d->map.sections_nb' failed.";

    private const string Retrying = "booting the same script again";

    private readonly Process.TempTree _tree = new("virtiofsd-vm-tcg-race-");

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void One_race_abort_costs_one_more_boot_and_the_script_runs_once()
    {
        (int exit, string output) = Run(aborts: 1, RaceAssertion);

        Assert.True(exit == 0, $"run_vm.sh exited with {exit}; its output:\n{output}");
        Assert.Equal(1, Count(output, Retrying));
        Assert.Equal(2, QemuRuns());
        Assert.Equal(["ran"], File.ReadAllLines(Path.Combine(_tree.Share, "runs")));
    }

    [Fact]
    public void A_second_race_abort_of_the_same_boot_fails_the_run()
    {
        (int exit, string output) = Run(aborts: 2, RaceAssertion);

        Assert.True(exit == 125, $"run_vm.sh exited with {exit}, not 125; its output:\n{output}");
        Assert.Equal(1, Count(output, Retrying));
        Assert.Equal(2, QemuRuns());
        Assert.False(File.Exists(Path.Combine(_tree.Share, "runs")));
    }

    [Fact]
    public void Any_other_qemu_abort_fails_the_run_at_once()
    {
        (int exit, string output) = Run(aborts: 1, "qemu-system-x86_64: hw/virtio/vhost.c:100: vhost_dev_start: Assertion `x' failed.");

        Assert.True(exit == 125, $"run_vm.sh exited with {exit}, not 125; its output:\n{output}");
        Assert.Equal(0, Count(output, Retrying));
        Assert.Equal(1, QemuRuns());
    }

    private string Counter => Path.Combine(_tree.Run, "qemu-runs");

    private int QemuRuns() => int.Parse(File.ReadAllText(Counter).Trim(), CultureInfo.InvariantCulture);

    private (int Exit, string Output) Run(int aborts, string assertion)
    {
        string wrapper = Path.Combine(_tree.Run, "qemu-wrapper.sh");
        File.WriteAllText(wrapper, $$"""
            #!/bin/sh
            ulimit -c 0
            n=$(cat '{{Counter}}' 2>/dev/null || echo 0)
            echo $((n + 1)) > '{{Counter}}'
            if [ "$n" -lt {{aborts}} ]; then
              echo "{{assertion.Replace("`", "\\`", StringComparison.Ordinal)}}" >&2
              kill -ABRT $$
            fi
            exec "$@"
            """);
        Assert.Equal(0, VirtioFsd.Linux.Libc.Chmod(wrapper, 0b111_000_000)); // 0700
        string script = Path.Combine(_tree.Run, "append.sh");
        File.WriteAllText(script, "echo ran >> runs\n");

        return VmRun.Run(
        [
            "--daemon", Process.DaemonProcess.Executable,
            "--shared-dir", _tree.Share,
            "--qemu", "7.2",
            "--timeout", VmRun.BootTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
            "--guest-script", script,
        ], new Dictionary<string, string> { ["RUN_VM_QEMU_WRAPPER"] = wrapper });
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
