using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Xunit.Abstractions;

namespace VirtioFsd.Tests.Vm.Migration;

/// <summary>
/// Live migration of a running guest between two QEMU 10 processes, each with its own daemon on one share
/// (<see cref="MigrationVm"/>, scripts/guest/migrate_test.sh): the guest writes checksummed records and reads a file
/// in a loop while QEMU migrates, with files held open; afterwards it goes on with the same open files on the
/// destination and the host checks every record and the tree. Then what must fail does, and the source guest goes on:
/// a file the guest holds deleted on the host (--migration-on-error abort), a corrupted state stream, and our
/// format sent to the Rust virtiofsd; a file moved out of the share migrates as an error for that file only under
/// guest-error. Between the Rust virtiofsd 1.13 and ours the guest moves both ways (theirs to ours always, ours to
/// theirs with --migration-state-format rust-1.13).
/// </summary>
public sealed class MigrationVmTests(ITestOutputHelper log) : IDisposable
{
    private readonly Process.TempTree _tree = new("virtiofsd-migration-vm-");
    private readonly byte[] _ro = RandomNumberGenerator.GetBytes(256 * 1024);

    public void Dispose() => _tree.Dispose();

    private string Mig(string name) => Path.Combine(_tree.Share, "mig", name);

    private void Prepare(int writers, string victim)
    {
        Directory.CreateDirectory(Path.Combine(_tree.Share, "mig"));
        File.WriteAllBytes(Mig("ro.bin"), _ro);
        File.WriteAllText(Mig("ro.md5"), Convert.ToHexStringLower(MD5.HashData(_ro)) + "\n");
        File.WriteAllText(Mig("victim.txt"), "victim\n");
        File.WriteAllText(Mig("params"), $"WRITERS={writers}\nVICTIM={victim}\n");
    }

    private void Report(MigrationOutcome o)
    {
        log.WriteLine($"migration: {o.Status}, total {o.TotalMs} ms, downtime {o.DowntimeMs} ms, guest exit {o.GuestExit} on the {(o.FinishedOnDestination ? "destination" : "source")}");
        foreach (string line in o.Consoles.Split('\n').Where(l => l.StartsWith("== ", StringComparison.Ordinal) || l.Contains("FAIL", StringComparison.Ordinal)
            || l.StartsWith("ok ", StringComparison.Ordinal) || l.StartsWith("guest checks", StringComparison.Ordinal)))
        {
            log.WriteLine(line.TrimEnd('\r'));
        }
    }

    /// <summary>Every record of every log: consecutive numbers from 0, each with the checksum of its text.</summary>
    private void AssertRecords(int writers)
    {
        for (int k = 0; k < writers; k++)
        {
            string[] lines = File.ReadAllLines(Mig($"log{k}.txt"));
            Assert.True(lines.Length > 20, $"log{k}.txt has {lines.Length} records");
            for (int i = 0; i < lines.Length; i++)
            {
                string expected = Convert.ToHexStringLower(MD5.HashData(Encoding.ASCII.GetBytes($"record {k} {i}\n")));
                Assert.Equal($"{i} {expected}", lines[i]);
            }
        }
    }

    private static void SkipWithoutQemu10() =>
        Skip.IfNot(VmRun.HasTrixieRoot, "needs the Debian 13 root with QEMU 10 (scripts/setup.sh as root makes it)");

    [SkippableTheory]
    [InlineData(1, "find-paths")]
    [InlineData(4, "find-paths")]
    [InlineData(1, "file-handles")]
    public async Task A_running_guest_moves_with_its_open_files_and_loses_no_record(int queues, string mode)
    {
        SkipWithoutQemu10();
        Prepare(writers: queues, victim: "ok");
        MigrationOutcome o;
        for (int run = 1; ; run++)
        {
            using var vm = new MigrationVm(_tree.Share) { Queues = queues, Smp = queues == 1 ? 1 : 2 };
            o = await vm.RunAsync(MigrationDaemon.Ours("--migration-mode", mode), MigrationDaemon.Ours("--migration-mode", mode));
            if (run > 1 || !vm.SourceHitTcgRace(o))
            {
                break;
            }
            log.WriteLine("the source QEMU aborted in iotlb_to_section before the guest's init ran (a TCG race in QEMU); running again");
        }
        Report(o);
        Assert.True(o.Status == "completed" && o.GuestExit == 0 && o.FinishedOnDestination, $"{o.Status}, exit {o.GuestExit}\n{o.Consoles}\n{o.DaemonLogs}");
        Assert.Contains("Migration: state of", o.DaemonLogs, StringComparison.Ordinal);
        Assert.Contains("FUSE session taken over", o.DaemonLogs, StringComparison.Ordinal);
        AssertRecords(queues);
        AssertTree(queues);
    }

