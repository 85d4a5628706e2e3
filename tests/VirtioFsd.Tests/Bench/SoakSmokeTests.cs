using System.Xml.Linq;
using VirtioFsd.Bench;
using VirtioFsd.Bench.Soak;
using VirtioFsd.Bench.Workloads;

namespace VirtioFsd.Tests.Bench;

/// <summary>
/// The soak mode in miniature (10 s, two request queues, the small data set): every workload of the mix
/// ran, the RSS/fd series was sampled and reported, and the daemon's fd count is back at the baseline
/// once the load stopped. No timing is asserted; the full 10-minute run is scripts/soak.sh (docs/soak.md).
/// </summary>
public sealed class SoakSmokeTests : IDisposable
{
    private readonly TempDirectory _dir = new("virtiofsd-soak-smoke-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Short_soak_reports_rss_and_fds_over_time_and_fds_return_to_baseline()
    {
        var options = new BenchOptions
        {
            Ours = Process.DaemonProcess.Executable,
            Small = true,
            Queues = 2,
            SoakSeconds = 10,
            SampleSeconds = 1,
            WorkDir = _dir.Path,
        };

        SoakResult r = SoakRun.Execute(options, TextWriter.Null);

        Assert.Equal(2, r.Queues);
        Assert.All(WorkloadCatalog.All, w => Assert.True(r.OpsByWorkload[w.Name] > 0, $"{w.Name} did not run"));
        // Baseline, a sample a second (however many the machine managed), the end.
        Assert.True(r.Samples.Count >= 3, $"{r.Samples.Count} samples");
        Assert.All(r.Samples, s => Assert.True(s.RssKb > 0 && s.Fds > 0 && s.Threads > 0, $"empty sample at {s.Seconds} s"));
        Assert.Equal(r.Baseline.OtherFds, r.End.OtherFds);
        Assert.True(r.End.PathFds > 0 && r.FdsBack, $"O_PATH fds {r.Baseline.PathFds} -> {r.End.PathFds}");

        string markdown = SoakReport.Render(r, "soak.svg");
        Assert.Contains("The fd count is back at the baseline", markdown, StringComparison.Ordinal);
        XDocument svg = XDocument.Parse(SoakReport.RenderSvg(r));
        Assert.Equal(2, svg.Descendants().Count(e => e.Name.LocalName == "polyline"));
    }
}
