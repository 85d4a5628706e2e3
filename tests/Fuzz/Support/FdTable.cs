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
                result[Path.GetFileName(entry)] = new FileInfo(entry).LinkTarget ?? "?";
            }
            catch (IOException)
            {
                // Closed while we looked (the enumeration's own directory fd).
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
