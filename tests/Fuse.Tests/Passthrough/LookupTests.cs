using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

public sealed class LookupTests : IDisposable
{
    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    [Fact]
    public void Lookup_ReturnsHostAttributes_AndOwnNodeIds()
    {
        _s.WriteHost("f", "hello", 0b110_100_000);
        Entry e = _s.Lookup(NodeId.Root, "f");
        Statx st = _s.HostStat("f");
        Assert.Equal(st.Ino, e.Attr.Ino);
        Assert.Equal(5UL, e.Attr.Size);
        Assert.Equal(Libc.S_IFREG | 0b110_100_000u, e.Attr.Mode);
        Assert.NotEqual(st.Ino, e.Node.Value);
        Assert.True(e.Node.Value > NodeId.Root.Value);
    }

    [Fact]
    public void Lookup_SameInodeTwice_AndHardLink_GiveOneNode()
    {
        _s.WriteHost("f", "x");
        File.CreateSymbolicLink(_s.Host("s"), "f");
        Assert.Equal(0, Libc.Linkat(Libc.AT_FDCWD, N(_s.Host("f")), Libc.AT_FDCWD, N(_s.Host("h")), 0));
        NodeId a = _s.Lookup(NodeId.Root, "f").Node;
        Assert.Equal(a, _s.Lookup(NodeId.Root, "f").Node);
        Assert.Equal(a, _s.Lookup(NodeId.Root, "h").Node);
        Assert.NotEqual(a, _s.Lookup(NodeId.Root, "s").Node);
    }

    [Fact]
    public void Lookup_Missing_IsENOENT_AndNonDirectoryParent_IsENOTDIR()
    {
        Assert.Equal(-Errno.ENOENT, _s.TryLookup(NodeId.Root, "nope"));
        _s.WriteHost("f", "x");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        Assert.Equal(-Errno.ENOTDIR, _s.TryLookup(f, "x"));
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("/etc")]
    [InlineData("../etc")]
    [InlineData("..//")]
    public void Lookup_NameWithSlash_IsRefused(string name)
    {
        Directory.CreateDirectory(_s.Host("a"));
        File.WriteAllText(_s.Host("a/b"), "x");
        Assert.Equal(-Errno.EINVAL, _s.TryLookup(NodeId.Root, name));
    }

    [Fact]
    public void Lookup_EmptyName_IsEINVAL_OverlongName_IsENAMETOOLONG()
    {
        Assert.Equal(-Errno.EINVAL, _s.Fs.Lookup(Root, NodeId.Root, ReadOnlySpan<byte>.Empty, out _));
        Assert.Equal(-Errno.ENAMETOOLONG, _s.TryLookup(NodeId.Root, new string('n', 256)));
        Assert.Equal(-Errno.ENAMETOOLONG, _s.Fs.Mkdir(Root, NodeId.Root, N(new string('n', 5000)), 0b111_101_101, out _));
        Assert.Equal(-Errno.ENOENT, _s.TryLookup(NodeId.Root, new string('n', 255)));
    }

    [Fact]
    public void Lookup_DotAndDotDot_AtRoot_AreTheRoot()
    {
        Assert.Equal(NodeId.Root, _s.Lookup(NodeId.Root, ".").Node);
        Assert.Equal(NodeId.Root, _s.Lookup(NodeId.Root, "..").Node);
        Assert.Equal(_s.HostStat(".").Ino, _s.Lookup(NodeId.Root, "..").Attr.Ino);
    }

    [Fact]
    public void Lookup_DotDot_InSubdirectory_IsItsKnownParent()
    {
        Directory.CreateDirectory(_s.Host("a/b"));
        NodeId a = _s.Lookup(NodeId.Root, "a").Node;
        NodeId b = _s.Lookup(a, "b").Node;
        Assert.Equal(a, _s.Lookup(b, "..").Node);
        Assert.Equal(b, _s.Lookup(b, ".").Node);
        Assert.Equal(NodeId.Root, _s.Lookup(a, "..").Node);
    }

