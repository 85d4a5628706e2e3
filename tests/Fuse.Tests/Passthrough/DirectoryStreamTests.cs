using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// The per-handle directory stream: READDIR continuing where it stopped reads on without seeking, yet a
/// READDIR at any offset the guest was given (earlier, later, from another reader) lists what follows it.
/// </summary>
public sealed class DirectoryStreamTests : IDisposable
{
    /// <summary>Enough names that the listing spans several 32 KiB getdents64 batches.</summary>
    private const int Count = 3000;

    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    private NodeId Populate(int count)
    {
        Directory.CreateDirectory(_s.Host("d"));
        for (int i = 0; i < count; i++)
        {
            File.WriteAllText(_s.Host($"d/a-rather-long-file-name-{i:D5}"), "x");
        }
        return _s.Lookup(NodeId.Root, "d").Node;
    }

    private HandleId OpenDir(NodeId d)
    {
        Assert.Equal(0, _s.Fs.OpenDir(Root, d, 0, out OpenResult r));
        return r.Handle;
    }

    /// <summary>The whole listing from <paramref name="offset"/> on, in replies of <paramref name="perCall"/> entries.</summary>
    private List<(string Name, ulong Next)> ListFrom(NodeId d, HandleId h, ulong offset, int perCall)
    {
        List<(string, ulong)> all = new();
        while (true)
        {
            ListSink sink = new(perCall);
            Assert.Equal(0, _s.Fs.ReadDir(Root, d, h, offset, sink));
            if (sink.Entries.Count == 0)
            {
                return all;
            }
            all.AddRange(sink.Entries.Select(e => (e.Name, e.Next)));
            offset = sink.Entries[^1].Next;
        }
    }

    [Fact]
    public void ReadDir_ResumedAtEarlierOffsets_ListsExactlyWhatFollowsThem()
    {
        NodeId d = Populate(Count);
        HandleId h = OpenDir(d);
        List<(string Name, ulong Next)> full = ListFrom(d, h, 0, 37);
        Assert.Equal(Count + 2, full.Count);
        Assert.Equal(Count + 2, full.Select(e => e.Name).Distinct().Count());

        Random rng = new(1234);
        for (int round = 0; round < 12; round++)
        {
            // Jump back to an earlier cookie (or 0), read one short reply, then continue from the middle of
            // it: the stream has to drop its buffered records after a jump and keep them after a continuation.
            int at = round == 0 ? -1 : rng.Next(full.Count);
            ulong offset = at < 0 ? 0 : full[at].Next;
            ListSink first = new(5);
            Assert.Equal(0, _s.Fs.ReadDir(Root, d, h, offset, first));
            string[] expectedFirst = full.Skip(at + 1).Take(5).Select(e => e.Name).ToArray();
            Assert.Equal(expectedFirst, first.Entries.Select(e => e.Name).ToArray());
            if (first.Entries.Count < 2)
            {
                continue;
            }
            List<(string Name, ulong Next)> rest = ListFrom(d, h, first.Entries[1].Next, 53);
            Assert.Equal(full.Skip(at + 3).ToList(), rest);
        }
    }

    [Fact]
    public void ReadDir_AfterTheEnd_IsEmpty_AndRestartsAtZero()
    {
        NodeId d = Populate(10);
        HandleId h = OpenDir(d);
        List<(string Name, ulong Next)> full = ListFrom(d, h, 0, 4);
        ListSink again = new(100);
        Assert.Equal(0, _s.Fs.ReadDir(Root, d, h, full[^1].Next, again));
        Assert.Empty(again.Entries);
        Assert.Equal(full, ListFrom(d, h, 0, 100));
    }

