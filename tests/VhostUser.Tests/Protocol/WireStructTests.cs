using System.Runtime.CompilerServices;
using VirtioFsd.VhostUser.Protocol;

namespace VirtioFsd.VhostUser.Tests.Protocol;

/// <summary>Pins every wire struct to the size QEMU's hw/virtio/vhost-user.c gives it.</summary>
public sealed class WireStructTests
{
    [Fact]
    public void Wire_struct_sizes_match_the_protocol()
    {
        Assert.Equal(12, Unsafe.SizeOf<MessageHeader>());
        Assert.Equal(8, Unsafe.SizeOf<VringStateWire>());
        Assert.Equal(40, Unsafe.SizeOf<VringAddressWire>());
        Assert.Equal(32, Unsafe.SizeOf<MemoryRegionWire>());
        Assert.Equal(8, Unsafe.SizeOf<MemoryTableHeaderWire>());
        Assert.Equal(40, Unsafe.SizeOf<SingleMemoryRegionWire>());
        Assert.Equal(12, Unsafe.SizeOf<ConfigHeaderWire>());
        Assert.Equal(MessageHeader.Size, Unsafe.SizeOf<MessageHeader>());
        Assert.Equal(VringAddressWire.Size, Unsafe.SizeOf<VringAddressWire>());
    }

    [Fact]
    public void Header_validity_checks_version_reply_bits_and_size()
    {
        Assert.True(new MessageHeader { Request = 1, Flags = 1, BodySize = 0 }.IsValid);
        Assert.True(new MessageHeader { Request = 1, Flags = 1 | MessageFlags.NeedReply, BodySize = 4096 }.IsValid);
        Assert.False(new MessageHeader { Request = 1, Flags = 2 }.IsValid);
        Assert.False(new MessageHeader { Request = 1, Flags = 1 | MessageFlags.Reply }.IsValid);
        Assert.False(new MessageHeader { Request = 1, Flags = 1, BodySize = 4097 }.IsValid);
    }

    [Fact]
    public void Vring_address_requires_virtio_alignment()
    {
        var ok = new VringAddressWire { Index = 0, DescUserAddr = 0x1000, AvailUserAddr = 0x2002, UsedUserAddr = 0x3004 };
        Assert.True(ok.IsValid);
        Assert.False((ok with { DescUserAddr = 0x1008 }).IsValid);
        Assert.False((ok with { AvailUserAddr = 0x2001 }).IsValid);
        Assert.False((ok with { UsedUserAddr = 0x3002 }).IsValid);
        Assert.False((ok with { Flags = 2 }).IsValid);
        Assert.False((ok with { Index = 256 }).IsValid);
    }

    [Fact]
    public void Memory_region_rejects_empty_and_wrapping_ranges()
    {
        var ok = new MemoryRegionWire { GuestPhysAddr = 0x1000, MemorySize = 0x1000, UserspaceAddr = 0x7f0000000000, MmapOffset = 0 };
        Assert.True(ok.IsValid);
        Assert.False((ok with { MemorySize = 0 }).IsValid);
        Assert.False((ok with { GuestPhysAddr = ulong.MaxValue - 0x10 }).IsValid);
        Assert.False((ok with { UserspaceAddr = ulong.MaxValue - 0x10 }).IsValid);
        Assert.False((ok with { MmapOffset = ulong.MaxValue - 0x10 }).IsValid);
        Assert.True((ok with { GuestPhysAddr = ulong.MaxValue - 0xfff }).IsValid);
    }

    [Fact]
    public void Memory_table_allows_one_to_eight_regions()
    {
        Assert.False(new MemoryTableHeaderWire { RegionCount = 0 }.IsValid);
        Assert.True(new MemoryTableHeaderWire { RegionCount = 1 }.IsValid);
        Assert.True(new MemoryTableHeaderWire { RegionCount = 8 }.IsValid);
        Assert.False(new MemoryTableHeaderWire { RegionCount = 9 }.IsValid);
    }

    [Fact]
    public void Config_header_bounds_the_range_to_256_bytes()
    {
        Assert.True(new ConfigHeaderWire { Offset = 0, PayloadSize = 256 }.IsValid);
        Assert.True(new ConfigHeaderWire { Offset = 200, PayloadSize = 56 }.IsValid);
        Assert.False(new ConfigHeaderWire { Offset = 200, PayloadSize = 57 }.IsValid);
        Assert.False(new ConfigHeaderWire { Offset = uint.MaxValue, PayloadSize = 2 }.IsValid);
    }
}
