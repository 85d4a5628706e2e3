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

    /// <summary>The largest VmHWM (peak resident set, kB) in the tree.</summary>
    public static long PeakRssKb(int pid)
    {
        long peak = 0;
        foreach (int p in Tree(pid))
        {
            string? status = ReadOrNull($"/proc/{p}/status");
            string? line = status?.Split('\n').FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            if (line is not null)
            {
                peak = Math.Max(peak, long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
            }
        }
        return peak;
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
