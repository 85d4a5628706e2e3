using System.Diagnostics;
using System.Globalization;
using System.Text;
using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Daemons;
using VirtioFsd.Bench.Fuse;

namespace VirtioFsd.Bench.InodeScale;

/// <summary>
/// `virtiofsd-bench --inode-scale N`: each daemon set-up serves a tree of N files; one request queue LOOKUPs and
/// GETATTRs every file (16 in flight), then FORGETs every node. Printed per set-up: lookup rate, the daemon's fds
/// and RSS before, after the walk (bytes per known inode) and after the FORGETs. A set-up that fails (EMFILE when
/// every inode holds an fd) says so in its row.
/// </summary>
public static class InodeScaleCommand
{
    private const int Depth = 16;

    public static int Run(BenchOptions options)
    {
        InodeTree tree = InodeTree.Ensure(options.WorkDir, options.InodeScale, Console.Out);
        List<InodeScaleRow> rows = Execute(options, tree, Console.Out);
        string report = Render(tree, rows);
        if (options.Report is not null)
        {
            File.WriteAllText(options.Report, report);
        }
        Console.Out.Write(report);
        // Without file handles a tree larger than the fd limit cannot be walked: that row may fail, no other.
        return rows.Any(r => r.Failure is not null && !r.Label.EndsWith(" never", StringComparison.Ordinal)) ? 1 : 0;
    }

    /// <summary>Measures every set-up on <paramref name="tree"/>; a set-up that fails is a row with its reason.</summary>
    public static List<InodeScaleRow> Execute(BenchOptions options, InodeTree tree, TextWriter log)
    {
        var rows = new List<InodeScaleRow>();
        foreach (DaemonConfig config in Configs(options))
        {
            log.WriteLine($"{config.Label}: walking {tree.Files:N0} files ...");
            InodeScaleRow row;
            try
            {
                row = Measure(config, tree, options.WorkDir);
            }
            catch (Exception e) when (e is BenchException or InvalidOperationException or IOException)
            {
                row = new InodeScaleRow(config.Label) { Failure = e.Message.Split('\n')[0] };
            }
            log.WriteLine(row.Markdown());
            rows.Add(row);
        }
        return rows;
    }

    private static IEnumerable<DaemonConfig> Configs(BenchOptions o)
    {
        static Func<string, string, IReadOnlyList<string>> Args(string handles, params string[] extra) => (socket, dir) =>
            ["--socket-path", socket, "--shared-dir", dir, "--cache", "auto", "--sandbox", "chroot", "--inode-file-handles=" + handles, .. extra];
        yield return new DaemonConfig(DaemonConfig.Ours, "ours never", o.Ours, Args("never"), 1);
        yield return new DaemonConfig(DaemonConfig.Ours, "ours prefer", o.Ours, Args("prefer"), 1);
        yield return new DaemonConfig(DaemonConfig.Ours, "ours prefer, fd cache 0", o.Ours, Args("prefer", "--inode-fd-cache-size", "0"), 1);
        if (o.Rust is { } rust)
        {
            yield return new DaemonConfig("Rust", "Rust 1.13 never", rust, Args("never"), 1);
            yield return new DaemonConfig("Rust", "Rust 1.13 prefer", rust, Args("prefer"), 1);
        }
    }

