using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>SETATTR: chmod, chown, truncate, times; SUID/SGID clearing as a local filesystem does it.</summary>
public sealed class SetAttrTests : IDisposable
{
    // fuse.h FATTR_*
    private const uint Mode = 1 << 0;
    private const uint Uid = 1 << 1;
    private const uint Gid = 1 << 2;
    private const uint Size = 1 << 3;
    private const uint Atime = 1 << 4;
    private const uint Mtime = 1 << 5;
    private const uint AtimeNow = 1 << 7;
    private const uint MtimeNow = 1 << 8;
    private const uint KillSuidGid = 1 << 11;

    private const uint SuidSgid755 = 0b110_111_101_101;

    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    private NodeId File(string name, string content = "0123456789", uint mode = 0b110_100_100)
    {
        _s.WriteHost(name, content, mode);
        return _s.Lookup(NodeId.Root, name).Node;
    }

    [Fact]
    public void Chmod_ChangesMode_AndReturnsNewAttributes()
    {
        NodeId f = File("f");
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Mode, Mode = 0b111_000_000 }, out FileAttr a));
        Assert.Equal(Libc.S_IFREG | 0b111_000_000u, a.Mode);
        Assert.Equal(0b111_000_000u, _s.HostMode("f"));
    }

    [Fact]
    public void Chown_ChangesOwner_AndLeavesOmittedIdAlone()
    {
        NodeId f = File("f");
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Uid, Uid = 1234 }, out FileAttr a));
        Assert.Equal((1234u, 0u), (a.Uid, a.Gid));
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Gid, Gid = 99 }, out a));
        Assert.Equal((1234u, 99u), (a.Uid, a.Gid));
    }

    [Fact]
    public void Truncate_WithAndWithoutHandle()
    {
        NodeId f = File("f");
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Size, Size = 4 }, out FileAttr a));
        Assert.Equal(4UL, a.Size);
        Assert.Equal("0123", System.IO.File.ReadAllText(_s.Host("f")));
        HandleId h = _s.Open(f, Libc.O_RDWR);
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, h, new SetAttrRequest { Valid = Size, Size = 100 }, out a));
        Assert.Equal(100UL, a.Size);
        Directory.CreateDirectory(_s.Host("d"));
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        Assert.Equal(-Errno.EISDIR, _s.Fs.SetAttr(Root, d, null, new SetAttrRequest { Valid = Size }, out _));
        Assert.Equal(-Errno.EFBIG, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Size, Size = ulong.MaxValue }, out _));
    }

    [Fact]
    public void Times_ExplicitNowAndOmit()
    {
        NodeId f = File("f");
        SetAttrRequest both = new() { Valid = Atime | Mtime, Atime = 1_000_000, AtimeNsec = 5, Mtime = 2_000_000, MtimeNsec = 7 };
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, both, out FileAttr a));
        Assert.Equal((1_000_000L, 5u, 2_000_000L, 7u), (a.Atime, a.AtimeNsec, a.Mtime, a.MtimeNsec));

        // Only mtime, to "now": atime is omitted and must stay.
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Mtime | MtimeNow }, out a));
        Assert.Equal(1_000_000L, a.Atime);
        Assert.True(a.Mtime > 1_600_000_000, $"mtime {a.Mtime} is not now");

        // Only atime, explicit: mtime stays.
        long mtime = a.Mtime;
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Atime, Atime = 3 }, out a));
        Assert.Equal((3L, mtime), (a.Atime, a.Mtime));

        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Atime | AtimeNow }, out a));
        Assert.True(a.Atime > 1_600_000_000);

        Assert.Equal(-Errno.EINVAL, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Atime, AtimeNsec = 1_000_000_000 }, out _));
    }

    [Fact]
    public void Times_ThroughHandle()
    {
        NodeId f = File("f");
        HandleId h = _s.Open(f, Libc.O_RDWR);
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, h, new SetAttrRequest { Valid = Mtime, Mtime = 42 }, out FileAttr a));
        Assert.Equal(42L, a.Mtime);
    }

    [Fact]
    public void Symlink_Chmod_Refused_ChownAndTimes_ActOnTheLink()
    {
        NodeId target = File("target", "t", 0b110_100_100);
        System.IO.File.CreateSymbolicLink(_s.Host("l"), "target");
        NodeId l = _s.Lookup(NodeId.Root, "l").Node;
        Assert.Equal(-Errno.EOPNOTSUPP, _s.Fs.SetAttr(Root, l, null, new SetAttrRequest { Valid = Mode, Mode = 0b111_111_111 }, out _));
        Assert.Equal(0b110_100_100u, _s.HostMode("target"));

        Assert.Equal(0, _s.Fs.SetAttr(Root, l, null, new SetAttrRequest { Valid = Uid, Uid = 777 }, out FileAttr la));
        Assert.Equal(777u, la.Uid);
        Assert.Equal(0u, _s.HostStat("target").Uid);

        Assert.Equal(0, _s.Fs.SetAttr(Root, l, null, new SetAttrRequest { Valid = Mtime, Mtime = 12345 }, out la));
        Assert.Equal(12345L, la.Mtime);
        Assert.NotEqual(12345L, _s.HostStat("target").Mtime.Sec);
        Assert.Equal(-Errno.EINVAL, _s.Fs.SetAttr(Root, l, null, new SetAttrRequest { Valid = Size }, out _));
        _ = target;
    }

    [Fact]
    public void Write_WithKillPrivileges_ClearsSuidAndSgid()
    {
        NodeId f = File("f", "x", SuidSgid755);
        HandleId h = _s.Open(f, Libc.O_RDWR);
        Assert.Equal(1, _s.Write(f, h, 0, N("y"), kill: false));
        Assert.Equal(SuidSgid755, _s.HostMode("f"));
        Assert.Equal(1, _s.Write(f, h, 0, N("z"), kill: true, ctx: Nobody));
        Assert.Equal(0b111_101_101u, _s.HostMode("f"));
    }

    [Fact]
    public void Write_WithKillPrivileges_KeepsSgidWithoutGroupExec()
    {
        // S_ISGID without S_IXGRP marks mandatory locking, not privilege: the kernel keeps it.
        NodeId f = File("f", "x", 0b110_110_100_100);
        HandleId h = _s.Open(f, Libc.O_RDWR);
        Assert.Equal(1, _s.Write(f, h, 0, N("z"), kill: true));
        Assert.Equal(0b010_110_100_100u, _s.HostMode("f"));
    }

    [Fact]
    public void Truncate_ByNonRoot_ClearsSuidSgid_ByRootKeeps()
    {
        NodeId f = File("f", "0123", SuidSgid755);
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Size, Size = 2 }, out FileAttr a));
        Assert.Equal(SuidSgid755, a.Mode & 0xfff);
        Assert.Equal(0, _s.Fs.SetAttr(Nobody, f, null, new SetAttrRequest { Valid = Size, Size = 1 }, out a));
        Assert.Equal(0b111_101_101u, a.Mode & 0xfff);
        Assert.Equal(1UL, a.Size);
    }

    [Fact]
    public void Truncate_WithKillSuidGidFlag_ClearsEvenForRoot()
    {
        NodeId f = File("f", "0123", SuidSgid755);
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Size | KillSuidGid, Size = 0 }, out FileAttr a));
        Assert.Equal(0b111_101_101u, a.Mode & 0xfff);
    }

    [Fact]
    public void Chown_ClearsSuid()
    {
        NodeId f = File("f", "x", SuidSgid755);
        Assert.Equal(0, _s.Fs.SetAttr(Root, f, null, new SetAttrRequest { Valid = Uid | Gid, Uid = 65534, Gid = 65534 }, out FileAttr a));
        Assert.Equal(0u, a.Mode & Libc.S_ISUID);
        Assert.Equal(0u, a.Mode & Libc.S_ISGID);
    }

    [Fact]
    public void OpenWithTruncate_ByNonRoot_ClearsSuid()
    {
        NodeId f = File("f", "0123", SuidSgid755);
        HandleId h = _s.Open(f, Libc.O_RDWR | Libc.O_TRUNC, Nobody);
        Assert.Equal(0b111_101_101u, _s.HostMode("f"));
        Assert.Empty(_s.Read(f, h, 0, 10));
    }

    [Fact]
    public void SetAttr_WithForeignHandle_IsEBADF()
    {
        NodeId f = File("f");
        NodeId g = File("g");
        HandleId h = _s.Open(g, Libc.O_RDWR);
        Assert.Equal(-Errno.EBADF, _s.Fs.SetAttr(Root, f, h, new SetAttrRequest { Valid = Size }, out _));
        Assert.Equal(10L, new FileInfo(_s.Host("g")).Length);
    }
}
