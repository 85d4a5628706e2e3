using System.Text;
using VirtioFsd.Fuzz.Support;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.Escape;

/// <summary>
/// A temp tree for escape attempts: <c>share/</c> (what the daemon serves) holding a file, a
/// directory, a FIFO, a socket, a character device, and symlinks out of the share (to /etc, to a file
/// next to the share, to /proc magic links); <c>outside/</c> next to it, watched for any change.
/// </summary>
internal sealed class EscapeShare : IDisposable
{
    private readonly TempDirectory _root = new("virtiofsd-escape-");

    public EscapeShare()
    {
        Share = Path.Combine(Root, "share");
        string outside = Path.Combine(Root, "outside");
        Directory.CreateDirectory(Share);
        Directory.CreateDirectory(Path.Combine(outside, "dir"));
        File.WriteAllText(Path.Combine(outside, "secret"), "precious");
        Assert.Equal(0, Libc.Chmod(Share, 0b111_111_111));
        File.WriteAllText(Host("f"), "file content");
        Directory.CreateDirectory(Host("d"));
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, P(Host("p")), Libc.S_IFIFO | 0b110_110_110, 0));
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, P(Host("null")), Libc.S_IFCHR | 0b110_110_110, (1UL << 8) | 3));
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, P(Host("s")), S_IFSOCK | 0b110_110_110, 0));
        File.CreateSymbolicLink(Host("etc"), "/etc");
        File.CreateSymbolicLink(Host("passwd"), "/etc/passwd");
        File.CreateSymbolicLink(Host("out"), "../outside/secret");
        File.CreateSymbolicLink(Host("outdir"), "../outside/dir");
        File.CreateSymbolicLink(Host("proc-root"), "/proc/self/root");
        File.CreateSymbolicLink(Host("proc-cwd"), "/proc/self/cwd");
        Outside = new OutsideWatch(Root, outside);
        // Released in Dispose: no test of this suite adds a user while /etc/passwd is watched.
        Process.UnprivilegedUser.AccountFiles.Wait();
        try
        {
            EtcPasswd = Describe("/etc/passwd");
        }
        catch
        {
            Process.UnprivilegedUser.AccountFiles.Release();
            throw;
        }
    }

    private const uint S_IFSOCK = 0xC000;

    public string Root => _root.Path;

    public string Share { get; }

    public OutsideWatch Outside { get; }

    /// <summary>/etc/passwd as it was (mode, owner, size, times).</summary>
    public string EtcPasswd { get; }

    public string Host(string relative) => Path.Combine(Share, relative);

    /// <summary>A name as the kernel sends it: its bytes and a NUL (short, for the tables of bad names).</summary>
    public static byte[] N(string name) => FuseBytes.Name(name);

    /// <summary>A host path for the Libc wrappers (which add the NUL themselves).</summary>
    public static byte[] P(string path) => Encoding.UTF8.GetBytes(path);

    public static Statx Stat(string path)
    {
        Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD, Encoding.UTF8.GetBytes(path), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Statx st));
        return st;
    }

    public static string Describe(string path)
    {
        Statx st = Stat(path);
        return $"{path}:{st.Mode}:{st.Uid}:{st.Gid}:{st.Size}:{st.Nlink}:{st.Mtime.Sec}.{st.Mtime.Nsec}:{st.Ctime.Sec}.{st.Ctime.Nsec};";
    }

    /// <summary>Nothing outside the share changed: the sibling directory, the root listing, /etc/passwd.</summary>
    public void AssertOutsideUntouched()
    {
        Assert.Null(Outside.Changed());
        Assert.Equal(EtcPasswd, Describe("/etc/passwd"));
    }

    public void Dispose()
    {
        Process.UnprivilegedUser.AccountFiles.Release();
        _root.Dispose();
    }
}
