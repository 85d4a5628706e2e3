using VirtioFsd.Linux;
using VirtioFsd.Virtio.Memory;
using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>
/// A guest without a VM: memfd-backed guest RAM (one region, or two adjacent ones), split rings in it
/// driven by <see cref="DriverQueue"/> as a guest driver would, and the device's
/// <see cref="GuestMemory"/> over the same memfds, so a <see cref="SplitVirtqueue"/> sees what a
/// backend would see after SET_MEM_TABLE and SET_VRING_*.
/// </summary>
internal sealed class VirtqueueHarness : IDisposable
{
    public const ulong RamBase = 0x10_0000;
    public const ulong RamSize = 0x10_0000;

    public VirtqueueHarness(ushort size = 16, bool eventIdx = false, bool twoRegions = false)
    {
        Ram = new GuestRam();
        if (twoRegions)
        {
            Ram.AddRegion(RamBase, RamSize / 2);
            Ram.AddRegion(RamBase + (RamSize / 2), RamSize / 2);
        }
        else
        {
            Ram.AddRegion(RamBase, RamSize);
        }
        var infos = Ram.Regions.Select(r => new MemoryRegionInfo(r.GuestPhysAddr, r.Size, r.UserAddr, r.MmapOffset)).ToArray();
        Assert.Equal(0, GuestMemory.TryCreate(infos, Ram.Regions.Select(r => r.MemFd).ToArray(), out GuestMemory? memory));
        Memory = memory!;
        Allocator = new GuestAllocator(RamBase, RamBase + RamSize);
        Rings = FrontendQueue.Allocate(0, size, Allocator);
        Driver = DriverQueue.For(Ram, Rings, eventIdx);
        EventIdx = eventIdx;
    }

    public GuestRam Ram { get; }

    public GuestMemory Memory { get; }

    public GuestAllocator Allocator { get; }

    public FrontendQueue Rings { get; }

    public DriverQueue Driver { get; }

    public bool EventIdx { get; }

    public LogCollector Log { get; } = new();

    /// <summary>The device's queue over the rings, as the handler would build it at queue start.</summary>
    public SplitVirtqueue CreateQueue(ushort lastAvailIndex = 0, int? callFd = null, VirtioFsd.Virtio.Migration.DirtyPageLog? dirtyLog = null, bool logUsedRing = false)
    {
        Assert.True(RingAddresses.TryTranslate(Memory, Rings.Size, Ram.UserAddrOf(Rings.DescGpa),
            Ram.UserAddrOf(Rings.AvailGpa), Ram.UserAddrOf(Rings.UsedGpa), out RingAddresses rings));
        var config = new VirtqueueConfig
        {
            Index = 0,
            Size = Rings.Size,
            Rings = rings,
            UsedRingGuestAddress = Rings.UsedGpa,
            EventIdx = EventIdx,
            LastAvailIndex = lastAvailIndex,
            KickFd = Rings.Kick.Value,
            CallFd = callFd ?? Rings.Call.Value,
            DirtyLog = dirtyLog,
            LogUsedRing = logUsedRing,
        };
        return new SplitVirtqueue(config, Memory, Log.Logger);
    }

    /// <summary>A guest buffer of <paramref name="length"/> bytes filled with <paramref name="content"/> (if any).</summary>
    public DriverBuffer Buffer(uint length, ReadOnlySpan<byte> content = default)
    {
        ulong gpa = Allocator.Allocate(length, 8);
        if (!content.IsEmpty)
        {
            Ram.Write(gpa, content);
        }
        return new DriverBuffer(gpa, length);
    }

    /// <summary>Pops once, expecting the queue to break with a single log line naming the problem.</summary>
    public void AssertBroken(SplitVirtqueue queue, string reasonFragment)
    {
        Assert.False(queue.IsBroken);
        Assert.False(queue.TryPopChain(out _));
        Assert.True(queue.IsBroken);
        string line = Assert.Single(Log.Lines);
        Assert.Contains(reasonFragment, line, StringComparison.Ordinal);
        Assert.False(queue.TryPopChain(out _));
    }

    /// <summary>Copies out what the device sees in a list of host segments.</summary>
    public static unsafe byte[] Gather(ReadOnlySpan<IoVec> segments)
    {
        var bytes = new List<byte>();
        foreach (IoVec v in segments)
        {
            // Segments come from a popped chain: translated, inside the harness's live mappings.
            bytes.AddRange(new ReadOnlySpan<byte>((void*)v.Base, checked((int)v.Length)).ToArray());
        }
        return [.. bytes];
    }

    /// <summary>Writes <paramref name="data"/> across host segments, as the device fills a reply; returns bytes written.</summary>
    public static unsafe uint Scatter(ReadOnlySpan<IoVec> segments, ReadOnlySpan<byte> data)
    {
        uint written = 0;
        foreach (IoVec v in segments)
        {
            if (data.IsEmpty)
            {
                break;
            }
            int n = Math.Min(data.Length, checked((int)v.Length));
            // Segments come from a popped chain's writable part, inside the harness's live mappings.
            data[..n].CopyTo(new Span<byte>((void*)v.Base, n));
            data = data[n..];
            written += (uint)n;
        }
        return written;
    }

    public void Dispose()
    {
        Memory.Dispose();
        Rings.Dispose();
        Ram.Dispose();
    }
}