    [Fact]
    public void Lookup_DotDot_OfDirectoryMovedOutOfTheShare_DoesNotEscape()
    {
        Directory.CreateDirectory(_s.Host("a"));
        NodeId a = _s.Lookup(NodeId.Root, "a").Node;
        var outside = new TempDirectory("virtiofsd-passthrough-outside-");
        try
        {
            Directory.Move(_s.Host("a"), outside.Combine("a"));
            File.WriteAllText(outside.Combine("secret"), "s");
            // ".." is now the outside directory: never known to the guest, so it is not handed out.
            Assert.Equal(-Errno.ENOENT, _s.TryLookup(a, ".."));
            // Names below the moved directory still resolve (it is the inode the guest holds), but never upwards.
            Assert.Equal(-Errno.EINVAL, _s.TryLookup(a, "../secret"));
        }
        finally
        {
            outside.Dispose();
        }
    }

    [Fact]
    public void Forget_DropsNodeAfterAllLookups_ThenItIsStale()
    {
        _s.WriteHost("f", "x");
        int before = _s.Fs.NodeCount;
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        _s.Lookup(NodeId.Root, "f");
        Assert.Equal(before + 1, _s.Fs.NodeCount);
        _s.Fs.Forget(f, 1);
        Assert.Equal(0, _s.Fs.GetAttr(Root, f, null, out _));
        _s.Fs.Forget(f, 1);
        Assert.Equal(before, _s.Fs.NodeCount);
        Assert.Equal(-Errno.ESTALE, _s.Fs.GetAttr(Root, f, null, out _));
        // Looked up again: a new node id, never the old one reused.
        Assert.NotEqual(f, _s.Lookup(NodeId.Root, "f").Node);
    }

    [Fact]
    public void Forget_HostileCounts_SaturateAndNeverTouchTheRoot()
    {
        _s.WriteHost("f", "x");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        _s.Fs.Forget(f, ulong.MaxValue);
        Assert.Equal(-Errno.ESTALE, _s.Fs.GetAttr(Root, f, null, out _));
        _s.Fs.Forget(f, ulong.MaxValue);
        _s.Fs.Forget(new NodeId(987654321), 5);
        _s.Fs.Forget(new NodeId(0), 5);
        _s.Fs.Forget(NodeId.Root, ulong.MaxValue);
        Assert.Equal(0, _s.Fs.GetAttr(Root, NodeId.Root, null, out FileAttr attr));
        Assert.Equal(Libc.S_IFDIR, attr.Mode & Libc.S_IFMT);
        Assert.Equal(1, _s.Fs.NodeCount);
    }

    [Fact]
    public void UnknownNodeIds_AreStale_Everywhere()
    {
        NodeId bogus = new(424242);
        Assert.Equal(-Errno.ESTALE, _s.Fs.Lookup(Root, bogus, N("x"), out _));
        Assert.Equal(-Errno.ESTALE, _s.Fs.GetAttr(Root, bogus, null, out _));
        Assert.Equal(-Errno.ESTALE, _s.Fs.Open(Root, bogus, 0, out _));
        Assert.Equal(-Errno.ESTALE, _s.Fs.Mkdir(Root, bogus, N("d"), 0b111_101_101, out _));
        Assert.Equal(-Errno.ESTALE, _s.Fs.Unlink(Root, bogus, N("d")));
        Assert.Equal(-Errno.ESTALE, _s.Fs.SetXattr(Root, bogus, N("user.a"), N("1"), 0));
        Assert.Equal(-Errno.EBADF, _s.Fs.Read(Root, NodeId.Root, new HandleId(77), 0, ReadOnlySpan<IoVec>.Empty));
        Assert.Equal(-Errno.EBADF, _s.Fs.Release(Root, NodeId.Root, new HandleId(77), 0, 0, false));
    }

    [Fact]
    public void Destroy_ForgetsEverythingButTheRoot()
    {
        _s.WriteHost("f", "x");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        HandleId h = _s.Open(f, Libc.O_RDONLY);
        _s.Fs.Destroy();
        Assert.Equal(1, _s.Fs.NodeCount);
        Assert.Equal(0, _s.Fs.HandleCount);
        Assert.Equal(-Errno.ESTALE, _s.Fs.GetAttr(Root, f, null, out _));
        Assert.Equal(-Errno.EBADF, _s.Fs.Release(Root, f, h, 0, 0, false));
        Assert.Equal(0, _s.Fs.GetAttr(Root, NodeId.Root, null, out _));
    }
}
