using System.Runtime.InteropServices;
using System.Text;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>READDIR / READDIRPLUS replies: records padded to 8 bytes, packed until the next would not fit.</summary>
public class DirectoryListingTests
{
    private readonly ServerHarness h = new();

    private static List<(FuseDirent Dirent, string Name, FuseEntryOut? Entry)> Parse(byte[] body, bool plus)
    {
        var result = new List<(FuseDirent, string, FuseEntryOut?)>();
        int offset = 0;
        while (offset < body.Length)
        {
            FuseEntryOut? entry = null;
            int start = offset;
            if (plus)
            {
                entry = MemoryMarshal.Read<FuseEntryOut>(body.AsSpan(offset));
                offset += 128;
            }

            FuseDirent dirent = MemoryMarshal.Read<FuseDirent>(body.AsSpan(offset));
            string name = Encoding.UTF8.GetString(body, offset + 24, (int)dirent.NameLen);
            int size = (offset - start + 24 + (int)dirent.NameLen + 7) & ~7;
            Assert.True(body.AsSpan(offset + 24 + (int)dirent.NameLen, start + size - offset - 24 - (int)dirent.NameLen).IndexOfAnyExcept((byte)0) < 0,
                "padding after a name must be zero");
            offset = start + size;
            result.Add((dirent, name, entry));
        }

        Assert.Equal(body.Length, offset);
        return result;
    }

