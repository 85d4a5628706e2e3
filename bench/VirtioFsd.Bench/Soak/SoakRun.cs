using System.Diagnostics;
using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Daemons;
using VirtioFsd.Bench.Workloads;

namespace VirtioFsd.Bench.Soak;

/// <summary>What a soak saw: samples over time, the steady-state baseline and the sample after the load stopped.</summary>
public sealed record SoakResult(int Queues, double Seconds, IReadOnlyList<string> Mix, ProcessSample Baseline, ProcessSample End,
    List<ProcessSample> Samples, Dictionary<string, long> OpsByWorkload)
{
    /// <summary>
    /// Every descriptor but the O_PATH ones is back at the baseline (no open file, stream, socket or ring kept), and the
    /// O_PATH ones stayed within the inode fd cache: which handle inodes sit in that cache depends on the load's order.
    /// </summary>
    public bool FdsBack => End.OtherFds == Baseline.OtherFds
        && End.PathFds <= Baseline.PathFds + InodeFdCacheSize;

    /// <summary>The daemon's default inode fd cache (PassthroughOptions.DefaultInodeFdCacheSize).</summary>
    public const int InodeFdCacheSize = 1024;
}

/// <summary>
/// A long mixed load on one daemon: every request queue cycles through the soak workloads in slices, each
/// queue offset by one so different workloads run at once, while a sampler records the daemon's RSS and fd
/// count. The baseline is taken after a warm-up in which every workload ran once on every queue and every
/// name was looked up, so the daemon knows every inode the load can reach: from there the fd count may
/// move only by what is in flight and by the inode fd cache, and once the load has stopped every fd but the
/// cached O_PATH ones must be back at the baseline.
/// </summary>
public static class SoakRun
{
    private const int WarmupOpsPerWorkload = 200;

