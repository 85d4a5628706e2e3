using VirtioFsd.Bench.Fuse;

namespace VirtioFsd.Bench.Client;

/// <summary>
/// Single FUSE requests run to completion on one queue, for workload setup (find a node, open a file)
/// and teardown; the measured loops never go through here.
/// </summary>
public static class SyncRequests
{
    public const ulong RootNode = 1; // FUSE_ROOT_ID

    public static ulong Lookup(QueueRunner runner, ulong parent, string name)
        => FuseReply.EntryNodeId(Call(runner, (d, u) => FuseRequestWriter.Named(d, FuseOpcode.Lookup, u, parent, name), FuseSize.EntryOut));

    public static ulong Open(QueueRunner runner, ulong node, int flags, bool directory = false)
        => FuseReply.OpenFh(Call(runner, (d, u) => FuseRequestWriter.Open(d, directory ? FuseOpcode.Opendir : FuseOpcode.Open, u, node, flags), FuseSize.OpenOut));

    /// <summary>CREATE; returns (node, fh).</summary>
    public static (ulong Node, ulong Fh) Create(QueueRunner runner, ulong parent, string name, int flags)
    {
        byte[] r = Call(runner, (d, u) => FuseRequestWriter.Create(d, u, parent, name, flags, 0x81a4 /* S_IFREG | 0644 */),
            FuseSize.EntryOut + FuseSize.OpenOut);
        return (FuseReply.EntryNodeId(r), FuseReply.OpenFh(r.AsSpan(FuseSize.EntryOut)));
    }

    public static void Release(QueueRunner runner, ulong node, ulong fh, bool directory = false)
        => Call(runner, (d, u) => FuseRequestWriter.Release(d, directory ? FuseOpcode.Releasedir : FuseOpcode.Release, u, node, fh, 0), 0);

    public static void Unlink(QueueRunner runner, ulong parent, string name)
        => Call(runner, (d, u) => FuseRequestWriter.Named(d, FuseOpcode.Unlink, u, parent, name), 0);

    /// <summary>Runs one request with a reply-argument area of <paramref name="replyArgs"/> bytes; returns those bytes.</summary>
    public static byte[] Call(QueueRunner runner, Func<Span<byte>, ulong, int> encode, int replyArgs)
    {
        var program = new OneShot(encode, replyArgs);
        runner.Run(program, 1, 1, long.MaxValue);
        return program.Reply;
    }

    private sealed class OneShot(Func<Span<byte>, ulong, int> encode, int replyArgs) : IWorkloadProgram
    {
        public byte[] Reply { get; private set; } = [];

        public Step Begin(Slot slot, RequestContext context)
        {
            int n = encode(context.Scratch, context.NextUnique(slot));
            context.Commit(slot, n);
            return new Step(n, 0, replyArgs, 0);
        }

        public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> args, uint replyLength, out Step next)
        {
            next = default;
            Reply = args.ToArray();
            return false;
        }
    }
}
