using System.Diagnostics;
using System.Globalization;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Process;

/// <summary>
/// A normal user with subordinate ids, as libvirt's session mode and rootless Podman users have: the system user
/// <see cref="Name"/> with 65536 subordinate uids and gids from <see cref="SubordinateBase"/> in /etc/subuid and
/// /etc/subgid. Made (as root) when missing and removed again by the fixture that made it. The daemon is copied
/// where that user can run it (a test checkout under a private temporary directory is not reachable for them).
/// </summary>
public sealed class UnprivilegedUser : IDisposable
{
    public const string Name = "virtiofsd-test";

    public const uint SubordinateBase = 3_000_000;

    public const uint SubordinateCount = 65_536;

    /// <summary>
    /// Held while this suite edits /etc/passwd (useradd, usermod, userdel) and, by the escape tests, while they watch
    /// /etc/passwd for a change a daemon must never make: otherwise a test user made meanwhile looks like an escape.
    /// </summary>
    public static readonly SemaphoreSlim AccountFiles = new(1, 1);

    private readonly bool _created;
    private readonly TempDirectory _binDir;

    public UnprivilegedUser()
    {
        Assert.True(Libc.GetEuid() == 0, "the user-namespace tests make a test user and need root");
        Assert.True(File.Exists("/usr/bin/newuidmap") && File.Exists("/usr/bin/newgidmap"),
            "newuidmap/newgidmap are missing (Debian package uidmap; scripts/setup.sh installs it)");
        if (Lookup() is null)
        {
            Run("useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", Name);
            _created = true;
        }
        string range = $"{SubordinateBase}-{SubordinateBase + SubordinateCount - 1}";
        if (!File.Exists("/etc/subuid") || !File.ReadAllText("/etc/subuid").Contains($"{Name}:{SubordinateBase}:{SubordinateCount}", StringComparison.Ordinal))
        {
            Run("usermod", "--add-subuids", range, "--add-subgids", range, Name);
        }
        (Uid, Gid) = Lookup() ?? throw new InvalidOperationException($"useradd made no {Name}");

        _binDir = new TempDirectory("virtiofsd-userns-bin-");
        Assert.Equal(0, Libc.Chmod(_binDir.Path, 0b111_101_101)); // 0755
        string source = Path.GetDirectoryName(DaemonProcess.Executable)!;
        foreach (string file in Environment.GetEnvironmentVariable("VIRTIOFSD_BINARY") is { Length: > 0 }
            ? [DaemonProcess.Executable] : Directory.GetFiles(source))
        {
            string copy = _binDir.Combine(Path.GetFileName(file));
            File.Copy(file, copy);
            Assert.Equal(0, Libc.Chmod(copy, 0b111_101_101));
        }
        Executable = _binDir.Combine(Path.GetFileName(DaemonProcess.Executable));
    }

    public uint Uid { get; }

    public uint Gid { get; }

    /// <summary>The daemon, where this user can run it.</summary>
    public string Executable { get; }

    /// <summary>setpriv(1) arguments that run a command as this user, with no groups but its own and no capabilities.</summary>
    public string[] SetprivPrefix =>
    [
        $"--reuid={Uid.ToString(CultureInfo.InvariantCulture)}", $"--regid={Gid.ToString(CultureInfo.InvariantCulture)}", "--clear-groups", "--",
    ];

    /// <summary>The daemon run as this user with <paramref name="args"/>.</summary>
    internal DaemonProcess Start(IEnumerable<string> args, bool selfCheck = false) =>
        DaemonProcess.Start("setpriv", [.. SetprivPrefix, Executable, .. args], selfCheck);

    public void Dispose()
    {
        _binDir.Dispose();
        if (_created)
        {
            // userdel also removes the subordinate ranges.
            Run("userdel", Name);
        }
    }

    private static (uint Uid, uint Gid)? Lookup()
    {
        foreach (string line in File.ReadAllLines("/etc/passwd"))
        {
            string[] f = line.Split(':');
            if (f.Length > 3 && f[0] == Name)
            {
                return (uint.Parse(f[2], CultureInfo.InvariantCulture), uint.Parse(f[3], CultureInfo.InvariantCulture));
            }
        }
        return null;
    }

    private static void Run(string file, params string[] args)
    {
        AccountFiles.Wait();
        try
        {
            RunUnlocked(file, args);
        }
        finally
        {
            AccountFiles.Release();
        }
    }

    private static void RunUnlocked(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using System.Diagnostics.Process p = System.Diagnostics.Process.Start(psi)!;
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {stderr}");
    }
}

/// <summary>The test classes that run the daemon as <see cref="UnprivilegedUser"/>: one user, made once, the classes one after another.</summary>
[CollectionDefinition(Name)]
public sealed class UnprivilegedUserCollection : ICollectionFixture<UnprivilegedUser>
{
    public const string Name = "unprivileged user";
}
