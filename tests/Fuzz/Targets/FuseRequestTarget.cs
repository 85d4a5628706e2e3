using System.Runtime.InteropServices;
using Serilog;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Fuzz.Support;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuzz.Targets;

/// <summary>
/// FUSE requests, opcode by opcode (case seed modulo the opcode count picks the first request's
/// opcode), fed to a <see cref="FuseServer"/> over a real <see cref="PassthroughFileSystem"/> on a
/// fresh tree in a temp dir: each case builds a well-formed request for its opcode over the tree's
/// nodes and handles (<see cref="FuseRequestShapes"/>), then randomizes lengths, fields, names, the
/// header and the segment layout.
/// Invariants: no exception escapes; each request completes exactly once; the reply stays inside the
/// writable segments (fences intact) and carries the request's unique, a valid errno and a length
/// equal to the bytes reported; no-reply opcodes write nothing; nothing outside the share changes;
/// after the filesystem is disposed no fd stays open.
/// </summary>
public sealed class FuseRequestTarget : FuzzTarget
{
    private static readonly TimeSpan CompletionBound = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _root = new("virtiofsd-fuzz-fuse-requests-");
    private readonly ILogger _log = new LoggerConfiguration().CreateLogger();
    private readonly OutsideWatch _outside;

    public FuseRequestTarget()
    {
        Directory.CreateDirectory(Share);
        string outside = _root.Combine("outside");
        Directory.CreateDirectory(Path.Combine(outside, "dir"));
        File.WriteAllText(Path.Combine(outside, "secret"), "outside the share");
        _outside = new OutsideWatch(_root.Path, outside);
    }

    public override string Name => FuzzTargets.FuseRequests;

    private string Share => _root.Combine("share");

    protected override void Prepare() => ResetTree();

    protected override void Run(Random rng, long seed)
    {
        bool readOnly = rng.Next(6) == 0;
        var fs = new PassthroughFileSystem(new PassthroughOptions
        {
            SharedDirectory = Share,
            Xattr = rng.Next(4) != 0,
            PosixAcl = rng.Next(3) == 0,
        }, _log);
        try
        {
            var server = new FuseServer(fs, new FuseServerOptions
            {
                Xattr = true,
                PosixAcl = rng.Next(3) == 0,
                PosixLocks = true,
                FlockLocks = true,
                Writeback = rng.Next(3) == 0,
                KillPrivV2 = rng.Next(3) == 0,
                AnnounceSubmounts = rng.Next(2) == 0,
                ReadOnly = readOnly,
                Cache = (CacheMode)rng.Next(0, 4),
            }, _log);
            var tree = new FuseRequestShapes.Tree();
            ulong unique = 1;
            Setup(server, rng, tree, ref unique);
            int requests = rng.Next(1, 4);
            for (int i = 0; i < requests; i++)
            {
                FuseOpcode opcode = i == 0 ? FuseRequestShapes.Opcodes[(int)((ulong)seed % (ulong)FuseRequestShapes.Opcodes.Length)]
                    : FuseRequestShapes.Opcodes[rng.Next(FuseRequestShapes.Opcodes.Length)];
                if (i > 0 && opcode == FuseOpcode.SetLkW)
                {
                    // A second lock request of the case could wait on the first one's lock for ever (correctly).
                    opcode = FuseOpcode.SetLk;
                }
                byte[] request = FuseRequestShapes.Build(opcode, rng, tree, unique++);
                Exchange(server, rng, request);
            }
        }
        finally
        {
            fs.Dispose();
        }
        string? changed = _outside.Changed();
        FuzzInvariantException.Check(changed is null, $"outside the share changed: {changed}");
    }

    /// <summary>INIT, then LOOKUPs of the tree's entries and an OPEN and OPENDIR, remembering ids and handles.</summary>
    private static void Setup(FuseServer server, Random rng, FuseRequestShapes.Tree tree, ref ulong unique)
    {
        FuseInitFlags flags = FuseRequestShapes.GuestFlags;
        if (rng.Next(4) == 0)
        {
            flags &= (FuseInitFlags)rng.NextInt64();
        }
        if (rng.Next(12) != 0)
        {
            Call(server, FuseRequestShapes.Init(flags, unique++));
        }
        foreach (string name in FuseRequestShapes.TreeNames)
        {
            byte[] reply = Call(server, FuseRequestShapes.Request(FuseOpcode.Lookup, 1, unique++, FuseBytes.Name(name)));
            if (MemoryMarshal.Read<FuseOutHeader>(reply).Error == 0 && reply.Length >= 16 + Marshal.SizeOf<FuseEntryOut>())
            {
                tree.Nodes.Add(MemoryMarshal.Read<FuseEntryOut>(reply.AsSpan(16)).NodeId);
            }
        }
        if (tree.Nodes.Count > 0)
        {
            byte[] open = Call(server, FuseRequestShapes.Request(FuseOpcode.Open, tree.Nodes[0], unique++,
                FuseBytes.Of(new FuseOpenIn { Flags = (uint)Libc.O_RDWR })));
            if (MemoryMarshal.Read<FuseOutHeader>(open).Error == 0 && open.Length >= 32)
            {
                tree.Handles.Add(MemoryMarshal.Read<FuseOpenOut>(open.AsSpan(16)).Fh);
            }
        }
        byte[] dir = Call(server, FuseRequestShapes.Request(FuseOpcode.OpenDir, 1, unique++, FuseBytes.Of(new FuseOpenIn())));
        if (MemoryMarshal.Read<FuseOutHeader>(dir).Error == 0 && dir.Length >= 32)
        {
            tree.DirHandles.Add(MemoryMarshal.Read<FuseOpenOut>(dir.AsSpan(16)).Fh);
        }
    }

