namespace VirtioFsd.Tests.Process;

/// <summary>A temporary share (with a few entries) and a separate run directory for the socket and pid file.</summary>
internal sealed class TempTree : IDisposable
{
    private readonly TempDirectory _root;

    /// <param name="prefix">Says what the test runs the daemon for, e.g. "virtiofsd-sandbox-".</param>
    public TempTree(string prefix)
    {
        _root = new TempDirectory(prefix);
        Share = Path.Combine(Root, "share");
        Run = Path.Combine(Root, "run");
        Directory.CreateDirectory(Share);
        Directory.CreateDirectory(Run);
        File.WriteAllText(Path.Combine(Share, "a-file"), "x");
        Directory.CreateDirectory(Path.Combine(Share, "b-dir"));
    }

    public string Root => _root.Path;

    public string Share { get; }

    public string Run { get; }

    public string Socket => Path.Combine(Run, "vfs.sock");

    public string PidFile => Socket + ".pid";

    /// <summary>What a process whose root is the share must see at "/".</summary>
    public const string ShareListing = "a-file,b-dir";

    /// <summary>Hands the share and the run directory to a user (the root stays root's, and becomes traversable).</summary>
    public void GiveTo(uint uid, uint gid)
    {
        Assert.Equal(0, VirtioFsd.Linux.Libc.Chmod(Root, 0b111_101_101)); // 0755
        foreach (string path in Directory.EnumerateFileSystemEntries(Share, "*", SearchOption.AllDirectories).Append(Share).Append(Run))
        {
            Assert.Equal(0, VirtioFsd.Linux.Libc.Chown(path, uid, gid));
        }
    }

    public void Dispose() => _root.Dispose();
}

/// <summary>Reads a file with plain open/read: .NET's File APIs take a flock and would fail on the daemon's locked pid file.</summary>
internal static class UnlockedFile
{
    public static string ReadAllText(string path)
    {
        int fd = VirtioFsd.Linux.Libc.OpenAbsolute(path, VirtioFsd.Linux.Libc.O_RDONLY | VirtioFsd.Linux.Libc.O_CLOEXEC);
        Assert.True(fd >= 0, $"open {path}: {fd}");
        using var owned = new VirtioFsd.Linux.UnixFd(fd);
        var buffer = new byte[256];
        long n = VirtioFsd.Linux.Libc.Read(fd, buffer);
        Assert.True(n >= 0);
        return System.Text.Encoding.ASCII.GetString(buffer, 0, (int)n);
    }
}
