using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace VirtioFsd.Tests.Vm.Migration;

/// <summary>A daemon one side of a migration runs: ours (with options) or the Rust virtiofsd 1.13 of the Debian 13 root.</summary>
internal sealed record MigrationDaemon(string Name, bool IsRust, IReadOnlyList<string> Args)
{
    public static MigrationDaemon Ours(params string[] args) => new("ours", false, args);

    public static MigrationDaemon Rust(params string[] args) => new("rust", true, args);
}

/// <summary>How one migration went: QEMU's final status, its figures, and where the guest finished.</summary>
internal sealed record MigrationOutcome(string Status, long TotalMs, long DowntimeMs, int GuestExit, bool FinishedOnDestination, string Consoles, string DaemonLogs);

/// <summary>
/// Two QEMU 10 processes on this machine (the destination started with -incoming defer and the return path on, so a
/// destination that refuses the state fails the migration and the source resumes), each with its own daemon on the
/// same share, and the guest of scripts/guest/migrate_test.sh. The guest says when it holds its files (mig/ready); the
/// host then migrates through QMP (optionally through a <see cref="MigrationProxy"/>), waits for the outcome, tells the
/// guest (mig/migrated) and waits for its exit marker on whichever console it finishes.
/// </summary>
internal sealed class MigrationVm : IDisposable
{
    private static readonly string Marker = "@@VIRTIOFSD-GUEST-EXIT=";
    private readonly string _work;
    private readonly Dictionary<string, System.Diagnostics.Process> _processes = [];

    public MigrationVm(string share)
    {
        Share = share;
        _work = Directory.CreateTempSubdirectory("migrate-vm-").FullName;
    }

    public string Share { get; }

    /// <summary>num-request-queues of the device (both sides).</summary>
    public int Queues { get; init; } = 1;

    public int Smp { get; init; } = 1;

    public string Memory { get; init; } = "256M";

    /// <summary>The outcome's status when the source QEMU ended before its guest was ready.</summary>
    public const string SourceQemuExited = "source-qemu-exited";

    /// <summary>
    /// Whether the source QEMU aborted in iotlb_to_section before the guest's init ran: a race of QEMU's multi-threaded
    /// TCG while the guest kernel probes its devices (see scripts/run_vm.sh), after which nothing of the test has run.
    /// </summary>
    public bool SourceHitTcgRace(MigrationOutcome outcome) =>
        outcome.Status == SourceQemuExited
        && Read(Path.Combine(_work, "src-qemu.log")).Contains("iotlb_to_section: Assertion", StringComparison.Ordinal)
        && !Read(Path.Combine(_work, "console-src.log")).Contains("guest init:", StringComparison.Ordinal);

    public void Dispose()
    {
        foreach (System.Diagnostics.Process p in _processes.Values)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                    p.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        Directory.Delete(_work, recursive: true);
    }

