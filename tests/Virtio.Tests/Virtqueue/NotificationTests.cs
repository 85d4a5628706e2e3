using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>Interrupt and kick suppression: EVENT_IDX (used_event / avail_event) and the flags without it.</summary>
public class NotificationTests
{
    /// <summary>Pops <paramref name="count"/> one-buffer chains the driver adds first.</summary>
    private static List<DescriptorChain> AddAndPop(VirtqueueHarness h, SplitVirtqueue q, int count)
    {
        for (int i = 0; i < count; i++)
        {
            h.Driver.AddChain([], [h.Buffer(8)]);
        }
        var chains = new List<DescriptorChain>();
        for (int i = 0; i < count; i++)
        {
            Assert.True(q.TryPopChain(out DescriptorChain c));
            chains.Add(c);
        }
        return chains;
    }

    [Fact]
    public void With_event_idx_the_guest_is_signalled_only_when_the_used_index_crosses_used_event()
    {
        using var h = new VirtqueueHarness(size: 16, eventIdx: true);
        using SplitVirtqueue q = h.CreateQueue();
        List<DescriptorChain> chains = AddAndPop(h, q, 12);

        q.AddUsed(chains[0].HeadIndex, 0);          // used idx 1
        Assert.True(q.NotifyIfNeeded());             // the first signal is always sent
        Assert.True(h.Rings.TryConsumeCall());
        Assert.False(q.NotifyIfNeeded());            // nothing new since
        Assert.False(h.Rings.TryConsumeCall());

        h.Driver.SetUsedEvent(3);                    // "interrupt me once element 3 is used"
        q.AddUsed(chains[1].HeadIndex, 0);           // used idx 2
        Assert.False(q.NotifyIfNeeded());
        q.AddUsed(chains[2].HeadIndex, 0);           // used idx 3
        Assert.False(q.NotifyIfNeeded());
        Assert.False(h.Rings.TryConsumeCall());
        q.AddUsed(chains[3].HeadIndex, 0);           // used idx 4: element 3 is now used
        Assert.True(q.NotifyIfNeeded());
        Assert.True(h.Rings.TryConsumeCall());

        h.Driver.SetUsedEvent(5);                    // crossed by a batch of three (4 -> 7)
        for (int i = 4; i < 7; i++)
        {
            q.AddUsed(chains[i].HeadIndex, 0);
        }
        Assert.True(q.NotifyIfNeeded());
        Assert.True(h.Rings.TryConsumeCall());

        h.Driver.SetUsedEvent(10);                   // not reached by 7 -> 9
        q.AddUsed(chains[7].HeadIndex, 0);
        q.AddUsed(chains[8].HeadIndex, 0);
        Assert.False(q.NotifyIfNeeded());
        Assert.False(h.Rings.TryConsumeCall());
    }

    [Fact]
    public void Used_event_comparisons_survive_the_16_bit_wrap()
    {
        using var h = new VirtqueueHarness(size: 8, eventIdx: true);
        h.Driver.StartAt(65533, 65533);
        using SplitVirtqueue q = h.CreateQueue(lastAvailIndex: 65533);
        List<DescriptorChain> chains = AddAndPop(h, q, 6);
        q.AddUsed(chains[0].HeadIndex, 0);           // 65534
        Assert.True(q.NotifyIfNeeded());
        h.Driver.SetUsedEvent(1);                    // wants element 1, two past the wrap
        q.AddUsed(chains[1].HeadIndex, 0);           // 65535
        q.AddUsed(chains[2].HeadIndex, 0);           // 0
        q.AddUsed(chains[3].HeadIndex, 0);           // 1
        Assert.False(q.NotifyIfNeeded());
        q.AddUsed(chains[4].HeadIndex, 0);           // 2: element 1 used
        Assert.True(q.NotifyIfNeeded());
    }

    [Fact]
    public void NeedEvent_matches_vring_need_event()
    {
        // vring_need_event(event, new, old): event in [old, new) modulo 2^16.
        Assert.True(SplitVirtqueue.NeedEvent(5, 6, 5));
        Assert.False(SplitVirtqueue.NeedEvent(6, 6, 5));
        Assert.False(SplitVirtqueue.NeedEvent(4, 6, 5));
        Assert.True(SplitVirtqueue.NeedEvent(65535, 1, 65530));
        Assert.False(SplitVirtqueue.NeedEvent(1, 1, 65530));
    }

