using VirtioFsd.Bench.Client;

namespace VirtioFsd.Bench.Workloads;

/// <summary>
/// One measured workload: a name for the tables, the queue depth per request queue, and a factory that
/// prepares one queue (setup requests such as LOOKUP/OPEN run here, unmeasured) and returns the program
/// its measured loop runs plus the teardown to run afterwards.
/// </summary>
public sealed record Workload(string Name, string Description, int Depth, Func<WorkloadSetup, PreparedQueue> Prepare);

/// <summary>What a workload's setup gets: the queue, the data set and the I/O size the daemon allows.</summary>
public sealed record WorkloadSetup(QueueRunner Runner, DataSet Data, int IoBlock, int Seed);

/// <summary>A queue ready to measure: its program and the teardown (RELEASE of what setup opened).</summary>
public sealed record PreparedQueue(IWorkloadProgram Program, Action Teardown);
