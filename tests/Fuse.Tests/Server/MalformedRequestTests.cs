using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>Hostile or broken requests get an error reply (or none) and never reach the filesystem.</summary>
public class MalformedRequestTests
{
    private readonly ServerHarness h = new(new FuseServerOptions { Xattr = true, PosixLocks = true, FlockLocks = true });

    private static FuseRequestBuilder Req(FuseOpcode op, ulong node = 5) => new(op, node, unique: 31);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(39)]
    public void Request_shorter_than_the_in_header_is_dropped(int length)
    {
        byte[] bytes = Req(FuseOpcode.GetAttr).Add(new FuseGetAttrIn()).ToBytes()[..length];
        using var exchange = new FuseExchange(bytes);
        FuseReply reply = exchange.Run(h.Server);

        Assert.Equal(0u, reply.Length);
        Assert.Single(h.Fs.Calls); // INIT only
    }

    [Fact]
    public void Length_that_disagrees_with_the_buffers_is_EINVAL()
    {
        FuseReply longer = h.RunRejected(Req(FuseOpcode.GetAttr).Add(new FuseGetAttrIn()).WithLength(200));
        Assert.Equal(-Errno.EINVAL, longer.Error);
        Assert.Equal(31ul, longer.Header.Unique);

        FuseReply shorter = h.RunRejected(Req(FuseOpcode.GetAttr).Add(new FuseGetAttrIn()).WithLength(40));
        Assert.Equal(-Errno.EINVAL, shorter.Error);
    }

    [Theory]
    [InlineData(FuseOpcode.GetAttr)]
    [InlineData(FuseOpcode.SetAttr)]
    [InlineData(FuseOpcode.Mknod)]
    [InlineData(FuseOpcode.Mkdir)]
    [InlineData(FuseOpcode.Rename)]
    [InlineData(FuseOpcode.Rename2)]
    [InlineData(FuseOpcode.Link)]
    [InlineData(FuseOpcode.Open)]
    [InlineData(FuseOpcode.Create)]
    [InlineData(FuseOpcode.Tmpfile)]
    [InlineData(FuseOpcode.Read)]
    [InlineData(FuseOpcode.Write)]
    [InlineData(FuseOpcode.Flush)]
    [InlineData(FuseOpcode.Release)]
    [InlineData(FuseOpcode.Fsync)]
    [InlineData(FuseOpcode.OpenDir)]
    [InlineData(FuseOpcode.ReadDir)]
    [InlineData(FuseOpcode.ReadDirPlus)]
    [InlineData(FuseOpcode.ReleaseDir)]
    [InlineData(FuseOpcode.FsyncDir)]
    [InlineData(FuseOpcode.Access)]
    [InlineData(FuseOpcode.SetXattr)]
    [InlineData(FuseOpcode.GetXattr)]
    [InlineData(FuseOpcode.ListXattr)]
    [InlineData(FuseOpcode.Fallocate)]
    [InlineData(FuseOpcode.Lseek)]
    [InlineData(FuseOpcode.CopyFileRange)]
    [InlineData(FuseOpcode.SyncFs)]
    [InlineData(FuseOpcode.GetLk)]
    [InlineData(FuseOpcode.SetLk)]
    [InlineData(FuseOpcode.SetLkW)]
    [InlineData(FuseOpcode.Ioctl)]
    [InlineData(FuseOpcode.Poll)]
    [InlineData(FuseOpcode.Init)]
    public void Body_shorter_than_the_opcode_struct_is_EINVAL(FuseOpcode opcode)
    {
        // Four bytes: shorter than every request struct (the smallest are 8).
        FuseReply reply = h.RunRejected(Req(opcode).AddBytes([1, 2, 3, 4]));

        Assert.Equal(-Errno.EINVAL, reply.Error);
    }

    [Fact]
    public void Short_forget_gets_no_reply_and_no_call()
    {
        FuseReply reply = h.RunRejected(Req(FuseOpcode.Forget).AddBytes([1, 2, 3]));
        Assert.Equal(0u, reply.Length);
    }

    [Theory]
    [InlineData(3u)]
    [InlineData(uint.MaxValue)]
    public void Batch_forget_with_a_count_beyond_its_length_forgets_nothing(uint count)
    {
        FuseReply reply = h.RunRejected(Req(FuseOpcode.BatchForget, 0)
            .Add(new FuseBatchForgetIn { Count = count })
            .Add(new FuseForgetOne { NodeId = 10, Nlookup = 1 })
            .Add(new FuseForgetOne { NodeId = 11, Nlookup = 1 }));

        Assert.Equal(0u, reply.Length);
    }

    [Fact]
    public void Names_must_be_terminated_non_empty_short_and_alone()
    {
        Assert.Equal(-Errno.EINVAL, h.RunRejected(Req(FuseOpcode.Lookup).AddBytes("abc"u8)).Error);
        Assert.Equal(-Errno.EINVAL, h.RunRejected(Req(FuseOpcode.Lookup).AddBytes([0])).Error);
        Assert.Equal(-Errno.EINVAL, h.RunRejected(Req(FuseOpcode.Lookup)).Error);
        Assert.Equal(-Errno.EINVAL, h.RunRejected(Req(FuseOpcode.Lookup).AddBytes("a\0b\0"u8)).Error);
        Assert.Equal(-Errno.ENAMETOOLONG, h.RunRejected(Req(FuseOpcode.Lookup).AddName(new string('x', 256))).Error);
        Assert.Equal(-Errno.ENAMETOOLONG, h.RunRejected(Req(FuseOpcode.Lookup).AddName(new string('x', 5000))).Error);
        Assert.Equal(0, h.RunOne(Req(FuseOpcode.Lookup).AddName(new string('x', 255))).Reply.Error);

        Assert.Equal(-Errno.EINVAL, h.RunRejected(Req(FuseOpcode.Rename).Add(new FuseRenameIn { NewDir = 1 }).AddName("only-one")).Error);
        Assert.Equal(-Errno.EINVAL, h.RunRejected(Req(FuseOpcode.Rename).Add(new FuseRenameIn { NewDir = 1 }).AddName("a").AddBytes([0])).Error);
        Assert.Equal(-Errno.EINVAL, h.RunRejected(Req(FuseOpcode.Symlink).AddName("link")).Error);
        Assert.Equal(-Errno.ENAMETOOLONG, h.RunRejected(Req(FuseOpcode.Symlink).AddName("link").AddName(new string('t', 4096))).Error);
    }

    [Fact]
    public void Write_whose_size_disagrees_with_its_data_is_EINVAL()
    {
        FuseReply reply = h.RunRejected(Req(FuseOpcode.Write).Add(new FuseWriteIn { Fh = 1, Size = 100 }).AddBytes(new byte[10]));
        Assert.Equal(-Errno.EINVAL, reply.Error);

        reply = h.RunRejected(Req(FuseOpcode.Write).Add(new FuseWriteIn { Fh = 1, Size = uint.MaxValue }).AddBytes(new byte[10]));
        Assert.Equal(-Errno.EINVAL, reply.Error);
    }

    [Fact]
    public void SetXattr_value_size_must_match()
    {
        FuseReply reply = h.RunRejected(Req(FuseOpcode.SetXattr).AddBytes(BitConverter.GetBytes(50u)).AddBytes(new byte[4]).AddName("user.a").AddBytes("xy"u8));
        Assert.Equal(-Errno.EINVAL, reply.Error);

        reply = h.RunRejected(Req(FuseOpcode.SetXattr).AddBytes(BitConverter.GetBytes(70000u)).AddBytes(new byte[4]).AddName("user.a"));
        Assert.Equal(-Errno.E2BIG, reply.Error);
    }

    [Fact]
    public void Ioctl_in_size_must_match_and_unrestricted_is_refused()
    {
        Assert.Equal(-Errno.EINVAL, h.RunRejected(Req(FuseOpcode.Ioctl).Add(new FuseIoctlIn { InSize = 64 }).AddBytes(new byte[8])).Error);
        Assert.Equal(-Errno.ENOSYS, h.RunRejected(Req(FuseOpcode.Ioctl).Add(new FuseIoctlIn { Flags = FuseConstants.IoctlUnrestricted })).Error);
    }

    [Fact]
    public void Malformed_extensions_are_EINVAL()
    {
        // An extension header claiming more bytes than the area holds.
        byte[] lying = Req(FuseOpcode.Mkdir).Add(new FuseMkdirIn()).AddName("d")
            .AddSupplementaryGroups(5).ToBytes();
        MemoryMarshal.Write(lying.AsSpan(lying.Length - 16), 64u);
        using (var patched = new FuseExchange(lying))
        {
            Assert.Equal(-Errno.EINVAL, patched.Run(h.Server).Error);
        }

        FuseReply reply;

        // A group count beyond the extension's bytes.
        reply = h.RunRejected(Req(FuseOpcode.Mkdir).Add(new FuseMkdirIn()).AddName("d")
            .AddExtension(FuseConstants.ExtGroups, BitConverter.GetBytes(1000u).Concat(BitConverter.GetBytes(5u)).ToArray()));
        Assert.Equal(-Errno.EINVAL, reply.Error);

        // total_extlen larger than the whole request.
        byte[] bytes = Req(FuseOpcode.Lookup).AddName("abc").ToBytes();
        MemoryMarshal.Write(bytes.AsSpan(36), (ushort)100);
        using var exchange = new FuseExchange(bytes);
        Assert.Equal(-Errno.EINVAL, exchange.Run(h.Server).Error);
    }

    [Fact]
    public void Unknown_extensions_are_skipped()
    {
        var (reply, call) = h.RunOne(Req(FuseOpcode.Mkdir).Add(new FuseMkdirIn { Mode = 0x41ed }).AddName("d").AddExtension(99, new byte[12]));
        Assert.Equal(0, reply.Error);
        Assert.Equal("Mkdir ctx=1000/1000/4242 parent=5 name=d mode=40755", call);
    }

    [Fact]
    public void Reply_area_too_small_for_the_reply_is_ERANGE_before_the_filesystem_runs()
    {
        // LOOKUP needs 16 + 128 bytes: a reference must not be taken that the guest never hears of.
        FuseReply reply = h.RunRejected(Req(FuseOpcode.Lookup).AddName("a"), replySegments: [16, 100]);
        Assert.Equal(-Errno.ERANGE, reply.Error);
        Assert.Equal(16u, reply.Length);

        reply = h.RunRejected(Req(FuseOpcode.Create).Add(new FuseCreateIn()).AddName("a"), replySegments: [100, 40]);
        Assert.Equal(-Errno.ERANGE, reply.Error);
    }

    [Theory]
    [InlineData(new int[0])]
    [InlineData(new[] { 15 })]
    [InlineData(new[] { 8, 7 })]
    public void No_room_even_for_a_header_completes_without_reply(int[] replySegments)
    {
        using var exchange = new FuseExchange(Req(FuseOpcode.GetAttr).Add(new FuseGetAttrIn()).ToBytes(), replySegments: replySegments);
        FuseReply reply = exchange.Run(h.Server);

        Assert.Equal(0u, reply.Length);
        Assert.Equal(1, exchange.Completions);
    }

    [Fact]
    public void Exception_in_the_filesystem_becomes_EIO()
    {
        h.Fs.Throw = new InvalidOperationException("boom");
        var (reply, _) = h.RunOne(Req(FuseOpcode.Lookup).AddName("a"));

        Assert.Equal(-Errno.EIO, reply.Error);
        Assert.Equal(16u, reply.Length);
    }

    [Fact]
    public void Exception_while_a_reply_was_half_written_still_sends_just_the_error()
    {
        h.Fs.Directory.Add(("a", 1, 8));
        h.Fs.Throw = new InvalidOperationException("boom");
        FuseReply reply = h.Run(Req(FuseOpcode.ReadDir).Add(new FuseReadIn { Size = 4096 }));

        Assert.Equal(-Errno.EIO, reply.Error);
        Assert.Empty(reply.Body);
    }

    [Fact]
    public void Filesystem_claiming_more_than_its_buffer_gets_EIO()
    {
        h.Fs.CountOverride = 11;
        Assert.Equal(-Errno.EIO, h.Run(Req(FuseOpcode.Read).Add(new FuseReadIn { Size = 10 })).Error);
        Assert.Equal(-Errno.EIO, h.Run(Req(FuseOpcode.Write).Add(new FuseWriteIn { Size = 10 }).AddBytes(new byte[10])).Error);
    }

    [Theory]
    [InlineData(5, 0)]
    [InlineData(int.MaxValue, 0)]
    [InlineData(-5000, -Errno.EIO)]
    [InlineData(int.MinValue, -Errno.EIO)]
    [InlineData(int.MinValue + 1, -Errno.EIO)]
    public void Filesystem_results_outside_the_errno_range_still_get_a_reply(int result, int expected)
    {
        h.Fs.Result = result;
        foreach (FuseRequestBuilder request in new[]
        {
            Req(FuseOpcode.Access).Add(new FuseAccessIn()),
            Req(FuseOpcode.Lookup).AddName("a"),
            Req(FuseOpcode.SetLk).Add(new FuseLkIn()),
        })
        {
            FuseReply reply = h.Run(request);
            Assert.NotEqual(0u, reply.Length);
            Assert.Equal(expected, reply.Error);
        }
    }

    [Fact]
    public void Read_only_refuses_write_class_requests_before_the_filesystem()
    {
        var ro = new ServerHarness(new FuseServerOptions { ReadOnly = true, Xattr = true });
        FuseRequestBuilder[] writes =
        [
            Req(FuseOpcode.SetAttr).Add(new FuseSetAttrIn()),
            Req(FuseOpcode.Symlink).AddName("l").AddName("t"),
            Req(FuseOpcode.Mknod).Add(new FuseMknodIn()).AddName("n"),
            Req(FuseOpcode.Mkdir).Add(new FuseMkdirIn()).AddName("d"),
            Req(FuseOpcode.Unlink).AddName("f"),
            Req(FuseOpcode.Rmdir).AddName("d"),
            Req(FuseOpcode.Rename).Add(new FuseRenameIn()).AddName("a").AddName("b"),
            Req(FuseOpcode.Rename2).Add(new FuseRename2In()).AddName("a").AddName("b"),
            Req(FuseOpcode.Link).Add(new FuseLinkIn()).AddName("l"),
            Req(FuseOpcode.Create).Add(new FuseCreateIn()).AddName("c"),
            Req(FuseOpcode.Tmpfile).Add(new FuseCreateIn()).AddName("/"),
            Req(FuseOpcode.Write).Add(new FuseWriteIn { Size = 1 }).AddBytes([1]),
            Req(FuseOpcode.SetXattr).Add(new FuseSetXattrIn()).AddName("user.a"),
            Req(FuseOpcode.RemoveXattr).AddName("user.a"),
            Req(FuseOpcode.Fallocate).Add(new FuseFallocateIn()),
            Req(FuseOpcode.CopyFileRange).Add(new FuseCopyFileRangeIn()),
            Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = FuseConstants.OWrOnly }),
            Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = FuseConstants.ORdWr }),
            Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = FuseConstants.OTrunc }),
        ];

        foreach (FuseRequestBuilder request in writes)
        {
            Assert.True(ro.RunRejected(request).Error == -Errno.EROFS, $"{request.Opcode} was not refused");
        }

        Assert.Equal(0, ro.RunOne(Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = 0x8000 })).Reply.Error);
        Assert.Equal(0, ro.RunOne(Req(FuseOpcode.Lookup).AddName("x")).Reply.Error);
    }

    [Fact]
    public void Lying_segment_lengths_that_overflow_are_dropped()
    {
        using var exchange = new FuseExchange(Req(FuseOpcode.GetAttr).Add(new FuseGetAttrIn()).ToBytes());
        IoVec[] huge = [new IoVec(exchange.Readable.Segments[0].Base, nuint.MaxValue), new IoVec(exchange.Readable.Segments[0].Base, 10)];
        exchange.Request.Reset(huge, exchange.Writable.Segments, exchange);

        FuseReply reply = exchange.Run(h.Server);
        Assert.Equal(0u, reply.Length);
        Assert.Single(h.Fs.Calls);
    }
}
