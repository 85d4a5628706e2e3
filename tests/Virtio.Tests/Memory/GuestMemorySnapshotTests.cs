using VirtioFsd.Linux;
using VirtioFsd.Virtio.Memory;

namespace VirtioFsd.Virtio.Tests.Memory;

/// <summary>ADD_MEM_REG / REM_MEM_REG snapshots and the reference-counted unmapping behind them.</summary>
public sealed class GuestMemorySnapshotTests : IDisposable
{
    private const ulong Page = 4096;
    private readonly MemfdFile _file = new(4 * (long)Page);

    public void Dispose() => _file.Dispose();

    private static MemoryRegionInfo RegionA => new(0, Page, 0x1000_0000, 0);

    private static MemoryRegionInfo RegionB => new(0x10_0000, Page, 0x2000_0000, Page);

    [Fact]
    public void Adding_a_region_shares_existing_mappings_and_leaves_the_old_snapshot_alone()
    {
        Assert.Equal(0, GuestMemory.TryCreate([RegionA], [_file.Fd], out GuestMemory? one));
        Assert.Equal(0, one!.WithRegionAdded(RegionB, _file.Fd, out GuestMemory? two));
        Assert.Equal(1, one.RegionCount);
        Assert.Equal(2, two!.RegionCount);
        Assert.Same(one.MappedRegions[0], two.MappedRegions[0]);
        Assert.False(one.TryGetContiguous(0x10_0000, 1, out _));
        Assert.True(two.TryGetContiguous(0x10_0000, Page, out _));
        Assert.True(two.TryGetContiguous(0, Page, out _));
        one.Dispose();
        two.Dispose();
    }

    [Fact]
    public void A_region_is_unmapped_only_when_the_last_snapshot_using_it_is_disposed()
    {
        Assert.Equal(0, GuestMemory.TryCreate([RegionA], [_file.Fd], out GuestMemory? one));
        Assert.Equal(0, one!.WithRegionAdded(RegionB, _file.Fd, out GuestMemory? two));
        Assert.Equal(0, two!.WithRegionRemoved(RegionA.GuestPhysAddr, RegionA.Size, RegionA.UserAddr, out GuestMemory? three));
        MappedRegion a = two.MappedRegions[0];
        MappedRegion b = two.MappedRegions[1];
        Assert.False(three!.TryGetContiguous(0, 1, out _));

        one.Dispose();
        Assert.False(a.IsUnmapped); // still listed by "two"
        Assert.True(two.TryGetContiguous(0, Page, out _));

        two.Dispose();
        Assert.True(a.IsUnmapped);  // nobody lists A any more
        Assert.False(b.IsUnmapped); // "three" still does
        Assert.False(two.TryGetContiguous(0x10_0000, 1, out _)); // a disposed snapshot translates nothing

        three.Dispose();
        Assert.True(b.IsUnmapped);
        three.Dispose(); // idempotent
    }

    [Fact]
    public void Adding_an_overlapping_or_invalid_region_is_refused()
    {
        Assert.Equal(0, GuestMemory.TryCreate([RegionA], [_file.Fd], out GuestMemory? one));
        using (one)
        {
            Assert.Equal(-Errno.EINVAL, one!.WithRegionAdded(new MemoryRegionInfo(Page - 1, Page, 0x3000_0000, 0), _file.Fd, out GuestMemory? bad));
            Assert.Null(bad);
            Assert.Equal(-Errno.EINVAL, one.WithRegionAdded(new MemoryRegionInfo(Page, 0, 0x3000_0000, 0), _file.Fd, out _));
            Assert.Equal(-Errno.EINVAL, one.WithRegionAdded(new MemoryRegionInfo(Page, 8 * Page, 0x3000_0000, 0), _file.Fd, out _));
            Assert.False(one.MappedRegions[0].IsUnmapped);
        }
    }

    [Fact]
    public void Removing_requires_gpa_size_and_user_address_to_match()
    {
        Assert.Equal(0, GuestMemory.TryCreate([RegionA], [_file.Fd], out GuestMemory? one));
        using (one)
        {
            Assert.Equal(-Errno.ENOENT, one!.WithRegionRemoved(0, Page, 0x9999_0000, out _));
            Assert.Equal(-Errno.ENOENT, one.WithRegionRemoved(0, 2 * Page, RegionA.UserAddr, out _));
            Assert.Equal(0, one.WithRegionRemoved(0, Page, RegionA.UserAddr, out GuestMemory? empty));
            Assert.Equal(0, empty!.RegionCount);
            empty.Dispose();
            Assert.True(one.TryGetContiguous(0, Page, out _));
        }
    }

    [Fact]
    public void The_empty_snapshot_translates_nothing_and_survives_dispose()
    {
        GuestMemory.Empty.Dispose();
        Assert.False(GuestMemory.Empty.TryGetContiguous(0, 1, out _));
        Assert.Equal(0, GuestMemory.Empty.WithRegionAdded(RegionA, _file.Fd, out GuestMemory? one));
        one!.Dispose();
    }
}
