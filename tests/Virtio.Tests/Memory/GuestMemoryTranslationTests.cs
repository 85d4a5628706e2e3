using VirtioFsd.Linux;
using VirtioFsd.Virtio.Memory;

namespace VirtioFsd.Virtio.Tests.Memory;

/// <summary>Translation of guest physical and frontend virtual addresses at and across region edges.</summary>
public sealed class GuestMemoryTranslationTests : IDisposable
{
    private const ulong Page = 4096;
    private const ulong RegionSize = 4 * Page;

    // Regions: A = [0x10000, +16K) and B = [0x14000, +16K) adjacent; C = [0x40000, +16K) after a gap.
    private readonly MemfdFile _file = new(3 * (long)RegionSize);
    private readonly GuestMemory _memory;

    public GuestMemoryTranslationTests()
    {
        Assert.Equal(0, GuestMemory.TryCreate(
            [
                new MemoryRegionInfo(0x10000, RegionSize, 0x7f00_0000_0000, 0),
                new MemoryRegionInfo(0x14000, RegionSize, 0x7e00_0000_0000, RegionSize),
                new MemoryRegionInfo(0x40000, RegionSize, 0x7d00_0000_0000, 2 * RegionSize),
            ],
            [_file.Fd, _file.Fd, _file.Fd], out GuestMemory? memory));
        _memory = memory!;
        // Tag each byte with its file offset's low byte so pointers can be told apart.
        var content = new byte[3 * RegionSize];
        for (int i = 0; i < content.Length; i++)
        {
            content[i] = (byte)(i * 7);
        }
        _file.WriteAt(0, content);
    }

    public void Dispose()
    {
        _memory.Dispose();
        _file.Dispose();
    }

    private static unsafe byte At(nint p) => *(byte*)p; // p comes from a successful translation

    /// <summary>The tag written at a file offset.</summary>
    private static byte Tag(ulong offset) => unchecked((byte)(offset * 7));

    [Fact]
    public void Contiguous_translation_works_up_to_the_last_byte_of_a_region()
    {
        Assert.True(_memory.TryGetContiguous(0x10000, RegionSize, out nint whole));
        Assert.Equal((byte)0, At(whole));
        Assert.True(_memory.TryGetContiguous(0x13FFF, 1, out nint last));
        Assert.Equal(Tag(RegionSize - 1), At(last));
        Assert.True(_memory.TryGetContiguous(0x40000 + RegionSize - 8, 8, out nint cLast));
        Assert.Equal(Tag((3 * RegionSize) - 8), At(cLast));
    }

    [Fact]
    public void Contiguous_translation_refuses_ranges_leaving_a_region()
    {
        Assert.False(_memory.TryGetContiguous(0x13FFF, 2, out _));           // into the adjacent region: not one mapping
        Assert.False(_memory.TryGetContiguous(0x40000 + RegionSize - 8, 9, out _)); // one byte past the end
        Assert.False(_memory.TryGetContiguous(0x40000 + RegionSize, 1, out _));     // just past the end
        Assert.False(_memory.TryGetContiguous(0xFFFF, 1, out _));            // just before the first region
        Assert.False(_memory.TryGetContiguous(0x20000, 1, out _));           // in the gap
        Assert.False(_memory.TryGetContiguous(0x10000, 0, out _));           // empty
        Assert.False(_memory.TryGetContiguous(0x10000, ulong.MaxValue, out _));
        Assert.False(_memory.TryGetContiguous(ulong.MaxValue, 1, out _));
    }

    [Fact]
    public void An_access_crossing_adjacent_regions_is_split_at_the_edge()
    {
        var iovecs = new List<IoVec>();
        Assert.True(_memory.TryAppendIoVecs(0x14000 - 100, 300, iovecs));
        Assert.Equal(2, iovecs.Count);
        Assert.Equal(100u, (uint)iovecs[0].Length);
        Assert.Equal(200u, (uint)iovecs[1].Length);
        Assert.Equal(Tag(RegionSize - 100), At(iovecs[0].Base));
        Assert.Equal(Tag(RegionSize), At(iovecs[1].Base));
    }

    [Fact]
    public void An_access_spanning_whole_regions_yields_one_segment_per_region()
    {
        var iovecs = new List<IoVec> { new(1, 1) };
        Assert.True(_memory.TryAppendIoVecs(0x10000, 2 * RegionSize, iovecs));
        Assert.Equal(3, iovecs.Count); // the existing entry is kept
        Assert.Equal(RegionSize, (ulong)iovecs[1].Length);
        Assert.Equal(RegionSize, (ulong)iovecs[2].Length);
    }

    [Fact]
    public void An_access_running_into_a_gap_or_past_the_end_yields_nothing()
    {
        var iovecs = new List<IoVec> { new(1, 1) };
        Assert.False(_memory.TryAppendIoVecs(0x14000, RegionSize + 1, iovecs)); // B then the gap
        Assert.False(_memory.TryAppendIoVecs(0x40000 + 10, RegionSize, iovecs)); // past C
        Assert.False(_memory.TryAppendIoVecs(0x8000, 0x9000, iovecs));          // starts before A
        Assert.False(_memory.TryAppendIoVecs(0x10000, 0, iovecs));
        Assert.False(_memory.TryAppendIoVecs(ulong.MaxValue - 1, 4, iovecs));
        Assert.Single(iovecs); // no partial results

        IoVec[] buffer = new IoVec[1];
        int count = 0;
        Assert.False(_memory.TryAppendIoVecs(0x14000, RegionSize + 1, ref buffer, ref count));
        Assert.Equal(0, count);
    }

    [Fact]
    public void The_array_form_grows_its_buffer()
    {
        IoVec[] buffer = new IoVec[1];
        int count = 1;
        Assert.True(_memory.TryAppendIoVecs(0x10000, 2 * RegionSize, ref buffer, ref count));
        Assert.Equal(3, count);
        Assert.True(buffer.Length >= 3);
        Assert.Equal(RegionSize, (ulong)buffer[2].Length);
    }

    [Fact]
    public void User_addresses_translate_inside_one_region_only()
    {
        Assert.True(_memory.TryTranslateUserAddress(0x7e00_0000_0000 + 16, 32, out nint p));
        Assert.True(_memory.TryGetContiguous(0x14000 + 16, 32, out nint q));
        Assert.Equal(q, p);
        Assert.True(_memory.TryTranslateUserAddress(0x7d00_0000_0000, RegionSize, out _));
        Assert.False(_memory.TryTranslateUserAddress(0x7d00_0000_0000, RegionSize + 1, out _));
        Assert.False(_memory.TryTranslateUserAddress(0x7d00_0000_0000 - 1, 2, out _));
        Assert.False(_memory.TryTranslateUserAddress(0x14000, 1, out _)); // a guest address is not a user address
        Assert.False(_memory.TryTranslateUserAddress(0x7d00_0000_0000, 0, out _));
    }
}
