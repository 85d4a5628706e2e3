using System.Globalization;
using VirtioFsd.Bench.Daemons;

namespace VirtioFsd.Bench.Soak;

/// <summary>One look at the daemon's process tree: resident memory, open descriptors, threads, and the operations done so far.</summary>
public sealed record ProcessSample(double Seconds, long RssKb, int Fds, int Threads, long Ops)
{
    /// <summary>VmRSS, open fds (/proc/PID/fd entries) and Threads summed over the tree under <paramref name="pid"/> (proc(5)).</summary>
    public static ProcessSample Take(int pid, double seconds, long ops)
    {
        long rss = 0;
        int fds = 0, threads = 0;
        foreach (int p in ProcStats.Tree(pid))
        {
            try
            {
                foreach (string line in File.ReadLines($"/proc/{p}/status"))
                {
                    if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    {
                        rss += long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                    }
                    else if (line.StartsWith("Threads:", StringComparison.Ordinal))
                    {
                        threads += int.Parse(line[8..].Trim(), CultureInfo.InvariantCulture);
                    }
                }
                fds += Directory.GetFileSystemEntries($"/proc/{p}/fd").Length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process went away between listing the tree and reading it.
            }
        }
        return new ProcessSample(seconds, rss, fds, threads, ops);
    }
}