    [Fact]
    public void With_event_idx_avail_event_follows_pops_and_is_rewritten_on_enable()
    {
        using var h = new VirtqueueHarness(size: 16, eventIdx: true);
        using SplitVirtqueue q = h.CreateQueue();
        h.Driver.AddChain([], [h.Buffer(8)]);
        h.Driver.AddChain([], [h.Buffer(8)]);
        Assert.True(q.TryPopChain(out _));
        Assert.Equal(1, h.Driver.ReadAvailEvent());  // "kick me when you add entry 1"

        q.DisableNotifications();
        Assert.True(q.TryPopChain(out _));
        Assert.Equal(1, h.Driver.ReadAvailEvent());  // no longer advanced while disabled

        // avail_event 1 was already passed when the driver published entries 0 and 1, so while
        // the device keeps it there the driver adds entries without kicking.
        h.Driver.AddChain([], [h.Buffer(8)], publish: false);
        Assert.False(h.Driver.PublishAvail());
        h.Driver.AddChain([], [h.Buffer(8)], publish: false);
        Assert.False(h.Driver.PublishAvail());

        Assert.True(q.EnableNotifications());         // entries arrived meanwhile: pop again
        Assert.Equal(2, h.Driver.ReadAvailEvent());
        Assert.True(q.TryPopChain(out _));
        Assert.True(q.TryPopChain(out _));
        Assert.False(q.EnableNotifications());        // nothing left
        Assert.Equal(4, h.Driver.ReadAvailEvent());

        h.Driver.AddChain([], [h.Buffer(8)], publish: false);
        Assert.True(h.Driver.PublishAvail());         // enabled again: the driver kicks
    }

    [Fact]
    public void Without_event_idx_disable_sets_no_notify_and_enable_clears_it()
    {
        using var h = new VirtqueueHarness(size: 16);
        using SplitVirtqueue q = h.CreateQueue();
        q.DisableNotifications();
        Assert.Equal(1, h.Driver.ReadUsedFlags());
        h.Driver.AddChain([], [h.Buffer(8)], publish: false);
        Assert.False(h.Driver.PublishAvail());        // VRING_USED_F_NO_NOTIFY: no kick

        Assert.True(q.EnableNotifications());         // the chain added meanwhile is reported
        Assert.Equal(0, h.Driver.ReadUsedFlags());
        Assert.True(q.TryPopChain(out _));
        Assert.False(q.EnableNotifications());
        h.Driver.AddChain([], [h.Buffer(8)], publish: false);
        Assert.True(h.Driver.PublishAvail());
    }

    [Fact]
    public void Without_event_idx_no_interrupt_suppresses_signals()
    {
        using var h = new VirtqueueHarness(size: 16);
        using SplitVirtqueue q = h.CreateQueue();
        List<DescriptorChain> chains = AddAndPop(h, q, 3);

        h.Driver.SetInterruptsSuppressed(true);
        q.AddUsed(chains[0].HeadIndex, 0);
        Assert.False(q.NotifyIfNeeded());
        Assert.False(h.Rings.TryConsumeCall());

        h.Driver.SetInterruptsSuppressed(false);
        q.AddUsed(chains[1].HeadIndex, 0);
        Assert.True(q.NotifyIfNeeded());
        Assert.True(h.Rings.TryConsumeCall());
        Assert.False(q.NotifyIfNeeded());             // nothing new: no spurious signal
        q.AddUsed(chains[2].HeadIndex, 0);
        Assert.True(q.NotifyIfNeeded());
    }

    [Fact]
    public void A_queue_without_a_call_fd_never_signals()
    {
        using var h = new VirtqueueHarness(size: 16);
        using SplitVirtqueue q = h.CreateQueue(callFd: -1);
        List<DescriptorChain> chains = AddAndPop(h, q, 1);
        q.AddUsed(chains[0].HeadIndex, 0);
        Assert.False(q.NotifyIfNeeded());
        Assert.False(h.Rings.TryConsumeCall());
        Assert.Equal(1, h.Driver.ReadUsedIndex()); // the used entry is still published
    }
}