    [Fact]
    public void ReadDir_packs_aligned_dirents()
    {
        h.Fs.Directory.AddRange([(".", 1, 4), ("..", 1, 4), ("a", 10, 8), ("exactly8", 11, 8), ("a-longer-name", 12, 10)]);
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.ReadDir, 5).Add(new FuseReadIn { Fh = 3, Size = 4096 }));

        Assert.Equal(0, reply.Error);
        Assert.Equal("ReadDir ctx=1000/1000/4242 node=5 fh=3 offset=0", h.Fs.Calls[^1]);
        var entries = Parse(reply.Body, plus: false);
        Assert.Equal(new[] { ".", "..", "a", "exactly8", "a-longer-name" }, entries.Select(e => e.Name).ToArray());
        Assert.Equal(new ulong[] { 1, 2, 3, 4, 5 }, entries.Select(e => e.Dirent.Off).ToArray());
        Assert.Equal(new ulong[] { 1, 1, 10, 11, 12 }, entries.Select(e => e.Dirent.Ino).ToArray());
        Assert.Equal(10u, entries[4].Dirent.Type);
        // 32 + 32 + 32 + 32 + 40
        Assert.Equal(168, reply.Body.Length);
    }

    [Fact]
    public void ReadDir_stops_at_the_first_entry_that_does_not_fit_the_requested_size()
    {
        for (int i = 0; i < 10; i++)
        {
            h.Fs.Directory.Add(($"file{i}", (ulong)i + 100, 8));
        }

        // Each record is 24 + 5 -> 32 bytes; 100 bytes hold three.
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.ReadDir, 5).Add(new FuseReadIn { Size = 100 }));
        Assert.Equal(96, reply.Body.Length);
        Assert.Equal(3, h.Fs.Added);

        // Resuming at the last offset continues with the fourth.
        reply = h.Run(new FuseRequestBuilder(FuseOpcode.ReadDir, 5).Add(new FuseReadIn { Offset = 3, Size = 4096 }));
        Assert.Equal("file3", Parse(reply.Body, plus: false)[0].Name);
        Assert.Equal(7, h.Fs.Added);
    }

    [Fact]
    public void ReadDir_never_writes_past_the_reply_area_even_when_the_guest_asks_for_more()
    {
        for (int i = 0; i < 10; i++)
        {
            h.Fs.Directory.Add(($"file{i}", (ulong)i + 100, 8));
        }

        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.ReadDir, 5).Add(new FuseReadIn { Size = 1 << 20 }), replySegments: [50, 50]);
        Assert.Equal(64, reply.Body.Length);
        Assert.Equal(2, h.Fs.Added);
    }

    [Fact]
    public void ReadDirPlus_packs_entries_with_attributes_and_timeouts()
    {
        h.Fs.Directory.AddRange([("a", 10, 8), ("bcdefghij", 11, 4)]);
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.ReadDirPlus, 5).Add(new FuseReadIn { Fh = 3, Size = 4096 }));

        Assert.Equal(0, reply.Error);
        var entries = Parse(reply.Body, plus: true);
        Assert.Equal(2, entries.Count);
        Assert.Equal(100ul, entries[0].Entry!.Value.NodeId);
        Assert.Equal(101ul, entries[1].Entry!.Value.NodeId);
        Assert.Equal(11ul, entries[1].Entry!.Value.Attr.Ino);
        Assert.Equal(1ul, entries[1].Entry!.Value.EntryValid);
        Assert.Equal("bcdefghij", entries[1].Name);
        // 152 + 1 -> 160, 152 + 9 -> 168
        Assert.Equal(328, reply.Body.Length);
    }

    [Fact]
    public void ReadDirPlus_stops_before_an_entry_that_does_not_fit()
    {
        h.Fs.Directory.AddRange([("a", 10, 8), ("b", 11, 8), ("c", 12, 8)]);
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.ReadDirPlus, 5).Add(new FuseReadIn { Size = 400 }));

        Assert.Equal(320, reply.Body.Length);
        Assert.Equal(2, h.Fs.Added);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Records_written_over_stale_guest_bytes_are_whole_and_zero_padded(bool plus)
    {
        using var exchange = new FuseExchange([]);
        FuseRequest request = exchange.Request;
        // Stale bytes everywhere, and a cut 40 bytes into the body that a record straddles.
        using var reply = NativeSegments.Filled(0xEE, 16 + 40, 4096);
        request.Reset([], reply.Segments, null);
        ReplyWriter replyWriter = request.Writer;
        Assert.True(replyWriter.Begin());
        var writer = new DirectoryEntryWriter();
        writer.Start(replyWriter, 4096, plus, default, IdTranslation.Identity, IdTranslation.Identity);
        string[] names = ["a", "bcdefghij", "klmnopq"];
        for (int i = 0; i < names.Length; i++)
        {
            byte[] name = Encoding.UTF8.GetBytes(names[i]);
            var entry = new Entry { Node = new NodeId(100 + (ulong)i), Generation = 7, Attr = new FileAttr { Ino = 10 + (ulong)i } };
            Assert.True(plus ? writer.TryAddPlus(entry, (ulong)i + 1, 8, name) : writer.TryAdd(10 + (ulong)i, (ulong)i + 1, 8, name));
        }

        byte[] all = reply.ToArray();
        byte[] body = all[16..(16 + (int)writer.Written)];
        var entries = Parse(body, plus);
        Assert.Equal(names, entries.Select(e => e.Name));
        Assert.Equal([10ul, 11ul, 12ul], entries.Select(e => e.Dirent.Ino));
        Assert.Equal([1ul, 2ul, 3ul], entries.Select(e => e.Dirent.Off));
        if (plus)
        {
            Assert.Equal([100ul, 101ul, 102ul], entries.Select(e => e.Entry!.Value.NodeId));
        }
        // Nothing past the records was touched.
        Assert.True(all.AsSpan(16 + (int)writer.Written).IndexOfAnyExcept((byte)0xEE) < 0);
        writer.Stop();
    }

    [Fact]
    public void Sink_refuses_the_wrong_kind_of_record_and_bad_names()
    {
        using var exchange = new FuseExchange([]);
        FuseRequest request = exchange.Request;
        using var reply = NativeSegments.Empty(4096);
        request.Reset([], reply.Segments, null);
        var writer = new DirectoryEntryWriter();
        ReplyWriter replyWriter = request.Writer;
        Assert.True(replyWriter.Begin());

        writer.Start(replyWriter, 4096, withAttributes: false, default, IdTranslation.Identity, IdTranslation.Identity);
        Assert.False(writer.TryAddPlus(default, 1, 8, "a"u8));
        Assert.False(writer.TryAdd(1, 1, 8, ""u8));
        Assert.False(writer.TryAdd(1, 1, 8, "a\0b"u8));
        Assert.False(writer.TryAdd(1, 1, 8, new byte[256]));
        Assert.False(writer.Fits(256));
        Assert.True(writer.Fits(255));
        Assert.True(writer.TryAdd(1, 1, 8, "ok"u8));
        Assert.Equal(32, writer.Written);

        writer.Start(replyWriter, 4096, withAttributes: true, default, IdTranslation.Identity, IdTranslation.Identity);
        Assert.False(writer.TryAdd(1, 1, 8, "a"u8));
        writer.Stop();
        Assert.False(writer.TryAddPlus(default, 1, 8, "a"u8));
    }
}
