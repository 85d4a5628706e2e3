using VirtioFsd.Linux;
using VirtioFsd.Virtio.Memory;

namespace VirtioFsd.Virtio.Tests.Memory;

/// <summary>Region validation and mapping (SET_MEM_TABLE).</summary>
public class GuestMemoryCreateTests
{
    private const ulong Page = 4096;

    [Fact]
    public void A_valid_table_maps_every_region_sorted_by_guest_address()
    {
        using var file = new MemfdFile(4 * (long)Page);
        MemoryRegionInfo[] regions =
        [
            new(0x10_0000, 2 * Page, 0x7000_0000, 2 * Page),
            new(0, 2 * Page, 0x6000_0000, 0),
        ];
        Assert.Equal(0, GuestMemory.TryCreate(regions, [file.Fd, file.Fd], out GuestMemory? memory));
        using (memory)
        {
            Assert.Equal(2, memory!.RegionCount);
            Assert.Equal(0UL, memory.GetRegion(0).GuestPhysAddr);
            Assert.Equal(0x10_0000UL, memory.GetRegion(1).GuestPhysAddr);
        }
    }

    public static TheoryData<ulong, ulong, ulong, ulong> InvalidRegions => new()
    {
        { 0, 0, 0x1000, 0 },                            // size 0
        { ulong.MaxValue - Page + 2, Page, 0x1000, 0 }, // gpa + size overflows
        { 0, Page, ulong.MaxValue - 10, 0 },            // uva + size overflows
        { 0, Page, 0x1000, ulong.MaxValue - 10 },       // offset + size overflows
    };

    [Theory]
    [MemberData(nameof(InvalidRegions))]
    public void An_invalid_region_is_refused(ulong gpa, ulong size, ulong uva, ulong offset)
    {
        using var file = new MemfdFile((long)Page);
        Assert.Equal(-Errno.EINVAL, GuestMemory.TryCreate([new MemoryRegionInfo(gpa, size, uva, offset)], [file.Fd], out GuestMemory? memory));
        Assert.Null(memory);
    }

    [Fact]
    public void Overlapping_regions_are_refused_and_adjacent_ones_accepted()
    {
        using var file = new MemfdFile(2 * (long)Page);
        MemoryRegionInfo first = new(0x1000, Page, 0x10_0000, 0);
        Assert.Equal(-Errno.EINVAL, GuestMemory.TryCreate([first, new MemoryRegionInfo(0x1FFF, Page, 0x20_0000, 0)],
            [file.Fd, file.Fd], out _));
        Assert.Equal(-Errno.EINVAL, GuestMemory.TryCreate([new MemoryRegionInfo(0, 0x1001, 0x20_0000, 0), first],
            [file.Fd, file.Fd], out _));
        Assert.Equal(0, GuestMemory.TryCreate([first, new MemoryRegionInfo(0x2000, Page, 0x20_0000, Page)],
            [file.Fd, file.Fd], out GuestMemory? memory));
        memory!.Dispose();
    }

    [Fact]
    public void More_regions_than_slots_are_refused()
    {
        var regions = new MemoryRegionInfo[GuestMemory.MaxRegions + 1];
        var fds = new int[regions.Length];
        for (int i = 0; i < regions.Length; i++)
        {
            regions[i] = new MemoryRegionInfo((ulong)i * Page, Page, (ulong)i * Page, 0);
            fds[i] = -1;
        }
        Assert.Equal(-Errno.E2BIG, GuestMemory.TryCreate(regions, fds, out _));
    }

    [Fact]
    public void A_region_reaching_past_the_end_of_its_file_is_refused()
    {
        // Touching such a page would SIGBUS the daemon.
        using var file = new MemfdFile(2 * (long)Page);
        Assert.Equal(-Errno.EINVAL, GuestMemory.TryCreate([new MemoryRegionInfo(0, 2 * Page, 0, Page)], [file.Fd], out _));
        Assert.Equal(0, GuestMemory.TryCreate([new MemoryRegionInfo(0, Page, 0, Page)], [file.Fd], out GuestMemory? memory));
        memory!.Dispose();
    }

    [Fact]
    public void A_bad_fd_fails_with_the_mmap_error_and_leaves_nothing_mapped()
    {
        using var file = new MemfdFile((long)Page);
        int r = GuestMemory.TryCreate([new MemoryRegionInfo(0, Page, 0, 0), new MemoryRegionInfo(Page, Page, Page, 0)],
            [file.Fd, 1_000_000], out GuestMemory? memory);
        Assert.True(r < 0);
        Assert.Null(memory);
    }

    [Fact]
    public unsafe void An_unaligned_mmap_offset_maps_the_right_bytes()
    {
        using var file = new MemfdFile(3 * (long)Page);
        file.WriteAt((long)Page + 0x123, "hello"u8);
        Assert.Equal(0, GuestMemory.TryCreate([new MemoryRegionInfo(0x4000, Page, 0x9000, Page + 0x123)], [file.Fd],
            out GuestMemory? memory));
        using (memory)
        {
            Assert.True(memory!.TryGetContiguous(0x4000, 5, out nint p));
            // p points into the live mapping for 5 bytes, as just checked by the translation.
            Assert.Equal("hello"u8.ToArray(), new ReadOnlySpan<byte>((void*)p, 5).ToArray());
            // And it is a shared mapping: writes reach the file.
            *(byte*)p = (byte)'j';
            Assert.Equal("jello"u8.ToArray(), file.ReadAt((long)Page + 0x123, 5));
        }
    }
}
