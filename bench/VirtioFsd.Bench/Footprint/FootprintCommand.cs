using System.Globalization;
using System.Text;
using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Daemons;
using VirtioFsd.Bench.Workloads;

namespace VirtioFsd.Bench.Footprint;

/// <summary>
/// `virtiofsd-bench --footprint`: what one daemon costs a host that starts one per VM or pod. Per set-up and round,
/// alternating set-ups: time from exec to the socket; RSS, PSS and threads of the idle daemon's process tree;
/// the same connected with 1 and with N request queues, idle (threads and memory per idle request queue); then
/// under the daemon-level load on N queues, ops/s and the peak RSS less the guest RAM the daemon touched.
/// Medians over the rounds are printed.
/// </summary>
public static class FootprintCommand
{
    /// <summary>The default load: one workload per kind (small reads in flight, large reads, metadata); --workloads
    /// picks others (e.g. create-release-unlink-qd16, which makes and drops an inode per operation).</summary>
    private static readonly string[] DefaultLoad = ["randread-4k-qd32", "seqread-1m-qd4", "lookup-getattr-qd16"];

    /// <summary>The workloads of the load: --workloads, or <see cref="DefaultLoad"/>.</summary>
    private static IReadOnlyList<string> LoadWorkloads(BenchOptions o) => o.Workloads.Count > 0 ? o.Workloads : DefaultLoad;

    /// <summary>Settling time before an idle sample: start-up work that follows the socket (logging, threads) ends.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(500);

    /// <summary>Settling time after a connection before a sample (and before the load): the set-up is over, and our
    /// daemon, which gives back what a phase of work touched once it sees a quiet 250 ms window (checked every
    /// 250 ms to 1 s here), has done so.</summary>
    private static readonly TimeSpan ConnectedSettle = TimeSpan.FromMilliseconds(1500);

    public static int Run(BenchOptions o)
    {
        if (LoadWorkloads(o).FirstOrDefault(w => WorkloadCatalog.All.All(c => c.Name != w)) is { } unknown)
        {
            Console.Error.WriteLine($"unknown workload {unknown}");
            return 2;
        }
        var data = o.Small
            ? new DataSet(Path.Combine(o.WorkDir, "share"), 8L << 20, 8L << 20, 100, 300)
            : new DataSet(Path.Combine(o.WorkDir, "share"), 64L << 20, 64L << 20, 1000, 300);
        Console.WriteLine($"preparing {data.Root}");
        data.Create();
        List<DaemonConfig> configs = Configs(o);
        var rows = configs.ToDictionary(c => c.Label, c => new List<FootprintSample>());
        for (int round = 0; round < o.Rounds; round++)
        {
            IEnumerable<DaemonConfig> order = round % 2 == 0 ? configs : Enumerable.Reverse(configs);
            foreach (DaemonConfig config in order)
            {
                FootprintSample s = Measure(config, data, o);
                rows[config.Label].Add(s);
                Console.WriteLine($"round {round + 1}/{o.Rounds} {s.Describe(config.Label)}");
            }
        }
        string report = Render(o, configs, rows);
        if (o.Report is not null)
        {
            File.WriteAllText(o.Report, report);
        }
        Console.Write(report);
        return 0;
    }

    private static List<DaemonConfig> Configs(BenchOptions o)
    {
        Func<string, string, IReadOnlyList<string>> args = (socket, dir) =>
            ["--socket-path", socket, "--shared-dir", dir, "--cache", "auto", "--sandbox", o.Sandbox];
        var configs = new List<DaemonConfig> { new(DaemonConfig.Ours, o.OursLabel, o.Ours, args, o.Queues) };
        configs.AddRange(o.Also.Select(a => new DaemonConfig(DaemonConfig.Ours, a.Label, a.Path, args, o.Queues)));
        if (o.Rust is { } rust)
        {
            configs.Add(new DaemonConfig("Rust", "Rust 1.13", rust, args, o.Queues));
        }
        return configs;
    }

    /// <summary>Starts per round and set-up that only time the socket: one start per round was too few for a
    /// median of a few milliseconds on a busy 2-core machine (spreads of 5 ms between rounds).</summary>
    private const int TimingStarts = 9;

