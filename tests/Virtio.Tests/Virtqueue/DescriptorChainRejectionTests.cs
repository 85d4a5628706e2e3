using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>
/// Hostile chains: each breaks the queue with one log line naming the rule, and a broken queue
/// pops nothing more (libvhost-user's vu_panic behaviour).
/// </summary>
public class DescriptorChainRejectionTests
{
    private const ushort Next = 1;
    private const ushort Write = 2;
    private const ushort Indirect = 4;

    [Fact]
    public void A_loop_in_the_ring_table_is_stopped_by_the_time_to_live()
    {
        using var h = new VirtqueueHarness(size: 8);
        DriverBuffer b = h.Buffer(8);
        h.Driver.WriteDescriptor(0, b.GuestPhysAddr, 8, Next, 1);
        h.Driver.WriteDescriptor(1, b.GuestPhysAddr, 8, Next, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "longer than the queue size");
    }

    [Fact]
    public void A_loop_in_an_indirect_table_is_stopped_by_its_entry_count()
    {
        using var h = new VirtqueueHarness(size: 8);
        DriverBuffer b = h.Buffer(8);
        ulong table = h.Allocator.Allocate(32, 16);
        h.Driver.WriteDescriptorAt(table, 0, b.GuestPhysAddr, 8, Next, 1);
        h.Driver.WriteDescriptorAt(table, 1, b.GuestPhysAddr, 8, Next, 0);
        h.Driver.WriteDescriptor(0, table, 32, Indirect, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "longer than its table");
    }

    [Fact]
    public void A_nested_indirect_table_is_refused()
    {
        using var h = new VirtqueueHarness();
        DriverBuffer b = h.Buffer(8);
        ulong inner = h.Allocator.Allocate(16, 16);
        ulong outer = h.Allocator.Allocate(16, 16);
        h.Driver.WriteDescriptorAt(inner, 0, b.GuestPhysAddr, 8, 0, 0);
        h.Driver.WriteDescriptorAt(outer, 0, inner, 16, Indirect, 0);
        h.Driver.WriteDescriptor(0, outer, 16, Indirect, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "nested indirect");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(24u)]
    [InlineData(15u)]
    public void An_indirect_table_length_that_is_zero_or_not_a_multiple_of_16_is_refused(uint length)
    {
        using var h = new VirtqueueHarness();
        ulong table = h.Allocator.Allocate(32, 16);
        h.Driver.WriteDescriptorAt(table, 0, h.Buffer(8).GuestPhysAddr, 8, 0, 0);
        h.Driver.WriteDescriptor(0, table, length, Indirect, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "not a non-zero multiple of 16");
    }

    [Fact]
    public void Indirect_together_with_next_is_refused()
    {
        using var h = new VirtqueueHarness();
        ulong table = h.Allocator.Allocate(16, 16);
        DriverBuffer b = h.Buffer(8);
        h.Driver.WriteDescriptorAt(table, 0, b.GuestPhysAddr, 8, 0, 0);
        h.Driver.WriteDescriptor(0, table, 16, Indirect | Next, 1);
        h.Driver.WriteDescriptor(1, b.GuestPhysAddr, 8, 0, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "both INDIRECT and NEXT");
    }

