namespace VirtioFsd.Tests.Faults;

/// <summary>Resident memory and open descriptors of a process, from /proc (proc(5)).</summary>
internal static class ProcUse
{
    public static int Fds(int pid) => Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;

    public static long RssKb(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Opt-in long variants (1,000,000 entries, many cycles): VIRTIOFSD_LONG_TESTS=1.</summary>
    public static bool LongTests => Environment.GetEnvironmentVariable("VIRTIOFSD_LONG_TESTS") == "1";
}
