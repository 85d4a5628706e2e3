using System.Diagnostics;
using VirtioFsd.Bench.Daemons;
using VirtioFsd.Linux;
using VirtioFsd.Tests.Vm;
using Xunit.Abstractions;

namespace VirtioFsd.Tests.Faults;

/// <summary>
/// A real QEMU (TCG) is killed with SIGKILL while its guest loops on I/O through our daemon
/// (scripts/guest/io_loop.sh: write + fsync, read, list, on two request queues). The daemon must see
/// the frontend go, log it, and exit 0 by itself. One boot of a few seconds once the guest runs.
/// Needs root and what scripts/setup.sh installs, as the other VM tests.
/// </summary>
public class QemuKillTests(ITestOutputHelper log)
{
    private const int SigStop = 19, SigCont = 18; // asm-generic/signal.h (x86-64)

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Daemon_exits_cleanly_when_qemu_is_killed_during_guest_io()
    {
        var workDir = new TempDirectory("virtiofsd-qemu-kill-");
        string work = workDir.Path;
        try
        {
            string share = Path.Combine(work, "share"), logs = Path.Combine(work, "logs"), status = Path.Combine(work, "daemon-status");
            Directory.CreateDirectory(share);
            Directory.CreateDirectory(logs);
            // run_vm.sh starts "the daemon" in its own session; this wrapper records how ours ended. A daemon
            // that did not exit by itself gets run_vm.sh's SIGTERM to the whole session, wrapper included,
            // and then no status is written.
            string wrapper = Path.Combine(work, "daemon.sh");
            File.WriteAllText(wrapper, $"#!/bin/sh\n\"{Process.DaemonProcess.Executable}\" \"$@\"\necho $? > \"{status}\"\n");
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

            var psi = new ProcessStartInfo(VmRun.Script("scripts/run_vm.sh"))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            foreach (string a in (string[])["--daemon", wrapper, "--shared-dir", share, "--queues", "2", "--log-dir", logs,
                         "--guest-script", VmRun.Script("scripts/guest/io_loop.sh"), "--timeout", "300"])
            {
                psi.ArgumentList.Add(a);
            }
            using var runVm = System.Diagnostics.Process.Start(psi)!;
            runVm.StandardInput.Close();
            var output = new System.Text.StringBuilder();
            runVm.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            runVm.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            runVm.BeginOutputReadLine();
            runVm.BeginErrorReadLine();

            // Wait until the guest has done a few rounds of I/O (hang guard only, no timing asserted).
            string counter = Path.Combine(share, "io-loop-count");
            var clock = Stopwatch.StartNew();
            while (!(File.Exists(counter) && int.TryParse(File.ReadAllText(counter).Trim(), out int rounds) && rounds >= 3))
            {
                Assert.False(runVm.HasExited, $"run_vm.sh ended before the guest did I/O: {output}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(VmRun.BootTimeoutSeconds), $"no guest I/O: {output}");
                Thread.Sleep(100);
            }
            int qemu = ProcStats.Tree(runVm.Id).Single(p => Comm(p).StartsWith("qemu-system", StringComparison.Ordinal));
            // run_vm.sh is held (SIGSTOP) while the daemon reacts, so its clean-up cannot SIGTERM the daemon first.
            Assert.Equal(0, Libc.Kill(runVm.Id, SigStop));
            try
            {
                Assert.Equal(0, Libc.Kill(qemu, Libc.SIGKILL));
                clock.Restart();
                while (!File.Exists(status) && clock.Elapsed < TimeSpan.FromSeconds(90))
                {
                    Thread.Sleep(100);
                }
            }
            finally
            {
                Libc.Kill(runVm.Id, SigCont);
            }
            Assert.True(runVm.WaitForExit(TimeSpan.FromSeconds(VmRun.BootTimeoutSeconds)), $"run_vm.sh did not end: {output}");
            runVm.WaitForExit();
            string daemonLog = File.ReadAllText(Path.Combine(logs, "daemon.log"));
            log.WriteLine(daemonLog);
            Assert.True(File.Exists(status), $"the daemon did not exit by itself within 90 s of qemu's death; its log: {daemonLog}");
            Assert.Equal("0", File.ReadAllText(status).Trim());
            Assert.Contains("Client disconnected, shutting down", daemonLog, StringComparison.Ordinal);
            Assert.DoesNotContain("ERROR", daemonLog, StringComparison.Ordinal);
        }
        finally
        {
            workDir.Dispose();
        }
    }

    private static string Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }
}
