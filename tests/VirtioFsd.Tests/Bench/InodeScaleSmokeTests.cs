using VirtioFsd.Bench;
using VirtioFsd.Bench.InodeScale;

namespace VirtioFsd.Tests.Bench;

/// <summary>
/// The inode-scale benchmark (scripts/bench_inodes.sh) on 3,000 files against our daemon: every reply checked by
/// the walk, and the fd figures the issue asks for: with handles the daemon's fds stay within the fd cache while
/// it knows every inode, without a cache they do not grow at all, without handles they grow by one per inode,
/// and after the FORGETs every set-up is back where it started.
/// </summary>
public sealed class InodeScaleSmokeTests : IDisposable
{
    private readonly Process.TempTree _tree = new("virtiofsd-inode-scale-smoke-");

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void Walk_and_forget_keep_the_fds_each_mode_promises()
    {
        var options = new BenchOptions { Ours = Process.DaemonProcess.Executable, InodeScale = 3000, WorkDir = _tree.Root };
        InodeTree tree = InodeTree.Ensure(_tree.Root, 3000, TextWriter.Null);

        List<InodeScaleRow> rows = InodeScaleCommand.Execute(options, tree, TextWriter.Null);

        Assert.Equal(["ours never", "ours prefer", "ours prefer, fd cache 0"], rows.Select(r => r.Label));
        Assert.All(rows, r => Assert.Null(r.Failure));
        InodeScaleRow never = rows[0], prefer = rows[1], uncached = rows[2];
        Assert.True(never.Fds[1] - never.Fds[0] >= tree.Files - 8, $"never: {never.Markdown()}");
        Assert.True(prefer.Fds[1] - prefer.Fds[0] is > 0 and <= 1024 + 8, $"prefer: {prefer.Markdown()}");
        Assert.True(uncached.Fds[1] - uncached.Fds[0] <= 8, $"cache 0: {uncached.Markdown()}");
        Assert.All(rows, r => Assert.True(r.Fds[2] - r.Fds[0] <= 8, $"after FORGET: {r.Markdown()}"));
        Assert.All(rows, r => Assert.True(r.FilesPerSecond > 0 && r.BytesPerInode > 0, r.Markdown()));
        Assert.Contains("| ours prefer |", InodeScaleCommand.Render(tree, rows), StringComparison.Ordinal);
    }
}
