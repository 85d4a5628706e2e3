using Serilog;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Fuse.Tests.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Engine;

/// <summary>A passthrough share behind a FUSE server, past INIT, spoken to in FUSE through one engine.</summary>
public sealed class EngineSession : IDisposable
{
    private readonly TempDirectory dir = new("virtiofsd-engine-file-io-");
    private ulong unique = 100;

    public EngineSession(EngineKind kind)
    {
        Fs = new PassthroughFileSystem(new PassthroughOptions { SharedDirectory = dir.Path }, new LoggerConfiguration().CreateLogger());
        Server = new FuseServer(Fs, new FuseServerOptions(), new LoggerConfiguration().CreateLogger());
        Transport = TestTransport.Create(kind);
        FuseReply init = Transport.Run(Server, FuseRequestBuilder.Init(ServerHarness.GuestFlags).ToBytes());
        Assert.Equal(0, init.Error);
    }

    public PassthroughFileSystem Fs { get; }

    public FuseServer Server { get; }

    public TestTransport Transport { get; }

    public string Host(string name) => dir.Combine(name);

    public FuseRequestBuilder Request(FuseOpcode opcode, ulong node)
        => new(opcode, node, unique++) { Uid = 0, Gid = 0 };

    public FuseReply Run(FuseRequestBuilder builder, int[]? replySegments = null)
        => Transport.Run(Server, builder.ToBytes(), replySegments);

    /// <summary>CREATE in the root: the new node and its open handle.</summary>
    public (ulong Node, ulong Fh) Create(string name)
    {
        FuseReply reply = Run(Request(FuseOpcode.Create, 1)
            .Add(new FuseCreateIn { Flags = (uint)Libc.O_RDWR, Mode = 0x81a4 }).AddName(name));
        Assert.Equal(0, reply.Error);
        return (reply.Read<FuseEntryOut>().NodeId, reply.Read<FuseOpenOut>(System.Runtime.InteropServices.Marshal.SizeOf<FuseEntryOut>()).Fh);
    }

    public FuseRequestBuilder WriteRequest(ulong node, ulong fh, ulong offset, byte[] data)
        => Request(FuseOpcode.Write, node).Add(new FuseWriteIn { Fh = fh, Offset = offset, Size = (uint)data.Length }).AddBytes(data);

    public FuseRequestBuilder ReadRequest(ulong node, ulong fh, ulong offset, uint size)
        => Request(FuseOpcode.Read, node).Add(new FuseReadIn { Fh = fh, Offset = offset, Size = size });

    /// <summary>WRITE, asserting the whole payload was taken.</summary>
    public void Write(ulong node, ulong fh, ulong offset, byte[] data)
    {
        FuseReply reply = Run(WriteRequest(node, fh, offset, data));
        Assert.Equal(0, reply.Error);
        Assert.Equal((uint)data.Length, reply.Read<FuseWriteOut>().Size);
    }

    /// <summary>READ into a reply area cut in three (header and data share the first cut).</summary>
    public byte[] Read(ulong node, ulong fh, ulong offset, uint size)
    {
        int third = (int)Math.Max(size / 3, 1);
        FuseReply reply = Run(ReadRequest(node, fh, offset, size), [16 + 100, third, (int)size]);
        Assert.Equal(0, reply.Error);
        return reply.Body;
    }

    public int Release(ulong node, ulong fh)
        => Run(Request(FuseOpcode.Release, node).Add(new FuseReleaseIn { Fh = fh })).Error;

    /// <summary>This process's fds of the file; with <paramref name="ioOnly"/> only those open for I/O (not O_PATH).</summary>
    public int OpenFdsOf(string name, bool ioOnly = false) => FdTable.CountOf(Host(name), ioOnly);

    public void Dispose()
    {
        Transport.Dispose();
        Fs.Dispose();
        dir.Dispose();
    }
}
