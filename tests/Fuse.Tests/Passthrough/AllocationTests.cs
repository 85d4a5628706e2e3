using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using Xunit.Abstractions;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// What the passthrough filesystem allocates per request, measured on the calling thread. Every byte is garbage a
/// collection must come for, and each collection walks the stacks of every thread (mapping the binary's unwind
/// tables, ~1 MiB of RSS in the NativeAOT daemon, docs/benchmark.md): the metadata paths a guest repeats most allocate
/// only what they keep. fd-pinned inodes (InodeFileHandles Never), so that no result depends on the filesystem under
/// the temporary directory having file handles or birth times.
/// </summary>
public class AllocationTests(ITestOutputHelper output)
{
    private const int Names = 1000;

    [Fact]
    public void Looking_up_a_known_name_again_allocates_nothing()
    {
        using var s = new Share();
        (NodeId dir, byte[][] names) = Directory(s, "known");
        for (int i = 0; i < Names; i++)
        {
            Assert.Equal(0, s.Fs.Lookup(Root, dir, names[i], out _));
        }

        int failures = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Names; i++)
        {
            failures += s.Fs.Lookup(Root, dir, names[i], out _) == 0 ? 0 : 1;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, failures);
        // Each lookup used to make the inode's fd-cache list node on its first borrow (48 bytes), though an fd inode
        // never enters that cache.
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void A_new_name_allocates_its_inode_and_a_share_of_the_tables_growth()
    {
        using var s = new Share();
        (NodeId dir, byte[][] names) = Directory(s, "fresh");

        int failures = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Names; i++)
        {
            failures += s.Fs.Lookup(Root, dir, names[i], out _) == 0 ? 0 : 1;
        }
        long perName = (GC.GetAllocatedBytesForCurrentThread() - before) / Names;
        Assert.Equal(0, failures);
        output.WriteLine($"{perName} bytes per first LOOKUP");
        // The Inode (~130 bytes) and, amortized, the arrays the two tables leave behind as they double: 294 bytes here.
        // A Dictionary<InodeKey, Inode> that held each 24-byte key a second time (40-byte entries) made it 374.
        Assert.InRange(perName, 1, 320);
    }

    [Fact]
    public void Create_release_unlink_forget_allocates_the_inode_and_the_open_file_only()
    {
        using var s = new Share();
        (NodeId dir, _) = Directory(s, "created");
        byte[][] names = Enumerable.Range(0, 2 * Names).Select(i => N($"c{i}")).ToArray();
        int failures = Cycles(s, dir, names.AsSpan(0, Names));

        long before = GC.GetAllocatedBytesForCurrentThread();
        failures += Cycles(s, dir, names.AsSpan(Names));
        long perCycle = (GC.GetAllocatedBytesForCurrentThread() - before) / Names;
        Assert.Equal(0, failures);
        output.WriteLine($"{perCycle} bytes per CREATE + RELEASE + UNLINK + FORGET");
        // The Inode (~120 bytes) and the OpenFile (~40) are what it keeps until RELEASE and FORGET; the open file's
        // directory lock (regular files never use it) and the inode's fd-cache list node are no longer made.
        Assert.InRange(perCycle, 1, 200);
    }

    private static int Cycles(Share s, NodeId dir, ReadOnlySpan<byte[]> names)
    {
        int failures = 0;
        foreach (byte[] name in names)
        {
            int r = s.Fs.Create(Root, dir, name, 0x81a4, 0x2 | 0x40 | 0x80, out Entry e, out OpenResult open);
            failures += r == 0 ? 0 : 1;
            s.Fs.Release(Root, e.Node, open.Handle, 0, 0, false);
            failures += s.Fs.Unlink(Root, dir, name) == 0 ? 0 : 1;
            s.Fs.Forget(e.Node, 1);
        }
        return failures;
    }

    private static (NodeId Dir, byte[][] Names) Directory(Share s, string name)
    {
        System.IO.Directory.CreateDirectory(s.Host(name));
        byte[][] names = new byte[Names][];
        for (int i = 0; i < Names; i++)
        {
            File.WriteAllText(s.Host($"{name}/n{i}"), "");
            names[i] = N($"n{i}");
        }
        return (s.Lookup(NodeId.Root, name).Node, names);
    }
}