    public async Task<MigrationOutcome> RunAsync(MigrationDaemon source, MigrationDaemon destination, Func<Task>? beforeMigrating = null,
        bool corruptState = false, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? TimeSpan.FromMinutes(6);
        string initrd = Path.Combine(_work, "initrd.gz");
        BuildInitramfs(initrd);
        string srcSock = Path.Combine(_work, "src.sock");
        string dstSock = Path.Combine(_work, "dst.sock");
        StartDaemon("src", source, srcSock);
        StartDaemon("dst", destination, dstSock);
        string srcConsole = Path.Combine(_work, "console-src.log");
        string dstConsole = Path.Combine(_work, "console-dst.log");
        string incoming = Path.Combine(_work, "incoming.sock");
        StartQemu("src", srcSock, initrd, srcConsole, incoming: false);
        StartQemu("dst", dstSock, initrd, dstConsole, incoming: true);
        using QmpClient src = await QmpClient.ConnectAsync(Path.Combine(_work, "src.qmp"), TimeSpan.FromSeconds(60));
        using QmpClient dst = await QmpClient.ConnectAsync(Path.Combine(_work, "dst.qmp"), TimeSpan.FromSeconds(60));
        const string returnPath = "{\"capabilities\":[{\"capability\":\"return-path\",\"state\":true}]}";
        await src.ExecuteAsync("migrate-set-capabilities", returnPath);
        await dst.ExecuteAsync("migrate-set-capabilities", returnPath);
        await dst.ExecuteAsync("migrate-incoming", $"{{\"uri\":\"unix:{incoming}\"}}");

        string ready = Path.Combine(Share, "mig", "ready");
        DateTime deadline = DateTime.UtcNow + limit;
        while (!File.Exists(ready))
        {
            if (DateTime.UtcNow > deadline || ConsoleExit(srcConsole) is not null)
            {
                return Outcome("guest-never-ready", 0, 0, ConsoleExit(srcConsole) ?? -1, false, srcConsole, dstConsole);
            }
            if (_processes["src-qemu"].HasExited)
            {
                return Outcome(SourceQemuExited, 0, 0, -1, false, srcConsole, dstConsole);
            }
            await Task.Delay(200);
        }
        if (beforeMigrating is not null)
        {
            await beforeMigrating();
        }
        string target = incoming;
        MigrationProxy? proxy = null;
        if (corruptState)
        {
            target = Path.Combine(_work, "proxy.sock");
            proxy = new MigrationProxy(target, incoming, corrupt: true);
        }
        JsonElement info;
        try
        {
            await src.ExecuteAsync("migrate", $"{{\"uri\":\"unix:{target}\"}}");
            while (true)
            {
                info = await src.ExecuteAsync("query-migrate");
                string s = info.TryGetProperty("status", out JsonElement st) ? st.GetString() ?? "" : "";
                if (s is "completed" or "failed" or "cancelled" || DateTime.UtcNow > deadline)
                {
                    break;
                }
                await Task.Delay(200);
            }
        }
        finally
        {
            proxy?.Dispose();
        }
        string status = info.GetProperty("status").GetString() ?? "";
        long total = info.TryGetProperty("total-time", out JsonElement t) ? t.GetInt64() : 0;
        long downtime = info.TryGetProperty("downtime", out JsonElement d) ? d.GetInt64() : 0;
        if (status == "completed")
        {
            // The destination runs the guest once it has loaded everything (the return path confirms it).
            while (await dst.StatusAsync() != "running" && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
            await src.ExecuteAsync("quit");
        }
        else
        {
            while (await src.StatusAsync() != "running" && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
        File.WriteAllText(Path.Combine(Share, "mig", "migrated"), status);
        string finishConsole = status == "completed" ? dstConsole : srcConsole;
        int? exit;
        while ((exit = ConsoleExit(finishConsole)) is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        return Outcome(status, total, downtime, exit ?? -1, status == "completed", srcConsole, dstConsole);
    }

    private MigrationOutcome Outcome(string status, long total, long downtime, int exit, bool onDestination, string srcConsole, string dstConsole)
    {
        string consoles = $"--- source console ---\n{Read(srcConsole)}\n--- destination console ---\n{Read(dstConsole)}";
        string logs = $"--- source daemon ---\n{Read(Path.Combine(_work, "src-daemon.log"))}\n--- destination daemon ---\n{Read(Path.Combine(_work, "dst-daemon.log"))}\n"
            + $"--- source qemu ---\n{Read(Path.Combine(_work, "src-qemu.log"))}\n--- destination qemu ---\n{Read(Path.Combine(_work, "dst-qemu.log"))}";
        return new MigrationOutcome(status, total, downtime, exit, onDestination, consoles, logs);
    }

    private static string Read(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(stream).ReadToEnd();
        }
        catch (IOException)
        {
            return "(none)";
        }
    }

    private static int? ConsoleExit(string console)
    {
        string text = Read(console);
        int at = text.LastIndexOf(Marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }
        int end = text.IndexOf("@@", at + Marker.Length, StringComparison.Ordinal);
        return end < 0 ? null : int.Parse(text.AsSpan(at + Marker.Length, end - at - Marker.Length), CultureInfo.InvariantCulture);
    }

    private void BuildInitramfs(string output)
    {
        string script = VmRun.Script("scripts/guest/migrate_test.sh");
        Run("bash", "-c", $". '{VmRun.Script("scripts/lib/initramfs.sh")}' && build_initramfs \"$1\" script myfs 1 \"$2\"", "build", output, script);
    }

    private void StartDaemon(string side, MigrationDaemon daemon, string socket)
    {
        var args = new List<string>();
        string file;
        if (daemon.IsRust)
        {
            file = VmRun.Script("scripts/rust-virtiofsd.sh");
            args.AddRange(["--sandbox", "chroot"]);
        }
        else
        {
            file = Process.DaemonProcess.Executable;
        }
        args.AddRange(["--socket-path", socket, "--shared-dir", Share, "--cache", "auto", "--xattr"]);
        args.AddRange(daemon.Args);
        var env = new Dictionary<string, string> { ["RUST_VIRTIOFSD_BIND"] = $"{Share}:{_work}" };
        Start($"{side}-daemon", file, args, env);
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(socket))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{side} daemon made no socket:\n{Read(Path.Combine(_work, $"{side}-daemon.log"))}");
            }
            Thread.Sleep(100);
        }
    }

    private void StartQemu(string side, string socket, string initrd, string console, bool incoming)
    {
        string device = "vhost-user-fs-pci,chardev=char0,tag=myfs" + (Queues > 1 ? $",num-request-queues={Queues}" : "");
        var args = new List<string>
        {
            "qemu-system-x86_64", "-machine", "q35,accel=tcg", "-cpu", "max", "-smp", Smp.ToString(CultureInfo.InvariantCulture),
            "-m", Memory, "-object", $"memory-backend-memfd,id=mem,size={Memory},share=on", "-numa", "node,memdev=mem",
            "-chardev", $"socket,id=char0,path={socket}", "-device", device,
            "-kernel", VmRun.Script(".cache/guest/vmlinuz"), "-initrd", initrd,
            "-append", "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init nohz=off no_timer_check",
            "-no-reboot", "-nodefaults", "-vga", "none", "-display", "none", "-monitor", "none",
            "-serial", $"file:{console}", "-qmp", $"unix:{Path.Combine(_work, side + ".qmp")},server=on,wait=off",
        };
        if (incoming)
        {
            args.AddRange(["-incoming", "defer"]);
        }
        var env = new Dictionary<string, string> { ["TRIXIE_BIND"] = $"{VmRun.Script(".cache/guest")}:{_work}" };
        Start($"{side}-qemu", VmRun.Script("scripts/trixie-run.sh"), args, env);
    }

    private void Start(string name, string file, IEnumerable<string> args, Dictionary<string, string> env)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach ((string k, string v) in env)
        {
            psi.Environment[k] = v;
        }
        var log = new StreamWriter(Path.Combine(_work, name + ".log")) { AutoFlush = true };
        var p = new System.Diagnostics.Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => Write(log, e.Data);
        p.ErrorDataReceived += (_, e) => Write(log, e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _processes.Add(name, p);
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (log)
        {
            log.WriteLine(line);
        }
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = System.Diagnostics.Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} failed: {err}");
        }
    }
}
