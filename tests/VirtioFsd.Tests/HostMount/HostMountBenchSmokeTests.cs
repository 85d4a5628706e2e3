using System.Diagnostics;
using VirtioFsd.Tests.Process;
using VirtioFsd.Tests.Vm;

namespace VirtioFsd.Tests.HostMount;

/// <summary>
/// scripts/bench_hostmount.sh end to end in its smoke size (1 round, 1 s per point, untimed, without the
/// libfuse anchor, which CI does not build): both of our transports mount, fio runs every point, and the
/// report has the comparison table.
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
            // The mix's four points, each with read / write MiB/s for both of our transports (the smoke leaves libfuse out).
            string[] rows = lines.Where(l => l.StartsWith("| mix iodepth", StringComparison.Ordinal)).ToArray();
            Assert.Equal(4, rows.Length);
            Assert.All(rows, r => Assert.Equal(2, r.Split(" / ").Length - 2));
            Assert.Single(lines, l => l.StartsWith("| 1 MiB O_DIRECT sequential reads", StringComparison.Ordinal));
            Assert.Single(lines, l => l.StartsWith("| file creates per second", StringComparison.Ordinal));
            // Raw results: one line per server and point (4 mix, 1 MiB reads, creates), each with a non-zero rate:
            // read KiB/s (column 4) for the fio points, files/s (column 8) for the creates.
            string[] raw = lines.Where(l => l.StartsWith("ours-dev\t", StringComparison.Ordinal) || l.StartsWith("ours-uring\t", StringComparison.Ordinal)).ToArray();
            Assert.Equal(12, raw.Length);
            Assert.All(raw, l =>
            {
                string[] f = l.Split('\t');
                Assert.True(double.Parse(f[f[1] == "creates" ? 7 : 3], System.Globalization.CultureInfo.InvariantCulture) > 0, l);
            });
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
