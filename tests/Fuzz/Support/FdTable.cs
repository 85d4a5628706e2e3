namespace VirtioFsd.Fuzz.Support;

/// <summary>This process's open descriptors (/proc/self/fd), to prove a case leaves none behind.</summary>
public static class FdTable
{
    /// <summary>fd number to what it refers to.</summary>
    public static Dictionary<string, string> Snapshot()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                // No target: closed while we looked. That includes the enumeration's own directory fd, whose
                // number moves whenever a lower one was freed meanwhile, so it must not count as an fd opened
                // by the case (it made clean-clone CI runs report "leaked fds: 184 -> ?").
                if (new FileInfo(entry).LinkTarget is string target)
                {
                    result[Path.GetFileName(entry)] = target;
                }
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }
        return result;
    }

    /// <summary>Descriptors open now that were not in <paramref name="before"/>, or null when none.</summary>
    public static string? Added(Dictionary<string, string> before)
    {
        ArgumentNullException.ThrowIfNull(before);
        // The runtime maps assemblies it loads lazily (the first exception of a kind) through fds it keeps;
        // those are not ours. What a case must not leave are sockets, eventfds, memfds and file fds.
        var added = Snapshot().Where(kv => !before.TryGetValue(kv.Key, out string? was) || was != kv.Value)
            .Where(kv => !kv.Value.EndsWith(".dll", StringComparison.Ordinal) && !kv.Value.EndsWith(".so", StringComparison.Ordinal)
                && !kv.Value.StartsWith("/proc/", StringComparison.Ordinal))
            .Select(kv => $"{kv.Key} -> {kv.Value}").ToList();
        return added.Count == 0 ? null : string.Join(", ", added);
    }
}
