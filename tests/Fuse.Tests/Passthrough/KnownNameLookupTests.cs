using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>LOOKUP of a name whose inode the table already holds (the one-statx way) and its fallbacks.</summary>
public sealed class KnownNameLookupTests : IDisposable
{
    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    [Fact]
    public void KnownName_GivesSameNode_AndEachLookupNeedsItsOwnForget()
    {
        _s.WriteHost("f", "hello");
        Entry first = _s.Lookup(NodeId.Root, "f");
        int nodes = _s.Fs.NodeCount;
        Entry again = _s.Lookup(NodeId.Root, "f");
        Entry third = _s.Lookup(NodeId.Root, "f");
        Assert.Equal(first.Node, again.Node);
        Assert.Equal(first.Node, third.Node);
        Assert.Equal(nodes, _s.Fs.NodeCount);
        Assert.Equal(_s.HostStat("f").Ino, again.Attr.Ino);
        Assert.Equal(5UL, again.Attr.Size);
        Assert.Equal(Libc.S_IFREG, again.Attr.Mode & Libc.S_IFMT);

        // Three lookups were counted: two forgets leave the node alive, the third drops it.
        _s.Fs.Forget(first.Node, 2);
        Assert.Equal(nodes, _s.Fs.NodeCount);
        Assert.Equal(0, _s.Fs.GetAttr(Root, first.Node, null, out _));
        _s.Fs.Forget(first.Node, 1);
        Assert.Equal(nodes - 1, _s.Fs.NodeCount);
        Assert.Equal(-Errno.ESTALE, _s.Fs.GetAttr(Root, first.Node, null, out _));
    }

    [Fact]
    public void KnownName_AttributesAreCurrent()
    {
        _s.WriteHost("f", "x");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        File.WriteAllText(_s.Host("f"), "longer now");
        Entry again = _s.Lookup(NodeId.Root, "f");
        Assert.Equal(f, again.Node);
        Assert.Equal(10UL, again.Attr.Size);
    }

    [Fact]
    public void UnknownNames_StillWork_AndMissingIsENOENT()
    {
        _s.WriteHost("a", "x");
        Directory.CreateDirectory(_s.Host("d"));
        _s.WriteHost("d/b", "y");
        NodeId a = _s.Lookup(NodeId.Root, "a").Node;
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        NodeId b = _s.Lookup(d, "b").Node;
        Assert.NotEqual(a, d);
        Assert.NotEqual(d, b);
        Assert.Equal(Libc.S_IFDIR, _s.Lookup(NodeId.Root, "d").Attr.Mode & Libc.S_IFMT);
        Assert.Equal(-Errno.ENOENT, _s.TryLookup(NodeId.Root, "nope"));
        Assert.Equal(-Errno.ENOENT, _s.TryLookup(d, "nope"));
    }

    [Fact]
    public void HardLinkToKnownInode_GivesThatNode()
    {
        _s.WriteHost("f", "x");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        Assert.Equal(0, Libc.Linkat(Libc.AT_FDCWD, N(_s.Host("f")), Libc.AT_FDCWD, N(_s.Host("h")), 0));
        Assert.Equal(f, _s.Lookup(NodeId.Root, "h").Node);
    }

    [Theory]
    [InlineData("f")]
    [InlineData("/etc")]
    [InlineData("..")]
    public void SymlinkName_IsTheLinkItself_KnownOrNot(string target)
    {
        _s.WriteHost("f", "x");
        File.CreateSymbolicLink(_s.Host("s"), target);
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        Entry first = _s.Lookup(NodeId.Root, "s");
        Entry again = _s.Lookup(NodeId.Root, "s");
        Assert.Equal(first.Node, again.Node);
        Assert.NotEqual(f, again.Node);
        Assert.NotEqual(NodeId.Root, again.Node);
        Assert.Equal(Libc.S_IFLNK, again.Attr.Mode & Libc.S_IFMT);
        Assert.Equal(_s.HostStat("s").Ino, again.Attr.Ino);
        byte[] buf = new byte[256];
        int n = _s.Fs.ReadLink(Root, again.Node, buf);
        Assert.Equal(target, System.Text.Encoding.UTF8.GetString(buf, 0, n));
    }

    [Fact]
    public void NameReplacedOnHost_BetweenLookups_GivesTheNewInode()
    {
        // An inode pinned by its fd outlives its name; with file handles and no cached fd it would be ESTALE
        // (InodeFileHandleTests), so this runs with fds whatever the test matrix says.
        using var pinned = new Share(o => o with { InodeFileHandles = InodeFileHandleMode.Never });
        pinned.WriteHost("f", "old");
        pinned.WriteHost("g", "new content");
        Entry old = pinned.Lookup(NodeId.Root, "f");
        ulong newIno = pinned.HostStat("g").Ino;
        File.Move(pinned.Host("g"), pinned.Host("f"), overwrite: true);

        Entry now = pinned.Lookup(NodeId.Root, "f");
        Assert.NotEqual(old.Node, now.Node);
        Assert.Equal(newIno, now.Attr.Ino);
        Assert.Equal(11UL, now.Attr.Size);
        // And the new inode is now the known one.
        Assert.Equal(now.Node, pinned.Lookup(NodeId.Root, "f").Node);
        // The old node still names the old (now unlinked) inode, not the new one.
        Assert.Equal(0, pinned.Fs.GetAttr(Root, old.Node, null, out FileAttr oldAttr));
        Assert.NotEqual(newIno, oldAttr.Ino);
    }

    [Fact]
    public void NameReplacedBySymlink_GivesTheLink()
    {
        _s.WriteHost("f", "x");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        File.Delete(_s.Host("f"));
        File.CreateSymbolicLink(_s.Host("f"), "/etc/passwd");
        Entry now = _s.Lookup(NodeId.Root, "f");
        Assert.NotEqual(f, now.Node);
        Assert.Equal(Libc.S_IFLNK, now.Attr.Mode & Libc.S_IFMT);
    }

    [Fact]
    public void KnownDirectory_ReachedByItsNameAgain_KeepsDotDotRules()
    {
        Directory.CreateDirectory(_s.Host("d"));
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        Assert.Equal(d, _s.Lookup(NodeId.Root, "d").Node);
        Assert.Equal(NodeId.Root, _s.Lookup(d, "..").Node);
        Assert.Equal(d, _s.Lookup(d, ".").Node);
        Assert.Equal(NodeId.Root, _s.Lookup(NodeId.Root, "..").Node);
    }
}
