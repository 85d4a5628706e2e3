using VirtioFsd.Linux.IoUring;
using static VirtioFsd.Linux.Tests.IoUring.RingTestSupport;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>Kick handling (poll and read of an eventfd), cancellation, timeouts and shutdown.</summary>
// Unsafe for native pointers handed to the kernel; sound because every buffer is a NativeBuffer or a
// stackalloc that stays alive until the completion that uses it has been reaped.
public sealed unsafe class RingPollTests
{
    private const int ETIME = 62;

    private static UnixFd NewEventFd(bool nonBlocking = false)
    {
        int fd = Libc.EventFd(0, Libc.EFD_CLOEXEC | (nonBlocking ? Libc.EFD_NONBLOCK : 0));
        Assert.True(fd >= 0, Errno.Describe(fd));
        return new UnixFd(fd);
    }

    [Fact]
    public void PollOnEventFdWakesOnWrite()
    {
        using Ring ring = CreateRing(4);
        using UnixFd kick = NewEventFd();
        Sqe(ring).PollAdd(kick.Value, IoUringConstants.PollIn, multishot: false, 10);
        Assert.Equal(1, ring.Submit());
        Assert.False(ring.TryGetCompletion(out _)); // nothing written yet

        Assert.Equal(8, Libc.EventFdWrite(kick.Value, 1));
        IoUringCqe cqe = CompleteOne(ring);
        Assert.Equal(10ul, cqe.UserData);
        Assert.True((cqe.Result & (int)IoUringConstants.PollIn) != 0);
        Assert.False(cqe.HasMore);
        Assert.Equal(0, ring.InFlight);
    }

    [Fact]
    public void DeferredTaskRunCompletionsAreVisibleToTryGetCompletion()
    {
        using Ring ring = CreateRing(4, new RingOptions { SetupFlags = IoUringConstants.SetupSingleIssuer | IoUringConstants.SetupDeferTaskrun });
        using UnixFd kick = NewEventFd();
        Sqe(ring).PollAdd(kick.Value, IoUringConstants.PollIn, multishot: false, 11);
        Assert.Equal(1, ring.Submit());
        Assert.Equal(8, Libc.EventFdWrite(kick.Value, 1));

        // The wakeup is parked as deferred task work, not yet a CQE: the ring must flush it.
        Assert.Equal(0u, ring.CompletionsReady);
        Assert.True(ring.HasCompletionsHeldInKernel);
        Assert.True(ring.TryGetCompletion(out IoUringCqe cqe));
        Assert.Equal(11ul, cqe.UserData);
        Assert.Equal(0, ring.InFlight);
    }

    [Fact]
    public void MultishotPollStaysArmedAcrossKicks()
    {
        using Ring ring = CreateRing(4);
        using UnixFd kick = NewEventFd(nonBlocking: true);
        Sqe(ring).PollAdd(kick.Value, IoUringConstants.PollIn, multishot: true, 20);
        Assert.Equal(1, ring.Submit());

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(8, Libc.EventFdWrite(kick.Value, 1));
            IoUringCqe cqe = CompleteOne(ring);
            Assert.Equal(20ul, cqe.UserData);
            Assert.True(cqe.HasMore, "multishot poll must stay armed");
            Assert.Equal(8, Libc.EventFdRead(kick.Value, out ulong v)); // consume the kick, as a worker does
            Assert.Equal(1ul, v);
        }
        Assert.Equal(1, ring.InFlight);

