namespace VirtioFsd.Tests.Vm;

/// <summary>
/// What the host must see after scripts/guest/fs_test.sh and fs_verify.sh ran: exactly the entries
/// the guest left in out/, with their contents, modes, owners, link counts, symlink targets, times,
/// node types and xattrs, and nothing of the scratch trees it removed. Keep in step with the scripts.
/// </summary>
internal static class HostChecks
{
    private static readonly string[] ExpectedOut =
    [
        "blockdev", "boot2.txt", "chardev", "created.txt", "dangling", "dated.txt", "dir-b", "dir-b/file.txt",
        "dir-link", "fifo", "guest-big.bin", "guest-big.md5", "hardlink.txt", "link-target.txt", "mode4755.bin",
        "mode640.txt", "offset.txt", "owned.txt", "renamed.txt", "replaced.txt", "sparse.bin", "sticky-dir",
        "symlink", "trunc.txt", "truncated.bin", "unlinked-twin.txt", "xattr.txt",
    ];

    public static void AssertOutTree(SharedTree tree)
    {
        // The guest removed scratch/ (10000 entries, a 50-level tree) and left only these two.
        Assert.Equal(["host", "out"], Directory.GetFileSystemEntries(tree.Root).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        Dictionary<string, HostEntry> e = tree.StatOut();
        Assert.Equal(ExpectedOut, e.Keys.Order(StringComparer.Ordinal));

        AssertContents(tree);
        AssertMetadata(e);
        AssertLinks(tree, e);

        (int rc, string value) = SharedTree.GetXattr(Path.Combine(tree.Out, "xattr.txt"), "user.test");
        Assert.Equal((0, "value1"), (rc, value));
        (rc, _) = SharedTree.GetXattr(Path.Combine(tree.Out, "xattr.txt"), "user.gone");
        Assert.NotEqual(0, rc);
    }

    private static void AssertContents(SharedTree tree)
    {
        string Read(string name) => File.ReadAllText(Path.Combine(tree.Out, name));
        Assert.Equal("hello\nline2\n", Read("created.txt"));
        Assert.Equal("0123XY6789", Read("offset.txt"));
        Assert.Equal("x", Read("trunc.txt"));
        Assert.Equal("moved\n", Read("renamed.txt"));
        Assert.Equal("new\n", Read("replaced.txt"));
        Assert.Equal("inside\n", Read("dir-b/file.txt"));
        Assert.Equal("target\nmore\n", Read("link-target.txt"));
        Assert.Equal("second boot\n", Read("boot2.txt"));

        byte[] truncated = File.ReadAllBytes(Path.Combine(tree.Out, "truncated.bin"));
        Assert.Equal(1000, truncated.Length);
        Assert.All(truncated, b => Assert.Equal(0, b));

        byte[] sparse = File.ReadAllBytes(Path.Combine(tree.Out, "sparse.bin"));
        Assert.Equal(10 << 20, sparse.Length);
        Assert.DoesNotContain(sparse, b => b != 0);

        // The guest's md5 of the 64 MiB it wrote against the host's md5 of what reached the disk.
        string guestMd5 = Read("guest-big.md5").Trim();
        Assert.Matches("^[0-9a-f]{32}$", guestMd5);
        Assert.Equal(tree.BigFileBytes, new FileInfo(Path.Combine(tree.Out, "guest-big.bin")).Length);
        Assert.Equal(guestMd5, SharedTree.Md5HexOfFile(Path.Combine(tree.Out, "guest-big.bin")));
    }

    private static void AssertMetadata(Dictionary<string, HostEntry> e)
    {
        Assert.Equal(("regular file", "640"), (e["mode640.txt"].Type, e["mode640.txt"].Mode));
        Assert.Equal("4755", e["mode4755.bin"].Mode);
        Assert.Equal(("directory", "1777"), (e["sticky-dir"].Type, e["sticky-dir"].Mode));
        Assert.Equal((1234, 5678), (e["owned.txt"].Uid, e["owned.txt"].Gid));
        // Everything else was made by guest root, which the daemon (running as root) keeps as root.
        Assert.All(e.Where(kv => kv.Key != "owned.txt"), kv => Assert.Equal((0, 0), (kv.Value.Uid, kv.Value.Gid)));
        // 2001-02-03 04:05:06 UTC, set in the guest with touch -d.
        Assert.Equal(981173106, e["dated.txt"].MtimeSeconds);
        Assert.Equal("fifo", e["fifo"].Type);
        Assert.Equal(("character special file", 1, 3), (e["chardev"].Type, e["chardev"].Major, e["chardev"].Minor));
        Assert.Equal(("block special file", 7, 0), (e["blockdev"].Type, e["blockdev"].Major, e["blockdev"].Minor));
        Assert.Equal(1000, e["truncated.bin"].Size);
    }

    private static void AssertLinks(SharedTree tree, Dictionary<string, HostEntry> e)
    {
        Assert.Equal(2, e["link-target.txt"].Links);
        Assert.Equal(2, e["hardlink.txt"].Links);
        Assert.Equal(e["link-target.txt"].Inode, e["hardlink.txt"].Inode);
        Assert.Equal(1, e["unlinked-twin.txt"].Links);
        Assert.Equal(1, e["created.txt"].Links);

        string? Target(string name) => new FileInfo(Path.Combine(tree.Out, name)).LinkTarget;
        Assert.Equal("symbolic link", e["symlink"].Type);
        Assert.Equal("link-target.txt", Target("symlink"));
        Assert.Equal("does-not-exist", Target("dangling"));
        Assert.Equal("../out/dir-b", Target("dir-link"));
    }
}
