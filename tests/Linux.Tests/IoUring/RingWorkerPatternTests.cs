using Microsoft.Win32.SafeHandles;
using VirtioFsd.Linux.IoUring;
using static VirtioFsd.Linux.Tests.IoUring.RingTestSupport;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>
/// The shape the daemon's queue worker will have: one ring, a multishot poll on the kick eventfd,
/// file reads in flight at the same time, and a single SubmitAndWait that sleeps until either.
/// </summary>
// Unsafe for native pointers handed to the kernel; sound because every buffer is a NativeBuffer
// that stays alive until the completions that use it have been reaped.
public sealed unsafe class RingWorkerPatternTests : IDisposable
{
    private const ulong KickTag = 1UL << 63;
    private readonly TempDirectory _dir = new("virtiofsd-io-uring-worker-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(0u)]
    [InlineData(IoUringConstants.SetupSingleIssuer | IoUringConstants.SetupDeferTaskrun)]
    public void KicksAndReadsShareOneWait(uint setupFlags)
    {
        const int Kicks = 20, ReadsPerKick = 4, Block = 4096;
        byte[] content = new byte[ReadsPerKick * Block];
        Random.Shared.NextBytes(content);
        string path = _dir.Combine("f");
        File.WriteAllBytes(path, content);
        using SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        int fd = (int)file.DangerousGetHandle();
        int kickFd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        Assert.True(kickFd >= 0);
        using var kick = new UnixFd(kickFd);
        using var buffers = new NativeBuffer(Kicks * ReadsPerKick * Block);
        var iovs = new NativeBuffer(Kicks * ReadsPerKick * sizeof(IoVec));
        using (iovs)
        using (Ring ring = CreateRing(16, new RingOptions { SetupFlags = setupFlags }))
        {
            Sqe(ring).PollAdd(kickFd, IoUringConstants.PollIn, multishot: true, KickTag);

            // The "guest" kicks from another thread, one request per kick (kicks may coalesce).
            var guest = new Thread(() =>
            {
                for (int i = 0; i < Kicks; i++)
                {
                    Libc.EventFdWrite(kickFd, 1);
                }
            });
            guest.Start();

            ulong requests = 0;
            int readsDone = 0;
            var iov = (IoVec*)iovs.Pointer;
            while (requests < Kicks || (ulong)readsDone < requests * ReadsPerKick)
            {
                Assert.True(ring.SubmitAndWait(1, null) >= 0);
                while (ring.TryGetCompletion(out IoUringCqe cqe))
                {
                    if (cqe.UserData == KickTag)
                    {
                        if (!cqe.HasMore)
                        {
                            Sqe(ring).PollAdd(kickFd, IoUringConstants.PollIn, multishot: true, KickTag); // re-arm
                        }
                        if (Libc.EventFdRead(kickFd, out ulong n) < 0)
                        {
                            continue; // spurious wakeup: counter already drained
                        }
                        for (ulong r = requests; r < requests + n; r++)
                        {
                            for (int j = 0; j < ReadsPerKick; j++)
                            {
                                int slot = (int)r * ReadsPerKick + j;
                                iov[slot] = buffers.AsIoVec(slot * Block, Block);
                                Assert.True(ring.TryGetSqe(out SubmissionEntry sqe));
                                sqe.Readv(fd, &iov[slot], 1, (long)j * Block, (ulong)slot);
                            }
                        }
                        requests += n;
                    }
                    else
                    {
                        Assert.Equal(Block, cqe.Result);
                        readsDone++;
                    }
                }
            }
            guest.Join();
            Assert.Equal((ulong)Kicks, requests);
            for (int r = 0; r < Kicks; r++)
            {
                Assert.True(buffers.Span.Slice(r * ReadsPerKick * Block, content.Length).SequenceEqual(content));
            }
            Assert.Equal(1, ring.InFlight); // only the kick poll is left armed, and Dispose cancels it
        }
    }

    [Fact]
    public void DisposeDiscardsUnreapedCompletionsAndCancelsThePending()
    {
        int kickFd = Libc.EventFd(0, Libc.EFD_CLOEXEC);
        using var kick = new UnixFd(kickFd);
        Ring ring = CreateRing(8, new RingOptions { CqEntries = 8 });
        for (int i = 0; i < 12; i++)
        {
            Sqe(ring).Nop((ulong)i); // 12 > CQ size: some wait in the overflow list
        }
        Sqe(ring).PollAdd(kickFd, IoUringConstants.PollIn, multishot: false, 100);
        while (ring.PendingSubmissions > 0)
        {
            Assert.True(ring.Submit() >= 0);
        }
        Assert.Equal(13, ring.InFlight);
        ring.Dispose();
        Assert.Equal(-1, ring.Fd);
    }
}