    [SkippableFact]
    public async Task A_held_file_deleted_on_the_host_fails_the_migration_under_abort_and_the_guest_goes_on_at_the_source()
    {
        SkipWithoutQemu10();
        Prepare(writers: 1, victim: "ok");
        using var vm = new MigrationVm(_tree.Share);
        MigrationOutcome o = await vm.RunAsync(MigrationDaemon.Ours(), MigrationDaemon.Ours(),
            beforeMigrating: () =>
            {
                File.Delete(Mig("victim.txt"));
                return Task.CompletedTask;
            });
        Report(o);
        Assert.True(o.Status == "failed" && o.GuestExit == 0 && !o.FinishedOnDestination, $"{o.Status}, exit {o.GuestExit}\n{o.Consoles}\n{o.DaemonLogs}");
        Assert.Contains("Migration refused on the source", o.DaemonLogs, StringComparison.Ordinal);
        AssertRecords(1);
    }

    [SkippableFact]
    public async Task A_held_file_moved_out_of_the_share_migrates_as_an_error_for_that_file_only_under_guest_error()
    {
        SkipWithoutQemu10();
        Prepare(writers: 1, victim: "error");
        string outside = Path.Combine(_tree.Root, "outside.txt");
        using var vm = new MigrationVm(_tree.Share);
        MigrationOutcome o = await vm.RunAsync(
            MigrationDaemon.Ours("--migration-on-error", "guest-error"), MigrationDaemon.Ours("--migration-on-error", "guest-error"),
            beforeMigrating: () =>
            {
                File.Move(Mig("victim.txt"), outside);
                return Task.CompletedTask;
            });
        Report(o);
        Assert.True(o.Status == "completed" && o.GuestExit == 0 && o.FinishedOnDestination, $"{o.Status}, exit {o.GuestExit}\n{o.Consoles}\n{o.DaemonLogs}");
        // Inside the namespace sandbox the moved file's kernel path is outside the new root: whatever it reads as, it
        // does not lead back to the inode below the share, so the node travels as lost.
        string lost = Assert.Single(o.DaemonLogs.Split('\n'), l => l.Contains("cannot be described to the destination", StringComparison.Ordinal));
        log.WriteLine(lost);
        Assert.Contains("2 could not be", o.DaemonLogs, StringComparison.Ordinal); // the node and its open handle
        AssertRecords(1);
        Assert.Equal("victim\n", File.ReadAllText(outside));
    }

    [SkippableFact]
    public async Task A_corrupted_state_stream_is_refused_and_the_source_guest_keeps_running()
    {
        SkipWithoutQemu10();
        Prepare(writers: 1, victim: "ok");
        using var vm = new MigrationVm(_tree.Share);
        MigrationOutcome o = await vm.RunAsync(MigrationDaemon.Ours(), MigrationDaemon.Ours(), corruptState: true);
        Report(o);
        Assert.True(o.Status == "failed" && o.GuestExit == 0 && !o.FinishedOnDestination, $"{o.Status}, exit {o.GuestExit}\n{o.Consoles}\n{o.DaemonLogs}");
        Assert.Contains("checksum does not match", o.DaemonLogs, StringComparison.Ordinal);
        AssertRecords(1);
    }

