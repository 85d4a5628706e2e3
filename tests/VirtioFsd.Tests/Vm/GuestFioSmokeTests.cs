using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace VirtioFsd.Tests.Vm;

/// <summary>
/// Keeps the guest-level benchmark (scripts/bench_guest.sh) working: one boot with fio in the initramfs
/// (run_vm.sh --with-fio) runs scripts/guest/fio_bench.sh count-bounded (a few hundred I/Os per
/// workload) against our daemon, and fio's JSON report of each workload must parse and account for
/// exactly those I/Os, without errors. Nothing here looks at how fast anything was.
/// </summary>
public sealed class GuestFioSmokeTests(ITestOutputHelper log) : IDisposable
{
    /// <summary>I/Os per fio job: ~1 ms each under TCG, so the fio part of the boot stays near a second.</summary>
    private const int IosPerJob = 200;

    /// <summary>One of each shape bench_guest.sh measures: random read at depth, sequential write, the mix with 4 jobs.</summary>
    private static readonly (string Name, int Jobs)[] Workloads =
        [("randread-4k-qd16", 1), ("seqwrite-1m", 1), ("randrw70-4k-qd1-j4", 4)];

    private readonly TempDirectory _root = new("virtiofsd-guest-fio-smoke-");

    public void Dispose() => _root.Dispose();

    [Fact]
    public void Fio_in_the_guest_completes_its_io_against_our_daemon_and_reports_json()
    {
        // The host writes the data files (fio would otherwise lay them out through FUSE); 4 MiB is
        // enough for 200 I/Os of 1 MiB, since a sequential job wraps around.
        string share = _root.Combine("share");
        Directory.CreateDirectory(Path.Combine(share, "fio-data"));
        byte[] data = new byte[4 << 20];
        new Random(6).NextBytes(data);
        File.WriteAllBytes(Path.Combine(share, "fio-data", "read"), data);
        File.WriteAllBytes(Path.Combine(share, "fio-data", "write"), data);

        string script = _root.Combine("fio_smoke.sh");
        File.WriteAllText(script, string.Create(CultureInfo.InvariantCulture,
            $"FIO_WORKLOADS=\"{string.Join(' ', Workloads.Select(w => w.Name))}\"\nFIO_IOS={IosPerJob}\nFIO_SIZE=4m\nFIO_RESULTS=fio-results\n")
            + File.ReadAllText(VmRun.Script("scripts/guest/fio_bench.sh")));

        var args = new List<string>(VmDaemon.Ours.RunVmArgs)
        {
            "--with-fio", "--queues", "1", "--cache", "auto", "--shared-dir", share,
            "--timeout", VmRun.BootTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
            "--guest-script", script,
        };
        (int exit, string output) = VmRun.Run(args);
        foreach (string line in output.Split('\n').Where(l => l.StartsWith("run_vm.sh: ", StringComparison.Ordinal) || l.StartsWith("== fio", StringComparison.Ordinal)))
        {
            log.WriteLine(line.TrimEnd('\r'));
        }

        Assert.True(exit == 0, $"run_vm.sh exited with {exit}; its output:\n{output}");
        foreach ((string name, int jobs) in Workloads)
        {
            string report = Path.Combine(share, "fio-results", name + ".json");
            Assert.True(File.Exists(report), $"no fio report {report}; run_vm.sh output:\n{output}");
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(report));
            // group_reporting: one entry for all the jobs of the workload.
            JsonElement job = Assert.Single(doc.RootElement.GetProperty("jobs").EnumerateArray());
            Assert.Equal(name, job.GetProperty("jobname").GetString());
            Assert.Equal(0, job.GetProperty("error").GetInt32());
            long reads = job.GetProperty("read").GetProperty("total_ios").GetInt64();
            long writes = job.GetProperty("write").GetProperty("total_ios").GetInt64();
            Assert.Equal((long)IosPerJob * jobs, reads + writes);
            Assert.True(job.GetProperty(reads > 0 ? "read" : "write").GetProperty("iops").GetDouble() > 0, $"{name}: iops 0");
        }
    }
}
