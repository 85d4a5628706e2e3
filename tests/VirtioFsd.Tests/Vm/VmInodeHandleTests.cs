using System.Globalization;
using Xunit.Abstractions;

namespace VirtioFsd.Tests.Vm;

/// <summary>
/// Inode file handles in a real guest (issue 16): the guest `find`s a tree of 20,000 files (200,000 with
/// VIRTIOFSD_LONG_TESTS=1) with a daemon that keeps no inode fd it does not need (--inode-fd-cache-size 0), so
/// every request after the LOOKUP opens its inode by handle; then, while the guest holds a file open and a
/// directory as its cwd, the host moves that directory: the guest must still read the file, reach the
/// directory's other file through its cwd, and write to it (scripts/guest/handles_test.sh).
/// </summary>
public sealed class VmInodeHandleTests(ITestOutputHelper log) : IDisposable
{
    private readonly Process.TempTree _tree = new("virtiofsd-vm-inode-handles-");

    public void Dispose() => _tree.Dispose();

    [Fact]
    public async Task Guest_walks_a_large_tree_then_keeps_its_open_file_and_cwd_across_a_host_rename()
    {
        int files = Faults.ProcUse.LongTests ? 200_000 : 20_000;
        string tree = Path.Combine(_tree.Share, "tree");
        for (int d = 0; d * 1000 < files; d++)
        {
            string dir = Path.Combine(tree, $"d{d}");
            Directory.CreateDirectory(dir);
            for (int f = 0; f < 1000 && (d * 1000) + f < files; f++)
            {
                File.Create(Path.Combine(dir, $"f{f}")).Dispose();
            }
        }
        Directory.CreateDirectory(Path.Combine(tree, "keep", "deep"));
        File.WriteAllText(Path.Combine(tree, "keep", "deep", "a.txt"), "alpha\n");
        File.WriteAllText(Path.Combine(tree, "keep", "deep", "b.txt"), "beta\n");
        File.WriteAllText(Path.Combine(tree, "expected"), (files + 3).ToString(CultureInfo.InvariantCulture));

        Task<(int Exit, string Output)> guest = Task.Run(() => VmRun.Run(
        [
            "--daemon", Process.DaemonProcess.Executable,
            "--daemon-args", "--inode-file-handles=mandatory --inode-fd-cache-size 0",
            "--shared-dir", _tree.Share,
            "--cache", "auto",
            "--timeout", VmRun.BootTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
            "--guest-script", VmRun.Script("scripts/guest/handles_test.sh"),
        ]));

        // The guest says when it holds the file and the cwd; the host then moves their directory.
        string ready = Path.Combine(_tree.Share, "ready");
        while (!File.Exists(ready) && !guest.IsCompleted)
        {
            await Task.Delay(100);
        }
        if (File.Exists(ready))
        {
            Directory.Move(Path.Combine(tree, "keep"), Path.Combine(_tree.Share, "moved"));
            File.WriteAllText(Path.Combine(_tree.Share, "go"), "");
        }
        (int exit, string output) = await guest;
        foreach (string line in output.Split('\n').Where(l => l.StartsWith("== ", StringComparison.Ordinal) || l.Contains("FAIL", StringComparison.Ordinal)))
        {
            log.WriteLine(line.TrimEnd('\r'));
        }

        Assert.True(exit == 0, $"run_vm.sh exited {exit}:\n{output}");
        Assert.Contains("guest checks: all passed", output, StringComparison.Ordinal);
        Assert.Equal("beta\nappended\n", File.ReadAllText(Path.Combine(_tree.Share, "moved", "deep", "b.txt")));
        Assert.False(Directory.Exists(Path.Combine(tree, "keep")));
    }
}
