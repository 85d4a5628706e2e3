using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// With <see cref="FuseServerOptions.DirectIoForODirect"/> (host mounts) an O_DIRECT open or create is answered
/// FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES whatever the cache mode; without it (virtio-fs) the cache mode
/// alone decides, as in virtiofsd.
/// </summary>
public sealed class DirectIoForODirectTests
{
    private const uint Direct = FuseConstants.FopenDirectIo | FuseConstants.FopenParallelDirectWrites;

    private static FuseRequestBuilder Req(FuseOpcode op) => new(op, 5, unique: 9);

    [Theory]
    [InlineData(CacheMode.Auto, true, FuseConstants.ODirect, Direct)]
    [InlineData(CacheMode.Auto, true, 0u, 0u)]
    [InlineData(CacheMode.Auto, false, FuseConstants.ODirect, 0u)]
    [InlineData(CacheMode.Always, true, FuseConstants.ODirect, Direct)]
    [InlineData(CacheMode.Always, true, 0u, FuseConstants.FopenKeepCache)]
    [InlineData(CacheMode.Never, true, FuseConstants.ODirect, Direct)]
    [InlineData(CacheMode.Never, false, FuseConstants.ODirect, FuseConstants.FopenDirectIo)]
    public void Open_and_create_flags(CacheMode cache, bool option, uint openFlags, uint expected)
    {
        var s = new ServerHarness(new FuseServerOptions { Cache = cache, DirectIoForODirect = option });

        FuseOpenOut open = s.Run(Req(FuseOpcode.Open).Add(new FuseOpenIn { Flags = openFlags | 2 })).Read<FuseOpenOut>();
        Assert.Equal(expected, open.OpenFlags);

        FuseReply created = s.Run(Req(FuseOpcode.Create).Add(new FuseCreateIn { Flags = openFlags | 0x41, Mode = 0x81a4 }).AddName("new"));
        Assert.Equal(0, created.Error);
        Assert.Equal(expected, created.Read<FuseOpenOut>(128).OpenFlags); // after fuse_entry_out (128 bytes)
    }
}
