using System.Collections.Concurrent;
using System.Diagnostics;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Process;

/// <summary>
/// The built virtiofsd executable run as a real process, with stdout collected line by line and stderr
/// kept whole. Waits carry a generous hang guard only; nothing asserts how long anything took.
/// </summary>
internal sealed class DaemonProcess : IDisposable
{
    /// <summary>Upper bound for anything a test waits on; reaching it means a hang, not slowness.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(90);

    private readonly System.Diagnostics.Process _process;
    private readonly BlockingCollection<string> _lines = new();
    private readonly System.Text.StringBuilder _stderr = new();

    private DaemonProcess(System.Diagnostics.Process process)
    {
        _process = process;
    }

    /// <summary>
    /// The daemon under test: VIRTIOFSD_BINARY when set (e.g. the NativeAOT binary scripts/setup.sh publishes
    /// to .cache/daemon), else the apphost built next to this test assembly (the project references src/VirtioFsd).
    /// </summary>
    public static string Executable { get; } =
        Environment.GetEnvironmentVariable("VIRTIOFSD_BINARY") is { Length: > 0 } binary
            ? Path.GetFullPath(binary)
            : Path.Combine(AppContext.BaseDirectory, "virtiofsd");

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public List<string> Output { get; } = [];

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts virtiofsd; with <paramref name="selfCheck"/> the sandboxed process reports instead of serving.</summary>
    public static DaemonProcess Start(IEnumerable<string> args, bool selfCheck = true,
        IReadOnlyDictionary<string, string>? environment = null) => Start(Executable, args, selfCheck, environment);

    /// <summary>Starts <paramref name="file"/> (e.g. a wrapper that execs virtiofsd) with the collection set up.</summary>
    public static DaemonProcess Start(string file, IEnumerable<string> args, bool selfCheck,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        Engine.IoUringRequirement.SkipUnlessAvailable(psi.ArgumentList.ToArray());
        if (selfCheck)
        {
            psi.Environment["VIRTIOFSD_TEST_SELF_CHECK"] = "1";
        }
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }
        var p = new System.Diagnostics.Process { StartInfo = psi };
        var d = new DaemonProcess(p);
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                d._lines.CompleteAdding();
            }
            else
            {
                d._lines.Add(e.Data);
            }
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (d._stderr)
                {
                    d._stderr.AppendLine(e.Data);
                }
            }
        };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return d;
    }

    /// <summary>Runs to completion and returns the exit code.</summary>
    public static (int Code, string Stdout, string Stderr) RunToExit(params string[] args)
    {
        using DaemonProcess d = Start(args, selfCheck: false);
        int code = d.WaitForExit();
        return (code, string.Join('\n', d.Output), d.Stderr);
    }

    /// <summary>Collects stdout lines until one starts with <paramref name="prefix"/>; returns the self-check values by key.</summary>
    public Dictionary<string, string> WaitForLine(string prefix)
    {
        using var guard = new CancellationTokenSource(HangGuard);
        try
        {
            foreach (string line in _lines.GetConsumingEnumerable(guard.Token))
            {
                Output.Add(line);
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return SelfCheckValues();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        throw new InvalidOperationException($"no '{prefix}' line; stdout: {string.Join(" | ", Output)}; stderr: {Stderr}");
    }

    /// <summary>Waits until stderr (the log) contains <paramref name="text"/>.</summary>
    public void WaitForLog(string text)
    {
        var clock = Stopwatch.StartNew();
        while (!Stderr.Contains(text, StringComparison.Ordinal))
        {
            if (clock.Elapsed > HangGuard || _process.HasExited)
            {
                throw new InvalidOperationException($"no log line with '{text}'; stderr: {Stderr}");
            }
            Thread.Sleep(50);
        }
    }

    public void Signal(int signal) => Assert.Equal(0, Libc.Kill(_process.Id, signal));

    public int WaitForExit()
    {
        Assert.True(_process.WaitForExit(HangGuard), $"virtiofsd did not exit; stderr: {Stderr}");
        _process.WaitForExit();
        while (_lines.TryTake(out string? line, 1000))
        {
            Output.Add(line);
        }
        return _process.ExitCode;
    }

    private Dictionary<string, string> SelfCheckValues()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in Output.Where(l => l.StartsWith("self-check ", StringComparison.Ordinal)))
        {
            string kv = line["self-check ".Length..];
            int eq = kv.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                values[kv[..eq]] = kv[(eq + 1)..];
            }
        }
        return values;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
        _lines.Dispose();
    }
}
