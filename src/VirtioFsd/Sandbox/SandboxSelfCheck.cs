using System.Globalization;
using VirtioFsd.Cli;
using VirtioFsd.Linux;

namespace VirtioFsd.Sandbox;

/// <summary>
/// Test hook, driven by the environment only (never a command-line option): with
/// <c>VIRTIOFSD_TEST_SELF_CHECK=1</c> the fully set-up process runs this instead of the device. It reports
/// on stdout what the sandbox left visible and that the runtime still works inside it (thread pool, GC,
/// the /proc/self/fd descriptor), then waits for the stop token like the daemon would.
/// </summary>
internal static class SandboxSelfCheck
{
    public const string Variable = "VIRTIOFSD_TEST_SELF_CHECK";

    /// <summary>With the self-check: a system call number to make once set up (one outside the seccomp allow-list, say).</summary>
    public const string SyscallVariable = "VIRTIOFSD_TEST_SELF_CHECK_SYSCALL";

    public static bool Requested => Environment.GetEnvironmentVariable(Variable) == "1";

    public static int Run(DaemonOptions options, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(options);
        TextWriter o = Console.Out;
        o.WriteLine($"self-check pid={Libc.GetPid().ToString(CultureInfo.InvariantCulture)}");
        o.WriteLine($"self-check shared-dir={options.SharedDir}");
        string[] root = Directory.EnumerateFileSystemEntries("/").Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray();
        o.WriteLine($"self-check root={string.Join(',', root)}");
        o.WriteLine($"self-check proc-self-fd={ProbeProcSelfFd(options.FileSystem.ProcSelfFd)}");
        o.WriteLine($"self-check listen-fd={(options.ListenFd is { } fd && Libc.GetSockOptInt(fd, Libc.SOL_SOCKET, Libc.SO_ACCEPTCONN, out int listening) == 0 && listening == 1 ? "listening" : "bad")}");
        o.WriteLine($"self-check runtime={ExerciseRuntime()}");
        if (long.TryParse(Environment.GetEnvironmentVariable(SyscallVariable), NumberStyles.None, CultureInfo.InvariantCulture, out long nr))
        {
            o.Flush();
            o.WriteLine($"self-check syscall={Libc.SyscallNoArguments(nr).ToString(CultureInfo.InvariantCulture)}");
        }
        o.WriteLine("self-check ready");
        o.Flush();
        stop.WaitHandle.WaitOne();
        o.WriteLine("self-check stopping");
        o.Flush();
        return 0;
    }

    /// <summary>Reopens stdin through the proc descriptor, as the filesystem reopens O_PATH inodes.</summary>
    private static string ProbeProcSelfFd(int? procSelfFd)
    {
        if (procSelfFd is not { } dir)
        {
            return "absent";
        }
        int fd = Libc.Openat(dir, "2"u8, Libc.O_PATH | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            return $"error {Errno.Describe(fd)}";
        }
        Libc.Close(fd);
        return "ok";
    }

    /// <summary>Work that needs runtime machinery loaded lazily: pool threads, tasks, LINQ, collections, a full GC.</summary>
    private static string ExerciseRuntime()
    {
        try
        {
            long sum = Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() => (long)i * i))).Result.Sum();
            var bag = new System.Collections.Concurrent.ConcurrentDictionary<int, byte[]>();
            Parallel.For(0, 256, i => bag[i] = new byte[64 * 1024]);
            GC.Collect(2, GCCollectionMode.Forced, blocking: true);
            GC.WaitForPendingFinalizers();
            return sum == 85344 && bag.Count == 256 ? "ok" : "wrong";
        }
        catch (Exception e) when (e is AggregateException or FileNotFoundException or TypeLoadException)
        {
            return $"error {e.GetType().Name}: {e.Message}".ReplaceLineEndings(" ");
        }
    }
}
