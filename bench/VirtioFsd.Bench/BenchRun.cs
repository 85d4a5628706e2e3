using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Daemons;
using VirtioFsd.Bench.Workloads;

namespace VirtioFsd.Bench;

/// <summary>Per daemon session: how long it took to listen and how much memory it peaked at.</summary>
public sealed record SessionFacts(string Config, int Round, double StartupMs, long PeakRssKb, long GuestRamRssKb, int QueuesUsed, int IoBlock);

/// <summary>Everything one run measured.</summary>
public sealed record BenchResults(List<Measurement> Measurements, List<SessionFacts> Sessions, List<DaemonConfig> Configs,
    List<Workload> Workloads, Dictionary<string, string> Failures);

/// <summary>
/// The run: builds the data set once, then for each round starts every daemon configuration in turn
/// (order reversed on odd rounds so neither side always runs first on a warming machine) and measures
/// every workload on it.
/// </summary>
public static class BenchRun
{
    public static BenchResults Execute(BenchOptions o, TextWriter log)
    {
        var data = new DataSet(Path.Combine(o.WorkDir, "share"),
            o.Small ? 8L << 20 : 64L << 20, o.Small ? 8L << 20 : 256L << 20, o.Small ? 100 : 1000, o.Small ? 300 : 10_000);
        log.WriteLine($"preparing {data.Root}");
        data.Create();
        // Ours and C interleaved: ours 1q, the C set-ups, ours with all queues.
        var configs = new List<DaemonConfig> { DaemonConfig.OursWith(o.Ours, 1) };
        if (o.Baseline is { } baseline)
        {
            configs.Add(DaemonConfig.BaselineWith(baseline, 1));
            if (o.Queues > 1)
            {
                configs.Add(DaemonConfig.BaselineWith(baseline, o.Queues));
            }
        }
        else if (!o.OursOnly)
        {
            foreach (string pool in o.CPools)
            {
                int? size = pool == "default" ? null : int.Parse(pool, System.Globalization.CultureInfo.InvariantCulture);
                configs.Add(o.Rust is { } rust ? DaemonConfig.RustWith(rust, size) : DaemonConfig.CWith(o.CDaemon, size));
            }
        }
        if (o.Queues > 1)
        {
            configs.Add(DaemonConfig.OursWith(o.Ours, o.Queues));
        }
        if (o.Only is not null)
        {
            configs.RemoveAll(c => !c.Family.Equals(o.Only, StringComparison.OrdinalIgnoreCase));
        }
        if (o.Wrap.Count > 0)
        {
            configs = [.. configs.Select(c => c with
            {
                Executable = o.Wrap[0],
                Arguments = (socket, dir) => [.. o.Wrap.Skip(1), c.Executable, .. c.Arguments(socket, dir)],
            })];
        }
        var workloads = WorkloadCatalog.All.Where(w => o.Workloads.Count == 0 || o.Workloads.Contains(w.Name)).ToList();
        var measurements = new List<Measurement>();
        var sessions = new List<SessionFacts>();
        var failures = new Dictionary<string, string>();
        for (int round = 0; round < o.Rounds; round++)
        {
            IEnumerable<DaemonConfig> order = round % 2 == 0 ? configs : Enumerable.Reverse(configs);
            foreach (DaemonConfig config in order.Where(c => !failures.ContainsKey(c.Label)))
            {
                string socket = Path.Combine(o.WorkDir, "bench.sock");
                using RunningDaemon daemon = RunningDaemon.Start(config, socket, data.Root);
                log.WriteLine($"round {round + 1}/{o.Rounds} {config.Label}: pid {daemon.Pid}, socket after {daemon.StartupTime.TotalMilliseconds:F1} ms");
                try
                {
                    using FsConnection connection = FsConnection.Open(socket, config.RequestQueues, WorkloadCatalog.MaxDepth, 1 << 20);
                    foreach (QueueRunner runner in connection.Runners)
                    {
                        runner.PeerAlive = () => !daemon.HasExited && Directory.Exists($"/proc/{daemon.Pid}");
                    }
                    var session = new SessionRunner(connection, data, daemon.Pid, config.Label);
                    foreach (Workload w in workloads)
                    {
                        if (o.WarmupSeconds > 0)
                        {
                            session.Measure(w, TimeSpan.FromSeconds(o.WarmupSeconds), o.MaxOps, 1);
                        }
                        Measurement m = session.Measure(w, TimeSpan.FromSeconds(o.Seconds), o.MaxOps, 1000 + round);
                        measurements.Add(m);
                        log.WriteLine($"  {w.Name,-28} {m.OpsPerSecond,10:F0} ops/s {m.MiBPerSecond,8:F1} MiB/s p50 {m.P50Us,8:F1} us p99 {m.P99Us,8:F1} us cpu {m.CpuUsPerOp,7:F1} us/op");
                    }
                    (long peakKb, long guestKb) = ProcStats.PeakRssKb(daemon.Pid, VhostUserFrontend.GuestRam.MemfdName);
                    sessions.Add(new SessionFacts(config.Label, round, daemon.StartupTime.TotalMilliseconds,
                        peakKb, guestKb, connection.Runners.Count, session.IoBlock));
                }
                catch (Exception e) when (config.Family == DaemonConfig.C && e is BenchException or VhostUserFrontend.VhostUserFrontendException)
                {
                    // A reference set-up that cannot run here is a finding for the report, not a reason to lose the run.
                    failures[config.Label] = e.Message;
                    log.WriteLine($"  {config.Label} failed, dropped from later rounds: {e.Message}");
                }
                catch (Exception e) when (e is BenchException or VhostUserFrontend.VhostUserFrontendException)
                {
                    throw new BenchException($"{config.Label}: {e.Message}; daemon output: {daemon.Output}");
                }
            }
        }
        // A set-up that could not finish is no candidate for "the better C figure".
        measurements.RemoveAll(m => failures.ContainsKey(m.Config));
        sessions.RemoveAll(f => failures.ContainsKey(f.Config));
        return new BenchResults(measurements, sessions, configs, workloads, failures);
    }
}
