namespace VirtioFsd.VhostUser.Tests.Support;

/// <summary>Open descriptors of this process (/proc/self/fd), to prove scenarios leak none.</summary>
internal static class FdCount
{
    public static int Now() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>fd number to what it refers to, for a readable failure message.</summary>
    public static Dictionary<string, string> Snapshot()
    {
        var result = new Dictionary<string, string>();
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

    /// <summary>
    /// Runs <paramref name="scenario"/> twice and asserts the second run leaves the fd table as it found it.
    /// The first run warms up descriptors the runtime opens once and keeps (assembly mappings, epoll).
    /// </summary>
    public static void AssertNoLeak(Action scenario) => AssertNoLeak(scenario, scenario);

    /// <summary>As <see cref="AssertNoLeak(Action)"/> with a cheaper warm-up that opens the same kinds of descriptors.</summary>
    public static void AssertNoLeak(Action warmUp, Action scenario)
    {
        warmUp();
        Dictionary<string, string> before = Snapshot();
        scenario();
        AssertNoneAdded(before);
    }

    /// <summary>Asserts no descriptor is open now that was not open at <paramref name="before"/>.</summary>
    public static void AssertNoneAdded(Dictionary<string, string> before)
    {
        Dictionary<string, string> after = Snapshot();
        // The runtime maps assemblies it loads lazily (e.g. on the first exception of a kind) through fds it
        // keeps: those are not ours. What we track are sockets, eventfds and memfds.
        var added = after.Where(kv => !before.ContainsKey(kv.Key) && !kv.Value.EndsWith(".dll", StringComparison.Ordinal)
                && !kv.Value.EndsWith(".so", StringComparison.Ordinal)).Select(kv => $"{kv.Key} -> {kv.Value}").ToList();
        Assert.True(added.Count == 0, $"leaked fds: {string.Join(", ", added)}");
    }
}
