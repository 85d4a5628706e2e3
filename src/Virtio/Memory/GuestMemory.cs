using VirtioFsd.Linux;

namespace VirtioFsd.Virtio.Memory;

/// <summary>
/// An immutable snapshot of the guest memory regions mapped into this process, and the only way
/// the transport turns guest addresses into host pointers. A memory-table change builds a new
/// snapshot (<see cref="TryCreate"/>, <see cref="WithRegionAdded"/>, <see cref="WithRegionRemoved"/>)
/// that shares the unchanged mappings; the vhost-user handler stops the queues, swaps snapshots,
/// restarts the queues and disposes the old snapshot. A mapping is unmapped when the last
/// snapshot listing it is disposed.
/// </summary>
/// <remarks>
/// Translation (see GuestMemory.Translation.cs) is lock-free and allocation-free: regions are
/// kept sorted by guest physical address in flat arrays and found by binary search.
/// </remarks>
public sealed partial class GuestMemory : IDisposable
{
    /// <summary>
    /// VHOST_USER_MAX_RAM_SLOTS (509 in QEMU's vhost-user.c): the slot count a backend offering
    /// CONFIGURE_MEM_SLOTS reports with GET_MAX_MEM_SLOTS.
    /// </summary>
    public const int MaxRegions = 509;

    private Layout _layout;
    private int _disposed;

    private GuestMemory(MappedRegion[] sortedRegions)
    {
        _layout = new Layout(sortedRegions);
    }

    /// <summary>A snapshot without any region (before the first SET_MEM_TABLE). Disposing it does nothing.</summary>
    public static GuestMemory Empty { get; } = new([]);

    public int RegionCount => _layout.Regions.Length;

    /// <summary>The regions in ascending guest physical address order.</summary>
    public MemoryRegionInfo GetRegion(int index) => _layout.Regions[index].Info;

    /// <summary>The mappings of this snapshot (tests observe their reference counts through them).</summary>
    internal ReadOnlySpan<MappedRegion> MappedRegions => _layout.Regions;

    /// <summary>
    /// Maps a whole memory table (SET_MEM_TABLE): one fd per region, fds stay owned by the caller
    /// (close them afterwards; the mappings do not need them). Validates every region and refuses
    /// overlaps in guest physical space. Returns 0 or -errno (EINVAL for a bad table, E2BIG for
    /// more than <see cref="MaxRegions"/>, or mmap's error); on failure nothing stays mapped.
    /// </summary>
    public static int TryCreate(ReadOnlySpan<MemoryRegionInfo> regions, ReadOnlySpan<int> fds, out GuestMemory? memory)
    {
        memory = null;
        if (regions.Length != fds.Length)
        {
            return -Errno.EINVAL;
        }
        if (regions.Length > MaxRegions)
        {
            return -Errno.E2BIG;
        }
        foreach (MemoryRegionInfo region in regions)
        {
            if (region.Validate() is not null)
            {
                return -Errno.EINVAL;
            }
        }
        if (!AreDisjoint(regions.ToArray()))
        {
            return -Errno.EINVAL;
        }
        var mapped = new MappedRegion[regions.Length];
        for (int i = 0; i < regions.Length; i++)
        {
            int r = MappedRegion.TryMap(regions[i], fds[i], out MappedRegion? region);
            if (r < 0)
            {
                for (int j = 0; j < i; j++)
                {
                    mapped[j].Release();
                }
                return r;
            }
            mapped[i] = region!;
        }
        memory = new GuestMemory(Sorted(mapped));
        return 0;
    }

