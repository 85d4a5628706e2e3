using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Workloads;

namespace VirtioFsd.Bench.Soak;

/// <summary>
/// The soak's mix: the benchmark's workloads, with create/unlink replaced by its variant that also
/// FORGETs the node it created, as a guest does (see <see cref="CreateUnlinkForgetProgram"/>).
/// </summary>
public static class SoakWorkloads
{
    public const string CreateForget = "create-release-unlink-forget-qd16";

    public static IReadOnlyList<Workload> All { get; } =
    [
        .. WorkloadCatalog.All.Where(w => !w.Name.StartsWith("create-", StringComparison.Ordinal)),
        new(CreateForget, "CREATE + RELEASE + UNLINK + FORGET of a fresh name, 16 in flight", 16,
            s =>
            {
                ulong dir = SyncRequests.Lookup(s.Runner, SyncRequests.RootNode, DataSet.ScratchDir);
                return new PreparedQueue(new CreateUnlinkForgetProgram(dir, s.Runner.Context.QueueIndex), () => { });
            }),
    ];
}
