using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>Directories on another host mount carry FUSE_ATTR_SUBMOUNT when announced. Needs mount(2): the tests run as root.</summary>
public sealed class SubmountTests : IDisposable
{
    private const uint FuseAttrSubmount = 1;

    private readonly Share _s = Announcing();
    private readonly string _mnt;

    /// <summary>A share whose session negotiated FUSE_SUBMOUNTS (the filesystem announces them only then).</summary>
    private static Share Announcing()
    {
        var share = new Share();
        share.Fs.Init(FuseInitFlags.Submounts);
        return share;
    }

    public SubmountTests()
    {
        _mnt = _s.Host("mnt");
        Directory.CreateDirectory(_mnt);
        Directory.CreateDirectory(_s.Host("plain"));
        Assert.Equal(0, Mount.Tmpfs(_mnt));
        File.WriteAllText(Path.Combine(_mnt, "inner"), "x");
    }

    public void Dispose()
    {
        _s.Fs.Destroy();
        Mount.Unmount(_mnt);
        _s.Dispose();
    }

    [Fact]
    public void MountPoint_IsFlagged_PlainDirectoryIsNot()
    {
        Entry mnt = _s.Lookup(NodeId.Root, "mnt");
        Assert.Equal(FuseAttrSubmount, mnt.Attr.Flags & FuseAttrSubmount);
        Assert.Equal(FuseAttrSubmount, GetAttr(mnt.Node).Flags & FuseAttrSubmount);
        Assert.Equal(0u, _s.Lookup(NodeId.Root, "plain").Attr.Flags);
        Assert.Equal(0u, _s.Lookup(mnt.Node, "inner").Attr.Flags);
        // The submount is still served: a file inside is readable.
        NodeId inner = _s.Lookup(mnt.Node, "inner").Node;
        HandleId h = _s.Open(inner, Libc.O_RDONLY);
        Assert.Equal("x"u8.ToArray(), _s.Read(inner, h, 0, 10));
        Assert.Equal(0, _s.Fs.Release(Root, inner, h, 0, 0, false));
        Assert.Equal(0, _s.Fs.SyncFs(Root, mnt.Node));
    }

    [Fact]
    public void NotAnnounced_NoFlag()
    {
        using Share quiet = new();
        string m = quiet.Host("m");
        Directory.CreateDirectory(m);
        Assert.Equal(0, Mount.Tmpfs(m));
        try
        {
            Assert.Equal(0u, quiet.Lookup(NodeId.Root, "m").Attr.Flags);
        }
        finally
        {
            quiet.Fs.Destroy();
            Mount.Unmount(m);
        }
    }

    private FileAttr GetAttr(NodeId n)
    {
        Assert.Equal(0, _s.Fs.GetAttr(Root, n, null, out FileAttr a));
        return a;
    }
}

/// <summary>mount(2)/umount2(2) for the submount tests only.</summary>
internal static partial class Mount
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int MountRaw(string source, string target, string type, ulong flags, string? data);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int Umount2Raw(string target, int flags);

    public static int Tmpfs(string target) =>
        MountRaw("none", target, "tmpfs", 0, "size=1m") == 0 ? 0 : -System.Runtime.InteropServices.Marshal.GetLastPInvokeError();

    /// <summary>MNT_DETACH (2): lazy, so an fd still open somewhere cannot keep the test's mount around.</summary>
    public static void Unmount(string target) => Umount2Raw(target, 2);
}
