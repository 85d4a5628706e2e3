using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>Well-formed chains: what the device gets out of them.</summary>
public class DescriptorChainTests
{
    [Fact]
    public void Nothing_available_pops_nothing()
    {
        using var h = new VirtqueueHarness();
        using SplitVirtqueue q = h.CreateQueue();
        Assert.False(q.TryPopChain(out _));
        Assert.False(q.IsBroken);
    }

    [Fact]
    public void A_direct_chain_yields_readable_then_writable_buffers_in_order()
    {
        using var h = new VirtqueueHarness();
        DriverBuffer r1 = h.Buffer(5, "hello"u8);
        DriverBuffer r2 = h.Buffer(6, " world"u8);
        DriverBuffer w1 = h.Buffer(64);
        ushort head = h.Driver.AddChain([r1, r2], [w1]);
        using SplitVirtqueue q = h.CreateQueue();

        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(head, chain.HeadIndex);
        Assert.Equal(2, chain.Readable.Length);
        Assert.Equal(11u, chain.ReadableLength);
        Assert.Equal("hello world"u8.ToArray(), VirtqueueHarness.Gather(chain.Readable));
        Assert.Single(chain.Writable.ToArray());
        Assert.Equal(64u, chain.WritableLength);
        Assert.Equal(1, q.LastAvailIndex);
        Assert.False(q.TryPopChain(out _));
    }

    [Fact]
    public void Device_writes_land_in_the_guest_buffers()
    {
        using var h = new VirtqueueHarness();
        DriverBuffer w = h.Buffer(16);
        h.Driver.AddChain([], [w]);
        using SplitVirtqueue q = h.CreateQueue();
        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(0u, chain.ReadableLength);
        Assert.Equal(3u, VirtqueueHarness.Scatter(chain.Writable, "abc"u8));
        var back = new byte[3];
        h.Ram.Read(w.GuestPhysAddr, back);
        Assert.Equal("abc"u8.ToArray(), back);
    }

    [Fact]
    public void An_indirect_chain_yields_the_buffers_of_its_table()
    {
        using var h = new VirtqueueHarness();
        DriverBuffer r = h.Buffer(4, "ping"u8);
        DriverBuffer w1 = h.Buffer(8);
        DriverBuffer w2 = h.Buffer(8);
        ulong table = h.Allocator.Allocate(16 * 3, 16);
        ushort head = h.Driver.AddIndirectChain([r], [w1, w2], table);
        using SplitVirtqueue q = h.CreateQueue();

        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(head, chain.HeadIndex);
        Assert.Equal("ping"u8.ToArray(), VirtqueueHarness.Gather(chain.Readable));
        Assert.Equal(2, chain.Writable.Length);
        Assert.Equal(16u, chain.WritableLength);
    }

    [Fact]
    public void The_write_flag_on_a_descriptor_naming_an_indirect_table_is_ignored()
    {
        // virtio 1.2 §2.7.5.3.2: "The device MUST ignore the write-only flag ... in the descriptor that refers to an indirect table."
        using var h = new VirtqueueHarness();
        DriverBuffer r = h.Buffer(4, "ping"u8);
        ulong table = h.Allocator.Allocate(16, 16);
        h.Driver.WriteDescriptorAt(table, 0, r.GuestPhysAddr, r.Length, 0, 0);
        h.Driver.WriteDescriptor(3, table, 16, 4 | 2, 0);
        h.Driver.PushAvail(3);
        using SplitVirtqueue q = h.CreateQueue();
        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(4u, chain.ReadableLength);
        Assert.Equal(0u, chain.WritableLength);
    }

    [Fact]
    public void Direct_descriptors_may_lead_into_an_indirect_table()
    {
        using var h = new VirtqueueHarness();
        DriverBuffer r = h.Buffer(2, "ab"u8);
        DriverBuffer w = h.Buffer(8);
        ulong table = h.Allocator.Allocate(16, 16);
        h.Driver.WriteDescriptorAt(table, 0, w.GuestPhysAddr, w.Length, 2, 0);
        h.Driver.WriteDescriptor(0, r.GuestPhysAddr, r.Length, 1, 1);
        h.Driver.WriteDescriptor(1, table, 16, 4, 0);
        h.Driver.PushAvail(0);
        using SplitVirtqueue q = h.CreateQueue();
        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(2u, chain.ReadableLength);
        Assert.Equal(8u, chain.WritableLength);
    }

    [Fact]
    public void A_chain_as_long_as_the_queue_is_accepted()
    {
        using var h = new VirtqueueHarness(size: 8);
        var buffers = Enumerable.Range(0, 8).Select(i => h.Buffer(1, [(byte)i])).ToArray();
        h.Driver.AddChain(buffers, []);
        using SplitVirtqueue q = h.CreateQueue();
        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 5, 6, 7 }, VirtqueueHarness.Gather(chain.Readable));
    }

    [Fact]
    public void An_indirect_table_longer_than_the_queue_is_accepted()
    {
        // The TTL of an indirect walk is the table's entry count, not the queue size.
        using var h = new VirtqueueHarness(size: 4);
        var buffers = Enumerable.Range(0, 20).Select(i => h.Buffer(1, [(byte)i])).ToArray();
        ulong table = h.Allocator.Allocate(16 * 20, 16);
        h.Driver.AddIndirectChain(buffers, [], table);
        using SplitVirtqueue q = h.CreateQueue();
        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(20, chain.Readable.Length);
    }

    [Fact]
    public void A_buffer_crossing_adjacent_regions_is_split_at_the_edge()
    {
        using var h = new VirtqueueHarness(twoRegions: true);
        ulong edge = VirtqueueHarness.RamBase + (VirtqueueHarness.RamSize / 2);
        byte[] content = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        h.Ram.Write(edge - 40, content);
        h.Driver.AddChain([new DriverBuffer(edge - 40, 100)], []);
        using SplitVirtqueue q = h.CreateQueue();
        Assert.True(q.TryPopChain(out DescriptorChain chain));
        Assert.Equal(2, chain.Readable.Length);
        Assert.Equal(40u, (uint)chain.Readable[0].Length);
        Assert.Equal(60u, (uint)chain.Readable[1].Length);
        Assert.Equal(content, VirtqueueHarness.Gather(chain.Readable));
    }

    [Fact]
    public void A_reused_chain_object_is_refilled()
    {
        using var h = new VirtqueueHarness();
        h.Driver.AddChain([h.Buffer(3, "one"u8)], [h.Buffer(8)]);
        h.Driver.AddChain([h.Buffer(3, "two"u8), h.Buffer(1, "!"u8)], []);
        using SplitVirtqueue q = h.CreateQueue();
        var chain = new DescriptorChain();
        Assert.True(q.TryPopChain(chain));
        Assert.Equal("one"u8.ToArray(), VirtqueueHarness.Gather(chain.Readable));
        Assert.Equal(8u, chain.WritableLength);
        Assert.True(q.TryPopChain(chain));
        Assert.Equal("two!"u8.ToArray(), VirtqueueHarness.Gather(chain.Readable));
        Assert.Equal(0, chain.Writable.Length);
        Assert.Equal(0u, chain.WritableLength);
    }

    [Fact]
    public void A_disposed_queue_pops_nothing()
    {
        using var h = new VirtqueueHarness();
        h.Driver.AddChain([h.Buffer(3, "one"u8)], []);
        SplitVirtqueue q = h.CreateQueue();
        q.Dispose();
        Assert.False(q.TryPopChain(out _));
        Assert.False(q.IsBroken);
    }
}