    private static FootprintSample Measure(DaemonConfig config, DataSet data, BenchOptions o)
    {
        string socket = Path.Combine(o.WorkDir, "footprint.sock");
        var s = new FootprintSample();
        var starts = new List<double>();
        for (int i = 0; i < TimingStarts; i++)
        {
            using RunningDaemon timed = RunningDaemon.Start(config, socket, data.Root);
            starts.Add(timed.StartupTime.TotalMilliseconds);
        }
        // Every daemon here exits when its frontend disconnects (as virtiofsd does): one start per connection.
        using (RunningDaemon daemon = RunningDaemon.Start(config, socket, data.Root))
        {
            starts.Add(daemon.StartupTime.TotalMilliseconds);
            s.StartupMs = Median(starts);
            Thread.Sleep(Settle);
            s.Idle = TreeUsage.Of(daemon.Pid);
            using FsConnection one = FsConnection.Open(socket, 1, WorkloadCatalog.MaxDepth, 1 << 20);
            Thread.Sleep(ConnectedSettle);
            s.OneQueue = TreeUsage.Of(daemon.Pid);
        }
        using (RunningDaemon daemon = RunningDaemon.Start(config, socket, data.Root))
        {
            using FsConnection many = FsConnection.Open(socket, config.RequestQueues, WorkloadCatalog.MaxDepth, 1 << 20);
            s.QueuesUsed = many.Runners.Count;
            Thread.Sleep(ConnectedSettle);
            s.ManyQueues = TreeUsage.Of(daemon.Pid);
            foreach (QueueRunner runner in many.Runners)
            {
                runner.PeerAlive = () => !daemon.HasExited && Directory.Exists($"/proc/{daemon.Pid}");
            }
            // The peak under load is measured from here: VmHWM otherwise also holds start-up's transient peak.
            (long startPeakKb, long startGuestKb) = ProcStats.PeakRssKb(daemon.Pid, VhostUserFrontend.GuestRam.MemfdName);
            if (!ProcStats.ResetPeak(daemon.Pid))
            {
                Console.WriteLine("warning: cannot reset VmHWM (/proc/PID/clear_refs); the peak under load includes start-up");
            }
            var session = new SessionRunner(many, data, daemon.Pid, config.Label);
            IReadOnlyList<string> load = LoadWorkloads(o);
            foreach (Workload w in WorkloadCatalog.All.Where(w => load.Contains(w.Name)))
            {
                session.Measure(w, TimeSpan.FromSeconds(o.WarmupSeconds), o.MaxOps, 1);
                s.OpsPerSecond[w.Name] = session.Measure(w, TimeSpan.FromSeconds(o.Seconds), o.MaxOps, 1000).OpsPerSecond;
            }
            (long peakKb, long guestKb) = ProcStats.PeakRssKb(daemon.Pid, VhostUserFrontend.GuestRam.MemfdName);
            s.LoadedPeakKb = peakKb - guestKb;
            s.LifetimePeakKb = Math.Max(startPeakKb - startGuestKb, s.LoadedPeakKb);
            s.LoadedThreads = TreeUsage.Of(daemon.Pid).Threads;
        }
        return s;
    }

