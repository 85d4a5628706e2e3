namespace VirtioFsd.VhostUserFrontend;

/// <summary>
/// A bump allocator over guest physical addresses, so tests and benchmarks can place rings and
/// request/reply buffers in guest RAM. Never frees; make a new one per scenario.
/// </summary>
public sealed class GuestAllocator
{
    private ulong _next;
    private readonly ulong _end;

    public GuestAllocator(ulong start, ulong end)
    {
        _next = start;
        _end = end;
    }

    /// <summary>Allocator over a whole region of <paramref name="ram"/>.</summary>
    public static GuestAllocator ForRegion(GuestRamRegion region) => new(region.GuestPhysAddr, region.GuestPhysEnd);

    public ulong Remaining => _end - _next;

    /// <summary>Reserves <paramref name="size"/> bytes aligned to <paramref name="alignment"/> (a power of two).</summary>
    public ulong Allocate(ulong size, ulong alignment = 8)
    {
        ulong start = (_next + alignment - 1) & ~(alignment - 1);
        if (start < _next || size > _end - start)
        {
            throw new InvalidOperationException($"guest allocator exhausted: {size} bytes wanted, {Remaining} left");
        }
        _next = start + size;
        return start;
    }
}
