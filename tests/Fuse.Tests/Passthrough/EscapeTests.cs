using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>Attempts to reach files outside the share, or to make the daemon open what it must not.</summary>
public sealed class EscapeTests : IDisposable
{
    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    [Fact]
    public void SymlinkToEtc_IsNeverFollowed()
    {
        File.CreateSymbolicLink(_s.Host("etc"), "/etc");
        Entry etc = _s.Lookup(NodeId.Root, "etc");
        Assert.Equal(Libc.S_IFLNK, etc.Attr.Mode & Libc.S_IFMT);
        Assert.Equal(-Errno.ENOTDIR, _s.TryLookup(etc.Node, "passwd"));
        Assert.Equal(-Errno.ENOTDIR, _s.Fs.OpenDir(Root, etc.Node, 0, out _));
        Assert.Equal(-Errno.ELOOP, _s.Fs.Open(Root, etc.Node, (uint)Libc.O_RDONLY, out _));
        Assert.Equal(-Errno.ENOTDIR, _s.Fs.Mkdir(Root, etc.Node, N("x"), 0b111_101_101, out _));
        Assert.Equal(-Errno.ENOTDIR, _s.Fs.Create(Root, etc.Node, N("x"), 0b110_100_100, (uint)Libc.O_RDWR, out _, out _));
        Assert.Equal(-Errno.ENOTDIR, _s.Fs.Unlink(Root, etc.Node, N("passwd")));
        Assert.False(File.Exists("/etc/x"));
    }

    [Fact]
    public void SymlinkToFileOutside_OpenAndSetAttrDoNotReachIt()
    {
        var outsideDir = new TempDirectory("virtiofsd-passthrough-outside-");
        string outside = outsideDir.Combine("victim");
        File.WriteAllText(outside, "precious");
        Assert.Equal(0, Libc.Chmod(outside, 0b110_100_100));
        try
        {
            File.CreateSymbolicLink(_s.Host("pw"), outside);
            NodeId pw = _s.Lookup(NodeId.Root, "pw").Node;
            Assert.Equal(-Errno.ELOOP, _s.Fs.Open(Root, pw, (uint)(Libc.O_RDWR | Libc.O_TRUNC), out _));
            Assert.Equal(-Errno.EOPNOTSUPP, _s.Fs.SetAttr(Root, pw, null, new SetAttrRequest { Valid = 1, Mode = 0b111_111_111 }, out _));
            Assert.Equal(-Errno.EINVAL, _s.Fs.SetAttr(Root, pw, null, new SetAttrRequest { Valid = 8, Size = 0 }, out _));
            Assert.Equal(0, _s.Fs.SetAttr(Root, pw, null, new SetAttrRequest { Valid = 2 | 4, Uid = 4321, Gid = 4321 }, out _));
            // user.* xattrs are not allowed on a symlink itself, and the target is never the one touched.
            Assert.Equal(-Errno.EPERM, _s.Fs.SetXattr(Root, pw, N("user.evil"), N("1"), 0));
            Assert.Equal(-Errno.ENODATA, _s.Fs.GetXattr(Root, pw, N("user.evil"), new byte[16]));
            // trusted.* is allowed on symlinks: proof that reads and writes land on the link, not the target.
            Assert.Equal(0, Libc.Setxattr(N(outside), N("trusted.secret"), N("s3"), 0));
            Assert.Equal(-Errno.ENODATA, _s.Fs.GetXattr(Root, pw, N("trusted.secret"), new byte[16]));
            Assert.Equal(0, _s.Fs.SetXattr(Root, pw, N("trusted.mine"), N("m"), 0));
            Assert.Equal(-Errno.ENODATA, Libc.Getxattr(N(outside), N("trusted.mine"), new byte[16]));
            Assert.Equal(0, _s.Fs.RemoveXattr(Root, pw, N("trusted.mine")));
            Assert.Equal("precious", File.ReadAllText(outside));
            Assert.Equal(0b110_100_100u, Statx(outside).Mode & 0xfffu);
            Assert.Equal(0u, Statx(outside).Uid);
        }
        finally
        {
            outsideDir.Dispose();
        }
    }

    [Fact]
    public void ProcMagicLinks_AreSymlinks_NotDoors()
    {
        File.CreateSymbolicLink(_s.Host("root"), "/proc/self/root");
        File.CreateSymbolicLink(_s.Host("cwd"), "/proc/1/cwd");
        NodeId root = _s.Lookup(NodeId.Root, "root").Node;
        Assert.Equal(-Errno.ENOTDIR, _s.TryLookup(root, "etc"));
        Assert.Equal(-Errno.ELOOP, _s.Fs.Open(Root, root, 0, out _));
        NodeId cwd = _s.Lookup(NodeId.Root, "cwd").Node;
        Assert.Equal(-Errno.ENOTDIR, _s.Fs.OpenDir(Root, cwd, 0, out _));
    }

