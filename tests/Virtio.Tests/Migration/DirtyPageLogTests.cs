using VirtioFsd.TestSupport;
using VirtioFsd.Virtio.Migration;
using VirtioFsd.Virtio.Tests.Virtqueue;
using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Migration;

/// <summary>
/// The dirty page log against a real memfd bitmap as QEMU shares it: the right bits, nothing outside the bitmap, atomic
/// under concurrent writers, no mark into a log after it was replaced, and a queue marking exactly the pages a reply
/// wrote and its used ring entry.
/// </summary>
public sealed class DirtyPageLogTests : IDisposable
{
    private readonly LogCollector _sink = new();
    private readonly DirtyPageLog _log;

    public DirtyPageLogTests() => _log = new DirtyPageLog(_sink.Logger);

    public void Dispose() => _log.Dispose();

    [Fact]
    public void Marks_the_pages_a_range_touches_and_nothing_else()
    {
        using var bitmap = new FrontendDirtyLog(1 << 20);
        Assert.Equal(0, _log.Replace(bitmap.Fd, bitmap.Size, 0));
        _log.SetLogAll(true);
        _log.Mark(0x5000, 1);
        _log.Mark(0x1fff, 2);
        _log.Mark(0x20000, 0x2000);
        Assert.Equal([0x1000UL, 0x2000, 0x5000, 0x20000, 0x21000], bitmap.DirtyPages());
    }

    [Fact]
    public void Nothing_is_marked_without_log_all_or_without_a_log()
    {
        _log.SetLogAll(true);
        _log.Mark(0x1000, 10); // no log yet: nothing to do, no failure
        using var bitmap = new FrontendDirtyLog(1 << 20);
        Assert.Equal(0, _log.Replace(bitmap.Fd, bitmap.Size, 0));
        _log.SetLogAll(false);
        _log.Mark(0x1000, 10);
        Assert.Empty(bitmap.DirtyPages());
        Assert.False(_log.IsActive);
    }

