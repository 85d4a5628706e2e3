using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>Creating inodes as root and as an unprivileged guest caller, including the SGID rules of CVE-2022-0358.</summary>
public sealed class CreateTests : IDisposable
{
    private const uint Mode755 = 0b111_101_101;
    private const uint Mode644 = 0b110_100_100;

    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    /// <summary>A directory every caller may create in.</summary>
    private NodeId OpenDirectory(string name)
    {
        Directory.CreateDirectory(_s.Host(name));
        Assert.Equal(0, Libc.Chmod(_s.Host(name), 0b111_111_111 | 0x200));
        return _s.Lookup(NodeId.Root, name).Node;
    }

    [Fact]
    public void Mkdir_AsRoot_AndAsNobody_OwnedByCaller()
    {
        Assert.Equal(0, _s.Fs.Mkdir(Root, NodeId.Root, N("r"), Mode755, out Entry r));
        Assert.Equal(Libc.S_IFDIR | Mode755, r.Attr.Mode);
        Assert.Equal(0u, r.Attr.Uid);

        NodeId pub = OpenDirectory("pub");
        Assert.Equal(0, _s.Fs.Mkdir(Nobody, pub, N("n"), Mode755, out Entry n));
        Assert.Equal(65534u, n.Attr.Uid);
        Assert.Equal(65534u, n.Attr.Gid);
        Assert.Equal(65534u, _s.HostStat("pub/n").Uid);
        Assert.Equal(-Errno.EEXIST, _s.Fs.Mkdir(Root, pub, N("n"), Mode755, out _));
    }

    [Fact]
    public void Create_InDirectoryNotWritableByCaller_IsEACCES()
    {
        // The share root is root's 0755: a local nobody could not create there, nor can the guest's.
        Assert.Equal(-Errno.EACCES, _s.Fs.Create(Nobody, NodeId.Root, N("x"), Mode644, (uint)Libc.O_RDWR, out _, out _));
        Assert.Equal(-Errno.EACCES, _s.Fs.Mkdir(Nobody, NodeId.Root, N("d"), Mode755, out _));
        Assert.Equal(-Errno.EACCES, _s.Fs.Symlink(Nobody, N("t"), NodeId.Root, N("l"), out _));
        Assert.Equal(-Errno.EACCES, _s.Fs.Mknod(Nobody, NodeId.Root, N("p"), Libc.S_IFIFO | Mode644, 0, out _));
        Assert.False(File.Exists(_s.Host("x")));
    }

    [Fact]
    public void Create_Exclusive_OnExistingName_IsEEXIST_ElseOpensIt()
    {
        (Entry e, HandleId h) = _s.Create(NodeId.Root, "f", Mode644, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL);
        Assert.Equal(Libc.S_IFREG | Mode644, e.Attr.Mode);
        Assert.Equal(3, _s.Write(e.Node, h, 0, N("abc")));
        Assert.Equal(-Errno.EEXIST, _s.Fs.Create(Root, NodeId.Root, N("f"), Mode644, (uint)(Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL), out _, out _));

        (Entry again, HandleId h2) = _s.Create(NodeId.Root, "f", Mode644, Libc.O_RDWR | Libc.O_CREAT);
        Assert.Equal(e.Node, again.Node);
        Assert.Equal("abc"u8.ToArray(), _s.Read(again.Node, h2, 0, 10));

        (_, HandleId h3) = _s.Create(NodeId.Root, "f", Mode644, Libc.O_RDWR | Libc.O_CREAT | Libc.O_TRUNC);
        Assert.Empty(_s.Read(e.Node, h3, 0, 10));
    }

