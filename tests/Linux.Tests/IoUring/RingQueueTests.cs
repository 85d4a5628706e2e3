using VirtioFsd.Linux.IoUring;
using static VirtioFsd.Linux.Tests.IoUring.RingTestSupport;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>The ring protocol itself: round trips, index wrap-around, SQ full, CQ overflow.</summary>
public sealed class RingQueueTests
{
    [Fact]
    public void NopRoundTripCarriesUserData()
    {
        using Ring ring = CreateRing(8);
        Assert.True((ring.Features & Ring.RequiredFeatures) == Ring.RequiredFeatures);
        Assert.Equal(8u, ring.SqEntries);
        Assert.Equal(16u, ring.CqEntries);

        Sqe(ring).Nop(0xDEAD_BEEF_0000_0001);
        Assert.Equal(1u, ring.PendingSubmissions);
        IoUringCqe cqe = CompleteOne(ring);

        Assert.Equal(0xDEAD_BEEF_0000_0001ul, cqe.UserData);
        Assert.Equal(0, cqe.Result);
        Assert.Equal(0, ring.InFlight);
        Assert.Equal(0u, ring.PendingSubmissions);
        Assert.False(ring.TryGetCompletion(out _));
    }

    [Fact]
    public void IndexesWrapAroundOverManyMoreOpsThanEntries()
    {
        using Ring ring = CreateRing(4);
        const int Total = 10_000; // thousands of laps of a 4-entry SQ and 8-entry CQ
        var seen = new bool[Total];
        int next = 0;
        int reaped = 0;
        Span<IoUringCqe> batch = stackalloc IoUringCqe[3];
        while (reaped < Total)
        {
            // Vary the batch size so head and tail meet the wrap point in every phase.
            int want = 1 + (next % 4);
            for (int i = 0; i < want && next < Total; i++)
            {
                Sqe(ring).Nop((ulong)next++);
            }
            Assert.True(ring.SubmitAndWait(1, null) >= 0);
            int n;
            while ((n = ring.DrainCompletions(batch)) > 0)
            {
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal(0, batch[i].Result);
                    Assert.False(seen[batch[i].UserData], "completion seen twice");
                    seen[batch[i].UserData] = true;
                    reaped++;
                }
            }
        }
        Assert.All(seen, Assert.True);
        Assert.Equal(0, ring.InFlight);
    }

    [Fact]
    public void TryGetSqeSubmitsWhenTheSqIsFull()
    {
        using Ring ring = CreateRing(4);
        for (int i = 0; i < 4; i++)
        {
            Sqe(ring).Nop((ulong)i);
        }
        Assert.Equal(4u, ring.PendingSubmissions);

        // The fifth SQE only exists because TryGetSqe submitted the first four.
        Sqe(ring).Nop(4);
        Assert.Equal(1u, ring.PendingSubmissions);
        Assert.Equal(4, ring.InFlight);

        Dictionary<ulong, IoUringCqe> done = CompleteMany(ring, 5);
        Assert.Equal(new ulong[] { 0, 1, 2, 3, 4 }, done.Keys.Order().ToArray());
    }

    [Fact]
    public void CqOverflowLosesNothing()
    {
        using Ring ring = CreateRing(8, new RingOptions { CqEntries = 16 });
        Assert.Equal(16u, ring.CqEntries);
        const int Total = 100; // more than six times the CQ, none reaped while submitting

        for (int i = 0; i < Total; i++)
        {
            Sqe(ring).Nop((ulong)i);
        }
        Assert.True(ring.Submit() >= 0);
        while (ring.PendingSubmissions > 0)
        {
            Assert.True(ring.Submit() >= 0);
        }

        // The CQ ring is full and the rest waits in the kernel's overflow list (IORING_FEAT_NODROP).
        Assert.Equal(16u, ring.CompletionsReady);
        Assert.True(ring.HasCompletionsHeldInKernel);

        var seen = new HashSet<ulong>();
        while (ring.TryGetCompletion(out IoUringCqe cqe))
        {
            Assert.Equal(0, cqe.Result);
            Assert.True(seen.Add(cqe.UserData));
        }
        Assert.Equal(Total, seen.Count);
        Assert.Equal(0u, ring.CqOverflowCount);
        Assert.Equal(0, ring.InFlight);
        Assert.False(ring.HasCompletionsHeldInKernel);
    }

    [Fact]
    public void SubmitAndWaitReturnsWhenTheTimeoutPassesWithNothingDone()
    {
        using Ring ring = CreateRing(4);
        int r = ring.SubmitAndWait(1, TimeSpan.FromMilliseconds(20));
        Assert.Equal(0, r);
        Assert.Equal(0u, ring.CompletionsReady);
    }

    [Fact]
    public unsafe void MalformedEntriesFailAloneAndTheRingGoesOn()
    {
        using Ring ring = CreateRing(8);
        SubmissionEntry bad = Sqe(ring);
        bad.Nop(1);
        bad.Sqe.Opcode = 250; // no such operation
        // Sound: the kernel rejects the count before it reads the (bogus) iovec address.
        Sqe(ring).Readv(0, (IoVec*)0x1000, 100_000, 0, 2); // more segments than UIO_MAXIOV (1024)
        Sqe(ring).Nop(3);
        Dictionary<ulong, IoUringCqe> done = CompleteMany(ring, 3);
        Assert.Equal(-Errno.EINVAL, done[1].Result);
        Assert.Equal(-Errno.EINVAL, done[2].Result);
        Assert.Equal(0, done[3].Result);
        Assert.Equal(0u, ring.SqDroppedCount);
    }

    [Fact]
    public void LinkedChainStopsAtTheFirstFailure()
    {
        using Ring ring = CreateRing(8);
        SubmissionEntry first = Sqe(ring);
        first.Close(-1, 1); // fails: EBADF
        first.SetFlags(IoUringConstants.SqeIoLink);
        Sqe(ring).Nop(2);   // never runs
        Dictionary<ulong, IoUringCqe> done = CompleteMany(ring, 2);
        Assert.Equal(-Errno.EBADF, done[1].Result);
        Assert.Equal(-Errno.ECANCELED, done[2].Result);
    }

    [Fact]
    public void WaitingWithNothingInFlightReturnsInsteadOfBlocking()
    {
        using Ring ring = CreateRing(4);
        Assert.Equal(0, ring.SubmitAndWait(1, null));
        Assert.Equal(0u, ring.CompletionsReady);

        // Two operations cannot produce three completions: the wait ends when both are ready.
        Sqe(ring).Nop(1);
        Sqe(ring).Nop(2);
        Assert.Equal(2, ring.SubmitAndWait(3, null));
        Assert.Equal(2u, ring.CompletionsReady);
        Assert.Equal(0, ring.SubmitAndWait(3, null)); // completed but unreaped: still nothing to wait for
    }

    [Fact]
    public void DisposedRingRefusesUse()
    {
        Ring ring = CreateRing(4);
        ring.Dispose();
        Assert.Equal(-1, ring.Fd);
        Assert.Throws<ObjectDisposedException>(() => ring.TryGetSqe(out _));
        ring.Dispose(); // idempotent
    }
}
