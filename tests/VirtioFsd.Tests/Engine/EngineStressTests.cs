using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Engine;

/// <summary>The fd-count checks need the process to themselves: no other test class runs beside this collection.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EngineCollection
{
    public const string Name = "engine-fd-count";
}

/// <summary>
/// The daemon's device under load through a QEMU-like frontend: thousands of READ/WRITE requests in
/// flight over several queues, every byte checked, no descriptor left behind — on each engine.
/// </summary>
[Collection(EngineCollection.Name)]
public class EngineStressTests
{
    private const int Queues = 4;
    private const int Depth = 64;
    private const int MaxTransfer = 128 * 1024;
    private const int InputFiles = 4;

    public static TheoryData<DaemonEngine> Engines => new() { DaemonEngine.Sync, DaemonEngine.IoUring, DaemonEngine.IoUringAllTransfers };

    [SkippableTheory]
    [MemberData(nameof(Engines))]
    public void Thousands_of_concurrent_reads_and_writes_on_four_queues_move_every_byte_right_and_leak_no_fd(DaemonEngine engine)
    {
        // The first run opens what the runtime keeps open afterwards (assembly mappings, thread-pool fds).
        Scenario(engine, opsPerQueue: 50);
        Dictionary<string, string> before = FdTable.Snapshot();

        int answered = Scenario(engine, opsPerQueue: 1500);

        Assert.True(answered >= Queues * 1500, $"only {answered} requests answered");
        FdTable.AssertNoneAdded(before);
    }

    [SkippableFact]
    public void The_io_uring_engine_is_the_one_the_device_uses_here()
    {
        // The machine running these tests has io_uring; otherwise the engine tests above would only test the fallback.
        using var dir = new TempDirectory("virtiofsd-engine-selection-");
        using var h = new DeviceHarness(dir.Path, DaemonEngine.IoUring, 1, 4, 4096);
        Assert.Equal(VirtioFsd.Device.IoEngineKind.IoUring, h.Device.Engine);
    }

    /// <summary>Returns the number of requests answered (checked) in the concurrent phase.</summary>
    private static int Scenario(DaemonEngine engine, int opsPerQueue)
    {
        using var dir = new TempDirectory("virtiofsd-engine-stress-");
        var inputs = new byte[InputFiles][];
        for (int i = 0; i < InputFiles; i++)
        {
            inputs[i] = new byte[(1 << 20) + (i * 1237) + 123];
            new Random(i).NextBytes(inputs[i]);
            File.WriteAllBytes(dir.Combine($"in{i}"), inputs[i]);
        }

        using var h = new DeviceHarness(dir.Path, engine, Queues, Depth, MaxTransfer);
        QueueDriver setup = h.Drivers[0];
        FuseCalls.Init(setup);
        var inputNodes = new (ulong Node, ulong Fh)[InputFiles];
        for (int i = 0; i < InputFiles; i++)
        {
            ulong node = FuseCalls.Ok(FuseCalls.Lookup(setup, 1, $"in{i}"));
            inputNodes[i] = (node, FuseCalls.Ok(FuseCalls.Open(setup, node, Libc.O_RDONLY)));
        }
        var outputs = new (ulong Node, ulong Fh)[Queues];
        for (int q = 0; q < Queues; q++)
        {
            (int error, ulong node, ulong fh) = FuseCalls.Create(setup, 1, $"out{q}");
            Assert.Equal(0, error);
            outputs[q] = (node, fh);
        }

        // Each queue reads random ranges of the inputs and writes its own output file in chunks.
        var expected = new List<byte>[Queues];
        int[] answered = new int[Queues];
        var failures = new Exception?[Queues];
        var threads = new Thread[Queues];
        for (int q = 0; q < Queues; q++)
        {
            int queue = q;
            expected[q] = [];
            threads[q] = new Thread(() =>
            {
                try
                {
                    answered[queue] = h.Drivers[queue].Run(Mix(queue, opsPerQueue, inputs, inputNodes, outputs[queue], expected[queue]), Depth);
                }
                catch (Exception e)
                {
                    failures[queue] = e;
                }
            });
            threads[q].Start();
        }
        foreach (Thread t in threads)
        {
            t.Join();
        }
        foreach (Exception? e in failures)
        {
            if (e is not null)
            {
                throw new InvalidOperationException("a queue failed", e);
            }
        }

        // Every written byte, read back through the device and straight from the host file.
        for (int q = 0; q < Queues; q++)
        {
            byte[] want = [.. expected[q]];
            var back = new byte[want.Length];
            h.Drivers[q].Run(ReadAll(outputs[q], back), Depth);
            Assert.Equal(want, back);
            Assert.Equal(want, File.ReadAllBytes(dir.Combine($"out{q}")));
        }
        foreach ((ulong node, ulong fh) in inputNodes.Concat(outputs))
        {
            Assert.Equal(0, FuseCalls.Release(setup, node, fh));
        }
        return answered.Sum();
    }

    private static IEnumerable<FuseCall> Mix(int queue, int ops, byte[][] inputs, (ulong Node, ulong Fh)[] inputNodes,
        (ulong Node, ulong Fh) output, List<byte> written)
    {
        var rng = new Random(1000 + queue);
        int chunk = (48 * 1024) + (queue * 1001);
        int chunks = 0;
        for (int i = 0; i < ops; i++)
        {
            if (rng.Next(3) == 0)
            {
                var data = new byte[chunk];
                rng.NextBytes(data);
                written.AddRange(data);
                yield return FuseCalls.WriteCall(output.Node, output.Fh, (ulong)chunks * (ulong)chunk, data, (error, written) =>
                {
                    Assert.Equal(0, error);
                    Assert.Equal((uint)data.Length, written);
                });
                chunks++;
            }
            else
            {
                int f = rng.Next(InputFiles);
                byte[] file = inputs[f];
                int offset = rng.Next(file.Length + 1000);
                int size = rng.Next(1, MaxTransfer + 1);
                int available = Math.Clamp(file.Length - offset, 0, size);
                byte[] want = file.AsSpan(Math.Min(offset, file.Length), available).ToArray();
                yield return FuseCalls.ReadCall(inputNodes[f], (ulong)offset, size, data => Assert.Equal(want, data));
            }
        }
    }

    private static IEnumerable<FuseCall> ReadAll((ulong Node, ulong Fh) file, byte[] into)
    {
        for (int offset = 0; offset < into.Length; offset += MaxTransfer)
        {
            int at = offset;
            yield return FuseCalls.ReadCall(file, (ulong)offset, MaxTransfer, data =>
            {
                Assert.Equal(Math.Min(MaxTransfer, into.Length - at), data.Length);
                data.CopyTo(into, at);
            });
        }
    }
}