    [Fact]
    public void A_range_beyond_the_bitmap_sets_only_bits_inside_it_and_says_so_once()
    {
        using var bitmap = new FrontendDirtyLog(64 * 4096); // 8 bytes: pages 0..63
        Assert.Equal(0, _log.Replace(bitmap.Fd, bitmap.Size, 0));
        _log.SetLogAll(true);
        _log.Mark(62 * 4096, 4 * 4096);
        _log.Mark(ulong.MaxValue - 10, 100);
        _log.Mark(1UL << 40, 1);
        Assert.Equal([62 * 4096UL, 63 * 4096], bitmap.DirtyPages());
        Assert.Single(_sink.Lines, l => l.Contains("does not cover", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0UL, 0UL)]          // empty
    [InlineData(12UL, 0UL)]         // not a whole number of u64 chunks
    [InlineData(8UL, 4UL)]          // misaligned offset
    [InlineData(4096UL * 2, 0UL)]   // beyond the file
    [InlineData(8UL, 4096UL * 2)]   // offset beyond the file
    public void A_log_that_does_not_fit_its_file_or_the_format_is_refused(ulong size, ulong offset)
    {
        using var bitmap = new FrontendDirtyLog(4096UL * 8 * 4096); // a 4 KiB file: 32768 pages
        Assert.Equal(4096UL, bitmap.Size);
        Assert.True(_log.Replace(bitmap.Fd, size, offset) < 0);
        Assert.Equal(0UL, _log.Size);
    }

    [Fact]
    public void Concurrent_writers_lose_no_bit()
    {
        using var bitmap = new FrontendDirtyLog(4096UL * 4096);
        Assert.Equal(0, _log.Replace(bitmap.Fd, bitmap.Size, 0));
        _log.SetLogAll(true);
        // Four threads mark interleaved pages that share words: a plain read-modify-write would drop bits.
        Parallel.For(0, 4, t =>
        {
            for (ulong page = (ulong)t; page < 4096; page += 4)
            {
                _log.Mark(page * 4096, 1);
            }
        });
        Assert.Equal(4096, bitmap.DirtyPages().Count);
    }

    [Fact]
    public async Task After_a_replacement_returns_the_old_log_is_never_written_again()
    {
        using var first = new FrontendDirtyLog(4096UL * 1024);
        using var second = new FrontendDirtyLog(4096UL * 1024);
        Assert.Equal(0, _log.Replace(first.Fd, first.Size, 0));
        _log.SetLogAll(true);
        using var stop = new CancellationTokenSource();
        Task writers = Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            ulong page = 0;
            while (!stop.IsCancellationRequested)
            {
                _log.Mark((page++ % 1024) * 4096, 1);
            }
        })));
        await Task.Delay(50);
        Assert.Equal(0, _log.Replace(second.Fd, second.Size, 0));
        first.Clear();
        await Task.Delay(50);
        await stop.CancelAsync();
        await writers;
        Assert.Empty(first.DirtyPages());
        Assert.NotEmpty(second.DirtyPages());
    }

    [Fact]
    public void A_queue_marks_the_bytes_a_reply_wrote_and_its_used_ring_entry()
    {
        using var h = new VirtqueueHarness(size: 16);
        using var bitmap = new FrontendDirtyLog(VirtqueueHarness.RamBase + VirtqueueHarness.RamSize);
        Assert.Equal(0, _log.Replace(bitmap.Fd, bitmap.Size, 0));
        SplitVirtqueue queue = h.CreateQueue(dirtyLog: _log, logUsedRing: true);
        // A request popped before logging starts and answered after it: its reply pages are still marked.
        DriverBuffer request = h.Buffer(64, new byte[64]);
        ulong replyArea = h.Allocator.Allocate(3 * 4096, 4096);
        DriverBuffer[] reply = [new(replyArea, 4096), new(replyArea + 4096, 4096), new(replyArea + 8192, 4096)];
        h.Driver.AddChain([request], reply);
        Assert.True(queue.TryPopChain(out DescriptorChain chain));
        Assert.Equal(3, chain.WritableGuestRanges.Length);
        _log.SetLogAll(true);
        // 5000 bytes written: the first page and part of the second; the third was never touched.
        queue.AddUsed(chain.HeadIndex, 5000);
        List<ulong> dirty = bitmap.DirtyPages();
        Assert.Contains(replyArea, dirty);
        Assert.Contains(replyArea + 4096, dirty);
        Assert.DoesNotContain(replyArea + 8192, dirty);
        Assert.DoesNotContain(request.GuestPhysAddr & ~4095UL, dirty.Where(p => p != (h.Rings.UsedGpa & ~4095UL)));
        Assert.Contains(h.Rings.UsedGpa & ~4095UL, dirty); // used->idx and the element
    }

    [Fact]
    public void Without_vring_log_the_used_ring_is_not_marked_and_switching_it_on_applies_to_the_running_queue()
    {
        using var q = new LoggedQueue(_log);
        (VirtqueueHarness h, FrontendDirtyLog bitmap, SplitVirtqueue queue) = (q.Harness, q.Bitmap, q.Queue);
        ulong usedPage = h.Rings.UsedGpa & ~4095UL;
        ulong replyArea = h.Allocator.Allocate(4096, 4096);
        h.Driver.AddChain([h.Buffer(16)], [new DriverBuffer(replyArea, 100)]);
        Assert.True(queue.TryPopChain(out DescriptorChain chain));
        queue.AddUsed(chain.HeadIndex, 0);
        Assert.Empty(bitmap.DirtyPages()); // nothing written, ring not logged
        // The log's used ring address may be anywhere the front-end likes (log_guest_addr): marks follow it.
        queue.SetUsedRingLogging(true, 0x40000);
        h.Driver.AddChain([h.Buffer(16)], [new DriverBuffer(replyArea, 100)]);
        Assert.True(queue.TryPopChain(out chain));
        queue.AddUsed(chain.HeadIndex, 10);
        Assert.Equal([0x40000UL, replyArea], bitmap.DirtyPages().Order().ToList());
        Assert.DoesNotContain(usedPage, bitmap.DirtyPages().Where(p => p != replyArea));
    }
    [Fact]
    public void A_head_reused_by_chains_of_other_lengths_marks_only_the_last_chains_pages()
    {
        // Chains of one or two writable buffers keep their ranges in the queue's flat array, longer ones in an array of
        // the head's own: a head that goes from one kind to the other must mark only its current chain's pages.
        using var q = new LoggedQueue(_log);
        VirtqueueHarness h = q.Harness;
        ulong pages = h.Allocator.Allocate(64 * 4096, 4096);
        int[] lengths = [1, 5, 2, 3, 1, 7, 2, 1, 4, 2, 6, 1, 3, 2, 5, 1];
        var kinds = new Dictionary<ushort, HashSet<bool>>();
        int next = 0;
        for (int round = 0; round < 48; round++)
        {
            int n = lengths[round % lengths.Length];
            var reply = new DriverBuffer[n];
            var expected = new List<ulong>();
            for (int i = 0; i < n; i++)
            {
                ulong page = pages + ((ulong)(next++ % 64) * 4096);
                reply[i] = new DriverBuffer(page, 4096);
                expected.Add(page);
            }
            (ushort head, List<ulong> dirty) = q.Serve(reply, (uint)(n * 4096));
            Assert.Equal(expected.Order().ToList(), dirty);
            (kinds.TryGetValue(head, out HashSet<bool>? seen) ? seen : kinds[head] = []).Add(n > 2);
        }
        Assert.Contains(kinds.Values, seen => seen.Count == 2); // some head served both kinds
    }
    [Fact]
    public void A_used_length_beyond_the_chain_or_a_chain_without_writable_buffers_marks_nothing_outside_it()
    {
        // The used length comes from the reply, but the ranges are the guest's: a length past the chain's writable
        // bytes marks only the chain's own pages, and a chain with nothing writable marks none, whether its ranges
        // were kept in the flat array (two or fewer) or in the head's own (more).
        using var q = new LoggedQueue(_log);
        VirtqueueHarness h = q.Harness;
        ulong pages = h.Allocator.Allocate(8 * 4096, 4096);
        foreach (int n in new[] { 0, 1, 2, 3, 5 })
        {
            var reply = new DriverBuffer[n];
            for (int i = 0; i < n; i++)
            {
                reply[i] = new DriverBuffer(pages + ((ulong)i * 4096), 100);
            }
            List<ulong> expected = [.. Enumerable.Range(0, n).Select(i => pages + ((ulong)i * 4096))];
            Assert.Equal(expected, q.Serve(reply, uint.MaxValue).Dirty);
        }
    }

    /// <summary>A 16-entry queue whose replies are logged (log-all on, the used ring not logged) into a bitmap over all
    /// of the harness's RAM.</summary>
    private sealed class LoggedQueue : IDisposable
    {
        public LoggedQueue(DirtyPageLog log)
        {
            Harness = new VirtqueueHarness(size: 16);
            Bitmap = new FrontendDirtyLog(VirtqueueHarness.RamBase + VirtqueueHarness.RamSize);
            Assert.Equal(0, log.Replace(Bitmap.Fd, Bitmap.Size, 0));
            log.SetLogAll(true);
            Queue = Harness.CreateQueue(dirtyLog: log, logUsedRing: false);
        }

        public VirtqueueHarness Harness { get; }

        public FrontendDirtyLog Bitmap { get; }

        public SplitVirtqueue Queue { get; }

        /// <summary>One chain (a 16-byte request, then <paramref name="reply"/>) popped and completed with
        /// <paramref name="usedLength"/>: its head and the pages marked, in order; then the used entry is reaped and the
        /// bitmap cleared for the next.</summary>
        public (ushort Head, List<ulong> Dirty) Serve(DriverBuffer[] reply, uint usedLength)
        {
            Harness.Driver.AddChain([Harness.Buffer(16)], reply);
            Assert.True(Queue.TryPopChain(out DescriptorChain chain));
            Queue.AddUsed(chain.HeadIndex, usedLength);
            List<ulong> dirty = [.. Bitmap.DirtyPages().Order()];
            Assert.True(Harness.Driver.TryGetUsed(out _));
            Bitmap.Clear();
            return (chain.HeadIndex, dirty);
        }

        public void Dispose()
        {
            Bitmap.Dispose();
            Harness.Dispose();
        }
    }
}
