using System.Diagnostics;
using VirtioFsd.Tests.Process;
using VirtioFsd.Tests.Vm;

namespace VirtioFsd.Tests.HostMount;

/// <summary>
/// scripts/bench_hostmount.sh end to end in its smoke size (1 round, 1 s per point, untimed): both
/// transports mount, fio runs every point, and the report has the legacy -> uring table.
/// </summary>
[Collection(HostMountCollection.Name)]
public sealed class HostMountBenchSmokeTests
{
    [SkippableFact]
    public void Smoke_run_writes_a_report_with_every_point()
    {
        // The script refuses to run without FUSE-over-io_uring rather than measure /dev/fuse twice.
        UringSwitch.EnableOrSkip();
        string report = Path.Combine(Path.GetTempPath(), $"hostmount-bench-{Environment.ProcessId}.md");
        try
        {
            RunBench(report);

            string[] lines = File.ReadAllLines(report);
            string[] rows = lines.Where(l => l.StartsWith("| 1 |", StringComparison.Ordinal) || l.StartsWith("| 64 |", StringComparison.Ordinal)).ToArray();
            Assert.Equal(4, rows.Length);
            Assert.All(rows, r => Assert.Equal(4, r.Split(" -> ").Length - 1));
            // Raw results: one line per transport and point, each with a non-zero read bandwidth.
            string[] raw = lines.Where(l => l.StartsWith("dev\t", StringComparison.Ordinal) || l.StartsWith("uring\t", StringComparison.Ordinal)).ToArray();
            Assert.Equal(8, raw.Length);
            Assert.All(raw, l => Assert.True(double.Parse(l.Split('\t')[4], System.Globalization.CultureInfo.InvariantCulture) > 0, l));
        }
        finally
        {
            File.Delete(report);
        }
    }

    private static void RunBench(string report)
    {
            var psi = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(Path.Combine(VmRun.RepoRoot, "scripts", "bench_hostmount.sh"));
            foreach (string a in new[] { "--smoke", "--output", report, "--daemon", DaemonProcess.Executable })
            {
                psi.ArgumentList.Add(a);
            }
            using var p = System.Diagnostics.Process.Start(psi)!;
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), "bench_hostmount.sh hung");
            Assert.True(p.ExitCode == 0, $"bench_hostmount.sh exited {p.ExitCode}:\n{stdout}\n{stderr.Result}");

    }
}

/// <summary>
/// The host-mount tests run one at a time: they share the kernel's fuse.enable_uring switch, which the
/// benchmark script restores when it ends.
/// </summary>
[CollectionDefinition(Name)]
public sealed class HostMountCollection
{
    public const string Name = "HostMount";
}
