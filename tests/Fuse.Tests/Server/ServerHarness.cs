using Serilog;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>A server over a <see cref="RecordingFileSystem"/>, optionally past INIT already.</summary>
public sealed class ServerHarness
{
    /// <summary>What a Linux 6.12 guest offers in INIT (flags and flags2), enough to see every option take effect.</summary>
    public const FuseInitFlags GuestFlags = FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks | FuseInitFlags.AtomicOTrunc
        | FuseInitFlags.ExportSupport | FuseInitFlags.BigWrites | FuseInitFlags.DontMask | FuseInitFlags.FlockLocks
        | FuseInitFlags.HasIoctlDir | FuseInitFlags.AutoInvalData | FuseInitFlags.DoReadDirPlus | FuseInitFlags.ReadDirPlusAuto
        | FuseInitFlags.AsyncDio | FuseInitFlags.WritebackCache | FuseInitFlags.NoOpenSupport | FuseInitFlags.ParallelDirOps
        | FuseInitFlags.HandleKillPriv | FuseInitFlags.PosixAcl | FuseInitFlags.AbortError | FuseInitFlags.MaxPages
        | FuseInitFlags.CacheSymlinks | FuseInitFlags.NoOpenDirSupport | FuseInitFlags.ExplicitInvalData
        | FuseInitFlags.MapAlignment | FuseInitFlags.Submounts | FuseInitFlags.HandleKillPrivV2 | FuseInitFlags.SetXattrExt
        | FuseInitFlags.InitExt | FuseInitFlags.SecurityCtx | FuseInitFlags.HasInodeDax | FuseInitFlags.CreateSuppGroup
        | FuseInitFlags.HasExpireOnly | FuseInitFlags.DirectIoAllowMmap | FuseInitFlags.Passthrough
        | FuseInitFlags.NoExportSupport | FuseInitFlags.HasResend | FuseInitFlags.AllowIdmap | FuseInitFlags.OverIoUring;

    public ServerHarness(FuseServerOptions? options = null, bool initialize = true, FuseInitFlags guestFlags = GuestFlags)
    {
        Server = new FuseServer(Fs, options ?? new FuseServerOptions(), new LoggerConfiguration().CreateLogger());
        if (initialize)
        {
            InitReply = Run(FuseRequestBuilder.Init(guestFlags));
            Assert.Equal(0, InitReply.Error);
        }
    }

    public RecordingFileSystem Fs { get; } = new();

    public FuseServer Server { get; }

    public FuseReply? InitReply { get; }

    public FuseReply Run(FuseRequestBuilder builder, int[]? requestCuts = null, int[]? replySegments = null)
        => FuseExchange.Run(Server, builder, requestCuts, replySegments);

    /// <summary>Runs a request and returns the one filesystem call it made (asserting there was exactly one).</summary>
    public (FuseReply Reply, string Call) RunOne(FuseRequestBuilder builder, int[]? requestCuts = null, int[]? replySegments = null)
    {
        int before = Fs.Calls.Count;
        FuseReply reply = Run(builder, requestCuts, replySegments);
        IReadOnlyList<string> calls = Fs.Calls;
        Assert.Equal(before + 1, calls.Count);
        return (reply, calls[^1]);
    }

    /// <summary>Runs a request that must not reach the filesystem.</summary>
    public FuseReply RunRejected(FuseRequestBuilder builder, int[]? requestCuts = null, int[]? replySegments = null)
    {
        int before = Fs.Calls.Count;
        FuseReply reply = Run(builder, requestCuts, replySegments);
        Assert.Equal(before, Fs.Calls.Count);
        return reply;
    }
}
