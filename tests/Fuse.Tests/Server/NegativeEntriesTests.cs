using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// With <see cref="FuseServerOptions.NegativeEntries"/> (host mounts) a LOOKUP of a missing name is answered with node
/// id 0 and the cache mode's entry timeout, which the kernel keeps as a negative dentry; without it (virtio-fs, as the
/// Rust virtiofsd) and under cache=never the answer stays ENOENT. Other errors and found names are not touched.
/// </summary>
public sealed class NegativeEntriesTests
{
    private static FuseRequestBuilder Lookup(string name) => new FuseRequestBuilder(FuseOpcode.Lookup, 1, unique: 9).AddName(name);

    [Theory]
    [InlineData(CacheMode.Auto, 1UL)]
    [InlineData(CacheMode.Always, 86400UL)]
    [InlineData(CacheMode.Metadata, 86400UL)]
    public void A_missing_name_is_a_negative_entry_valid_for_the_entry_timeout(CacheMode cache, ulong seconds)
    {
        var s = new ServerHarness(new FuseServerOptions { Cache = cache, NegativeEntries = true });
        s.Fs.Result = -Errno.ENOENT;

        FuseReply reply = s.Run(Lookup("missing"));

        Assert.Equal(0, reply.Error);
        FuseEntryOut entry = reply.Read<FuseEntryOut>();
        Assert.Equal(0UL, entry.NodeId);
        Assert.Equal(seconds, entry.EntryValid);
        Assert.Equal(0U, entry.EntryValidNsec);
        Assert.Equal(0UL, entry.Attr.Ino);
        Assert.Equal(0U, entry.Attr.Mode);
    }

    [Theory]
    [InlineData(CacheMode.Auto, false)]
    [InlineData(CacheMode.Always, false)]
    [InlineData(CacheMode.Never, true)]
    public void Otherwise_a_missing_name_stays_ENOENT(CacheMode cache, bool option)
    {
        var s = new ServerHarness(new FuseServerOptions { Cache = cache, NegativeEntries = option });
        s.Fs.Result = -Errno.ENOENT;

        Assert.Equal(-Errno.ENOENT, s.Run(Lookup("missing")).Error);
    }

    [Theory]
    [InlineData(-Errno.EACCES)]
    [InlineData(-Errno.ENOTDIR)]
    [InlineData(-Errno.ESTALE)]
    public void Other_lookup_errors_are_passed_on(int error)
    {
        var s = new ServerHarness(new FuseServerOptions { NegativeEntries = true });
        s.Fs.Result = error;

        Assert.Equal(error, s.Run(Lookup("x")).Error);
    }

    [Fact]
    public void A_found_name_is_answered_as_before()
    {
        var s = new ServerHarness(new FuseServerOptions { NegativeEntries = true });

        FuseEntryOut entry = s.Run(Lookup("found")).Read<FuseEntryOut>();

        Assert.Equal(7UL, entry.NodeId);
        Assert.Equal(70UL, entry.Attr.Ino);
    }

    [Fact]
    public void A_malformed_name_is_still_refused_before_the_filesystem()
    {
        var s = new ServerHarness(new FuseServerOptions { NegativeEntries = true });
        s.Fs.Result = -Errno.ENOENT;

        // No NUL terminator: the server refuses the name itself, the filesystem is never asked.
        FuseReply reply = s.Run(new FuseRequestBuilder(FuseOpcode.Lookup, 1, unique: 9).AddBytes("abc"u8));

        Assert.NotEqual(0, reply.Error);
        Assert.DoesNotContain(s.Fs.Calls, c => c.StartsWith("Lookup", StringComparison.Ordinal));
    }
}
