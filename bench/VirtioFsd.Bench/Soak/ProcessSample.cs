using System.Globalization;
using VirtioFsd.Bench.Daemons;

namespace VirtioFsd.Bench.Soak;

/// <summary>
/// One look at the daemon's process tree: resident memory, open descriptors (and how many of them are O_PATH), threads,
/// and the operations done so far.
/// </summary>
public sealed record ProcessSample(double Seconds, long RssKb, int Fds, int Threads, long Ops, int PathFds = 0)
{
    private const int OPath = 0x200000; // O_PATH, 010000000 octal

    /// <summary>
    /// Descriptors other than O_PATH ones: open files, directory streams, sockets, eventfds, rings. The O_PATH ones are
    /// the inodes the daemon pins and its bounded cache of file-handle inode fds, which a load may refill differently.
    /// </summary>
    public int OtherFds => Fds - PathFds;

    /// <summary>VmRSS, open fds (/proc/PID/fd entries) and Threads summed over the tree under <paramref name="pid"/> (proc(5)).</summary>
    public static ProcessSample Take(int pid, double seconds, long ops)
    {
        long rss = 0;
        int fds = 0, threads = 0, pathFds = 0;
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
                foreach (string fd in Directory.GetFileSystemEntries($"/proc/{p}/fdinfo"))
                {
                    fds++;
                    if (IsPathFd(fd))
                    {
                        pathFds++;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process went away between listing the tree and reading it.
            }
        }
        return new ProcessSample(seconds, rss, fds, threads, ops, pathFds);
    }

    /// <summary>The "flags:" line of /proc/PID/fdinfo/FD is the open flags in octal (proc(5)).</summary>
    private static bool IsPathFd(string fdinfo)
    {
        try
        {
            foreach (string line in File.ReadLines(fdinfo))
            {
                if (line.StartsWith("flags:", StringComparison.Ordinal))
                {
                    return (Convert.ToInt32(line[6..].Trim(), 8) & OPath) != 0;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Closed between the listing and the read.
        }
        return false;
    }
}
