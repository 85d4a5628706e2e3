using System.Globalization;

namespace VirtioFsd.Bench.Daemons;

/// <summary>
/// CPU time and peak RSS of a daemon's process tree from /proc (proc(5)): the C virtiofsd forks into its
/// namespace sandbox and serves from the child, so the whole tree under the started process counts.
/// </summary>
public static class ProcStats
{
    /// <summary>USER_HZ: utime/stime in /proc/PID/stat are in these ticks; 100 on every Linux ABI we run on.</summary>
    public const double TicksPerSecond = 100;

    /// <summary>utime + stime (fields 14 and 15 of /proc/PID/stat) summed over the tree, in ticks.</summary>
    public static long CpuTicks(int pid)
    {
        long total = 0;
        foreach (int p in Tree(pid))
        {
            string? stat = ReadOrNull($"/proc/{p}/stat");
            if (stat is null)
            {
                continue;
            }
            // The command name (field 2) is parenthesised and may hold spaces: split after the last ')'.
            string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            total += long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
        }
        return total;
    }

    /// <summary>
    /// The largest VmHWM (peak resident set, kB) in the tree, and how much of the resident set of that
    /// process is guest RAM now: pages of the frontend's memfd (<paramref name="guestRamName"/>) that the
    /// daemon touched. They belong to the guest and count in every daemon's RSS, more with more queues
    /// in flight; the remainder is the daemon's own memory.
    /// </summary>
    public static (long PeakKb, long GuestRamKb) PeakRssKb(int pid, string guestRamName)
    {
        long peak = 0;
        int peakPid = pid;
        foreach (int p in Tree(pid))
        {
            string? status = ReadOrNull($"/proc/{p}/status");
            string? line = status?.Split('\n').FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            if (line is not null)
            {
                long kb = long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                if (kb > peak)
                {
                    (peak, peakPid) = (kb, p);
                }
            }
        }
        return (peak, MappedRssKb(peakPid, "/memfd:" + guestRamName));
    }

    /// <summary>
    /// Resets VmHWM to the current resident set in every process of the tree (proc(5): writing 5 to
    /// /proc/PID/clear_refs), so that a later <see cref="PeakRssKb"/> is the peak of what ran in between and not
    /// of start-up. Returns false where the kernel refused it (before Linux 4.0).
    /// </summary>
    public static bool ResetPeak(int pid)
    {
        bool ok = true;
        foreach (int p in Tree(pid))
        {
            try
            {
                File.WriteAllText($"/proc/{p}/clear_refs", "5");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                ok = false;
            }
        }
        return ok;
    }

    /// <summary>Rss (kB) of the mappings in /proc/PID/smaps whose path starts with <paramref name="prefix"/>.</summary>
    public static long MappedRssKb(int pid, string prefix)
    {
        long total = 0;
        bool inside = false;
        foreach (string line in (ReadOrNull($"/proc/{pid}/smaps") ?? "").Split('\n'))
        {
            // A mapping's header line is "start-end perms offset dev inode [path]"; its fields follow as "Name: value kB".
            int firstSpace = line.IndexOf(' ', StringComparison.Ordinal);
            if (firstSpace > 0 && line.AsSpan(0, firstSpace).Contains('-'))
            {
                string[] f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                inside = f.Length == 6 && f[5].StartsWith(prefix, StringComparison.Ordinal);
            }
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                total += long.Parse(line[4..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }
        return total;
    }

    /// <summary>The process and its descendants (via /proc/PID/task/TID/children).</summary>
    public static List<int> Tree(int pid)
    {
        var result = new List<int>();
        var pending = new Stack<int>();
        pending.Push(pid);
        while (pending.Count > 0)
        {
            int p = pending.Pop();
            result.Add(p);
            string[] tasks;
            try
            {
                tasks = Directory.GetDirectories($"/proc/{p}/task");
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            foreach (string task in tasks)
            {
                string? children = ReadOrNull(Path.Combine(task, "children"));
                foreach (string c in (children ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    pending.Push(int.Parse(c, CultureInfo.InvariantCulture));
                }
            }
        }
        return result;
    }

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