        // Cancel it: the final completion has no F_MORE, and the cancel reports one match.
        Sqe(ring).AsyncCancel(20, 0, 21);
        Dictionary<ulong, IoUringCqe> done = CompleteMany(ring, 2);
        Assert.Equal(-Errno.ECANCELED, done[20].Result);
        Assert.False(done[20].HasMore);
        Assert.Equal(0, done[21].Result);
        Assert.Equal(0, ring.InFlight);
    }

    [Fact]
    public void ReadOfEventFdDeliversTheCounter()
    {
        using Ring ring = CreateRing(4);
        using UnixFd kick = NewEventFd();
        using var counter = new NativeBuffer(8);
        Sqe(ring).Read(kick.Value, counter.Pointer, 8, 0, 30);
        Assert.Equal(1, ring.Submit());
        Assert.Equal(8, Libc.EventFdWrite(kick.Value, 3));
        IoUringCqe cqe = CompleteOne(ring);
        Assert.Equal(8, cqe.Result);
        Assert.Equal(3ul, BitConverter.ToUInt64(counter.Span));
    }

    [Fact]
    public void DisposeCancelsAPendingReadSoNothingLandsLater()
    {
        using UnixFd kick = NewEventFd();
        using var counter = new NativeBuffer(8);
        counter.Span.Fill(0xAA);
        Ring ring = CreateRing(4);
        Sqe(ring).Read(kick.Value, counter.Pointer, 8, 0, 40);
        Sqe(ring).PollAdd(kick.Value, IoUringConstants.PollIn, multishot: true, 41);
        Assert.Equal(2, ring.Submit());
        Assert.Equal(2, ring.InFlight);

        ring.Dispose(); // must return: both operations are cancelled and reaped

        // Had the read survived it would consume this value into the buffer.
        Assert.Equal(8, Libc.EventFdWrite(kick.Value, 5));
        Assert.Equal(8, Libc.EventFdRead(kick.Value, out ulong v));
        Assert.Equal(5ul, v);
        Assert.True(counter.Span.IndexOfAnyExcept((byte)0xAA) < 0);
    }

    [Fact]
    public void DisposeForgetsSqesThatWereNeverSubmitted()
    {
        Ring ring = CreateRing(4);
        using UnixFd kick = NewEventFd();
        Sqe(ring).PollAdd(kick.Value, IoUringConstants.PollIn, multishot: false, 1);
        Sqe(ring).Nop(2);
        // Not submitted: Dispose forgets SQEs that were never published.
        ring.Dispose();
        Assert.Equal(-1, ring.Fd);
    }

    [Fact]
    public void TimeoutFiresWithEtime()
    {
        using Ring ring = CreateRing(4);
        var ts = KernelTimespec.From(TimeSpan.FromMilliseconds(5));
        Sqe(ring).Timeout(&ts, 0, 0, 50);
        IoUringCqe cqe = CompleteOne(ring);
        Assert.Equal(50ul, cqe.UserData);
        Assert.Equal(-ETIME, cqe.Result);
    }

    [Fact]
    public void TimeoutWithCountCompletesWhenOthersDo()
    {
        using Ring ring = CreateRing(4);
        var ts = KernelTimespec.From(TimeSpan.FromHours(1));
        Sqe(ring).Timeout(&ts, 1, 0, 60);
        Sqe(ring).Nop(61);
        Dictionary<ulong, IoUringCqe> done = CompleteMany(ring, 2);
        Assert.Equal(0, done[60].Result); // completed by count, not by the hour
    }

    [Fact]
    public void LinkTimeoutCancelsAReadThatNeverCompletes()
    {
        using Ring ring = CreateRing(4);
        using UnixFd kick = NewEventFd();
        using var counter = new NativeBuffer(8);
        var ts = KernelTimespec.From(TimeSpan.FromMilliseconds(5));
        SubmissionEntry read = Sqe(ring);
        read.Read(kick.Value, counter.Pointer, 8, 0, 70);
        read.SetFlags(IoUringConstants.SqeIoLink);
        Sqe(ring).LinkTimeout(&ts, 0, 71);
        Dictionary<ulong, IoUringCqe> done = CompleteMany(ring, 2);
        Assert.Equal(-Errno.ECANCELED, done[70].Result);
        Assert.Equal(-ETIME, done[71].Result);
    }

    [Fact]
    public void CancelOfUnknownUserDataReportsNotFound()
    {
        using Ring ring = CreateRing(4);
        Sqe(ring).AsyncCancel(12345, 0, 80);
        Assert.Equal(-Errno.ENOENT, CompleteOne(ring).Result);
    }

    [Fact]
    public void SubmitAndWaitWithTimeoutReturnsOnKick()
    {
        using Ring ring = CreateRing(4);
        using UnixFd kick = NewEventFd();
        Sqe(ring).PollAdd(kick.Value, IoUringConstants.PollIn, multishot: false, 90);
        Assert.Equal(1, ring.SubmitAndWait(1, TimeSpan.FromMilliseconds(1)));
        Assert.Equal(0u, ring.CompletionsReady); // timed out: nothing written yet

        var writer = new Thread(() => Libc.EventFdWrite(kick.Value, 1));
        writer.Start();
        while (ring.CompletionsReady == 0)
        {
            Assert.True(ring.SubmitAndWait(1, TimeSpan.FromSeconds(30)) >= 0);
        }
        writer.Join();
        Assert.True(ring.TryGetCompletion(out IoUringCqe cqe));
        Assert.Equal(90ul, cqe.UserData);
    }
}
