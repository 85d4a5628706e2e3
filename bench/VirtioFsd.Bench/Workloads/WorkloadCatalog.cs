using VirtioFsd.Bench.Client;

namespace VirtioFsd.Bench.Workloads;

/// <summary>The workloads of the report, in table order.</summary>
public static class WorkloadCatalog
{
    private const int OpenReadOnly = 0;   // O_RDONLY
    private const int OpenReadWrite = 2;  // O_RDWR
    private const int SmallBlock = 4096;
    private const int ReaddirBuffer = 32 * 1024;

    /// <summary>Deepest queue depth any workload uses: the slots each queue needs.</summary>
    public const int MaxDepth = 32;

    public static IReadOnlyList<Workload> All { get; } =
    [
        new("randread-4k-qd1", "4 KiB random READ, host-cached file, 1 in flight per queue", 1,
            s => Data(s, DataSet.RandomFile, SmallBlock, s.Data.RandomFileBytes, write: false, random: true)),
        new("randread-4k-qd32", "4 KiB random READ, host-cached file, 32 in flight per queue", 32,
            s => Data(s, DataSet.RandomFile, SmallBlock, s.Data.RandomFileBytes, write: false, random: true)),
        new("randwrite-4k-qd32", "4 KiB random WRITE, 32 in flight per queue", 32,
            s => Data(s, DataSet.RandomWriteFile, SmallBlock, s.Data.RandomFileBytes, write: true, random: true)),
        new("seqread-1m-qd4", "sequential READ of max-size blocks (1 MiB or the daemon's max), 4 in flight", 4,
            s => Data(s, DataSet.SequentialFile, s.IoBlock, s.Data.SequentialFileBytes, write: false, random: false)),
        new("seqwrite-1m-qd4", "sequential WRITE of max-size blocks (1 MiB or the daemon's max), 4 in flight", 4,
            s => Data(s, DataSet.RandomWriteFile, s.IoBlock, s.Data.RandomFileBytes, write: true, random: false)),
        new("lookup-getattr-qd16", "LOOKUP of an existing name + GETATTR (one op = 2 requests), 16 in flight", 16,
            s =>
            {
                ulong dir = SyncRequests.Lookup(s.Runner, SyncRequests.RootNode, DataSet.NamesDir);
                return new PreparedQueue(new LookupGetattrProgram(dir, s.Data.Names, new Random(s.Seed)), () => { });
            }),
        new("create-release-unlink-qd16", "CREATE + RELEASE + UNLINK of a fresh name, then FORGET as a guest does (one op = 4 requests), 16 in flight", 16,
            s =>
            {
                ulong dir = SyncRequests.Lookup(s.Runner, SyncRequests.RootNode, DataSet.ScratchDir);
                return new PreparedQueue(new CreateUnlinkProgram(dir, $"c{s.Runner.Context.QueueIndex}"), () => { });
            }),
        new("readdirplus-10k-qd1", "OPENDIR + READDIRPLUS (32 KiB buffers) of a 10,000-entry directory + RELEASEDIR (one op = one listing)", 1,
            s =>
            {
                ulong dir = SyncRequests.Lookup(s.Runner, SyncRequests.RootNode, DataSet.BigDir);
                return new PreparedQueue(new ReaddirplusProgram(dir, ReaddirBuffer, s.Data.BigDirEntries), () => { });
            }),
    ];

    private static PreparedQueue Data(WorkloadSetup s, string file, int block, long fileBytes, bool write, bool random)
    {
        ulong node = SyncRequests.Lookup(s.Runner, SyncRequests.RootNode, file);
        ulong fh = SyncRequests.Open(s.Runner, node, write ? OpenReadWrite : OpenReadOnly);
        var program = new DataProgram(node, fh, block, fileBytes, write, random ? new Random(s.Seed) : null);
        return new PreparedQueue(program, () => SyncRequests.Release(s.Runner, node, fh));
    }
}
