using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// --inode-file-handles: known inodes held by file handle, an fd only while used and in a bounded cache. These run
/// as root (CAP_DAC_READ_SEARCH) on the temp directory's filesystem; elsewhere Prefer falls back and they skip.
/// </summary>
public sealed class InodeFileHandleTests
{
    private static Share HandleShare(int cache, InodeFileHandleMode mode = InodeFileHandleMode.Prefer)
    {
        var s = new Share(o => o with { InodeFileHandles = mode, InodeFdCacheSize = cache });
        if (s.Fs.HandleMode == InodeFileHandleMode.Never)
        {
            s.Dispose();
            Skip.If(true, "file handles are not usable here (no CAP_DAC_READ_SEARCH, or the temp filesystem has none)");
        }
        return s;
    }

    [SkippableFact]
    public void Walking_a_tree_costs_no_fd_per_inode_and_forget_gives_everything_back()
    {
        const int Dirs = 20, FilesPerDir = 150, Cache = 64;
        using Share handles = HandleShare(Cache);
        using var pinned = new Share(o => o with { InodeFileHandles = InodeFileHandleMode.Never });
        foreach (Share s in new[] { handles, pinned })
        {
            for (int d = 0; d < Dirs; d++)
            {
                Directory.CreateDirectory(s.Host($"d{d}/sub"));
                for (int f = 0; f < FilesPerDir; f++)
                {
                    File.WriteAllText(s.Host($"d{d}/sub/f{f}"), $"{d}/{f}");
                }
            }
        }

        int Walk(Share s, List<NodeId> known)
        {
            int before = FdTable.Count();
            for (int d = 0; d < Dirs; d++)
            {
                NodeId dir = s.Lookup(NodeId.Root, $"d{d}").Node;
                NodeId sub = s.Lookup(dir, "sub").Node;
                known.Add(dir);
                known.Add(sub);
                for (int f = 0; f < FilesPerDir; f++)
                {
                    Entry e = s.Lookup(sub, $"f{f}");
                    Assert.Equal(s.HostStat($"d{d}/sub/f{f}").Ino, e.Attr.Ino);
                    Assert.Equal((ulong)$"{d}/{f}".Length, e.Attr.Size);
                    Assert.Equal(0, s.Fs.GetAttr(Root, e.Node, null, out FileAttr attr));
                    Assert.Equal(e.Attr.Ino, attr.Ino);
                    known.Add(e.Node);
                }
            }
            return FdTable.Count() - before;
        }

        var handleNodes = new List<NodeId>();
        var pinnedNodes = new List<NodeId>();
        int handleGrowth = Walk(handles, handleNodes);
        int pinnedGrowth = Walk(pinned, pinnedNodes);

        int inodes = Dirs * (FilesPerDir + 2);
        // Other tests of this assembly run in parallel and open fds of their own: margins, not exact counts.
        Assert.True(pinnedGrowth >= inodes - 50, $"fd-pinned inodes: {pinnedGrowth} more fds for {inodes} inodes");
        Assert.True(handleGrowth <= Cache + 50, $"handle inodes: {handleGrowth} more fds for {inodes} inodes (cache {Cache})");
        Assert.Equal(Cache, handles.Fs.CachedInodeFds);
        Assert.Equal(inodes + 1, handles.Fs.NodeCount);

        foreach (NodeId n in handleNodes)
        {
            handles.Fs.Forget(n, 1);
        }
        Assert.Equal(1, handles.Fs.NodeCount);
        Assert.Equal(0, handles.Fs.CachedInodeFds);
    }

    [SkippableFact]
    public void A_directory_renamed_on_the_host_is_still_reached_by_the_nodes_below_it()
    {
        using Share s = HandleShare(cache: 0);
        Directory.CreateDirectory(s.Host("a/b"));
        File.WriteAllText(s.Host("a/b/file"), "content");
        NodeId a = s.Lookup(NodeId.Root, "a").Node;
        NodeId b = s.Lookup(a, "b").Node;
        NodeId file = s.Lookup(b, "file").Node;
        Assert.Equal(0, s.Fs.CachedInodeFds);

        Directory.CreateDirectory(s.Host("elsewhere"));
        Directory.Move(s.Host("a"), s.Host("elsewhere/renamed"));

        // No fd was held: each request opens its inode by handle, wherever it is now.
        Assert.Equal(0, s.Fs.GetAttr(Root, file, null, out FileAttr attr));
        Assert.Equal(7UL, attr.Size);
        HandleId h = s.Open(file, Libc.O_RDONLY);
        Assert.Equal("content"u8.ToArray(), s.Read(file, h, 0, 100));
        Assert.Equal(0, s.Fs.Release(Root, file, h, 0, 0, false));
        Assert.Equal(0, s.Fs.Lookup(Root, b, N("file"), out Entry again));
        Assert.Equal(file, again.Node);
    }

    [SkippableFact]
    public void A_file_deleted_on_the_host_is_stale_unless_the_guest_has_it_open()
    {
        using Share s = HandleShare(cache: 0);
        s.WriteHost("closed", "x");
        s.WriteHost("open", "still here");
        NodeId closed = s.Lookup(NodeId.Root, "closed").Node;
        NodeId open = s.Lookup(NodeId.Root, "open").Node;
        HandleId h = s.Open(open, Libc.O_RDONLY);
        File.Delete(s.Host("closed"));
        File.Delete(s.Host("open"));

        Assert.Equal(-Errno.ESTALE, s.Fs.GetAttr(Root, closed, null, out _));
        // An open file pins its inode: GETATTR and READ still reach it, as a local unlinked-but-open file.
        Assert.Equal(0, s.Fs.GetAttr(Root, open, null, out FileAttr attr));
        Assert.Equal(0U, attr.Nlink);
        Assert.Equal("still here"u8.ToArray(), s.Read(open, h, 0, 100));
        Assert.Equal(0, s.Fs.Release(Root, open, h, 0, 0, false));
        Assert.Equal(-Errno.ESTALE, s.Fs.GetAttr(Root, open, null, out _));
    }

