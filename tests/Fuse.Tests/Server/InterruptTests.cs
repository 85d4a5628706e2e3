using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// FUSE_INTERRUPT served before the SETLKW it names starts waiting (over FUSE-over-io_uring the INTERRUPT comes
/// through /dev/fuse, on another thread than the request) still ends that wait with EINTR; an INTERRUPT for a
/// request that is not waiting leaves later requests alone.
/// </summary>
public sealed class InterruptTests
{
    private readonly ServerHarness h = new(new FuseServerOptions { PosixLocks = true, FlockLocks = true });

    private static readonly FuseLkIn Lock = new() { Fh = 3, Owner = 77, Lk = new FuseFileLock { Start = 0, End = 99, Type = 1 } };

    private static FuseRequestBuilder SetLkW(ulong unique) => new FuseRequestBuilder(FuseOpcode.SetLkW, 5, unique).Add(Lock);

    private static FuseRequestBuilder Interrupt(ulong target, ulong unique) =>
        new FuseRequestBuilder(FuseOpcode.Interrupt, 0, unique).Add(new FuseInterruptIn { Unique = target });

    [Fact]
    public void Interrupt_served_before_its_SetLkW_still_ends_it()
    {
        h.Fs.LockRelease.Reset();
        Assert.Equal(0u, h.RunRejected(Interrupt(200, 201)).Length);

        using var exchange = new FuseExchange(SetLkW(200).ToBytes());
        h.Server.Handle(exchange.Request);

        Assert.Equal(-Errno.EINTR, exchange.WaitForReply().Error);
    }

    [Fact]
    public void An_early_interrupt_for_another_request_leaves_a_SetLkW_waiting()
    {
        h.Fs.LockRelease.Reset();
        Assert.Equal(0u, h.RunRejected(Interrupt(299, 302)).Length); // a request that finished already

        using var exchange = new FuseExchange(SetLkW(300).ToBytes());
        h.Server.Handle(exchange.Request);
        Assert.False(exchange.IsCompleted);

        h.Fs.LockRelease.Set();
        Assert.Equal(0, exchange.WaitForReply().Error);
    }
}