    [Fact]
    public void ReadDirPlus_ConcurrentReadersOfOneHandle_EachGetTheWholeListing()
    {
        NodeId d = Populate(600);
        HandleId h = OpenDir(d);
        string[] expected = Enumerable.Range(0, 600).Select(i => $"a-rather-long-file-name-{i:D5}").Concat([".", ".."]).Order().ToArray();
        const int Readers = 4;
        List<string>[] seen = new List<string>[Readers];
        List<Entry>[] entries = new List<Entry>[Readers];
        Thread[] threads = new Thread[Readers];
        for (int t = 0; t < Readers; t++)
        {
            int me = t;
            seen[me] = new();
            entries[me] = new();
            // Different reply sizes so the readers' offsets interleave instead of marching in step.
            int perCall = 7 + (me * 4);
            threads[me] = new Thread(() =>
            {
                ulong offset = 0;
                while (true)
                {
                    ListSink sink = new(perCall);
                    if (_s.Fs.ReadDirPlus(Root, d, h, offset, sink) != 0 || sink.Entries.Count == 0)
                    {
                        return;
                    }
                    seen[me].AddRange(sink.Entries.Select(e => e.Name));
                    entries[me].AddRange(sink.Entries.Select(e => e.Entry));
                    offset = sink.Entries[^1].Next;
                }
            });
        }
        foreach (Thread t in threads)
        {
            t.Start();
        }
        foreach (Thread t in threads)
        {
            t.Join();
        }
        for (int t = 0; t < Readers; t++)
        {
            Assert.Equal(expected, seen[t].Order().ToArray());
        }
        // Every reader's entries name the same nodes: the second and later lookups found the known inodes.
        Assert.Equal(1 + 1 + 600, _s.Fs.NodeCount);
        foreach (Entry e in entries.SelectMany(l => l).Where(e => e.Node.Value != 0))
        {
            _s.Fs.Forget(e.Node, 1);
        }
        Assert.Equal(2, _s.Fs.NodeCount);
    }

    [Fact]
    public void ReadDirPlus_KnownInode_IsTheSameNode_WithCurrentAttributes()
    {
        NodeId d = Populate(1);
        _s.WriteHost("d/known", "abc");
        Entry looked = _s.Lookup(d, "known");
        File.WriteAllText(_s.Host("d/known"), "longer content");
        HandleId h = OpenDir(d);
        ListSink sink = new(100);
        Assert.Equal(0, _s.Fs.ReadDirPlus(Root, d, h, 0, sink));
        Entry listed = sink.Entries.Single(e => e.Name == "known").Entry;
        Assert.Equal(looked.Node, listed.Node);
        Assert.Equal(14UL, listed.Attr.Size);
        // Two lookups now (LOOKUP + READDIRPLUS): one FORGET keeps the node, the second drops it.
        int before = _s.Fs.NodeCount;
        _s.Fs.Forget(looked.Node, 1);
        Assert.Equal(before, _s.Fs.NodeCount);
        _s.Fs.Forget(looked.Node, 1);
        Assert.Equal(before - 1, _s.Fs.NodeCount);
    }

    [Fact]
    public void ReadDirPlus_KnownNameReplaced_ListsTheNewInode()
    {
        NodeId d = Populate(1);
        _s.WriteHost("d/swap", "old");
        Entry old = _s.Lookup(d, "swap");
        _s.WriteHost("d/swap.new", "new!");
        File.Move(_s.Host("d/swap.new"), _s.Host("d/swap"), overwrite: true);
        HandleId h = OpenDir(d);
        ListSink sink = new(100);
        Assert.Equal(0, _s.Fs.ReadDirPlus(Root, d, h, 0, sink));
        Entry listed = sink.Entries.Single(e => e.Name == "swap").Entry;
        Assert.NotEqual(old.Node, listed.Node);
        Assert.Equal(_s.HostStat("d/swap").Ino, listed.Attr.Ino);
        Assert.Equal(4UL, listed.Attr.Size);
    }

    [Fact]
    public void ReadDirPlus_Symlinks_AreTheLinks_KnownOrNot()
    {
        NodeId d = Populate(1);
        File.CreateSymbolicLink(_s.Host("d/out"), "/etc/passwd");
        File.CreateSymbolicLink(_s.Host("d/out2"), "/");
        Entry known = _s.Lookup(d, "out");
        HandleId h = OpenDir(d);
        ListSink sink = new(100);
        Assert.Equal(0, _s.Fs.ReadDirPlus(Root, d, h, 0, sink));
        foreach (string name in new[] { "out", "out2" })
        {
            Entry e = sink.Entries.Single(x => x.Name == name).Entry;
            Assert.Equal(Libc.S_IFLNK, e.Attr.Mode & Libc.S_IFMT);
            Assert.Equal(_s.HostStat("d/" + name).Ino, e.Attr.Ino);
        }
        Assert.Equal(known.Node, sink.Entries.Single(x => x.Name == "out").Entry.Node);
    }
}
