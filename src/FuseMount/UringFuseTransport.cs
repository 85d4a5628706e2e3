using System.Globalization;
using Serilog;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.FuseMount;

/// <summary>
/// FUSE-over-io_uring for one mount: one <see cref="UringQueue"/> per possible CPU, as the kernel makes
/// one queue per possible CPU (fuse_uring_create) and waits until every queue has an entry before it
/// routes requests to the rings. Built before the mount so that FUSE_OVER_IO_URING is offered in INIT
/// only when the rings exist: a kernel that accepts the flag holds every request until registration.
/// </summary>
internal sealed class UringFuseTransport : IDisposable
{
    private readonly List<UringQueue> queues;

    private UringFuseTransport(List<UringQueue> queues) => this.queues = queues;

    public int QueueCount => queues.Count;

    /// <summary>Requests served through the rings so far.</summary>
    public long Requests => queues.Sum(q => q.Requests);

    public bool Started { get; private set; }

    /// <summary>Creates the queues, or returns null with a reason when this process cannot use io_uring this way.</summary>
    public static UringFuseTransport? TryCreate(int fuseFd, int depth, int payloadSize, ILogger log, out string? reason)
    {
        int count = PossibleCpuCount();
        var queues = new List<UringQueue>(count);
        for (int q = 0; q < count; q++)
        {
            UringQueue? queue = UringQueue.TryCreate(fuseFd, (ushort)q, depth, payloadSize, log, out int error);
            if (queue is null)
            {
                foreach (UringQueue made in queues)
                {
                    made.Dispose();
                }
                reason = $"io_uring with 128-byte SQEs and URING_CMD is unavailable: {Errno.Describe(error)}";
                return null;
            }
            queues.Add(queue);
        }
        reason = null;
        return new UringFuseTransport(queues);
    }

    /// <summary>Registers every queue's entries (after the INIT reply: registration needs an initialized connection).</summary>
    public void Start(FuseServer server)
    {
        Started = true;
        foreach (UringQueue q in queues)
        {
            q.Start(server);
        }
    }

    /// <summary>Waits for every queue to see its entries end; false when one is still busy after <paramref name="timeout"/>.</summary>
    public bool Join(TimeSpan timeout) => queues.All(q => q.Join(timeout));

    public void Dispose()
    {
        foreach (UringQueue q in queues)
        {
            q.Dispose();
        }
    }

    /// <summary>num_possible_cpus(): the CPUs in /sys/devices/system/cpu/possible ("0-3", "0,2-5").</summary>
    internal static int PossibleCpuCount(string? list = null)
    {
        list ??= File.Exists("/sys/devices/system/cpu/possible")
            ? File.ReadAllText("/sys/devices/system/cpu/possible")
            : "";
        int count = 0;
        foreach (string part in list.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] range = part.Split('-');
            int first = int.Parse(range[0], CultureInfo.InvariantCulture);
            int last = range.Length > 1 ? int.Parse(range[1], CultureInfo.InvariantCulture) : first;
            count += last - first + 1;
        }
        return count > 0 ? count : Environment.ProcessorCount;
    }
}
