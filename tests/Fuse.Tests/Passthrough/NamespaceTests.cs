using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>RENAME (with its flags), UNLINK, RMDIR.</summary>
public sealed class NamespaceTests : IDisposable
{
    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    [Fact]
    public void Rename_File_OverExisting_ReplacesIt()
    {
        _s.WriteHost("a", "A");
        _s.WriteHost("b", "B");
        NodeId a = _s.Lookup(NodeId.Root, "a").Node;
        Assert.Equal(0, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("b"), 0));
        Assert.False(File.Exists(_s.Host("a")));
        Assert.Equal("A", File.ReadAllText(_s.Host("b")));
        // The node follows the inode, not the name.
        Assert.Equal(a, _s.Lookup(NodeId.Root, "b").Node);
    }

    [Fact]
    public void Rename_Directories_AcrossParents()
    {
        Directory.CreateDirectory(_s.Host("p/d"));
        Directory.CreateDirectory(_s.Host("q"));
        File.WriteAllText(_s.Host("p/d/f"), "x");
        NodeId p = _s.Lookup(NodeId.Root, "p").Node;
        NodeId q = _s.Lookup(NodeId.Root, "q").Node;
        Assert.Equal(0, _s.Fs.Rename(Root, p, N("d"), q, N("e"), 0));
        Assert.True(File.Exists(_s.Host("q/e/f")));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Rename(Root, NodeId.Root, N("q"), _s.Lookup(q, "e").Node, N("loop"), 0));
    }

    [Fact]
    public void Rename_DirectoryOverNonEmptyDirectory_IsENOTEMPTY_OverEmptyWorks()
    {
        Directory.CreateDirectory(_s.Host("a"));
        Directory.CreateDirectory(_s.Host("full"));
        File.WriteAllText(_s.Host("full/x"), "x");
        Directory.CreateDirectory(_s.Host("empty"));
        Assert.Equal(-Errno.ENOTEMPTY, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("full"), 0));
        Assert.Equal(0, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("empty"), 0));
        Assert.False(Directory.Exists(_s.Host("a")));
        _s.WriteHost("f", "f");
        Assert.Equal(-Errno.EISDIR, _s.Fs.Rename(Root, NodeId.Root, N("f"), NodeId.Root, N("empty"), 0));
        Assert.Equal(-Errno.ENOTDIR, _s.Fs.Rename(Root, NodeId.Root, N("empty"), NodeId.Root, N("f"), 0));
    }

    [Fact]
    public void Rename_NoReplace_RefusesExistingTarget()
    {
        _s.WriteHost("a", "A");
        _s.WriteHost("b", "B");
        Assert.Equal(-Errno.EEXIST, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("b"), Libc.RENAME_NOREPLACE));
        Assert.Equal("B", File.ReadAllText(_s.Host("b")));
        Assert.Equal(0, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("c"), Libc.RENAME_NOREPLACE));
        Assert.Equal("A", File.ReadAllText(_s.Host("c")));
    }

    [Fact]
    public void Rename_Exchange_SwapsFileAndDirectory()
    {
        _s.WriteHost("a", "A");
        Directory.CreateDirectory(_s.Host("d"));
        Assert.Equal(0, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("d"), Libc.RENAME_EXCHANGE));
        Assert.True(Directory.Exists(_s.Host("a")));
        Assert.Equal("A", File.ReadAllText(_s.Host("d")));
        Assert.Equal(-Errno.ENOENT, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("missing"), Libc.RENAME_EXCHANGE));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("d"), Libc.RENAME_EXCHANGE | Libc.RENAME_NOREPLACE));
    }

    [Fact]
    public void Rename_Whiteout_LeavesWhiteoutDevice()
    {
        _s.WriteHost("a", "A");
        Assert.Equal(0, _s.Fs.Rename(Root, NodeId.Root, N("a"), NodeId.Root, N("b"), Libc.RENAME_WHITEOUT));
        Statx st = _s.HostStat("a");
        Assert.Equal(Libc.S_IFCHR, st.Mode & Libc.S_IFMT);
        Assert.Equal((0u, 0u), (st.RdevMajor, st.RdevMinor));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Rename(Root, NodeId.Root, N("b"), NodeId.Root, N("c"), 8));
    }

    [Fact]
    public void Unlink_And_Rmdir()
    {
        _s.WriteHost("f", "x");
        Directory.CreateDirectory(_s.Host("d/sub"));
        Assert.Equal(-Errno.EISDIR, _s.Fs.Unlink(Root, NodeId.Root, N("d")));
        Assert.Equal(-Errno.ENOTDIR, _s.Fs.Rmdir(Root, NodeId.Root, N("f")));
        Assert.Equal(-Errno.ENOTEMPTY, _s.Fs.Rmdir(Root, NodeId.Root, N("d")));
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        Assert.Equal(0, _s.Fs.Rmdir(Root, d, N("sub")));
        Assert.Equal(0, _s.Fs.Rmdir(Root, NodeId.Root, N("d")));
        Assert.Equal(0, _s.Fs.Unlink(Root, NodeId.Root, N("f")));
        Assert.Equal(-Errno.ENOENT, _s.Fs.Unlink(Root, NodeId.Root, N("f")));
        Assert.Empty(Directory.GetFileSystemEntries(_s.Path));
    }

    [Fact]
    public void UnlinkedButOpenFile_StaysReadable()
    {
        _s.WriteHost("f", "still here");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        HandleId h = _s.Open(f, Libc.O_RDONLY);
        Assert.Equal(0, _s.Fs.Unlink(Root, NodeId.Root, N("f")));
        Assert.Equal("still here"u8.ToArray(), _s.Read(f, h, 0, 100));
        Assert.Equal(0, _s.Fs.GetAttr(Root, f, null, out FileAttr a));
        Assert.Equal(0u, a.Nlink);
    }
}