    [SkippableFact]
    public void A_recycled_inode_number_gets_a_new_node_never_the_old_one()
    {
        using Share s = HandleShare(cache: 0);
        s.WriteHost("victim", "old");
        Entry old = s.Lookup(NodeId.Root, "victim");
        File.Delete(s.Host("victim"));
        // ext4 gives a new file the lowest free inode number of the directory's block group, so the freed one comes
        // back once the lower free numbers (other tests' deleted files among them) are used up: at most a group's
        // worth of creates (8,192 inodes on a default ext4). tmpfs never reuses a number.
        string? reused = null;
        for (int i = 0; i < 20_000 && reused is null; i++)
        {
            File.Create(s.Host($"n{i}")).Dispose();
            if (s.HostStat($"n{i}").Ino == old.Attr.Ino)
            {
                reused = $"n{i}";
                File.WriteAllText(s.Host(reused), "new");
            }
        }
        Skip.If(reused is null, "the temp filesystem did not reuse the inode number in 20,000 creates");

        Entry now = s.Lookup(NodeId.Root, reused!);
        Assert.Equal(old.Attr.Ino, now.Attr.Ino);
        Assert.NotEqual(old.Node, now.Node);
        Assert.Equal(3UL, now.Attr.Size);
        Assert.Equal(-Errno.ESTALE, s.Fs.GetAttr(Root, old.Node, null, out _));
        Assert.Equal(now.Node, s.Lookup(NodeId.Root, reused!).Node);
    }

    [SkippableFact]
    public void Symlinks_and_special_files_are_held_by_handle_too()
    {
        using Share s = HandleShare(cache: 0);
        File.CreateSymbolicLink(s.Host("link"), "target/of/link");
        Assert.Equal(0, Libc.Mknodat(Libc.AT_FDCWD, N(s.Host("fifo")), Libc.S_IFIFO | 0b110_100_100, 0));
        NodeId link = s.Lookup(NodeId.Root, "link").Node;
        NodeId fifo = s.Lookup(NodeId.Root, "fifo").Node;
        byte[] target = new byte[64];
        int n = s.Fs.ReadLink(Root, link, target);
        Assert.Equal("target/of/link", System.Text.Encoding.UTF8.GetString(target, 0, n));
        Assert.Equal(0, s.Fs.GetAttr(Root, fifo, null, out FileAttr attr));
        Assert.Equal(Libc.S_IFIFO, attr.Mode & Libc.S_IFMT);
        Assert.Equal(-Errno.EACCES, s.Fs.Open(Root, fifo, 0, out _));
    }

    [Fact]
    public void Mandatory_refuses_a_filesystem_without_handles_and_prefer_falls_back()
    {
        // procfs exports no file handles.
        var options = new PassthroughOptions { SharedDirectory = "/proc/sys", InodeFileHandles = InodeFileHandleMode.Mandatory };
        var log = new Serilog.LoggerConfiguration().CreateLogger();
        IOException e = Assert.Throws<IOException>(() => new PassthroughFileSystem(options, log));
        Assert.Contains("--inode-file-handles=mandatory", e.Message, StringComparison.Ordinal);

        using var prefer = new PassthroughFileSystem(options with { InodeFileHandles = InodeFileHandleMode.Prefer }, log);
        Assert.Equal(InodeFileHandleMode.Never, prefer.HandleMode);
        Assert.Equal(0, prefer.Lookup(Root, NodeId.Root, N("kernel"), out Entry kernel));
        Assert.Equal(0, prefer.GetAttr(Root, kernel.Node, null, out _));
    }

    /// <summary>
    /// The check behind every open by handle: a handle that leads anywhere but the inode the node was looked up as
    /// (here, a file outside the share on the same filesystem, as a forged or stale handle would) is never used.
    /// </summary>
    [SkippableFact]
    public void A_handle_that_leads_outside_the_share_or_to_another_inode_is_refused()
    {
        using Share s = HandleShare(cache: 0);
        s.WriteHost("inside", "in");
        var outsideDir = new TempDirectory("virtiofsd-passthrough-outside-");
        try
        {
            string outside = outsideDir.Combine("secret");
            File.WriteAllText(outside, "secret");
            Assert.Equal(0, Libc.NameToHandleAt(Libc.AT_FDCWD, N(outside), 0, out FileHandle? foreign, out _));
            Assert.Equal(0, Libc.NameToHandleAt(Libc.AT_FDCWD, N(s.Host("inside")), 0, out FileHandle? own, out _));
            Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD, N(s.Host("inside")), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS | Libc.STATX_MNT_ID, out Statx st));
            var key = new InodeKey(((ulong)st.DevMajor << 32) | st.DevMinor, st.Ino, st.MntId);
            int mountFd = s.Fs.MountFdFor(st.MntId);
            Assert.True(mountFd >= 0);

            int fd = s.Fs.OpenInodeByHandle(new Inode(new NodeId(1000), key, -1, Libc.S_IFREG, false, own, mountFd));
            Assert.True(fd >= 0, $"the inode's own handle: {fd}");
            Libc.Close(fd);
            Assert.Equal(-Errno.ESTALE, s.Fs.OpenInodeByHandle(new Inode(new NodeId(1001), key, -1, Libc.S_IFREG, false, foreign, mountFd)));
        }
        finally
        {
            outsideDir.Dispose();
        }
    }
}
