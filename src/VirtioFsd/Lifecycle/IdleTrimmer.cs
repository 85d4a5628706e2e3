using System.Runtime.InteropServices;

namespace VirtioFsd.Lifecycle;

/// <summary>
/// Trims the daemon's working set (<see cref="WorkingSet.Trim"/>) once start-up is over and then each time the daemon
/// goes idle after some work: after the frontend's connection set-up (vhost-user negotiation, memory table, queues
/// and FUSE INIT run once and map most of the code again), and after a burst of guest requests. A host that runs
/// one daemon per VM or pod has most of them idle most of the time; an idle daemon then keeps only what waiting
/// needs. The serving threads take no part: this thread samples the process's CPU time (getrusage(2)), which grows
/// only while something runs, and <see cref="IdlePolicy"/> decides.
/// </summary>
internal static unsafe partial class IdleTrimmer
{
    private const int RUSAGE_SELF = 0;

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int GetRusage(int who, RUsage* usage);

    /// <summary>Starts the background thread, which trims at once (start-up is over) and then lives as long as the process.</summary>
    public static void Start()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "idle-trim" };
        thread.Start();
    }

    private static void Run()
    {
        WorkingSet.Trim();
        var policy = new IdlePolicy();
        long last = CpuMicroseconds();
        while (true)
        {
            Thread.Sleep(policy.Interval);
            long now = CpuMicroseconds();
            if (policy.TrimAfter(now - last))
            {
                WorkingSet.Trim();
                // The trim's own collection is not work to trim after.
                now = CpuMicroseconds();
            }
            last = now;
        }
    }

    /// <summary>User + system CPU time of the whole process, in microseconds.</summary>
    private static long CpuMicroseconds()
    {
        RUsage usage;
        // Sound: getrusage writes one struct rusage into the local; on failure the value is not read.
        if (GetRusage(RUSAGE_SELF, &usage) != 0)
        {
            return 0;
        }
        return ((usage.UserSeconds + usage.SystemSeconds) * 1_000_000) + usage.UserMicroseconds + usage.SystemMicroseconds;
    }

    /// <summary>struct rusage (sys/resource.h, x86-64): two struct timeval, then 14 longs this does not read.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSeconds;
        public long UserMicroseconds;
        public long SystemSeconds;
        public long SystemMicroseconds;
        public fixed long Rest[14];
    }
}
