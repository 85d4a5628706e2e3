using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// A guest user (uid/gid 65534) working in a directory it owns, and failing where a local user
/// would. OPEN and SETATTR permissions are the guest kernel's to check (virtiofs mounts with
/// default_permissions); what the host must get right is ownership and the checks of creation.
/// </summary>
public sealed class UnprivilegedCallerTests : IDisposable
{
    private readonly Share _s = new();
    private readonly NodeId _home;

    public UnprivilegedCallerTests()
    {
        Directory.CreateDirectory(_s.Host("home"));
        Assert.Equal(0, Libc.Chown(_s.Host("home"), 65534, 65534));
        Assert.Equal(0, Libc.Chmod(_s.Host("home"), 0b111_101_101));
        _home = _s.Lookup(NodeId.Root, "home").Node;
    }

    public void Dispose() => _s.Dispose();

    [Fact]
    public void Workflow_InOwnDirectory_EverythingOwnedByCaller()
    {
        Assert.Equal(0, _s.Fs.Mkdir(Nobody, _home, N("d"), 0b111_000_000, out Entry d));
        Assert.Equal(0, _s.Fs.Mknod(Nobody, d.Node, N("fifo"), Libc.S_IFIFO | 0b110_000_000, 0, out Entry fifo));
        Assert.Equal(0, _s.Fs.Symlink(Nobody, N("fifo"), d.Node, N("l"), out Entry l));
        (Entry f, HandleId h) = _s.Create(d.Node, "f", 0b110_100_000, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL, Nobody);
        foreach (Entry e in new[] { d, fifo, l, f })
        {
            Assert.Equal((65534u, 65534u), (e.Attr.Uid, e.Attr.Gid));
        }
        Assert.Equal(5, _s.Write(f.Node, h, 0, N("hello"), ctx: Nobody));
        Assert.Equal(0, _s.Fs.SetAttr(Nobody, f.Node, null, new SetAttrRequest { Valid = 8, Size = 2 }, out FileAttr a));
        Assert.Equal(2UL, a.Size);
        Assert.Equal(0, _s.Fs.SetAttr(Nobody, f.Node, null, new SetAttrRequest { Valid = 1, Mode = 0b110_000_000 }, out a));
        Assert.Equal(0, _s.Fs.Rename(Nobody, d.Node, N("f"), _home, N("g"), 0));
        Assert.Equal(0, _s.Fs.Link(Nobody, f.Node, _home, N("g2"), out _));
        Assert.Equal(0, _s.Fs.Unlink(Nobody, _home, N("g2")));
        Assert.Equal(0, _s.Fs.Access(Nobody, f.Node, 6));
        Assert.Equal(0, _s.Fs.Unlink(Nobody, d.Node, N("l")));
        Assert.Equal(0, _s.Fs.Unlink(Nobody, d.Node, N("fifo")));
        Assert.Equal(0, _s.Fs.Rmdir(Nobody, _home, N("d")));
        Assert.Equal(65534u, _s.HostStat("home/g").Uid);
    }

    [Fact]
    public void CreationInOthersDirectory_IsDenied_AsLocally()
    {
        RequestContext other = new(1000, 1000, 300);
        Assert.Equal(-Errno.EACCES, _s.Fs.Mkdir(other, _home, N("x"), 0b111_101_101, out _));
        Assert.Equal(-Errno.EACCES, _s.Fs.Create(other, _home, N("x"), 0b110_100_100, (uint)(Libc.O_RDWR | Libc.O_CREAT), out _, out _));
        Assert.Equal(-Errno.EACCES, _s.Fs.Tmpfile(other, _home, 0b110_100_100, (uint)Libc.O_RDWR, out _, out _));
        Assert.Equal(-Errno.EACCES, _s.Fs.Mknod(other, _home, N("x"), Libc.S_IFSOCK | 0b110_100_100, 0, out _));
        Assert.Equal(-Errno.EACCES, _s.Fs.Symlink(other, N("t"), _home, N("x"), out _));
        Assert.Equal(-Errno.EACCES, _s.Fs.Access(other, _home, 2));
        // Group membership vouched for by the guest (FUSE_CREATE_SUPP_GROUP) counts, as locally.
        Assert.Equal(0, Libc.Chmod(_s.Host("home"), 0b111_111_101));
        Assert.Equal(0, _s.Fs.Mkdir(other with { SupplementaryGroup = 65534 }, _home, N("viaGroup"), 0b111_101_101, out Entry e));
        Assert.Equal((1000u, 1000u), (e.Attr.Uid, e.Attr.Gid));
        Assert.Equal(-Errno.EACCES, _s.Fs.Mkdir(other, _home, N("noGroup"), 0b111_101_101, out _));
    }

    [Fact]
    public void AccessChecks_UseCallerIds()
    {
        _s.WriteHost("home/mine", "x", 0b110_000_000);
        Assert.Equal(0, Libc.Chown(_s.Host("home/mine"), 65534, 65534));
        NodeId mine = _s.Lookup(_home, "mine").Node;
        Assert.Equal(0, _s.Fs.Access(Nobody, mine, 6));
        Assert.Equal(-Errno.EACCES, _s.Fs.Access(new RequestContext(1000, 1000, 1), mine, 4));
        Assert.Equal(0, _s.Fs.Access(Root, mine, 6));
    }
}
