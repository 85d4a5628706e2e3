using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>OPENDIR / READDIR / READDIRPLUS: resumable offsets, and lookups undone for entries that did not fit.</summary>
public sealed class DirectoryTests : IDisposable
{
    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    private NodeId Populate(int count)
    {
        Directory.CreateDirectory(_s.Host("d"));
        for (int i = 0; i < count; i++)
        {
            File.WriteAllText(_s.Host($"d/f{i:D3}"), "x");
        }
        Directory.CreateDirectory(_s.Host("d/sub"));
        return _s.Lookup(NodeId.Root, "d").Node;
    }

    private HandleId OpenDir(NodeId d)
    {
        Assert.Equal(0, _s.Fs.OpenDir(Root, d, 0, out OpenResult r));
        return r.Handle;
    }

    [Fact]
    public void ReadDir_ListsEverything_AcrossResumedCalls()
    {
        NodeId d = Populate(50);
        HandleId h = OpenDir(d);
        List<string> names = new();
        ulong offset = 0;
        int calls = 0;
        while (true)
        {
            ListSink sink = new(7);
            Assert.Equal(0, _s.Fs.ReadDir(Root, d, h, offset, sink));
            if (sink.Entries.Count == 0)
            {
                break;
            }
            names.AddRange(sink.Entries.Select(e => e.Name));
            offset = sink.Entries[^1].Next;
            calls++;
        }
        Assert.True(calls >= 8);
        string[] expected = Enumerable.Range(0, 50).Select(i => $"f{i:D3}").Concat(["sub", ".", ".."]).Order().ToArray();
        Assert.Equal(expected, names.Order().ToArray());
        Assert.Equal(0, _s.Fs.ReleaseDir(Root, d, h));
        Assert.Equal(-Errno.EBADF, _s.Fs.ReadDir(Root, d, h, 0, new ListSink(1)));
    }

    [Fact]
    public void ReadDir_ReportsTypesAndHostInodes()
    {
        NodeId d = Populate(1);
        HandleId h = OpenDir(d);
        ListSink sink = new(100);
        Assert.Equal(0, _s.Fs.ReadDir(Root, d, h, 0, sink));
        var sub = sink.Entries.Single(e => e.Name == "sub");
        Assert.Equal(4u, sub.Type);
        Assert.Equal(_s.HostStat("d/sub").Ino, sub.Entry.Attr.Ino);
        Assert.Equal(8u, sink.Entries.Single(e => e.Name == "f000").Type);
        Assert.Equal(-Errno.EBADF, _s.Fs.ReadDir(Root, NodeId.Root, h, 0, sink));
    }

    [Fact]
    public void ReadDirPlus_LooksUpEntries_ButNotDotAndDotDot()
    {
        NodeId d = Populate(3);
        HandleId h = OpenDir(d);
        int before = _s.Fs.NodeCount;
        ListSink sink = new(100);
        Assert.Equal(0, _s.Fs.ReadDirPlus(Root, d, h, 0, sink));
        Assert.Equal(6, sink.Entries.Count);
        foreach (var (name, _, _, entry) in sink.Entries)
        {
            if (name is "." or "..")
            {
                Assert.Equal(0UL, entry.Node.Value);
            }
            else
            {
                Assert.NotEqual(0UL, entry.Node.Value);
                Assert.Equal(_s.HostStat("d/" + name).Ino, entry.Attr.Ino);
            }
        }
        Assert.Equal(before + 4, _s.Fs.NodeCount);
        Assert.Equal(sink.Entries.Single(e => e.Name == "f001").Entry.Node, _s.Lookup(d, "f001").Node);
    }

    [Fact]
    public void ReadDirPlus_EntryThatDoesNotFit_HasItsLookupUndone()
    {
        NodeId d = Populate(10);
        HandleId h = OpenDir(d);
        int before = _s.Fs.NodeCount;
        RejectingSink sink = new(accept: 3);
        Assert.Equal(0, _s.Fs.ReadDirPlus(Root, d, h, 0, sink));
        // The fourth looked-up entry was refused after its lookup: that lookup must not leak.
        Assert.Equal(1, sink.Rejected);
        Assert.Equal(before + 3, _s.Fs.NodeCount);
        foreach (Entry e in sink.Accepted.Where(e => e.Node.Value != 0))
        {
            _s.Fs.Forget(e.Node, 1);
        }
        Assert.Equal(before, _s.Fs.NodeCount);
    }

    [Fact]
    public void ReadDirPlus_ThroughAFileHandle_IsEBADF()
    {
        _s.WriteHost("f", "x");
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        HandleId h = _s.Open(f, Libc.O_RDONLY);
        Assert.Equal(-Errno.EBADF, _s.Fs.ReadDirPlus(Root, f, h, 0, new ListSink(5)));
        Assert.Equal(-Errno.EBADF, _s.Fs.ReadDir(Root, f, h, 0, new ListSink(5)));
    }

    [Fact]
    public void FsyncDir_Works()
    {
        NodeId d = Populate(1);
        HandleId h = OpenDir(d);
        Assert.Equal(0, _s.Fs.FsyncDir(Root, d, h, false));
    }

    /// <summary>Says every entry fits, then refuses TryAddPlus after a few: the case where a lookup was already taken.</summary>
    private sealed class RejectingSink(int accept) : IDirectoryEntrySink
    {
        public List<Entry> Accepted { get; } = new();

        public int Rejected { get; private set; }

        public bool Fits(int nameLength) => true;

        public bool TryAdd(ulong ino, ulong nextOffset, uint type, ReadOnlySpan<byte> name) => false;

        public bool TryAddPlus(in Entry entry, ulong nextOffset, uint type, ReadOnlySpan<byte> name)
        {
            if (entry.Node.Value != 0 && Accepted.Count(e => e.Node.Value != 0) >= accept)
            {
                Rejected++;
                return false;
            }
            Accepted.Add(entry);
            return true;
        }
    }
}
