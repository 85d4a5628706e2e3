using System.Text;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

public sealed class XattrTests : IDisposable
{
    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    private NodeId File(string name)
    {
        _s.WriteHost(name, "x");
        return _s.Lookup(NodeId.Root, name).Node;
    }

    [Fact]
    public void SetGetListRemove_OnFileAndDirectory()
    {
        Directory.CreateDirectory(_s.Host("d"));
        foreach (NodeId n in new[] { File("f"), _s.Lookup(NodeId.Root, "d").Node })
        {
            Assert.Equal(0, _s.Fs.SetXattr(Root, n, N("user.one"), N("value-1"), 0));
            Assert.Equal(0, _s.Fs.SetXattr(Root, n, N("user.two"), N("2"), 0));
            Assert.Equal(7, _s.Fs.GetXattr(Root, n, N("user.one"), Span<byte>.Empty));
            byte[] v = new byte[7];
            Assert.Equal(7, _s.Fs.GetXattr(Root, n, N("user.one"), v));
            Assert.Equal("value-1", Encoding.UTF8.GetString(v));
            Assert.Equal(-Errno.ERANGE, _s.Fs.GetXattr(Root, n, N("user.one"), new byte[3]));

            int size = _s.Fs.ListXattr(Root, n, Span<byte>.Empty);
            byte[] list = new byte[size];
            Assert.Equal(size, _s.Fs.ListXattr(Root, n, list));
            string[] names = Encoding.UTF8.GetString(list).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("user.one", names);
            Assert.Contains("user.two", names);

            Assert.Equal(0, _s.Fs.RemoveXattr(Root, n, N("user.one")));
            Assert.Equal(-Errno.ENODATA, _s.Fs.GetXattr(Root, n, N("user.one"), v));
            Assert.Equal(-Errno.ENODATA, _s.Fs.RemoveXattr(Root, n, N("user.one")));
        }
    }

    [Fact]
    public void CreateAndReplaceFlags()
    {
        NodeId f = File("f");
        Assert.Equal(-Errno.ENODATA, _s.Fs.SetXattr(Root, f, N("user.a"), N("1"), Libc.XATTR_REPLACE));
        Assert.Equal(0, _s.Fs.SetXattr(Root, f, N("user.a"), N("1"), Libc.XATTR_CREATE));
        Assert.Equal(-Errno.EEXIST, _s.Fs.SetXattr(Root, f, N("user.a"), N("2"), Libc.XATTR_CREATE));
        Assert.Equal(0, _s.Fs.SetXattr(Root, f, N("user.a"), N("3"), Libc.XATTR_REPLACE));
        Assert.Equal(-Errno.EINVAL, _s.Fs.SetXattr(Root, f, N("user.a"), N("3"), 0x100));
    }

    [Fact]
    public void BadNames_AreRefused()
    {
        NodeId f = File("f");
        Assert.Equal(-Errno.ERANGE, _s.Fs.SetXattr(Root, f, N("user." + new string('a', 300)), N("1"), 0));
        Assert.Equal(-Errno.EINVAL, _s.Fs.GetXattr(Root, f, ReadOnlySpan<byte>.Empty, new byte[4]));
        Assert.Equal(-Errno.EOPNOTSUPP, _s.Fs.SetXattr(Root, f, N("nonsense.a"), N("1"), 0));
    }

    [Fact]
    public void Disabled_IsENOSYS()
    {
        using Share off = new(o => o with { Xattr = false });
        off.WriteHost("f", "x");
        NodeId f = off.Lookup(NodeId.Root, "f").Node;
        Assert.Equal(-Errno.ENOSYS, off.Fs.SetXattr(Root, f, N("user.a"), N("1"), 0));
        Assert.Equal(-Errno.ENOSYS, off.Fs.GetXattr(Root, f, N("user.a"), new byte[4]));
        Assert.Equal(-Errno.ENOSYS, off.Fs.ListXattr(Root, f, new byte[4]));
        Assert.Equal(-Errno.ENOSYS, off.Fs.RemoveXattr(Root, f, N("user.a")));
    }

    [Fact]
    public void PosixAclNames_RefusedUnlessEnabled()
    {
        NodeId f = File("f");
        Assert.Equal(-Errno.EOPNOTSUPP, _s.Fs.GetXattr(Root, f, N("system.posix_acl_access"), new byte[64]));
        Assert.Equal(-Errno.EOPNOTSUPP, _s.Fs.SetXattr(Root, f, N("system.posix_acl_default"), new byte[4], 0));
    }

    [Fact]
    public void OnFifoNode_ActsOnTheFifoWithoutOpeningIt()
    {
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, N(_s.Host("fifo")), Libc.S_IFIFO | 0b110_110_110, 0));
        NodeId fifo = _s.Lookup(NodeId.Root, "fifo").Node;
        // user.* xattrs are not permitted on FIFOs (fs/xattr.c); the point is that nothing blocks.
        Assert.Equal(-Errno.EPERM, _s.Fs.SetXattr(Root, fifo, N("user.a"), N("1"), 0));
        Assert.Equal(0, _s.Fs.SetXattr(Root, fifo, N("trusted.a"), N("1"), 0));
        Assert.Equal(1, _s.Fs.GetXattr(Root, fifo, N("trusted.a"), new byte[4]));
    }
}

/// <summary>The same xattr behaviour on kernels without *xattrat (f*xattr on a reopen, or the /proc path for special files).</summary>
public sealed class LegacyXattrTests : IDisposable
{
    private readonly Share _s = new();

    public LegacyXattrTests() => _s.Fs.UseLegacySyscalls();

    public void Dispose() => _s.Dispose();

    [Fact]
    public void FileDirectorySymlink_AllWork_AndSymlinkStaysTheLink()
    {
        _s.WriteHost("f", "x");
        Directory.CreateDirectory(_s.Host("d"));
        File.CreateSymbolicLink(_s.Host("l"), "f");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        NodeId l = _s.Lookup(NodeId.Root, "l").Node;
        foreach (NodeId n in new[] { f, d })
        {
            Assert.Equal(0, _s.Fs.SetXattr(Root, n, N("user.k"), N("vv"), 0));
            Assert.Equal(2, _s.Fs.GetXattr(Root, n, N("user.k"), new byte[8]));
            Assert.True(_s.Fs.ListXattr(Root, n, new byte[64]) >= "user.k\0".Length);
            Assert.Equal(0, _s.Fs.RemoveXattr(Root, n, N("user.k")));
        }
        Assert.Equal(0, _s.Fs.SetXattr(Root, l, N("trusted.k"), N("link"), 0));
        Assert.Equal(-Errno.ENODATA, _s.Fs.GetXattr(Root, f, N("trusted.k"), new byte[8]));
        Assert.Equal(4, _s.Fs.GetXattr(Root, l, N("trusted.k"), new byte[8]));
    }

    [Fact]
    public void Lookup_And_Create_WithoutOpenat2()
    {
        File.CreateSymbolicLink(_s.Host("l"), "/etc");
        Assert.Equal(Libc.S_IFLNK, _s.Lookup(NodeId.Root, "l").Attr.Mode & Libc.S_IFMT);
        Assert.Equal(-Errno.ELOOP, _s.Fs.Create(Root, NodeId.Root, N("l"), 0b110_100_100, (uint)Libc.O_RDWR, out _, out _));
        (Entry e, HandleId h) = _s.Create(NodeId.Root, "new", 0b110_100_100, Libc.O_RDWR);
        Assert.Equal(2, _s.Write(e.Node, h, 0, N("ok")));
    }
}