    [Fact]
    public void Create_OverExistingFifoOrSymlink_NeverOpensOrFollowsIt()
    {
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, N(_s.Host("fifo")), Libc.S_IFIFO | Mode644, 0));
        File.CreateSymbolicLink(_s.Host("link"), "/etc/passwd");
        // Without O_EXCL an existing FIFO would block an ordinary open; here it is refused at once.
        Assert.Equal(-Errno.EACCES, _s.Fs.Create(Root, NodeId.Root, N("fifo"), Mode644, (uint)(Libc.O_RDWR | Libc.O_CREAT), out _, out _));
        Assert.Equal(-Errno.ELOOP, _s.Fs.Create(Root, NodeId.Root, N("link"), Mode644, (uint)(Libc.O_RDWR | Libc.O_CREAT | Libc.O_TRUNC), out _, out _));
        Assert.NotEqual(0L, new FileInfo("/etc/passwd").Length);
    }

    [Fact]
    public void Create_WithUmask_AppliesIt()
    {
        RequestContext ctx = Root with { Umask = 0b000_010_010 };
        Assert.Equal(0, _s.Fs.Create(ctx, NodeId.Root, N("u"), 0b110_110_110, (uint)Libc.O_RDWR, out Entry e, out _));
        Assert.Equal(0b110_100_100u, e.Attr.Mode & 0xfff);
    }

    [Fact]
    public void Mknod_FifoSocketRegular_Allowed_DevicesRefused()
    {
        NodeId pub = OpenDirectory("pub");
        Assert.Equal(0, _s.Fs.Mknod(Nobody, pub, N("fifo"), Libc.S_IFIFO | Mode644, 0, out Entry fifo));
        Assert.Equal(Libc.S_IFIFO, fifo.Attr.Mode & Libc.S_IFMT);
        Assert.Equal(0, _s.Fs.Mknod(Nobody, pub, N("sock"), Libc.S_IFSOCK | Mode644, 0, out Entry sock));
        Assert.Equal(Libc.S_IFSOCK, sock.Attr.Mode & Libc.S_IFMT);
        Assert.Equal(0, _s.Fs.Mknod(Nobody, pub, N("reg"), Libc.S_IFREG | Mode644, 0, out Entry reg));
        Assert.Equal(Libc.S_IFREG, reg.Attr.Mode & Libc.S_IFMT);
        Assert.Equal(65534u, reg.Attr.Uid);

        // /dev/null is char 1:3; the default policy refuses device nodes even to guest root.
        uint devNull = (1u << 8) | 3u;
        Assert.Equal(-Errno.EPERM, _s.Fs.Mknod(Root, pub, N("null"), Libc.S_IFCHR | Mode644, devNull, out _));
        Assert.Equal(-Errno.EPERM, _s.Fs.Mknod(Root, pub, N("blk"), Libc.S_IFBLK | Mode644, devNull, out _));
        Assert.Equal(-Errno.EPERM, _s.Fs.Mknod(Root, pub, N("dir"), Libc.S_IFDIR | Mode644, 0, out _));
        Assert.False(File.Exists(_s.Host("pub/null")));
    }

    [Fact]
    public void Mknod_Device_WhenPolicyAllows_OnlyForRoot()
    {
        using Share s = new(o => o with { DeviceNodes = DeviceNodePolicy.AllowForRoot });
        Directory.CreateDirectory(s.Host("pub"));
        Assert.Equal(0, Libc.Chmod(s.Host("pub"), 0b111_111_111));
        NodeId pub = s.Lookup(NodeId.Root, "pub").Node;
        uint devNull = (1u << 8) | 3u;
        Assert.Equal(-Errno.EPERM, s.Fs.Mknod(Nobody, pub, N("n1"), Libc.S_IFCHR | Mode644, devNull, out _));
        Assert.Equal(0, s.Fs.Mknod(Root, pub, N("n2"), Libc.S_IFCHR | Mode644, devNull, out Entry e));
        Assert.Equal(devNull, e.Attr.Rdev);
        Statx st = s.HostStat("pub/n2");
        Assert.Equal((1u, 3u), (st.RdevMajor, st.RdevMinor));
        // Created, but never opened by the daemon.
        Assert.Equal(-Errno.EACCES, s.Fs.Open(Root, e.Node, (uint)Libc.O_RDWR, out _));
    }

    [Fact]
    public void Symlink_StoresTargetVerbatim_AndReadLinkReturnsIt()
    {
        Assert.Equal(0, _s.Fs.Symlink(Root, N("../../../etc/shadow"), NodeId.Root, N("l"), out Entry e));
        Assert.Equal(Libc.S_IFLNK, e.Attr.Mode & Libc.S_IFMT);
        Assert.Equal("../../../etc/shadow", File.ResolveLinkTarget(_s.Host("l"), false) is { } t ? new FileInfo(_s.Host("l")).LinkTarget : null);
        byte[] buffer = new byte[256];
        int n = _s.Fs.ReadLink(Root, e.Node, buffer);
        Assert.Equal("../../../etc/shadow", System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        Assert.Equal(-Errno.ERANGE, _s.Fs.ReadLink(Root, e.Node, new byte[5]));
        Assert.Equal(-Errno.EINVAL, _s.Fs.ReadLink(Root, NodeId.Root, buffer));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Symlink(Root, ReadOnlySpan<byte>.Empty, NodeId.Root, N("e"), out _));
    }

    [Fact]
    public void Link_AddsName_ToSameNode_DirectoryRefused()
    {
        _s.WriteHost("f", "data");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        Assert.Equal(0, _s.Fs.Link(Root, f, NodeId.Root, N("g"), out Entry g));
        Assert.Equal(f, g.Node);
        Assert.Equal(2u, g.Attr.Nlink);
        Assert.Equal("data", File.ReadAllText(_s.Host("g")));
        Assert.Equal(-Errno.EEXIST, _s.Fs.Link(Root, f, NodeId.Root, N("g"), out _));
        Directory.CreateDirectory(_s.Host("d"));
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        Assert.Equal(-Errno.EPERM, _s.Fs.Link(Root, d, NodeId.Root, N("d2"), out _));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Link(Root, f, NodeId.Root, N("d/x"), out _));
    }

    [Fact]
    public void Link_OfSymlinkNode_LinksTheLinkItself()
    {
        File.CreateSymbolicLink(_s.Host("l"), "/etc/passwd");
        NodeId l = _s.Lookup(NodeId.Root, "l").Node;
        Assert.Equal(0, _s.Fs.Link(Root, l, NodeId.Root, N("l2"), out Entry e));
        Assert.Equal(Libc.S_IFLNK, e.Attr.Mode & Libc.S_IFMT);
        Assert.Equal(Libc.S_IFLNK, _s.HostStat("l2").Mode & Libc.S_IFMT);
    }

    [Fact]
    public void Tmpfile_IsUnnamed_UntilLinked()
    {
        NodeId pub = OpenDirectory("pub");
        Assert.Equal(0, _s.Fs.Tmpfile(Nobody, pub, Mode644, (uint)Libc.O_RDWR, out Entry e, out OpenResult r));
        Assert.Equal(65534u, e.Attr.Uid);
        Assert.Empty(Directory.GetFileSystemEntries(_s.Host("pub")));
        Assert.Equal(4, _s.Write(e.Node, r.Handle, 0, N("temp")));
        Assert.Equal(0, _s.Fs.Link(Root, e.Node, pub, N("named"), out _));
        Assert.Equal("temp", File.ReadAllText(_s.Host("pub/named")));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Tmpfile(Root, pub, Mode644, (uint)Libc.O_RDONLY, out _, out _));
    }

    /// <summary>
    /// CVE-2022-0358: in a root-group directory with mode 03777, a caller outside group 0 creating
    /// a file with mode 02755 must not get an SGID file of group 0. The daemon's own groups
    /// (root's, including 0) must not count as the caller's.
    /// </summary>
    [Fact]
    public void Create_InSgidDirectory_ByNonMember_DropsSgid()
    {
        // The bug needs a daemon whose own groups include 0 (root's usually do); make sure this thread's do.
        uint[] saved = new uint[Math.Max(0, Libc.GetGroupsThread(default))];
        Assert.Equal(saved.Length, Libc.GetGroupsThread(saved));
        Assert.Equal(0, Libc.SetGroupsThread([0u]));
        try
        {
            CreateInSgidDirectoryByNonMember();
        }
        finally
        {
            Assert.Equal(0, Libc.SetGroupsThread(saved));
        }
    }

    private void CreateInSgidDirectoryByNonMember()
    {
        // mkdir -m 03777 d: mkdir(2) ignores S_ISGID in the mode, so mkdir(1) follows with a chmod.
        NodeId dir = MkdirSgid();
        Assert.Equal(0, _s.Fs.GetAttr(Root, dir, null, out FileAttr da));
        Assert.Equal(0b011_111_111_111u, da.Mode & 0xfff);
        Assert.Equal(0u, da.Gid);
        Entry d = new() { Node = dir };

        Assert.Equal(0, _s.Fs.Create(Nobody, d.Node, N("x"), 0b010_111_101_101, (uint)(Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL), out Entry x, out _));
        Assert.Equal(0u, x.Attr.Gid);
        Assert.Equal(65534u, x.Attr.Uid);
        Assert.Equal(0u, x.Attr.Mode & Libc.S_ISGID);
        Assert.Equal(0u, _s.HostStat("d/x").Mode & Libc.S_ISGID);

        Assert.Equal(0, _s.Fs.Mknod(Nobody, d.Node, N("m"), Libc.S_IFREG | 0b010_111_101_101, 0, out Entry m));
        Assert.Equal(0u, m.Attr.Mode & Libc.S_ISGID);

        // A subdirectory inherits the SGID bit of its parent, as on a local filesystem.
        Assert.Equal(0, _s.Fs.Mkdir(Nobody, d.Node, N("sub"), Mode755, out Entry sub));
        Assert.Equal(Libc.S_ISGID, sub.Attr.Mode & Libc.S_ISGID);
        Assert.Equal(0u, sub.Attr.Gid);
    }

    [Fact]
    public void Create_InSgidDirectory_ByMemberViaSupplementaryGroup_KeepsSgid()
    {
        Entry d = new() { Node = MkdirSgid() };
        Assert.Equal(0, _s.Fs.Fchown(d.Node, 4242));
        RequestContext member = Nobody with { SupplementaryGroup = 4242 };
        Assert.Equal(0, _s.Fs.Create(member, d.Node, N("x"), 0b010_111_101_101, (uint)(Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL), out Entry x, out _));
        Assert.Equal(4242u, x.Attr.Gid);
        Assert.Equal(Libc.S_ISGID, x.Attr.Mode & Libc.S_ISGID);
    }

    private NodeId MkdirSgid()
    {
        Assert.Equal(0, _s.Fs.Mkdir(Root, NodeId.Root, N("d"), 0b111_111_111, out Entry d));
        SetAttrRequest chmod = new() { Valid = 1, Mode = 0b011_111_111_111 };
        Assert.Equal(0, _s.Fs.SetAttr(Root, d.Node, null, chmod, out _));
        return d.Node;
    }

    [Fact]
    public void CredentialsAreRestored_AfterCallerOperations()
    {
        NodeId pub = OpenDirectory("pub");
        Assert.Equal(0, _s.Fs.Mkdir(Nobody, pub, N("n"), Mode755, out _));
        Assert.Equal(0u, Libc.SetFsUidThread(uint.MaxValue));
        Assert.Equal(0u, Libc.SetFsGidThread(uint.MaxValue));
        // Root again: may create in the 0755 root-owned share root.
        Assert.Equal(0, _s.Fs.Mkdir(Root, NodeId.Root, N("r"), Mode755, out Entry r));
        Assert.Equal(0u, r.Attr.Uid);
    }
}

internal static class ShareFsExtensions
{
    /// <summary>SETATTR of the group only, as root.</summary>
    public static int Fchown(this PassthroughFileSystem fs, NodeId node, uint gid)
    {
        SetAttrRequest req = new() { Valid = 1 << 2, Gid = gid };
        return fs.SetAttr(Share.Root, node, null, req, out _);
    }
}
