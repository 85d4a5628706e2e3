using System.Diagnostics;
using VirtioFsd.Linux;
using Xunit.Abstractions;

namespace VirtioFsd.Tests.Engine;

/// <summary>
/// Random 4 KiB READs of a page-cached file through the whole device (frontend, vhost-user, queue
/// worker, FUSE server, passthrough), 64 in flight on one queue, per engine. Prints requests per
/// second and process CPU per request; asserts only that every byte read was right.
/// ENGINE_BENCH_OPS sets the requests per engine (default 4000 keeps the regular run short).
/// </summary>
[Trait("Category", "Benchmark")]
[Collection(EngineCollection.Name)]
public sealed class EngineThroughputBenchmark(ITestOutputHelper output)
{
    [SkippableFact]
    public void Cached_4k_reads_at_depth_64_per_engine()
    {
        int ops = int.TryParse(Environment.GetEnvironmentVariable("ENGINE_BENCH_OPS"), out int n) && n > 0 ? n : 4_000;
        using var dir = new TempDirectory("virtiofsd-engine-throughput-");
        var content = new byte[16 << 20];
        new Random(11).NextBytes(content);
        File.WriteAllBytes(dir.Combine("f"), content);
        output.WriteLine($"{ops} random 4 KiB reads, depth 64, one queue, loadavg {File.ReadAllText("/proc/loadavg").Trim()}");
        // Two rounds: the first one pays for JIT and first-touch of everything; read the second.
        DaemonEngine[] engines = [DaemonEngine.Sync, DaemonEngine.IoUring, DaemonEngine.IoUringAllTransfers];
        foreach (DaemonEngine engine in engines.Concat(engines))
        {
            using var h = new DeviceHarness(dir.Path, engine, 1, 64, 4096);
            QueueDriver driver = h.Drivers[0];
            FuseCalls.Init(driver);
            ulong node = FuseCalls.Ok(FuseCalls.Lookup(driver, 1, "f"));
            ulong fh = FuseCalls.Ok(FuseCalls.Open(driver, node, Libc.O_RDONLY));
            driver.Run(Reads(node, fh, content, ops / 4, 1), 64); // warm-up
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            self.Refresh();
            TimeSpan cpu0 = self.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            int answered = driver.Run(Reads(node, fh, content, ops, 2), 64);
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            self.Refresh();
            Assert.Equal(ops, answered);
            double cpuUs = (self.TotalProcessorTime - cpu0).TotalSeconds * 1e6 / ops;
            output.WriteLine($"  {engine,-20} {ops / seconds,9:F0} req/s  cpu {cpuUs,6:F1} us/req (frontend included)");
            Assert.Equal(0, FuseCalls.Release(driver, node, fh));
        }
    }

    private static IEnumerable<FuseCall> Reads(ulong node, ulong fh, byte[] content, int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int block = rng.Next(content.Length / 4096);
            byte[] want = content.AsSpan(block * 4096, 4096).ToArray();
            yield return FuseCalls.ReadCall((node, fh), (ulong)block * 4096, 4096, data => Assert.Equal(want, data));
        }
    }
}
