using System.Runtime.InteropServices;
using System.Text;
using VirtioFsd.Fuse.Abi;
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
        Dictionary<string, string> before = VirtioFsd.Fuzz.Support.FdTable.Snapshot();

        int answered = Scenario(engine, opsPerQueue: 1500);

        Assert.True(answered >= Queues * 1500, $"only {answered} requests answered");
        Dictionary<string, string> after = VirtioFsd.Fuzz.Support.FdTable.Snapshot();
        // The in-process device opens files, rings, eventfds and sockets, never pipes: a pipe is another test's child
        // process output still being read (the runner ends earlier test classes' processes asynchronously).
        var added = after.Where(kv => !before.ContainsKey(kv.Key) && !kv.Value.EndsWith(".dll", StringComparison.Ordinal)
            && !kv.Value.EndsWith(".so", StringComparison.Ordinal) && !kv.Value.StartsWith("pipe:", StringComparison.Ordinal))
            .Select(kv => $"{kv.Key} -> {kv.Value}").ToList();
        Assert.True(added.Count == 0, $"leaked fds: {string.Join(", ", added)}");
    }

    [SkippableFact]
    public void The_io_uring_engine_is_the_one_the_device_uses_here()
    {
        // The machine running these tests has io_uring; otherwise the engine tests above would only test the fallback.
        using var dir = new TempDir();
        using var h = new DeviceHarness(dir.Path, DaemonEngine.IoUring, 1, 4, 4096);
        Assert.Equal(VirtioFsd.Device.IoEngineKind.IoUring, h.Device.Engine);
    }

    /// <summary>Returns the number of requests answered (checked) in the concurrent phase.</summary>
    private static int Scenario(DaemonEngine engine, int opsPerQueue)
    {
        using var dir = new TempDir();
        var inputs = new byte[InputFiles][];
        for (int i = 0; i < InputFiles; i++)
        {
            inputs[i] = new byte[(1 << 20) + (i * 1237) + 123];
            new Random(i).NextBytes(inputs[i]);
            File.WriteAllBytes(Path.Combine(dir.Path, $"in{i}"), inputs[i]);
        }

        using var h = new DeviceHarness(dir.Path, engine, Queues, Depth, MaxTransfer);
        QueueDriver setup = h.Drivers[0];
        Init(setup);
        var inputNodes = new (ulong Node, ulong Fh)[InputFiles];
        for (int i = 0; i < InputFiles; i++)
        {
            ulong node = Lookup(setup, $"in{i}");
            inputNodes[i] = (node, Open(setup, node));
        }
        var outputs = new (ulong Node, ulong Fh)[Queues];
        for (int q = 0; q < Queues; q++)
        {
            outputs[q] = Create(setup, $"out{q}");
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
            Assert.Equal(want, File.ReadAllBytes(Path.Combine(dir.Path, $"out{q}")));
        }
        foreach ((ulong node, ulong fh) in inputNodes.Concat(outputs))
        {
            Release(setup, node, fh);
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
                yield return Write(output, (ulong)chunks * (ulong)chunk, data);
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
                yield return Read(inputNodes[f], (ulong)offset, size, data => Assert.Equal(want, data));
            }
        }
    }

    private static IEnumerable<FuseCall> ReadAll((ulong Node, ulong Fh) file, byte[] into)
    {
        for (int offset = 0; offset < into.Length; offset += MaxTransfer)
        {
            int at = offset;
            yield return Read(file, (ulong)offset, MaxTransfer, data =>
            {
                Assert.Equal(Math.Min(MaxTransfer, into.Length - at), data.Length);
                data.CopyTo(into, at);
            });
        }
    }

    /// <summary>READ; with <paramref name="tolerateCancel"/> a stopping queue may answer ECANCELED instead.</summary>
    internal static FuseCall Read((ulong Node, ulong Fh) file, ulong offset, int size, Action<byte[]> check, bool tolerateCancel = false) => new()
    {
        Opcode = FuseOpcode.Read,
        Node = file.Node,
        Args = FuseCall.Bytes(new FuseReadIn { Fh = file.Fh, Offset = offset, Size = (uint)size }),
        ReplyPayloadBytes = size,
        Verify = (header, _, data) =>
        {
            if (tolerateCancel && header.Error == -Errno.ECANCELED)
            {
                return;
            }
            Assert.Equal(0, header.Error);
            check(data);
        },
    };

    private static FuseCall Write((ulong Node, ulong Fh) file, ulong offset, byte[] data) => new()
    {
        Opcode = FuseOpcode.Write,
        Node = file.Node,
        Args = FuseCall.Bytes(new FuseWriteIn { Fh = file.Fh, Offset = offset, Size = (uint)data.Length }),
        Payload = data,
        ReplyArgBytes = Marshal.SizeOf<FuseWriteOut>(),
        Verify = (header, args, _) =>
        {
            Assert.Equal(0, header.Error);
            Assert.Equal((uint)data.Length, MemoryMarshal.Read<FuseWriteOut>(args).Size);
        },
    };

    internal static void RunOne(QueueDriver driver, FuseCall call) => Assert.Equal(1, driver.Run([call], 1));

    internal static void Init(QueueDriver driver) => RunOne(driver, new FuseCall
    {
        Opcode = FuseOpcode.Init,
        Args = FuseCall.Bytes(new FuseInitIn
        {
            Major = 7,
            Minor = 40,
            MaxReadahead = 128 * 1024,
            Flags = (uint)(FuseInitFlags.AsyncRead | FuseInitFlags.BigWrites | FuseInitFlags.MaxPages | FuseInitFlags.ParallelDirOps),
        }),
        ReplyArgBytes = Marshal.SizeOf<FuseInitOut>(),
        Verify = (header, _, _) => Assert.Equal(0, header.Error),
    });

    private static byte[] Name(string name) => Encoding.UTF8.GetBytes(name + "\0");

    internal static ulong Lookup(QueueDriver driver, string name)
    {
        ulong node = 0;
        RunOne(driver, new FuseCall
        {
            Opcode = FuseOpcode.Lookup,
            Node = 1,
            Args = Name(name),
            ReplyArgBytes = Marshal.SizeOf<FuseEntryOut>(),
            Verify = (header, args, _) =>
            {
                Assert.Equal(0, header.Error);
                node = MemoryMarshal.Read<FuseEntryOut>(args).NodeId;
            },
        });
        return node;
    }

    internal static ulong Open(QueueDriver driver, ulong node)
    {
        ulong fh = 0;
        RunOne(driver, new FuseCall
        {
            Opcode = FuseOpcode.Open,
            Node = node,
            Args = FuseCall.Bytes(new FuseOpenIn { Flags = (uint)Libc.O_RDONLY }),
            ReplyArgBytes = Marshal.SizeOf<FuseOpenOut>(),
            Verify = (header, args, _) =>
            {
                Assert.Equal(0, header.Error);
                fh = MemoryMarshal.Read<FuseOpenOut>(args).Fh;
            },
        });
        return fh;
    }

    private static (ulong Node, ulong Fh) Create(QueueDriver driver, string name)
    {
        (ulong, ulong) result = default;
        int entrySize = Marshal.SizeOf<FuseEntryOut>();
        RunOne(driver, new FuseCall
        {
            Opcode = FuseOpcode.Create,
            Node = 1,
            Args = [.. FuseCall.Bytes(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = 0x81a4 }), .. Name(name)],
            ReplyArgBytes = entrySize + Marshal.SizeOf<FuseOpenOut>(),
            Verify = (header, args, _) =>
            {
                Assert.Equal(0, header.Error);
                result = (MemoryMarshal.Read<FuseEntryOut>(args).NodeId, MemoryMarshal.Read<FuseOpenOut>(args.AsSpan(entrySize)).Fh);
            },
        });
        return result;
    }

    internal static void Release(QueueDriver driver, ulong node, ulong fh) => RunOne(driver, new FuseCall
    {
        Opcode = FuseOpcode.Release,
        Node = node,
        Args = FuseCall.Bytes(new FuseReleaseIn { Fh = fh }),
        Verify = (header, _, _) => Assert.Equal(0, header.Error),
    });
}

/// <summary>A temporary shared directory, removed afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("engine-g-");

    public string Path => _dir.FullName;

    public void Dispose() => _dir.Delete(recursive: true);
}