    /// <summary>A setup request with a roomy reply area; returns the reply (at least an out header's worth).</summary>
    private static byte[] Call(FuseServer server, byte[] request)
    {
        using var exchange = new FuseExchange(request, [], [4096]);
        server.Handle(exchange.Request);
        FuzzInvariantException.Check(exchange.WaitForCompletion(CompletionBound), "a setup request never completed");
        return exchange.Writable.ToArray()[..Math.Max(16, (int)exchange.Request.ReplyLength)];
    }

    /// <summary>Runs one (possibly hostile) request and checks the reply invariants.</summary>
    private static void Exchange(FuseServer server, Random rng, byte[] request)
    {
        int[] cuts = [.. Enumerable.Range(0, rng.Next(0, 4)).Select(_ => rng.Next(1, request.Length + 1))];
        int[] replySizes = rng.Next(3) switch
        {
            0 => [.. Enumerable.Range(0, rng.Next(0, 4)).Select(_ => rng.Next(0, 300))],
            1 => [16, rng.Next(0, 8192)],
            _ => [rng.Next(1, 40), 8192, rng.Next(0, 70_000)],
        };
        var header = MemoryMarshal.Read<FuseInHeader>(request.AsSpan(0, Math.Min(request.Length, 40)).ToArray().Concat(new byte[40]).ToArray());
        var opcode = (FuseOpcode)header.Opcode;
        using var exchange = new FuseExchange(request, cuts, replySizes);
        server.Handle(exchange.Request);
        FuzzInvariantException.Check(exchange.WaitForCompletion(CompletionBound), $"{opcode} (len {request.Length}) was never completed");
        byte[] reply = exchange.Writable.ToArray();
        FuzzInvariantException.Check(exchange.Completions == 1, $"{opcode} completed {exchange.Completions} times");
        FuzzInvariantException.Check(exchange.Writable.FencesIntact(), $"{opcode}: the reply was written outside the writable segments");
        uint length = exchange.Request.ReplyLength;
        FuzzInvariantException.Check(length <= exchange.Writable.TotalLength, $"{opcode}: reply of {length} bytes in {exchange.Writable.TotalLength}");
        if (length == 0)
        {
            return;
        }
        FuzzInvariantException.Check(length >= 16, $"{opcode}: reply of {length} bytes, shorter than fuse_out_header");
        var outHeader = MemoryMarshal.Read<FuseOutHeader>(reply);
        FuzzInvariantException.Check(outHeader.Len == length, $"{opcode}: out_header.len {outHeader.Len} but {length} bytes written");
        FuzzInvariantException.Check(outHeader.Unique == header.Unique, $"{opcode}: reply unique {outHeader.Unique}, request {header.Unique}");
        FuzzInvariantException.Check(outHeader.Error <= 0 && outHeader.Error > -4096, $"{opcode}: error {outHeader.Error}");
        FuzzInvariantException.Check(outHeader.Error == 0 || length == 16, $"{opcode}: error {outHeader.Error} with a body");
        bool noReply = request.Length >= 40 && header.Len == request.Length
            && opcode is FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt;
        FuzzInvariantException.Check(!noReply, $"{opcode} got a reply");
    }

    /// <summary>The case's starting tree: a file, a directory, symlinks out of the share, a FIFO, a hard-linked file.</summary>
    private void ResetTree()
    {
        try
        {
            Clear();
        }
        catch (IOException)
        {
            // A name .NET cannot express (SETXATTR noise cannot create one, but a future shape might): rm -rf.
            using var rm = System.Diagnostics.Process.Start("rm", ["-rf", Share])!;
            rm.WaitForExit();
            Directory.CreateDirectory(Share);
        }
        Populate();
    }

    private void Clear()
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(Share))
        {
            var info = new FileInfo(entry);
            if (info.Attributes.HasFlag(FileAttributes.Directory) && info.LinkTarget is null)
            {
                Directory.Delete(entry, recursive: true);
            }
            else
            {
                File.Delete(entry);
            }
        }
    }

    private void Populate()
    {
        Libc.Chmod(Share, 0b111_111_111);
        File.WriteAllBytes(Path.Combine(Share, "f"), new byte[300]);
        Directory.CreateDirectory(Path.Combine(Share, "d", "e"));
        File.WriteAllText(Path.Combine(Share, "d", "g"), "g");
        File.CreateSymbolicLink(Path.Combine(Share, "out"), "../outside/secret");
        File.CreateSymbolicLink(Path.Combine(Share, "etc"), "/etc");
        File.CreateSymbolicLink(Path.Combine(Share, "proc"), "/proc/self/root");
        Libc.Mknodat(Libc.AT_FDCWD, System.Text.Encoding.UTF8.GetBytes(Path.Combine(Share, "p")), 0x1000 | 0b110_110_110, 0);
    }

    protected override void Dispose(bool disposing) => _root.Dispose();
}
