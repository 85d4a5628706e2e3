using VirtioFsd.Bench;
using VirtioFsd.Bench.Footprint;

namespace VirtioFsd.Tests.Bench;

/// <summary>
/// The footprint benchmark (scripts/bench_footprint.sh) for one short round against our daemon, so that CI keeps
/// it working: it starts, connects with 1 and 2 request queues, runs the load and prints a row with figures.
/// It asserts that figures exist, never their size.
/// </summary>
public sealed class FootprintSmokeTests : IDisposable
{
    private readonly Process.TempTree _tree = new("virtiofsd-footprint-smoke-");

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void One_round_prints_start_up_memory_threads_and_throughput()
    {
        string report = Path.Combine(_tree.Root, "footprint.md");
        var options = new BenchOptions
        {
            Ours = Process.DaemonProcess.Executable,
            Footprint = true,
            Rounds = 1,
            Seconds = 0.05,
            WarmupSeconds = 0,
            MaxOps = 200,
            Queues = 2,
            Small = true,
            Sandbox = "none",
            WorkDir = _tree.Root,
            Report = report,
        };

        Assert.Equal(0, FootprintCommand.Run(options));

        string row = File.ReadAllLines(report).Single(l => l.StartsWith("| ours |", StringComparison.Ordinal));
        string[] cells = row.Split('|', StringSplitOptions.TrimEntries)[1..^1];
        Assert.Equal(13, cells.Length);
        Assert.True(double.Parse(cells[1], System.Globalization.CultureInfo.InvariantCulture) > 0, row);
        Assert.True(double.Parse(cells[2], System.Globalization.CultureInfo.InvariantCulture) > 0, row);
        Assert.Contains("(2 used)", cells[6], StringComparison.Ordinal);
        // Peak under load (VmHWM reset when the load starts) and since start: the second includes the first.
        double underLoad = double.Parse(cells[8], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(underLoad > 0, row);
        Assert.True(double.Parse(cells[9], System.Globalization.CultureInfo.InvariantCulture) >= underLoad, row);
        Assert.All(cells[10..], c => Assert.True(double.Parse(c, System.Globalization.CultureInfo.InvariantCulture) > 0, row));
    }
}
