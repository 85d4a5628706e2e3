using VirtioFsd.Bench.Daemons;
using VirtioFsd.Bench.Workloads;

namespace VirtioFsd.Bench.Report;

/// <summary>Medians over rounds of one workload on one configuration, with the spread of ops/s.</summary>
public sealed record Cell(string Config, string Workload, int Rounds, double OpsPerSecond, double MiBPerSecond,
    double P50Us, double P99Us, double CpuUsPerOp, double SpreadPercent, long ExtraPerOp);

/// <summary>Reduces a run to medians, the better C configuration per workload and the ours/C ratios.</summary>
public sealed class Summary
{
    public Summary(BenchResults results)
    {
        Results = results;
        foreach (var g in results.Measurements.GroupBy(m => (m.Config, m.Workload)))
        {
            var ops = g.Select(m => m.OpsPerSecond).ToList();
            double median = Median(ops);
            Cells[(g.Key.Config, g.Key.Workload)] = new Cell(g.Key.Config, g.Key.Workload, ops.Count, median,
                Median(g.Select(m => m.MiBPerSecond)), Median(g.Select(m => m.P50Us)), Median(g.Select(m => m.P99Us)),
                Median(g.Select(m => m.CpuUsPerOp)), median == 0 ? 0 : (ops.Max() - ops.Min()) * 100 / median,
                g.First().ExtraPerOp);
        }
    }

    public BenchResults Results { get; }

    public Dictionary<(string Config, string Workload), Cell> Cells { get; } = [];

    public IEnumerable<DaemonConfig> OursConfigs => Results.Configs.Where(c => c.Family == DaemonConfig.Ours);

    public IEnumerable<DaemonConfig> CConfigs => Results.Configs.Where(c => c.Family == DaemonConfig.C && !Results.Failures.ContainsKey(c.Label));

    public Cell? Get(string config, string workload) => Cells.GetValueOrDefault((config, workload));

    /// <summary>The C configuration with the higher median ops/s on this workload: the C figure.</summary>
    public Cell? BestC(string workload) => CConfigs.Select(c => Get(c.Label, workload)).OfType<Cell>()
        .OrderByDescending(c => c.OpsPerSecond).FirstOrDefault();

    /// <summary>ours ops/s divided by the best C ops/s (NaN without a C figure).</summary>
    public double Ratio(string oursConfig, string workload)
    {
        Cell? ours = Get(oursConfig, workload);
        Cell? c = BestC(workload);
        return ours is null || c is null || c.OpsPerSecond == 0 ? double.NaN : ours.OpsPerSecond / c.OpsPerSecond;
    }

    public static double Median(IEnumerable<double> values)
    {
        double[] v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0)
        {
            return 0;
        }
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
    }
}
