using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>The 16-bit avail and used indexes: wrap-around, runaway detection, restart.</summary>
public class RingIndexTests
{
    [Fact]
    public void Indexes_wrap_around_at_65536()
    {
        using var h = new VirtqueueHarness(size: 8);
        h.Driver.StartAt(65530, 65531);
        using SplitVirtqueue q = h.CreateQueue(lastAvailIndex: 65530);
        Assert.Equal(65531, q.NextUsedIndex);
        for (int round = 0; round < 5; round++)
        {
            var heads = new List<ushort>();
            for (int i = 0; i < 3; i++)
            {
                heads.Add(h.Driver.AddChain([h.Buffer(1, [(byte)((round * 3) + i)])], [h.Buffer(4)]));
            }
            for (int i = 0; i < 3; i++)
            {
                Assert.True(q.TryPopChain(out DescriptorChain chain));
                Assert.Equal(heads[i], chain.HeadIndex);
                Assert.Equal(new[] { (byte)((round * 3) + i) }, VirtqueueHarness.Gather(chain.Readable));
                q.AddUsed(chain.HeadIndex, (uint)i);
            }
            Assert.False(q.TryPopChain(out _));
            for (int i = 0; i < 3; i++)
            {
                Assert.True(h.Driver.TryGetUsed(out DriverUsedElement used));
                Assert.Equal(heads[i], used.Id);
                Assert.Equal((uint)i, used.Length);
            }
        }
        Assert.Equal(unchecked((ushort)(65530 + 15)), q.LastAvailIndex);
        Assert.Equal(unchecked((ushort)(65531 + 15)), h.Driver.ReadUsedIndex());
        Assert.False(q.IsBroken);
    }

    [Fact]
    public void A_full_ring_is_accepted()
    {
        using var h = new VirtqueueHarness(size: 4);
        h.Driver.StartAt(65534, 65534);
        for (int i = 0; i < 4; i++)
        {
            h.Driver.AddChain([h.Buffer(1, [(byte)i])], []);
        }
        using SplitVirtqueue q = h.CreateQueue(lastAvailIndex: 65534);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(q.TryPopChain(out _));
        }
        Assert.False(q.IsBroken);
    }

    [Theory]
    [InlineData((ushort)0, (ushort)9)]
    [InlineData((ushort)65530, (ushort)3)]    // 9 ahead across the wrap
    [InlineData((ushort)10, (ushort)9)]       // "behind": 65535 ahead
    public void An_avail_index_more_than_the_queue_size_ahead_is_refused(ushort lastAvail, ushort availIdx)
    {
        using var h = new VirtqueueHarness(size: 8);
        h.Driver.SetAvailIndex(availIdx);
        using SplitVirtqueue q = h.CreateQueue(lastAvailIndex: lastAvail);
        h.AssertBroken(q, "more than the queue size ahead");
    }

    [Fact]
    public void A_restarted_queue_continues_from_the_saved_avail_index_and_the_ring_used_index()
    {
        using var h = new VirtqueueHarness(size: 8);
        ushort first = h.Driver.AddChain([h.Buffer(1, [1])], []);
        ushort second = h.Driver.AddChain([h.Buffer(1, [2])], []);
        ushort saved;
        using (SplitVirtqueue q = h.CreateQueue())
        {
            Assert.True(q.TryPopChain(out DescriptorChain chain));
            Assert.Equal(first, chain.HeadIndex);
            q.AddUsed(chain.HeadIndex, 0);
            saved = q.LastAvailIndex; // GET_VRING_BASE
        }
        using (SplitVirtqueue q = h.CreateQueue(lastAvailIndex: saved)) // SET_VRING_BASE
        {
            Assert.Equal(1, q.NextUsedIndex);
            Assert.True(q.TryPopChain(out DescriptorChain chain));
            Assert.Equal(second, chain.HeadIndex);
            q.AddUsed(chain.HeadIndex, 0);
        }
        Assert.True(h.Driver.TryGetUsed(out DriverUsedElement a));
        Assert.True(h.Driver.TryGetUsed(out DriverUsedElement b));
        Assert.Equal((first, second), (a.Id, b.Id));
    }

    [Fact]
    public void An_out_of_range_used_head_from_the_device_is_ignored_and_logged()
    {
        using var h = new VirtqueueHarness(size: 8);
        using SplitVirtqueue q = h.CreateQueue();
        q.AddUsed(8, 0);
        Assert.Equal(0, h.Driver.ReadUsedIndex());
        Assert.Single(h.Log.Lines);
        Assert.False(q.IsBroken);
    }
}
