using System.Buffers.Binary;
using System.Xml.Linq;
using VirtioFsd.Bench;
using VirtioFsd.Bench.Fuse;
using VirtioFsd.Bench.Report;
using VirtioFsd.Bench.Workloads;

namespace VirtioFsd.Tests.Bench;

/// <summary>
/// Keeps the benchmark working: a short, count-bounded run of every workload against our daemon (a few
/// hundred operations per queue, two request queues), then the report and the chart built from it.
/// Nothing here looks at how fast anything was; the time budget is only a hang guard.
/// </summary>
public sealed class BenchSmokeTests : IDisposable
{
    private const int OpsPerQueue = 200;
    private readonly TempDirectory _dir = new("virtiofsd-bench-smoke-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Every_workload_completes_its_operations_against_our_daemon_and_the_report_renders()
    {
        var options = new BenchOptions
        {
            Ours = Process.DaemonProcess.Executable,
            OursOnly = true,
            Small = true,
            Rounds = 1,
            Queues = 2,
            Seconds = 120, // hang guard only: the run ends after OpsPerQueue operations per queue
            WarmupSeconds = 0,
            MaxOps = OpsPerQueue,
            WorkDir = _dir.Path,
        };

        BenchResults results = BenchRun.Execute(options, TextWriter.Null);

        Assert.Empty(results.Failures);
        Assert.Equal(["ours 1q", "ours 2q"], results.Configs.Select(c => c.Label));
        foreach (Workload w in WorkloadCatalog.All)
        {
            foreach (var (config, queues) in new[] { ("ours 1q", 1), ("ours 2q", 2) })
            {
                Measurement m = Assert.Single(results.Measurements, x => x.Config == config && x.Workload == w.Name);
                Assert.Equal(queues, m.Queues);
                Assert.Equal(OpsPerQueue * queues, m.Ops);
                Assert.True(m.P50Us > 0 && m.P99Us >= m.P50Us, $"{config} {w.Name}: p50 {m.P50Us} p99 {m.P99Us}");
            }
        }
        Measurement read = results.Measurements.First(m => m.Workload == "randread-4k-qd32");
        Assert.Equal(read.Ops * 4096, read.Bytes);
        Measurement listing = results.Measurements.First(m => m.Workload.StartsWith("readdirplus", StringComparison.Ordinal));
        Assert.True(listing.ExtraPerOp >= 300, $"a listing returned {listing.ExtraPerOp} entries of a 300-entry directory");
        SessionFacts session = Assert.Single(results.Sessions, s => s.Config == "ours 2q");
        Assert.Equal(2, session.QueuesUsed);
        Assert.True(session.PeakRssKb > 0);

        var summary = new Summary(results);
        string markdown = MarkdownReport.Render(summary, MachineInfo.Collect("/nonexistent"), options, "chart.svg");
        Assert.All(WorkloadCatalog.All, w => Assert.Contains($"#### {w.Name}", markdown, StringComparison.Ordinal));
        XDocument svg = XDocument.Parse(SvgChart.Render(summary));
        // One bar per (workload, configuration), each a <rect> besides the background and legend swatches.
        int bars = svg.Descendants().Count(e => e.Name.LocalName == "rect") - 1 - results.Configs.Count;
        Assert.Equal(WorkloadCatalog.All.Count * results.Configs.Count, bars);
    }

    /// <summary>With --rust the Rust virtiofsd 1.13 is the peer: its set-ups run every workload and the report names it.</summary>
    [SkippableFact]
    public void The_rust_daemon_as_the_peer_runs_every_workload_and_the_report_names_it()
    {
        Skip.IfNot(Vm.VmRun.HasTrixieRoot, "no Debian 13 root with the Rust virtiofsd (scripts/setup.sh makes it as root)");
        var options = BenchOptions.Parse(["--ours", Process.DaemonProcess.Executable,
            "--rust", Vm.VmRun.Script("scripts/rust-virtiofsd.sh"), "--small", "--rounds", "1", "--queues", "1",
            "--seconds", "120", "--warmup", "0", "--max-ops", OpsPerQueue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--workdir", _dir.Path]);

        BenchResults results = BenchRun.Execute(options, TextWriter.Null);

        Assert.Empty(results.Failures);
        Assert.Equal(["ours 1q", "Rust pool=0 (default)", "Rust pool=4"], results.Configs.Select(c => c.Label));
        Assert.All(WorkloadCatalog.All, w => Assert.Equal(OpsPerQueue,
            Assert.Single(results.Measurements, m => m.Config == "Rust pool=4" && m.Workload == w.Name).Ops));
        string markdown = MarkdownReport.Render(new Summary(results), MachineInfo.Collect(options.Rust!), options, null);
        Assert.Contains("ours / best Rust configuration", markdown, StringComparison.Ordinal);
        Assert.Contains("virtiofsd 1.13", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void Report_block_is_replaced_in_place_and_hand_written_text_around_it_survives()
    {
        string path = _dir.Combine("report.md");
        File.WriteAllText(path, $"# Title\n\nbefore\n\n{MarkdownReport.Begin}\nold figures\n{MarkdownReport.End}\n\nafter: profile notes\n");
        var results = new BenchResults([], [], [], [], []);
        MarkdownReport.Write(path, new Summary(results), MachineInfo.Collect("/nonexistent"), new BenchOptions { Ours = "x" }, null);
        string text = File.ReadAllText(path);
        Assert.StartsWith("# Title\n\nbefore\n\n" + MarkdownReport.Begin, text, StringComparison.Ordinal);
        Assert.EndsWith(MarkdownReport.End + "\n\nafter: profile notes\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("old figures", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Request_writer_lays_out_fuse_in_header_and_write_in_as_fuse_h()
    {
        byte[] buffer = new byte[256];
        int n = FuseRequestWriter.Write(buffer, unique: 7, node: 9, fh: 11, offset: 4096, size: 512);
        Assert.Equal(FuseSize.InHeader + FuseSize.WriteIn, n);
        Assert.Equal((uint)(n + 512), BinaryPrimitives.ReadUInt32LittleEndian(buffer));           // len counts the payload
        Assert.Equal(FuseOpcode.Write, BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(4)));
        Assert.Equal(7UL, BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(8)));
        Assert.Equal(9UL, BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(16)));
        Assert.Equal(11UL, BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(40)));           // fuse_write_in.fh
        Assert.Equal(4096UL, BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(48)));         // .offset
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(56)));           // .size

        int c = FuseRequestWriter.Create(buffer, 8, 1, "ab", 0xc2, 0x81a4);
        Assert.Equal(FuseSize.InHeader + FuseSize.CreateIn + 3, c);                               // name + NUL
        Assert.Equal((byte)'a', buffer[FuseSize.InHeader + FuseSize.CreateIn]);
        Assert.Equal(0, buffer[c - 1]);
    }
}
