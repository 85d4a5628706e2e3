namespace VirtioFsd.TestSupport;

/// <summary>
/// This process's open descriptors (/proc/self/fd), to prove a scenario leaves none behind. Tests that use it
/// must not run beside others that open descriptors (their assembly or collection disables parallelization).
/// </summary>
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
                // by the scenario (it made clean-clone CI runs report "leaked fds: 184 -> ?").
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

    /// <summary>Descriptors open now that were not in <paramref name="before"/> (or now refer to something else), or null when none.</summary>
    public static string? Added(Dictionary<string, string> before)
    {
        ArgumentNullException.ThrowIfNull(before);
        // The runtime maps assemblies it loads lazily (the first exception of a kind) through fds it keeps, and
        // reads /proc files of its own now and then; those are not ours. What a scenario must not leave are
        // sockets, eventfds, memfds, io_uring rings and file fds. Nor do pipes count: the code under test opens none,
        // and a pipe is another test's child process output still being read (the runner ends earlier test classes'
        // processes asynchronously).
        var added = Snapshot().Where(kv => !before.TryGetValue(kv.Key, out string? was) || was != kv.Value)
            .Where(kv => !kv.Value.EndsWith(".dll", StringComparison.Ordinal) && !kv.Value.EndsWith(".so", StringComparison.Ordinal)
                && !kv.Value.StartsWith("/proc/", StringComparison.Ordinal) && !kv.Value.StartsWith("pipe:", StringComparison.Ordinal))
            .Select(kv => $"{kv.Key} -> {kv.Value}").ToList();
        return added.Count == 0 ? null : string.Join(", ", added);
    }

    /// <summary>Asserts no descriptor is open now that was not open at <paramref name="before"/>.</summary>
    public static void AssertNoneAdded(Dictionary<string, string> before)
    {
        string? added = Added(before);
        Assert.True(added is null, $"leaked fds: {added}");
    }

    /// <summary>
    /// Runs <paramref name="scenario"/> twice and asserts the second run leaves the fd table as it found it.
    /// The first run warms up descriptors the runtime opens once and keeps (assembly mappings, epoll).
    /// </summary>
    public static void AssertNoLeak(Action scenario) => AssertNoLeak(scenario, scenario);

    /// <summary>As <see cref="AssertNoLeak(Action)"/> with a cheaper warm-up that opens the same kinds of descriptors.</summary>
    public static void AssertNoLeak(Action warmUp, Action scenario)
    {
        ArgumentNullException.ThrowIfNull(warmUp);
        ArgumentNullException.ThrowIfNull(scenario);
        warmUp();
        Dictionary<string, string> before = Snapshot();
        scenario();
        AssertNoneAdded(before);
    }

    /// <summary>
    /// How many descriptors are open, counted as the passthrough's fd quota counts them (GuestFdQuota: the
    /// entries of /proc/self/fd that are not directories), so a test can compare with its figures.
    /// </summary>
    public static int Count() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>How many descriptors refer to <paramref name="path"/>; with <paramref name="ioOnly"/> only those open for I/O (not O_PATH).</summary>
    public static int CountOf(string path, bool ioOnly = false)
        => Snapshot().Count(kv => kv.Value == path && (!ioOnly || !IsPathFd(kv.Key)));

    /// <summary>Whether fd <paramref name="fd"/> is O_PATH (010000000 in /proc/self/fdinfo's octal flags); false once closed.</summary>
    public static bool IsPathFd(string fd)
    {
        try
        {
            string flags = File.ReadLines($"/proc/self/fdinfo/{fd}").First(l => l.StartsWith("flags:", StringComparison.Ordinal));
            return (Convert.ToInt64(flags["flags:".Length..].Trim(), 8) & 0x200000) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
