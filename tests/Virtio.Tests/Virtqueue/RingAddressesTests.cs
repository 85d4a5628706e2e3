using Serilog;
using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>Ring address translation (SET_VRING_ADDR) and the queue's own check of what it is handed.</summary>
public class RingAddressesTests
{
    private static (ulong Desc, ulong Avail, ulong Used) UserAddrs(VirtqueueHarness h) =>
        (h.Ram.UserAddrOf(h.Rings.DescGpa), h.Ram.UserAddrOf(h.Rings.AvailGpa), h.Ram.UserAddrOf(h.Rings.UsedGpa));

    [Fact]
    public void Rings_inside_guest_memory_translate_to_the_devices_mapping()
    {
        using var h = new VirtqueueHarness(size: 64);
        (ulong d, ulong a, ulong u) = UserAddrs(h);
        Assert.True(RingAddresses.TryTranslate(h.Memory, 64, d, a, u, out RingAddresses rings));
        Assert.True(h.Memory.TryGetContiguous(h.Rings.DescGpa, 16, out nint desc));
        Assert.True(h.Memory.TryGetContiguous(h.Rings.UsedGpa, 8, out nint used));
        Assert.Equal(desc, rings.DescriptorTable);
        Assert.Equal(used, rings.UsedRing);
    }

    [Theory]
    [InlineData((ushort)0)]
    [InlineData((ushort)48)]
    public void A_queue_size_that_is_not_a_power_of_two_is_refused(ushort size)
    {
        using var h = new VirtqueueHarness(size: 64);
        (ulong d, ulong a, ulong u) = UserAddrs(h);
        Assert.False(RingAddresses.TryTranslate(h.Memory, size, d, a, u, out _));
    }

    [Fact]
    public void Misaligned_ring_areas_are_refused()
    {
        using var h = new VirtqueueHarness(size: 64);
        (ulong d, ulong a, ulong u) = UserAddrs(h);
        Assert.False(RingAddresses.TryTranslate(h.Memory, 64, d + 8, a, u, out _));
        Assert.False(RingAddresses.TryTranslate(h.Memory, 64, d, a + 1, u, out _));
        Assert.False(RingAddresses.TryTranslate(h.Memory, 64, d, a, u + 2, out _));
    }

    [Fact]
    public void A_ring_area_running_off_guest_memory_is_refused()
    {
        using var h = new VirtqueueHarness(size: 64);
        (ulong d, ulong a, ulong u) = UserAddrs(h);
        ulong end = h.Ram.Regions[0].UserAddr + h.Ram.Regions[0].Size;
        Assert.True(RingAddresses.TryTranslate(h.Memory, 64, end - (16 * 64), a, u, out _));
        Assert.False(RingAddresses.TryTranslate(h.Memory, 64, end - (16 * 63), a, u, out _));
        Assert.False(RingAddresses.TryTranslate(h.Memory, 64, d, end - 4, u, out _));
        Assert.False(RingAddresses.TryTranslate(h.Memory, 64, d, a, end - 8, out _));
        Assert.False(RingAddresses.TryTranslate(h.Memory, 64, d, a, 0x1000, out _));
    }

    [Fact]
    public void The_queue_refuses_ring_pointers_outside_its_memory_snapshot()
    {
        using var h = new VirtqueueHarness(size: 64);
        (ulong d, ulong a, ulong u) = UserAddrs(h);
        Assert.True(RingAddresses.TryTranslate(h.Memory, 64, d, a, u, out RingAddresses rings));
        ILogger log = h.Log.Logger;
        VirtqueueConfig Config(RingAddresses r, ushort size) => new() { Index = 3, Size = size, Rings = r };

        // The frontend's own mapping of the same RAM is not the device's: refused.
        var frontendPointers = new RingAddresses(h.Ram.Regions[0].HostAddress, rings.AvailRing, rings.UsedRing);
        Assert.Throws<ArgumentException>(() => new SplitVirtqueue(Config(frontendPointers, 64), h.Memory, log));
        // A descriptor table (aligned) whose last entries would lie past the end of the mapping.
        nint mappingEnd = h.Memory.MappedRegions[0].HostAddress + (nint)h.Memory.MappedRegions[0].Info.Size;
        Assert.Throws<ArgumentException>(() => new SplitVirtqueue(Config(rings with { DescriptorTable = mappingEnd - (16 * 63) }, 64), h.Memory, log));
        using (new SplitVirtqueue(Config(rings with { DescriptorTable = mappingEnd - (16 * 64) }, 64), h.Memory, log))
        {
        }
        // Misaligned pointers.
        Assert.Throws<ArgumentException>(() => new SplitVirtqueue(Config(rings with { UsedRing = rings.UsedRing + 2 }, 64), h.Memory, log));
        Assert.Throws<ArgumentException>(() => new SplitVirtqueue(Config(rings, 100), h.Memory, log));
        using var ok = new SplitVirtqueue(Config(rings, 64), h.Memory, log);
        Assert.Equal(3, ok.Index);
        Assert.Equal(-1, ok.KickFd);
        Assert.Equal(-1, ok.CallFd);
    }
}
