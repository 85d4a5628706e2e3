using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace VirtioFsd.Tests.Vm;

/// <summary>
/// What lstat says of one host entry (read with coreutils stat, so no struct layout here). Mode is
/// the permission bits in octal as stat prints them (%a), e.g. "4755".
/// </summary>
public sealed record HostEntry(string Type, string Mode, int Uid, int Gid, int Links, ulong Inode, long Size, int Major, int Minor, long MtimeSeconds);

/// <summary>
/// The host side of the VM file-system test: a temp directory shared with the guest. Prepares what
/// scripts/guest/fs_test.sh expects under host/, and inspects what the guest left under out/.
/// </summary>
internal sealed class SharedTree : IDisposable
{
    private readonly TempDirectory _root;

    /// <param name="prefix">Says who runs the scripts over it, e.g. "virtiofsd-vm-fs-test-".</param>
    public SharedTree(string prefix)
    {
        _root = new TempDirectory(prefix);
    }

    public string Root => _root.Path;

    public string Out => Path.Combine(Root, "out");

    /// <summary>Size of the file each side writes for the other (host/big.bin, out/guest-big.bin).</summary>
    public int BigFileBytes { get; private set; }

    /// <summary>
    /// host/small.txt, host/big.bin (deterministic pseudo-random bytes), host/big.md5, and host/params
    /// telling fs_test.sh the sizes: the guest writes <paramref name="bigMib"/> MiB too and fills a
    /// directory with <paramref name="manyEntries"/> entries.
    /// </summary>
    public void PrepareHostFiles(int bigMib, int manyEntries)
    {
        BigFileBytes = bigMib << 20;
        string host = Path.Combine(Root, "host");
        Directory.CreateDirectory(host);
        File.WriteAllText(Path.Combine(host, "small.txt"), "host text\n");
        byte[] big = new byte[BigFileBytes];
        new Random(20261121).NextBytes(big);
        File.WriteAllBytes(Path.Combine(host, "big.bin"), big);
        File.WriteAllText(Path.Combine(host, "big.md5"), Md5Hex(big) + "\n");
        File.WriteAllText(Path.Combine(host, "params"), $"BIG_MIB={bigMib}\nMANY={manyEntries}\n");
    }

    /// <summary>lstat of every entry under out/, keyed by the path relative to out/.</summary>
    public Dictionary<string, HostEntry> StatOut()
    {
        List<string> paths = [];
        Walk(Out, paths);
        var psi = new ProcessStartInfo("stat") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        // %F type, %a octal mode with setuid/sticky bits, %t/%T device major/minor in hex.
        psi.ArgumentList.Add("--printf=%n\t%F\t%a\t%u\t%g\t%h\t%i\t%s\t%t\t%T\t%Y\n");
        psi.ArgumentList.Add("--");
        foreach (string p in paths)
        {
            psi.ArgumentList.Add(p);
        }

        using var stat = System.Diagnostics.Process.Start(psi)!;
        string text = stat.StandardOutput.ReadToEnd();
        string err = stat.StandardError.ReadToEnd();
        stat.WaitForExit();
        Assert.True(stat.ExitCode == 0, $"stat failed: {err}");

        var entries = new Dictionary<string, HostEntry>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split('\t');
            entries[Path.GetRelativePath(Out, f[0])] = new HostEntry(
                Type: f[1],
                Mode: f[2],
                Uid: int.Parse(f[3], CultureInfo.InvariantCulture),
                Gid: int.Parse(f[4], CultureInfo.InvariantCulture),
                Links: int.Parse(f[5], CultureInfo.InvariantCulture),
                Inode: ulong.Parse(f[6], CultureInfo.InvariantCulture),
                Size: long.Parse(f[7], CultureInfo.InvariantCulture),
                Major: Convert.ToInt32(f[8], 16),
                Minor: Convert.ToInt32(f[9], 16),
                MtimeSeconds: long.Parse(f[10], CultureInfo.InvariantCulture));
        }

        return entries;
    }

    /// <summary>Every entry below dir, without descending into symlinks to directories (as lstat would).</summary>
    private static void Walk(string dir, List<string> paths)
    {
        foreach (string p in Directory.GetFileSystemEntries(dir))
        {
            paths.Add(p);
            if (Directory.Exists(p) && new DirectoryInfo(p).LinkTarget is null)
            {
                Walk(p, paths);
            }
        }
    }

    /// <summary>getxattr through the static helper scripts/setup.sh builds for the guest (it runs on the host too).</summary>
    public static (int ExitCode, string Value) GetXattr(string path, string name)
    {
        var psi = new ProcessStartInfo(VmRun.Script(".cache/guest/xattr")) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("get");
        psi.ArgumentList.Add(path);
        psi.ArgumentList.Add(name);
        using var p = System.Diagnostics.Process.Start(psi)!;
        string value = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, value.TrimEnd('\n'));
    }

    public static string Md5Hex(byte[] data)
    {
        // A checksum to compare with busybox md5sum in the guest, not a security measure.
#pragma warning disable CA5351
        return Convert.ToHexStringLower(MD5.HashData(data));
#pragma warning restore CA5351
    }

    public static string Md5HexOfFile(string path)
    {
        using FileStream s = File.OpenRead(path);
#pragma warning disable CA5351 // checksum, not security (see Md5Hex)
        return Convert.ToHexStringLower(MD5.HashData(s));
#pragma warning restore CA5351
    }

    public void Dispose() => _root.Dispose();
}
