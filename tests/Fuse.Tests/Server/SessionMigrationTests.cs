using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Migration;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Fuse.Server.Migration;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// The FUSE session moves with a live migration: the destination serves requests without an INIT, with the source's
/// minor and flags; a session the destination's options could not have negotiated, or a second session, is refused.
/// </summary>
public class SessionMigrationTests
{
    private static readonly FuseRequestBuilder GetAttr = new FuseRequestBuilder(FuseOpcode.GetAttr).Add(new FuseGetAttrIn());

    [Fact]
    public void The_destination_serves_the_sources_session_without_an_init()
    {
        var source = new ServerHarness(new FuseServerOptions { Writeback = true });
        FuseSessionState exported = source.Server.ExportSession()!;
        Assert.True(exported.Flags.HasFlag(FuseInitFlags.WritebackCache));
        var writer = new StateWriter();
        exported.Write(writer);
        FuseSessionState carried = FuseSessionState.Read(new StateReader(writer.Finish()));
        Assert.Equal(exported, carried);

        var destination = new ServerHarness(new FuseServerOptions { Writeback = true }, initialize: false);
        Assert.Equal(-Errno.EIO, destination.RunRejected(GetAttr).Error); // no session yet
        Assert.Null(destination.Server.Import(carried));
        Assert.Equal(carried.Flags, destination.Server.NegotiatedFlags);
        Assert.Equal(0, destination.Run(GetAttr).Error);
        Assert.Contains("Init", destination.Fs.Calls[0], StringComparison.Ordinal); // the filesystem learned the flags
        Assert.NotNull(destination.Server.CheckImport(carried)); // a second session is refused
    }

    [Fact]
    public void A_session_the_destination_could_not_have_negotiated_is_refused()
    {
        FuseSessionState exported = new ServerHarness(new FuseServerOptions { Writeback = true }).Server.ExportSession()!;
        var plain = new ServerHarness(new FuseServerOptions(), initialize: false);
        Assert.Contains("WritebackCache", plain.Server.CheckImport(exported), StringComparison.Ordinal);
        Assert.Contains("WRITEs", plain.Server.CheckImport(exported with { Flags = FuseInitFlags.AsyncRead, MaxWrite = 1 << 30 }),
            StringComparison.Ordinal);
        Assert.Contains("7.5", plain.Server.CheckImport(exported with { Flags = FuseInitFlags.AsyncRead, Minor = 5 }), StringComparison.Ordinal);
        Assert.Null(plain.Server.NegotiatedFlags);
    }
}
