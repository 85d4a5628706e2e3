using System.Diagnostics;
using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Daemons;

namespace VirtioFsd.Bench.Workloads;

/// <summary>
/// Measures workloads on one connected daemon: per workload, every request queue is prepared (unmeasured
/// setup), then all queues run their loops at once on their own threads for the time budget; the daemon's
/// CPU ticks are read just before and after the measured phase.
/// </summary>
public sealed class SessionRunner(FsConnection connection, DataSet data, int daemonPid, string config)
{
    /// <summary>The I/O size of the "1 MiB" workloads: 1 MiB unless the daemon's max_write/max_pages are smaller.</summary>
    public int IoBlock
    {
        get
        {
            long block = 1 << 20;
            if (connection.MaxWrite > 0)
            {
                block = Math.Min(block, connection.MaxWrite);
            }
            if (connection.MaxPages > 0)
            {
                block = Math.Min(block, connection.MaxPages * 4096L);
            }
            return (int)block;
        }
    }

    public Measurement Measure(Workload workload, TimeSpan budget, long maxOpsPerQueue, int seed)
    {
        IReadOnlyList<QueueRunner> runners = connection.Runners;
        var prepared = new PreparedQueue[runners.Count];
        for (int q = 0; q < runners.Count; q++)
        {
            prepared[q] = workload.Prepare(new WorkloadSetup(runners[q], data, IoBlock, seed + (q * 7919)));
        }
        var results = new QueueResult[runners.Count];
        var errors = new Exception?[runners.Count];
        using var go = new ManualResetEventSlim(false);
        var threads = new Thread[runners.Count];
        long stopAt = 0;
        for (int q = 0; q < runners.Count; q++)
        {
            int index = q;
            threads[q] = new Thread(() =>
            {
                go.Wait();
                try
                {
                    results[index] = runners[index].Run(prepared[index].Program, workload.Depth, maxOpsPerQueue, Volatile.Read(ref stopAt));
                }
                catch (Exception e) when (e is BenchException or VhostUserFrontend.VhostUserFrontendException or InvalidOperationException)
                {
                    errors[index] = e;
                }
            })
            { IsBackground = true, Name = $"bench q{q}" };
            threads[q].Start();
        }
        long cpu0 = ProcStats.CpuTicks(daemonPid);
        long t0 = Stopwatch.GetTimestamp();
        Volatile.Write(ref stopAt, t0 + (long)(budget.TotalSeconds * Stopwatch.Frequency));
        go.Set();
        foreach (Thread t in threads)
        {
            t.Join();
        }
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        long cpu1 = ProcStats.CpuTicks(daemonPid);
        if (errors.FirstOrDefault(e => e is not null) is { } error)
        {
            throw new BenchException($"{config} {workload.Name}: {error.Message}");
        }
        foreach (PreparedQueue p in prepared)
        {
            p.Teardown();
        }
        long ops = results.Sum(r => r.Ops);
        var latencies = results.SelectMany(r => r.Latencies).ToArray();
        Array.Sort(latencies);
        long extra = prepared[0].Program is ReaddirplusProgram ? prepared.Sum(p => ((ReaddirplusProgram)p.Program).Entries) / Math.Max(1, ops) : 0;
        return new Measurement(config, workload.Name, runners.Count, ops, results.Sum(r => r.Bytes), seconds,
            Percentile(latencies, 0.50), Percentile(latencies, 0.99),
            ops == 0 ? 0 : (cpu1 - cpu0) * 1e6 / ProcStats.TicksPerSecond / ops, extra);
    }

    private static double Percentile(long[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return 0;
        }
        int i = Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1);
        return sorted[Math.Max(0, i)] * 1e6 / Stopwatch.Frequency;
    }
}
