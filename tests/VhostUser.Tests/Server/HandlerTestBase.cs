using System.Buffers.Binary;
using VirtioFsd.VhostUser.Server;
using VirtioFsd.VhostUser.Tests.Support;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests.Server;

/// <summary>One connected server + frontend over a socketpair with 1 MiB of memfd guest RAM.</summary>
public abstract class HandlerTestBase : IDisposable
{
    private protected HandlerTestBase(EchoBackend? backend = null)
    {
        Ram = GuestRam.Single(0x100000);
        Harness = ServerHarness.OverSocketPair(Ram, backend);
        Alloc = new GuestAllocator(0, 0x100000);
    }

    private protected GuestRam Ram { get; }

    private protected ServerHarness Harness { get; }

    private protected VhostUserFrontend.VhostUserFrontend Frontend => Harness.Frontend;

    private protected EchoBackend Backend => Harness.Backend;

    private protected GuestAllocator Alloc { get; }

    public void Dispose()
    {
        Harness.Dispose();
        Assert.Null(Harness.Escaped);
        Ram.Dispose();
    }

    /// <summary>Features, owner, memory table; REPLY_ACK on so refusals come back as nacks.</summary>
    private protected void Init()
    {
        Frontend.Initialize();
        Frontend.SetMemTable();
    }

    /// <summary>Asserts the server dropped the connection for a protocol error and said why in the log.</summary>
    private protected void AssertDisconnected(string logFragment)
    {
        Assert.True(Frontend.Socket.WaitForClose(), "server kept the connection open");
        Assert.True(Harness.WaitForEnd());
        Assert.Equal(ConnectionEnd.ProtocolError, Harness.End);
        Assert.Contains(Harness.Sink.Lines, l => l.Contains(logFragment, StringComparison.OrdinalIgnoreCase));
        Assert.Equal(0, Backend.RunningQueues);
    }

    /// <summary>Sends a request asking for an ack and returns the ack value.</summary>
    private protected ulong Acked(uint request, ReadOnlySpan<byte> body, ReadOnlySpan<int> fds = default)
    {
        Frontend.Socket.Send(request, Proto.Version | Proto.NeedReplyFlag, body, fds);
        Reply r = Frontend.Socket.Receive() ?? throw new Xunit.Sdk.XunitException("connection closed instead of an ack");
        Assert.Equal(request, r.Request);
        return r.U64;
    }

    private protected static byte[] U64(ulong v)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return b;
    }

    private protected static byte[] State(uint index, uint num)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(b, index);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), num);
        return b;
    }

    /// <summary>Pushes one echo chain and waits for it to come back.</summary>
    private protected void EchoOnce(DriverQueue driver, FrontendQueue queue, ulong inGpa, ulong outGpa, int length = 100)
    {
        byte[] payload = new byte[length];
        new Random(length).NextBytes(payload);
        Ram.Write(inGpa, payload);
        ushort head = driver.AddChain([new DriverBuffer(inGpa, (uint)length)], [new DriverBuffer(outGpa, (uint)length)]);
        queue.Notify();
        DriverUsedElement used = RoundTripTests.WaitUsed(driver, queue);
        Assert.Equal(head, used.Id);
        Assert.Equal((uint)length, used.Length);
        byte[] back = new byte[length];
        Ram.Read(outGpa, back);
        Assert.Equal(payload.Select(EchoBackend.Transform).ToArray(), back);
    }
}