    [Fact]
    public void OpenOfFifo_Device_Socket_IsRefusedWithoutBlocking()
    {
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, N(_s.Host("fifo")), Libc.S_IFIFO | 0b110_110_110, 0));
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, N(_s.Host("null")), Libc.S_IFCHR | 0b110_110_110, (1UL << 8) | 3));
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, N(_s.Host("sock")), Libc.S_IFSOCK | 0b110_110_110, 0));
        foreach (string name in new[] { "fifo", "null", "sock" })
        {
            NodeId n = _s.Lookup(NodeId.Root, name).Node;
            Assert.Equal(-Errno.EACCES, _s.Fs.Open(Root, n, (uint)Libc.O_RDONLY, out _));
            Assert.Equal(-Errno.EACCES, _s.Fs.Open(Root, n, (uint)Libc.O_WRONLY, out _));
            Assert.Equal(-Errno.ENOTDIR, _s.Fs.OpenDir(Root, n, 0, out _));
            Assert.Equal(-Errno.EINVAL, _s.Fs.SetAttr(Root, n, null, new SetAttrRequest { Valid = 8 }, out _));
            Assert.Equal(-Errno.EINVAL, _s.Fs.SyncFs(Root, n));
        }
        Assert.Equal(0, _s.Fs.HandleCount);
    }

    [Fact]
    public void FifoSwappedInAfterLookup_OpenReachesTheLookedUpFile()
    {
        // An inode pinned by its fd outlives its name; with file handles and no cached fd it would be ESTALE
        // (InodeFileHandleTests), so this runs with fds whatever the test matrix says.
        using var pinned = new Share(o => o with { InodeFileHandles = InodeFileHandleMode.Never });
        pinned.WriteHost("f", "original");
        NodeId f = pinned.Lookup(NodeId.Root, "f").Node;
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, N(pinned.Host("fifo")), Libc.S_IFIFO | 0b110_110_110, 0));
        File.Move(pinned.Host("fifo"), pinned.Host("f"), overwrite: true);
        // The open would block forever on the FIFO if the name were opened; it reaches the held inode instead.
        HandleId h = pinned.Open(f, Libc.O_RDONLY);
        Assert.Equal("original"u8.ToArray(), pinned.Read(f, h, 0, 100));
        // A fresh lookup of the name finds the FIFO, which OPEN refuses.
        NodeId now = pinned.Lookup(NodeId.Root, "f").Node;
        Assert.NotEqual(f, now);
        Assert.Equal(-Errno.EACCES, pinned.Fs.Open(Root, now, 0, out _));
    }

    [Fact]
    public void DirectorySwappedForSymlink_AfterLookup_CreatesStayInside()
    {
        Directory.CreateDirectory(_s.Host("d"));
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        var outside = new TempDirectory("virtiofsd-passthrough-outside-");
        try
        {
            Directory.Move(_s.Host("d"), _s.Host("d.old"));
            File.CreateSymbolicLink(_s.Host("d"), outside.Path);
            // The node is the directory inode, not the name: creation lands in d.old.
            Assert.Equal(0, _s.Fs.Mkdir(Root, d, N("x"), 0b111_101_101, out _));
            Assert.True(Directory.Exists(_s.Host("d.old/x")));
            Assert.Empty(Directory.GetFileSystemEntries(outside.Path));
        }
        finally
        {
            outside.Dispose();
        }
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("a/../../x")]
    [InlineData("/tmp/x")]
    public void CreatingOperations_RefuseNonComponentNames(string name)
    {
        byte[] n = N(name);
        Assert.Equal(-Errno.EINVAL, _s.Fs.Mkdir(Root, NodeId.Root, n, 0b111_101_101, out _));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Create(Root, NodeId.Root, n, 0b110_100_100, (uint)Libc.O_RDWR, out _, out _));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Mknod(Root, NodeId.Root, n, Libc.S_IFIFO | 0b110_100_100, 0, out _));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Symlink(Root, N("t"), NodeId.Root, n, out _));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Unlink(Root, NodeId.Root, n));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Rmdir(Root, NodeId.Root, n));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Rename(Root, NodeId.Root, n, NodeId.Root, N("y"), 0));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Rename(Root, NodeId.Root, N("y"), NodeId.Root, n, 0));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Link(Root, NodeId.Root, NodeId.Root, n, out _));
    }

    [Fact]
    public void NameWithNul_IsRefused()
    {
        Assert.Equal(-Errno.EINVAL, _s.Fs.Lookup(Root, NodeId.Root, "a\0b"u8, out _));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Mkdir(Root, NodeId.Root, "a\0b"u8, 0b111_101_101, out _));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Symlink(Root, "/etc\0"u8, NodeId.Root, "l"u8, out _));
    }

    [Fact]
    public void RootDotDot_GivesNothingAbove()
    {
        NodeId up = _s.Lookup(NodeId.Root, "..").Node;
        Assert.Equal(NodeId.Root, up);
        Assert.Equal(-Errno.EINVAL, _s.Fs.Mkdir(Root, up, N(".."), 0b111_101_101, out _));
    }

    private static Statx Statx(string path)
    {
        Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD, N(path), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Statx st));
        return st;
    }
}