    private static InodeScaleRow Measure(DaemonConfig config, InodeTree tree, string workDir)
    {
        string socket = Path.Combine(workDir, "inode-scale.sock");
        using RunningDaemon daemon = RunningDaemon.Start(config, socket, tree.Root);
        using FsConnection fs = FsConnection.Open(socket, 1, Depth, 4096);
        QueueRunner q = fs.Runners[0];
        (int fds0, long rss0) = Usage(daemon.Pid);

        var names = new List<(ulong Parent, string Name)>(tree.Files);
        var directories = new List<ulong>(2 * tree.Directories);
        long t0 = Stopwatch.GetTimestamp();
        for (int d = 0; d < tree.Directories; d++)
        {
            ulong top = SyncRequests.Lookup(q, SyncRequests.RootNode, $"d{d}");
            ulong sub = SyncRequests.Lookup(q, top, "sub");
            directories.Add(top);
            directories.Add(sub);
            for (int f = 0; f < tree.FilesIn(d); f++)
            {
                names.Add((sub, $"f{f}"));
            }
        }
        var walk = new LookupGetattrWalk(names);
        q.Run(walk, Depth, names.Count, long.MaxValue);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(t0);
        (int fds1, long rss1) = Usage(daemon.Pid);

        q.Run(new ForgetAll([.. walk.Nodes, .. directories]), Depth, walk.Nodes.Length + directories.Count, long.MaxValue);
        // FORGET has no reply: one request that has one, after them on the same queue, then a moment to settle.
        SyncRequests.Call(q, (dst, unique) => FuseRequestWriter.Getattr(dst, unique, SyncRequests.RootNode), FuseSize.AttrOut);
        Thread.Sleep(200);
        (int fds2, long rss2) = Usage(daemon.Pid);

        return new InodeScaleRow(config.Label)
        {
            FilesPerSecond = tree.Files / elapsed.TotalSeconds,
            Fds = [fds0, fds1, fds2],
            RssKb = [rss0, rss1, rss2],
            BytesPerInode = (rss1 - rss0) * 1024 / tree.Inodes,
            Walk = elapsed,
            Startup = daemon.StartupTime,
        };
    }

    /// <summary>Open fds and RSS (kB) of the daemon and its children (a sandbox's serving process).</summary>
    private static (int Fds, long RssKb) Usage(int pid)
    {
        int fds = 0;
        long rss = 0;
        foreach (int p in ProcStats.Tree(pid))
        {
            try
            {
                fds += Directory.GetFiles($"/proc/{p}/fd").Length;
                string? line = File.ReadLines($"/proc/{p}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                rss += line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return (fds, rss);
    }

    public static string Render(InodeTree tree, List<InodeScaleRow> rows)
    {
        var s = new StringBuilder();
        s.AppendLine(CultureInfo.InvariantCulture, $"## Inode scale: LOOKUP + GETATTR of {tree.Files:N0} files, then FORGET");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Generated by `scripts/bench_inodes.sh` ({DateTime.UtcNow:yyyy-MM-dd}): a tree of {tree.Directories:N0} directories x {InodeTree.FilesPerDirectory:N0} empty files, one request queue, {Depth} requests in flight, every reply checked (LOOKUP and GETATTR name the same empty regular file). Each daemon runs with `--sandbox chroot --cache auto`. fds and RSS are of the daemon's process tree: at the start -> after the walk -> after every node was forgotten; bytes per inode = RSS growth over the walk / {tree.Inodes:N0} inodes.");
        s.AppendLine();
        s.AppendLine("| daemon | files/s | fds | RSS MiB | bytes/inode | walk s | start ms |");
        s.AppendLine("|---|---|---|---|---|---|---|");
        foreach (InodeScaleRow r in rows)
        {
            s.AppendLine(r.Markdown());
        }
        return s.ToString();
    }
}

/// <summary>One set-up's figures: fds and RSS at the start, after the walk and after the FORGETs.</summary>
public sealed record InodeScaleRow(string Label)
{
    public string? Failure { get; init; }

    public double FilesPerSecond { get; init; }

    public int[] Fds { get; init; } = [];

    public long[] RssKb { get; init; } = [];

    public long BytesPerInode { get; init; }

    public TimeSpan Walk { get; init; }

    public TimeSpan Startup { get; init; }

    public string Markdown() => Failure is not null
        ? $"| {Label} | failed: {Failure} | | | | | |"
        : string.Create(CultureInfo.InvariantCulture,
            $"| {Label} | {FilesPerSecond:N0} | {Fds[0]} -> {Fds[1]} -> {Fds[2]} | {RssKb[0] / 1024.0:F1} -> {RssKb[1] / 1024.0:F1} -> {RssKb[2] / 1024.0:F1} | {BytesPerInode:N0} | {Walk.TotalSeconds:F1} | {Startup.TotalMilliseconds:F0} |");
}