    private static string Render(BenchOptions o, List<DaemonConfig> configs, Dictionary<string, List<FootprintSample>> rows)
    {
        IReadOnlyList<string> load = LoadWorkloads(o);
        var s = new StringBuilder();
        static string Mib(double kb) => (kb / 1024).ToString("F1", CultureInfo.InvariantCulture);
        s.AppendLine(CultureInfo.InvariantCulture, $"### Footprint: `--sandbox {o.Sandbox}`, medians of {o.Rounds} rounds ({DateTime.UtcNow:yyyy-MM-dd})");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Generated by `virtiofsd-bench --footprint` (scripts/bench_footprint.sh). \"socket ms\" = from Process.Start to the socket file (polled every 1 ms), the median of {TimingStarts + 1} starts per round; RSS and PSS are summed over the daemon's process tree, without the guest RAM it maps; \"idle\" is {Settle.TotalMilliseconds:F0} ms after the socket appeared, \"1q\"/\"{o.Queues}q\" connected and initialised with that many request queues, idle {ConnectedSettle.TotalMilliseconds:F0} ms later; \"per queue\" = ({o.Queues}q - 1q) / (queues used - 1). Load: {string.Join(", ", load)} on all queues, {o.Seconds} s each; peak = VmHWM, reset (clear_refs) when the load starts, less the guest RAM resident in the daemon; \"since start\" = VmHWM from exec, start-up included.");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"| daemon | socket ms | idle RSS MiB | idle PSS MiB | idle threads | 1q RSS / threads | {o.Queues}q RSS / threads | per idle queue KiB / threads | peak RSS under load MiB | peak RSS since start MiB | {string.Join(" | ", load.Select(w => w + " ops/s"))} |");
        s.AppendLine(CultureInfo.InvariantCulture, $"|---|---|---|---|---|---|---|---|---|---|{string.Concat(load.Select(_ => "---|"))}");
        foreach (DaemonConfig c in configs)
        {
            List<FootprintSample> r = rows[c.Label];
            double M(Func<FootprintSample, double> f) => Median(r.Select(f));
            int used = r[0].QueuesUsed;
            string perQueue = used > 1
                ? string.Create(CultureInfo.InvariantCulture, $"{M(x => x.ManyQueues.RssKb - x.OneQueue.RssKb) / (used - 1):F0} / {M(x => x.ManyQueues.Threads - x.OneQueue.Threads) / (used - 1):F1}")
                : "n/a (1 queue offered)";
            s.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Label} | {M(x => x.StartupMs):F1} | {Mib(M(x => x.Idle.RssKb))} | {Mib(M(x => x.Idle.PssKb))} | {M(x => x.Idle.Threads):F0} | {Mib(M(x => x.OneQueue.RssKb))} / {M(x => x.OneQueue.Threads):F0} | {Mib(M(x => x.ManyQueues.RssKb))} / {M(x => x.ManyQueues.Threads):F0} ({used} used) | {perQueue} | {Mib(M(x => x.LoadedPeakKb))} | {Mib(M(x => x.LifetimePeakKb))} | {string.Join(" | ", load.Select(w => M(x => x.OpsPerSecond.GetValueOrDefault(w)).ToString("N0", CultureInfo.InvariantCulture)))} |");
        }
        return s.ToString();
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] v = [.. values.Order()];
        return v.Length == 0 ? 0 : v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
    }
}

/// <summary>One round of one set-up.</summary>
public sealed class FootprintSample
{
    public double StartupMs { get; set; }

    public TreeUsage Idle { get; set; }

    public TreeUsage OneQueue { get; set; }

    public TreeUsage ManyQueues { get; set; }

    public int QueuesUsed { get; set; }

    public long LoadedPeakKb { get; set; }

    /// <summary>VmHWM since exec (start-up included), guest RAM excluded.</summary>
    public long LifetimePeakKb { get; set; }

    public int LoadedThreads { get; set; }

    public Dictionary<string, double> OpsPerSecond { get; } = [];

    public string Describe(string label)
    {
        string ops = string.Join(", ", OpsPerSecond.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:F0}/s")));
        return string.Create(CultureInfo.InvariantCulture,
            $"{label}: socket {StartupMs:F1} ms, idle {Idle.RssKb} kB RSS {Idle.PssKb} kB PSS {Idle.Threads} threads, 1q {OneQueue.RssKb} kB {OneQueue.Threads} thr, {QueuesUsed}q {ManyQueues.RssKb} kB {ManyQueues.Threads} thr, load peak {LoadedPeakKb} kB (since start {LifetimePeakKb} kB) {LoadedThreads} thr, {ops}");
    }
}

/// <summary>RSS and PSS (kB, guest RAM excluded) and threads summed over a process tree, from /proc.</summary>
public readonly record struct TreeUsage(long RssKb, long PssKb, int Threads)
{
    public static TreeUsage Of(int pid)
    {
        long rss = 0, pss = 0;
        int threads = 0;
        foreach (int p in ProcStats.Tree(pid))
        {
            try
            {
                long guest = ProcStats.MappedRssKb(p, "/memfd:" + VhostUserFrontend.GuestRam.MemfdName);
                foreach (string line in File.ReadLines($"/proc/{p}/smaps_rollup"))
                {
                    if (line.StartsWith("Rss:", StringComparison.Ordinal))
                    {
                        rss += Kb(line) - guest;
                    }
                    else if (line.StartsWith("Pss:", StringComparison.Ordinal))
                    {
                        // Guest RAM is shared with the frontend: about half of it counts in PSS; take it out whole.
                        pss += Math.Max(0, Kb(line) - guest);
                    }
                }
                string? t = File.ReadLines($"/proc/{p}/status").FirstOrDefault(l => l.StartsWith("Threads:", StringComparison.Ordinal));
                threads += t is null ? 0 : int.Parse(t[8..].Trim(), CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended between listing and reading.
            }
        }
        return new TreeUsage(rss, pss, threads);
    }

    private static long Kb(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
