using Serilog;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Tests.Engine;

/// <summary>
/// READ and WRITE whose data the engine moves later finish through the request's own reusable completion: right
/// replies when a transport reuses its request objects, nothing allocated per request, and EIO when the move fails.
/// </summary>
public class PendingDataReplyTests
{
    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Theory]
    [InlineData(EngineKind.Deferred)]
    [InlineData(EngineKind.RingAll)]
    public void One_request_object_reused_for_reads_and_writes_that_finish_later_replies_right_each_time(EngineKind kind)
    {
        using var s = new EngineSession(kind);
        (ulong node, ulong fh) = s.Create("reused");
        using var slot = new ReusedRequest(s.Transport.FileIo);
        byte[] file = Pattern(64 * 1024, 7);
        long before = s.Transport.Submitted;

        // Writes and reads alternate through the one request object, each finishing on the engine's completion.
        for (int i = 0; i < 16; i++)
        {
            byte[] chunk = file[(i * 4096)..((i + 1) * 4096)];
            FuseReply written = slot.Run(s, s.WriteRequest(node, fh, (ulong)(i * 4096), chunk), 64);
            Assert.Equal(0, written.Error);
            Assert.Equal(4096u, written.Read<FuseWriteOut>().Size);

            FuseReply read = slot.Run(s, s.ReadRequest(node, fh, (ulong)(i * 2048), 4096), 16 + 4096);
            Assert.Equal(0, read.Error);
            Assert.Equal(file[(i * 2048)..((i * 2048) + 4096)], read.Body);
        }

        // A read past what was written is short, and one on a handle that is not open fails, through the same object.
        FuseReply tail = slot.Run(s, s.ReadRequest(node, fh, (ulong)(file.Length - 100), 4096), 16 + 4096);
        Assert.Equal(file[^100..], tail.Body);
        Assert.Equal(-Errno.EBADF, slot.Run(s, s.ReadRequest(node, fh + 1000, 0, 4096), 16 + 4096).Error);

        Assert.Equal(file, File.ReadAllBytes(s.Host("reused")));
        Assert.Equal(34, slot.Completions);
        Assert.True(s.Transport.Submitted - before >= 33, $"only {s.Transport.Submitted - before} operations finished later");
    }

    [Fact]
    public void Reads_finishing_later_allocate_nothing_when_many_are_in_flight()
    {
        // 16 in flight, as 4 queues at depth 4 keep them. The async method this replaced took its state-machine box
        // from a pool of one per thread and one per core, and with this many waiting every read allocated one.
        using var s = new EngineSession(EngineKind.RingAll);
        (ulong node, ulong fh) = s.Create("many");
        byte[] file = Pattern(16 * 4096, 8);
        s.Write(node, fh, 0, file);
        var slots = new ReusedRequest[16];
        for (int i = 0; i < slots.Length; i++)
        {
            slots[i] = new ReusedRequest(s.Transport.FileIo);
            slots[i].Prepare(s.ReadRequest(node, fh, (ulong)(i * 4096), 4096), 16 + 4096);
        }

        long measuredFrom = 0;
        const int Rounds = 40;
        for (int round = 0; round < Rounds; round++)
        {
            if (round == 4)
            {
                // The first rounds grow what the engine and the server keep (segment lists, the completions).
                measuredFrom = GC.GetAllocatedBytesForCurrentThread();
            }
            foreach (ReusedRequest slot in slots)
            {
                slot.Start(s.Server);
            }
            while (AnyPending(slots))
            {
                Assert.True(s.Transport.Pump(), "reads are not complete and the engine has nothing in flight");
            }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - measuredFrom;

        for (int i = 0; i < slots.Length; i++)
        {
            FuseReply reply = slots[i].Reply();
            Assert.Equal(0, reply.Error);
            Assert.Equal(file[(i * 4096)..((i + 1) * 4096)], reply.Body);
            Assert.Equal(Rounds, slots[i].Completions);
            slots[i].Dispose();
        }
        // The async method's box was 222 bytes a read here (131,280 bytes over these rounds).
        Assert.True(allocated < 4096, $"{allocated} bytes allocated over {Rounds - 4} rounds of 16 reads");
    }

    private static bool AnyPending(ReusedRequest[] slots)
    {
        foreach (ReusedRequest slot in slots)
        {
            if (!slot.Done)
            {
                return true;
            }
        }
        return false;
    }

    [Fact]
    public void A_data_move_that_throws_is_an_EIO_reply()
    {
        using var dir = new TempDirectory("virtiofsd-pending-data-");
        File.WriteAllBytes(dir.Combine("f"), Pattern(4096, 9));
        using var fs = new VirtioFsd.Fuse.Passthrough.PassthroughFileSystem(
            new VirtioFsd.Fuse.Passthrough.PassthroughOptions { SharedDirectory = dir.Path }, new LoggerConfiguration().CreateLogger());
        var server = new FuseServer(fs, new FuseServerOptions(), new LoggerConfiguration().CreateLogger());
        Assert.Equal(0, FuseExchange.Run(server, FuseRequestBuilder.Init(Server.ServerHarness.GuestFlags)).Error);
        FuseReply lookup = FuseExchange.Run(server, new FuseRequestBuilder(FuseOpcode.Lookup, 1, 2).AddName("f"));
        FuseReply open = FuseExchange.Run(server, new FuseRequestBuilder(FuseOpcode.Open, lookup.NodeId, 3)
            .Add(new FuseOpenIn { Flags = (uint)Libc.O_RDWR }));

        var io = new ThrowingFileIo();
        using var read = new FuseExchange(new FuseRequestBuilder(FuseOpcode.Read, lookup.NodeId, 4)
            .Add(new FuseReadIn { Fh = open.Fh, Size = 4096 }).ToBytes(), replySegments: [16 + 4096], io: io);
        Assert.Equal(-Errno.EIO, read.Run(server).Error);
        using var write = new FuseExchange(new FuseRequestBuilder(FuseOpcode.Write, lookup.NodeId, 5)
            .Add(new FuseWriteIn { Fh = open.Fh, Size = 8 }).AddBytes(new byte[8]).ToBytes(), replySegments: [64], io: io);
        Assert.Equal(-Errno.EIO, write.Run(server).Error);
        Assert.Equal(2, io.Calls);
    }

    /// <summary>An engine whose every data move ends, later, with an exception.</summary>
    private sealed class ThrowingFileIo : IFileIo
    {
        public int Calls { get; private set; }

        public ValueTask<long> Read(FdLease file, ReadOnlySpan<IoVec> destination, long offset) => Fail(file);

        public ValueTask<long> Write(FdLease file, ReadOnlySpan<IoVec> source, long offset) => Fail(file);

        public ValueTask<int> Fsync(FdLease file, bool dataOnly) => throw new NotSupportedException();

        public ValueTask<int> Fallocate(FdLease file, int mode, long offset, long length) => throw new NotSupportedException();

        private ValueTask<long> Fail(FdLease file)
        {
            Calls++;
            file.Release();
            return new ValueTask<long>(Task.Run(Broken));
        }

        private static long Broken()
        {
            // Yields first: the move must still be running when the server looks at it.
            Thread.Sleep(10);
            throw new InvalidOperationException("the engine broke");
        }
    }

    /// <summary>A transport's pooled request object: reset for each new request, as the virtqueue worker reuses its own.</summary>
    private sealed class ReusedRequest : IFuseRequestCompletion, IDisposable
    {
        private NativeSegments? readable;
        private NativeSegments? writable;
        private int completions;

        public ReusedRequest(IFileIo io) => Request = new FuseRequest(this, io);

        public FuseRequest Request { get; }

        public int Completions => Volatile.Read(ref completions);

        public bool Done { get; private set; }

        /// <summary>Runs one request through this object and returns its reply.</summary>
        public FuseReply Run(EngineSession s, FuseRequestBuilder builder, int replySize)
        {
            Prepare(builder, replySize);
            Start(s.Server);
            while (!Done)
            {
                Assert.True(s.Transport.Pump(), "the request is not complete and the engine has nothing in flight");
            }
            return Reply();
        }

        public void Prepare(FuseRequestBuilder builder, int replySize)
        {
            readable?.Dispose();
            writable?.Dispose();
            readable = NativeSegments.FromBytes(builder.ToBytes(), 20, 41);
            writable = NativeSegments.Empty(replySize);
        }

        public void Start(FuseServer server)
        {
            Done = false;
            Request.Reset(readable!.Segments, writable!.Segments, transportState: this);
            server.Handle(Request);
        }

        public FuseReply Reply() => new(Request.ReplyLength, writable!.ToArray());

        public void Complete(FuseRequest request)
        {
            Assert.Same(Request, request);
            Interlocked.Increment(ref completions);
            Done = true;
        }

        public void Dispose()
        {
            readable?.Dispose();
            writable?.Dispose();
        }
    }
}