    [Fact]
    public void A_next_index_beyond_the_queue_is_refused()
    {
        using var h = new VirtqueueHarness(size: 8);
        DriverBuffer b = h.Buffer(8);
        h.Driver.WriteDescriptor(0, b.GuestPhysAddr, 8, Next, 8);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "next index 8 beyond table size 8");
    }

    [Fact]
    public void A_next_index_beyond_an_indirect_table_is_refused()
    {
        using var h = new VirtqueueHarness(size: 8);
        DriverBuffer b = h.Buffer(8);
        ulong table = h.Allocator.Allocate(32, 16);
        h.Driver.WriteDescriptorAt(table, 0, b.GuestPhysAddr, 8, Next, 2);
        h.Driver.WriteDescriptor(0, table, 32, Indirect, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "next index 2 beyond table size 2");
    }

    [Fact]
    public void A_head_index_beyond_the_queue_is_refused()
    {
        using var h = new VirtqueueHarness(size: 8);
        h.Driver.PushAvail(8);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "names descriptor 8 beyond queue size 8");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_zero_length_buffer_is_refused(bool indirect)
    {
        using var h = new VirtqueueHarness();
        DriverBuffer b = h.Buffer(8);
        if (indirect)
        {
            ulong table = h.Allocator.Allocate(32, 16);
            h.Driver.AddIndirectChain([b], [new DriverBuffer(b.GuestPhysAddr, 0)], table);
        }
        else
        {
            h.Driver.AddChain([b], [new DriverBuffer(b.GuestPhysAddr, 0)]);
        }
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "zero-length buffer");
    }

    [Fact]
    public void A_readable_buffer_after_a_writable_one_is_refused()
    {
        using var h = new VirtqueueHarness();
        DriverBuffer b = h.Buffer(8);
        h.Driver.WriteDescriptor(0, b.GuestPhysAddr, 8, Write | Next, 1);
        h.Driver.WriteDescriptor(1, b.GuestPhysAddr, 8, 0, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "readable buffer after a device-writable");
    }

    /// <summary>
    /// Builds an indirect chain of <paramref name="count"/> device-writable 512 KiB buffers, all the
    /// same guest memory (the guest may alias buffers), the last one <paramref name="lastShortBy"/> shorter.
    /// </summary>
    private static void AddHugeChain(VirtqueueHarness h, int count, uint lastShortBy)
    {
        const uint Half = 0x8_0000;
        DriverBuffer b = h.Buffer(Half);
        ulong table = h.Allocator.Allocate(16UL * (ulong)count, 16);
        for (int i = 0; i < count; i++)
        {
            bool last = i == count - 1;
            h.Driver.WriteDescriptorAt(table, i, b.GuestPhysAddr, last ? Half - lastShortBy : Half, last ? Write : (ushort)(Write | Next),
                (ushort)(last ? 0 : i + 1));
        }
        h.Driver.WriteDescriptor(0, table, (uint)(16 * count), Indirect, 0);
        h.Driver.PushAvail(0);
    }

    [Fact]
    public void A_chain_longer_than_4_GiB_in_total_is_refused()
    {
        using var h = new VirtqueueHarness();
        AddHugeChain(h, 8192, 0); // 8192 * 512 KiB = 4 GiB, one byte too many for a u32 length
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "exceeds 4 GiB");
    }

    [Fact]
    public void A_chain_of_4_GiB_minus_one_is_accepted()
    {
        using var h = new VirtqueueHarness();
        AddHugeChain(h, 8192, 1);
        using SplitVirtqueue q = h.CreateQueue();
        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(uint.MaxValue, chain.WritableLength);
        Assert.Equal(8192, chain.Writable.Length);
    }

    [Theory]
    [InlineData(0x1000UL, 8u)]                                         // below guest RAM
    [InlineData(VirtqueueHarness.RamBase + VirtqueueHarness.RamSize - 4, 8u)] // running off the end
    [InlineData(VirtqueueHarness.RamBase + VirtqueueHarness.RamSize, 1u)]     // just past the end
    [InlineData(ulong.MaxValue - 3, 8u)]                                // wrapping the address space
    public void A_buffer_outside_guest_memory_is_refused(ulong gpa, uint length)
    {
        using var h = new VirtqueueHarness();
        h.Driver.AddChain([], [new DriverBuffer(gpa, length)]);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "not inside guest memory");
    }

    [Fact]
    public void An_indirect_table_outside_guest_memory_is_refused()
    {
        using var h = new VirtqueueHarness();
        h.Driver.WriteDescriptor(0, VirtqueueHarness.RamBase + VirtqueueHarness.RamSize - 16, 32, Indirect, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "not inside one guest memory region");
    }

    [Fact]
    public void An_indirect_table_split_across_regions_is_refused()
    {
        // Tables are read as one array, so they must be contiguous in one region.
        using var h = new VirtqueueHarness(twoRegions: true);
        ulong edge = VirtqueueHarness.RamBase + (VirtqueueHarness.RamSize / 2);
        h.Driver.WriteDescriptor(0, edge - 16, 32, Indirect, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        h.AssertBroken(q, "not inside one guest memory region");
    }

    [Fact]
    public void A_broken_queue_stays_broken_and_writes_nothing()
    {
        using var h = new VirtqueueHarness();
        h.Driver.PushAvail(200);
        h.Driver.AddChain([h.Buffer(4, "good"u8)], []);
        using SplitVirtqueue q = h.CreateQueue();
        Assert.False(q.TryPopChain(out _));
        Assert.True(q.IsBroken);
        Assert.False(q.TryPopChain(out _));
        q.AddUsed(0, 4);
        Assert.Equal(0, h.Driver.ReadUsedIndex());
        Assert.False(q.NotifyIfNeeded());
        Assert.False(q.EnableNotifications());
        Assert.Single(h.Log.Lines); // one line, not one per attempt
    }
}
