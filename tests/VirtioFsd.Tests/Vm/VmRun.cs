using System.Runtime.CompilerServices;

namespace VirtioFsd.Tests.Vm;

/// <summary>Which daemon a VM test runs against, and how scripts/run_vm.sh is told to start it.</summary>
public sealed record VmDaemon(string Name, IReadOnlyList<string> RunVmArgs)
{
    /// <summary>QEMU 7.2's C daemon, with xattrs on (it defaults to no_xattr); it has no multiqueue.</summary>
    public static VmDaemon C { get; } = new("c", ["--daemon", "c", "--daemon-args", "-o xattr"]);

    /// <summary>The Rust virtiofsd 1.13 of the Debian 13 root (scripts/rust-virtiofsd.sh), with xattrs on as ours.</summary>
    public static VmDaemon Rust { get; } = new("rust", ["--daemon", "rust", "--daemon-args", "--xattr"]);

    /// <summary>Our daemon: <see cref="Process.DaemonProcess.Executable"/> (the apphost next to this test assembly, or VIRTIOFSD_BINARY).</summary>
    public static VmDaemon Ours { get; } = new(
        "ours", ["--daemon", Process.DaemonProcess.Executable, "--daemon-args", "--xattr"]);
}

/// <summary>
/// Runs scripts/run_vm.sh to completion and keeps everything it printed. The script bounds each boot
/// with its own timeout (--timeout), so the test waits for it without a clock of its own.
/// </summary>
internal static class VmRun
{
    /// <summary>
    /// Per boot. The slowest boot measured (full sizes, cache=never, C daemon, host load ~24 on 2
    /// cores) took 216 s; reaching this means a hang. A daemon that dies is noticed at once instead.
    /// </summary>
    public const int BootTimeoutSeconds = 600;

    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Whether scripts/setup.sh made the Debian 13 root (QEMU 10, the Rust virtiofsd 1.13) here.</summary>
    public static bool HasTrixieRoot =>
        File.Exists(Path.Combine(RepoRoot, ".cache", "trixie", "usr", "bin", "qemu-system-x86_64"))
        && File.Exists(Path.Combine(RepoRoot, ".cache", "trixie", "usr", "libexec", "virtiofsd"));

    public static string Script(string relative) => Path.Combine(RepoRoot, relative);

    public static (int ExitCode, string Output) Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
        => Process.Command.Run(Script("scripts/run_vm.sh"), args, Timeout.InfiniteTimeSpan, environment);

    /// <summary>
    /// The test assembly usually sits under the repository (bin/ or artifacts/), but a build with
    /// --artifacts-path elsewhere does not: then the path this file was compiled from tells.
    /// </summary>
    private static string FindRepoRoot([CallerFilePath] string sourceFile = "")
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) ?? "" })
        {
            for (DirectoryInfo? d = string.IsNullOrEmpty(start) ? null : new(start); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "VirtioFsd.sln")) && File.Exists(Path.Combine(d.FullName, "scripts", "run_vm.sh")))
                {
                    return d.FullName;
                }
            }
        }

        throw new InvalidOperationException($"no repository root (VirtioFsd.sln + scripts/run_vm.sh) above {AppContext.BaseDirectory} or {sourceFile}");
    }
}
