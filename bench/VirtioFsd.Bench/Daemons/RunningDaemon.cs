using System.Diagnostics;
using System.Text;

namespace VirtioFsd.Bench.Daemons;

/// <summary>
/// A daemon process started for one measurement session, with its output kept (for failures) and the
/// time from start until its socket file appears (polled every millisecond).
/// </summary>
public sealed class RunningDaemon : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private RunningDaemon(Process process, string socketPath)
    {
        _process = process;
        SocketPath = socketPath;
    }

    public string SocketPath { get; }

    public int Pid => _process.Id;

    /// <summary>Whether the started process (not its sandbox children) has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>From Process.Start returning-before to the socket path existing.</summary>
    public TimeSpan StartupTime { get; private set; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static RunningDaemon Start(DaemonConfig config, string socketPath, string sharedDir)
    {
        if (File.Exists(socketPath))
        {
            File.Delete(socketPath);
        }
        var psi = new ProcessStartInfo(config.Executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in config.Arguments(socketPath, sharedDir))
        {
            psi.ArgumentList.Add(a);
        }
        var process = new Process { StartInfo = psi };
        var d = new RunningDaemon(process, socketPath);
        process.OutputDataReceived += (_, e) => d.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => d.Keep(e.Data);
        long t0 = Stopwatch.GetTimestamp();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        while (!File.Exists(socketPath))
        {
            if (process.HasExited)
            {
                process.WaitForExit();
                throw new InvalidOperationException($"{config.Label} exited with {process.ExitCode} before listening: {d.Output}");
            }
            if (Stopwatch.GetElapsedTime(t0) > TimeSpan.FromSeconds(30))
            {
                d.Dispose();
                throw new InvalidOperationException($"{config.Label} did not create {socketPath} within 30 s: {d.Output}");
            }
            Thread.Sleep(1);
        }
        d.StartupTime = Stopwatch.GetElapsedTime(t0);
        return d;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            // Bounded: a chatty daemon must not grow the bench's memory during a long run.
            if (_output.Length < 64 * 1024)
            {
                _output.AppendLine(line);
            }
        }
    }

    public void Dispose()
    {
        // SIGTERM first: a daemon (or a profiler wrapping it) gets to exit cleanly and write its summary.
        const int SigTerm = 15;
        if (!_process.HasExited && VirtioFsd.Linux.Libc.Kill(_process.Id, SigTerm) == 0)
        {
            _process.WaitForExit(5000);
        }
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.WaitForExit();
        _process.Dispose();
        if (File.Exists(SocketPath))
        {
            File.Delete(SocketPath);
        }
    }
}