    /// <summary>
    /// From the Rust virtiofsd 1.13 to ours (users upgrading): our destination reads its state (docs/migration.md "The
    /// Rust virtiofsd 1.13 and this daemon"), assumes the session it negotiated, and the guest goes on with the same
    /// open files, in each of their source's modes.
    /// </summary>
    [SkippableTheory]
    [InlineData("find-paths")]
    [InlineData("file-handles")]
    [InlineData("verify-handles")]
    public async Task From_the_rust_daemon_to_ours_the_guest_moves_with_its_open_files(string mode)
    {
        SkipWithoutQemu10();
        Prepare(writers: 1, victim: "ok");
        string[] rustArgs = mode == "verify-handles" ? ["--migration-verify-handles"] : ["--migration-mode", mode];
        using var vm = new MigrationVm(_tree.Share);
        MigrationOutcome o = await vm.RunAsync(MigrationDaemon.Rust(rustArgs), MigrationDaemon.Ours());
        Report(o);
        LogMigrationLines(o);
        Assert.True(o.Status == "completed" && o.GuestExit == 0 && o.FinishedOnDestination, $"{o.Status}, exit {o.GuestExit}\n{o.Consoles}\n{o.DaemonLogs}");
        Assert.Contains("a Rust virtiofsd 1.13 state", o.DaemonLogs, StringComparison.Ordinal);
        Assert.Contains("FUSE session taken over", o.DaemonLogs, StringComparison.Ordinal);
        Assert.Contains("0 could not be", o.DaemonLogs, StringComparison.Ordinal);
        AssertRecords(1);
        AssertTree(1);
    }

    /// <summary>From ours to the Rust virtiofsd 1.13, with --migration-state-format rust-1.13 on our source.</summary>
    [SkippableTheory]
    [InlineData("find-paths")]
    [InlineData("file-handles")]
    public async Task From_ours_to_the_rust_daemon_with_its_state_format_the_guest_moves_with_its_open_files(string mode)
    {
        SkipWithoutQemu10();
        Prepare(writers: 1, victim: "ok");
        using var vm = new MigrationVm(_tree.Share);
        // Their destination opens file handles only with CAP_DAC_READ_SEARCH, which it drops unless told (their --help).
        string[] rustArgs = mode == "file-handles" ? ["--modcaps=+dac_read_search"] : [];
        MigrationOutcome o = await vm.RunAsync(
            MigrationDaemon.Ours("--migration-state-format", "rust-1.13", "--migration-mode", mode), MigrationDaemon.Rust(rustArgs));
        Report(o);
        LogMigrationLines(o);
        Assert.True(o.Status == "completed" && o.GuestExit == 0 && o.FinishedOnDestination, $"{o.Status}, exit {o.GuestExit}\n{o.Consoles}\n{o.DaemonLogs}");
        Assert.Contains("Rust virtiofsd 1.13 state of", o.DaemonLogs, StringComparison.Ordinal);
        AssertRecords(1);
        AssertTree(1);
    }

    /// <summary>Our source's own format (the default) is not theirs: the Rust destination refuses it and the guest goes on at the source.</summary>
    [SkippableFact]
    public async Task From_ours_in_our_format_the_rust_daemon_refuses_the_state_and_the_source_goes_on()
    {
        SkipWithoutQemu10();
        Prepare(writers: 1, victim: "ok");
        using var vm = new MigrationVm(_tree.Share);
        MigrationOutcome o = await vm.RunAsync(MigrationDaemon.Ours(), MigrationDaemon.Rust());
        Report(o);
        LogMigrationLines(o);
        Assert.True(o.Status == "failed" && o.GuestExit == 0 && !o.FinishedOnDestination, $"{o.Status}, exit {o.GuestExit}\n{o.Consoles}\n{o.DaemonLogs}");
        Assert.Contains("Serde Deserialization Error", o.DaemonLogs, StringComparison.Ordinal);
        AssertRecords(1);
    }

    private void LogMigrationLines(MigrationOutcome o)
    {
        foreach (string line in o.DaemonLogs.Split('\n').Where(l => l.Contains("igrat", StringComparison.Ordinal) || l.Contains("state", StringComparison.OrdinalIgnoreCase)).Take(30))
        {
            log.WriteLine(line);
        }
    }

    private void AssertTree(int writers)
    {
        Assert.Equal(_ro, File.ReadAllBytes(Mig("ro.bin")));
        string[] expected = ["done.txt", "migrated", "params", "ready", "ro.bin", "ro.md5", "victim.txt",
            .. Enumerable.Range(0, writers).Select(k => $"log{k}.txt")];
        Assert.Equal(expected.Order(StringComparer.Ordinal), Directory.EnumerateFileSystemEntries(Path.Combine(_tree.Share, "mig"))
            .Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal));
    }
}