    /// <summary>
    /// ADD_MEM_REG: a new snapshot holding this one's mappings (shared) plus <paramref name="region"/>
    /// mapped from <paramref name="fd"/> (still the caller's). This snapshot is unchanged. Returns
    /// 0 or -errno (EINVAL for an invalid or overlapping region, E2BIG when all slots are used).
    /// </summary>
    public int WithRegionAdded(in MemoryRegionInfo region, int fd, out GuestMemory? memory)
    {
        memory = null;
        MappedRegion[] current = LiveLayout().Regions;
        if (region.Validate() is not null)
        {
            return -Errno.EINVAL;
        }
        if (current.Length >= MaxRegions)
        {
            return -Errno.E2BIG;
        }
        var infos = new MemoryRegionInfo[current.Length + 1];
        for (int i = 0; i < current.Length; i++)
        {
            infos[i] = current[i].Info;
        }
        infos[^1] = region;
        if (!AreDisjoint(infos))
        {
            return -Errno.EINVAL;
        }
        int r = MappedRegion.TryMap(region, fd, out MappedRegion? added);
        if (r < 0)
        {
            return r;
        }
        var regions = new MappedRegion[current.Length + 1];
        for (int i = 0; i < current.Length; i++)
        {
            regions[i] = current[i].AddReference();
        }
        regions[^1] = added!;
        memory = new GuestMemory(Sorted(regions));
        return 0;
    }

    /// <summary>
    /// REM_MEM_REG: a new snapshot without the region matching guest physical address, size and
    /// frontend virtual address (the match libvhost-user uses; the mmap offset is not compared).
    /// The removed mapping lives on until this snapshot, too, is disposed. 0 or -ENOENT.
    /// </summary>
    public int WithRegionRemoved(ulong guestPhysAddr, ulong size, ulong userAddr, out GuestMemory? memory)
    {
        memory = null;
        MappedRegion[] current = LiveLayout().Regions;
        int found = -1;
        for (int i = 0; i < current.Length; i++)
        {
            MemoryRegionInfo info = current[i].Info;
            if (info.GuestPhysAddr == guestPhysAddr && info.Size == size && info.UserAddr == userAddr)
            {
                found = i;
                break;
            }
        }
        if (found < 0)
        {
            return -Errno.ENOENT;
        }
        var regions = new MappedRegion[current.Length - 1];
        for (int i = 0, j = 0; i < current.Length; i++)
        {
            if (i != found)
            {
                regions[j++] = current[i].AddReference();
            }
        }
        memory = new GuestMemory(regions);
        return 0;
    }

    /// <summary>Releases this snapshot's references; mappings no other snapshot lists are unmapped.</summary>
    public void Dispose()
    {
        if (ReferenceEquals(this, Empty) || Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Make stray translations after disposal fail instead of reaching unmapped memory. (The
        // handler's contract is that no queue uses a snapshot it disposes; this is a second line.)
        MappedRegion[] regions = Interlocked.Exchange(ref _layout, new Layout([])).Regions;
        foreach (MappedRegion region in regions)
        {
            region.Release();
        }
    }

    private Layout LiveLayout()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Volatile.Read(ref _layout);
    }

    private static MappedRegion[] Sorted(MappedRegion[] regions)
    {
        Array.Sort(regions, static (a, b) => a.Info.GuestPhysAddr.CompareTo(b.Info.GuestPhysAddr));
        return regions;
    }

    /// <summary>True when no two (individually valid) regions overlap in guest physical space.</summary>
    private static bool AreDisjoint(MemoryRegionInfo[] regions)
    {
        Array.Sort(regions, static (a, b) => a.GuestPhysAddr.CompareTo(b.GuestPhysAddr));
        for (int i = 1; i < regions.Length; i++)
        {
            if (regions[i].GuestPhysAddr < regions[i - 1].GuestPhysEnd)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The lookup arrays, replaced as a whole so a reader sees one consistent set.</summary>
    private sealed class Layout
    {
        public Layout(MappedRegion[] regions)
        {
            Regions = regions;
            Starts = new ulong[regions.Length];
            Ends = new ulong[regions.Length];
            Hosts = new nint[regions.Length];
            for (int i = 0; i < regions.Length; i++)
            {
                Starts[i] = regions[i].Info.GuestPhysAddr;
                Ends[i] = regions[i].Info.GuestPhysEnd;
                Hosts[i] = regions[i].HostAddress;
            }
        }

        public MappedRegion[] Regions { get; }

        public ulong[] Starts { get; }

        public ulong[] Ends { get; }

        public nint[] Hosts { get; }
    }
}