    public static SoakResult Execute(BenchOptions o, TextWriter log)
    {
        var data = new DataSet(Path.Combine(o.WorkDir, "share"),
            o.Small ? 8L << 20 : 64L << 20, o.Small ? 8L << 20 : 256L << 20, o.Small ? 100 : 1000, o.Small ? 300 : 10_000);
        log.WriteLine($"preparing {data.Root}");
        data.Create();
        DaemonConfig config = DaemonConfig.OursWith(o.Ours, o.Queues);
        using RunningDaemon daemon = RunningDaemon.Start(config, Path.Combine(o.WorkDir, "soak.sock"), data.Root);
        log.WriteLine($"soak: pid {daemon.Pid}, {o.Queues} request queues, {o.SoakSeconds:F0} s, a sample every {o.SampleSeconds:F0} s");
        try
        {
            using FsConnection connection = FsConnection.Open(daemon.SocketPath, o.Queues, WorkloadCatalog.MaxDepth, 1 << 20);
            foreach (QueueRunner runner in connection.Runners)
            {
                runner.PeerAlive = () => !daemon.HasExited && Directory.Exists($"/proc/{daemon.Pid}");
            }
            int ioBlock = new SessionRunner(connection, data, daemon.Pid, config.Label).IoBlock;
            IReadOnlyList<Workload> mix = WorkloadCatalog.All;
            var opsByWorkload = mix.ToDictionary(w => w.Name, _ => 0L);

            Warmup(connection, data, mix, ioBlock, opsByWorkload);
            ProcessSample baseline = ProcessSample.Take(daemon.Pid, 0, 0);
            log.WriteLine($"  baseline: rss {baseline.RssKb} kB, {baseline.Fds} fds, {baseline.Threads} threads");

            var samples = new List<ProcessSample> { baseline };
            long totalOps = 0;
            var clock = Stopwatch.StartNew();
            long endAt = Stopwatch.GetTimestamp() + (long)(o.SoakSeconds * Stopwatch.Frequency);
            double slice = Math.Clamp(o.SoakSeconds / 10, 0.5, 5);
            var errors = new Exception?[connection.Runners.Count];
            var threads = new List<Thread>();
            for (int q = 0; q < connection.Runners.Count; q++)
            {
                int index = q;
                var thread = new Thread(() =>
                {
                    try
                    {
                        for (int i = 0; Stopwatch.GetTimestamp() < endAt; i++)
                        {
                            Workload w = mix[(index + i) % mix.Count];
                            long sliceEnd = Math.Min(endAt, Stopwatch.GetTimestamp() + (long)(slice * Stopwatch.Frequency));
                            long ops = RunOnce(connection.Runners[index], w, data, ioBlock, 1000 + (index * 7919) + i, long.MaxValue, sliceEnd);
                            Interlocked.Add(ref totalOps, ops);
                            lock (opsByWorkload)
                            {
                                opsByWorkload[w.Name] += ops;
                            }
                        }
                    }
                    catch (Exception e) when (e is BenchException or VhostUserFrontend.VhostUserFrontendException or InvalidOperationException)
                    {
                        errors[index] = e;
                        Volatile.Write(ref endAt, 0);
                    }
                })
                { IsBackground = true, Name = $"soak q{q}" };
                threads.Add(thread);
                thread.Start();
            }
            double next = o.SampleSeconds;
            while (threads.Any(t => t.IsAlive))
            {
                if (threads.All(t => t.Join(TimeSpan.FromMilliseconds(200))))
                {
                    break;
                }
                if (clock.Elapsed.TotalSeconds >= next)
                {
                    ProcessSample s = ProcessSample.Take(daemon.Pid, clock.Elapsed.TotalSeconds, Interlocked.Read(ref totalOps));
                    samples.Add(s);
                    log.WriteLine($"  {s.Seconds,6:F0} s: rss {s.RssKb} kB, {s.Fds} fds, {s.Threads} threads, {s.Ops} ops");
                    next += o.SampleSeconds;
                }
            }
            if (errors.FirstOrDefault(e => e is not null) is { } error)
            {
                throw new BenchException($"soak: {error.Message}; daemon output: {daemon.Output}");
            }
            ProcessSample end = ProcessSample.Take(daemon.Pid, clock.Elapsed.TotalSeconds, totalOps);
            samples.Add(end);
            log.WriteLine($"  end: rss {end.RssKb} kB, {end.Fds} fds, {end.OtherFds} not O_PATH (baseline {baseline.Fds}, {baseline.OtherFds}), {end.Ops} ops");
            return new SoakResult(connection.Runners.Count, o.SoakSeconds, [.. mix.Select(w => w.Name)], baseline, end, samples, opsByWorkload);
        }
        catch (Exception e) when (e is VhostUserFrontend.VhostUserFrontendException or InvalidOperationException)
        {
            throw new BenchException($"soak: {e.Message}; daemon output: {daemon.Output}");
        }
    }

    /// <summary>Every workload a few hundred operations on every queue, and a LOOKUP of every name (the lookup workload picks at random).</summary>
    private static void Warmup(FsConnection connection, DataSet data, IReadOnlyList<Workload> mix, int ioBlock, Dictionary<string, long> ops)
    {
        QueueRunner first = connection.Runners[0];
        ulong names = SyncRequests.Lookup(first, SyncRequests.RootNode, DataSet.NamesDir);
        for (int i = 0; i < data.Names; i++)
        {
            SyncRequests.Lookup(first, names, DataSet.NameOf(i));
        }
        for (int q = 0; q < connection.Runners.Count; q++)
        {
            foreach (Workload w in mix)
            {
                ops[w.Name] += RunOnce(connection.Runners[q], w, data, ioBlock, q, WarmupOpsPerWorkload, long.MaxValue);
            }
        }
    }

    private static long RunOnce(QueueRunner runner, Workload w, DataSet data, int ioBlock, int seed, long maxOps, long stopAt)
    {
        PreparedQueue prepared = w.Prepare(new WorkloadSetup(runner, data, ioBlock, seed));
        QueueResult r = runner.Run(prepared.Program, w.Depth, maxOps, stopAt);
        prepared.Teardown();
        return r.Ops;
    }
}
