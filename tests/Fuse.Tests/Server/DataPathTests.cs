using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>READ and WRITE data move between the filesystem and the request's own segments, never through a copy.</summary>
public class DataPathTests
{
    private readonly ServerHarness h = new();

    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + 3)).ToArray();

    [Fact]
    public void Write_payload_reaches_the_filesystem_as_iovecs_into_the_request_segments()
    {
        byte[] data = Pattern(10000);
        byte[] request = new FuseRequestBuilder(FuseOpcode.Write, 5)
            .Add(new FuseWriteIn { Fh = 9, Offset = 4096, Size = (uint)data.Length, WriteFlags = FuseConstants.WriteKillSuidgid })
            .AddBytes(data).ToBytes();

        // Cuts inside the in header, inside write_in, and three inside the payload.
        using var exchange = new FuseExchange(request, requestCuts: [30, 60, 100, 4096, 9000]);
        FuseReply reply = exchange.Run(h.Server);

        Assert.Equal(0, reply.Error);
        Assert.Equal(10000u, reply.Read<FuseWriteOut>().Size);
        Assert.Equal("Write ctx=1000/1000/4242 node=5 fh=9 offset=4096 flags=4 kill=True bytes=10000", h.Fs.Calls[^1]);
        Assert.Equal(data, h.Fs.Received);
        Assert.Equal(4, h.Fs.LastIoVecs.Length); // 80..100, 100..4096, 4096..9000, 9000..10080
        Assert.All(h.Fs.LastIoVecs, v => Assert.True(exchange.Readable.Contains(v.Base, v.Length)));
    }

    [Fact]
    public void Read_fills_iovecs_inside_the_reply_segments_and_the_reply_shrinks_to_what_was_read()
    {
        byte[] data = Pattern(5000);
        h.Fs.Data = data;
        using var exchange = new FuseExchange(
            new FuseRequestBuilder(FuseOpcode.Read, 5).Add(new FuseReadIn { Fh = 9, Offset = 100, Size = 8192 }).ToBytes(),
            replySegments: [16, 4096, 4096]);
        FuseReply reply = exchange.Run(h.Server);

        Assert.Equal(0, reply.Error);
        Assert.Equal("Read ctx=1000/1000/4242 node=5 fh=9 offset=100 room=8192", h.Fs.Calls[^1]);
        Assert.Equal((uint)(16 + data.Length), reply.Length);
        Assert.Equal(data, reply.Body);
        Assert.Equal(2, h.Fs.LastIoVecs.Length);
        Assert.All(h.Fs.LastIoVecs, v => Assert.True(exchange.Writable.Contains(v.Base, v.Length)));
    }

    [Fact]
    public void Read_never_offers_more_than_the_reply_area_holds()
    {
        h.Fs.Data = Pattern(3000);
        // The out header shares the first segment with the start of the data.
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.Read, 5).Add(new FuseReadIn { Size = 1 << 20 }), replySegments: [100, 1000]);

        Assert.Equal("Read ctx=1000/1000/4242 node=5 fh=0 offset=0 room=1084", h.Fs.Calls[^1]);
        Assert.Equal(1100u, reply.Length);
        Assert.Equal(Pattern(3000)[..1084], reply.Body);
    }

    [Fact]
    public void Read_of_nothing_at_end_of_file_is_an_empty_reply()
    {
        h.Fs.Data = [];
        FuseReply reply = h.Run(new FuseRequestBuilder(FuseOpcode.Read, 5).Add(new FuseReadIn { Size = 4096 }));

        Assert.Equal(0, reply.Error);
        Assert.Equal(16u, reply.Length);
    }

    [Fact]
    public void Every_cut_through_a_request_decodes_the_same()
    {
        byte[] request = new FuseRequestBuilder(FuseOpcode.Rename2, 5)
            .Add(new FuseRename2In { NewDir = 6, Flags = 1 }).AddName("old-name").AddName("new-name")
            .AddSupplementaryGroups(77).ToBytes();
        for (int cut = 1; cut < request.Length; cut++)
        {
            using var exchange = new FuseExchange(request, requestCuts: [cut, cut + 3]);
            FuseReply reply = exchange.Run(h.Server);
            Assert.Equal(0, reply.Error);
            Assert.Equal("Rename ctx=1000/1000/4242 supp=77 5/old-name -> 6/new-name flags=1", h.Fs.Calls[^1]);
        }
    }

    [Fact]
    public void Every_cut_through_a_reply_area_encodes_the_same()
    {
        FuseReply whole = h.Run(new FuseRequestBuilder(FuseOpcode.Lookup, 5).AddName("x"), replySegments: [4096]);
        for (int cut = 1; cut < 144; cut++)
        {
            FuseReply split = h.Run(new FuseRequestBuilder(FuseOpcode.Lookup, 5).AddName("x"), replySegments: [cut, 144 - cut]);
            Assert.Equal(whole.Length, split.Length);
            Assert.Equal(whole.Body, split.Body);
        }
    }
}
