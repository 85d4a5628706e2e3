using VirtioFsd.Linux;

namespace VirtioFsd.Virtio.Memory;

/// <summary>
/// One guest memory region mmapped into this process, shared by every <see cref="GuestMemory"/>
/// snapshot that lists it. Reference counted: the mapping goes away when the last snapshot using
/// it is disposed, so ADD_MEM_REG / REM_MEM_REG can build a new snapshot without remapping the
/// others and without pulling memory from under a snapshot still in use.
/// </summary>
internal sealed class MappedRegion
{
    private readonly nint _mapBase;
    private readonly ulong _mapLength;
    private int _references = 1;

    private MappedRegion(in MemoryRegionInfo info, nint mapBase, ulong mapLength, nint hostAddress)
    {
        Info = info;
        _mapBase = mapBase;
        _mapLength = mapLength;
        HostAddress = hostAddress;
    }

    public MemoryRegionInfo Info { get; }

    /// <summary>Host address of guest physical address <see cref="MemoryRegionInfo.GuestPhysAddr"/>.</summary>
    public nint HostAddress { get; }

    /// <summary>True once the last reference is gone and the memory unmapped (for tests).</summary>
    public bool IsUnmapped => Volatile.Read(ref _references) == 0;

    /// <summary>
    /// Maps <paramref name="info"/> from <paramref name="fd"/> MAP_SHARED read/write. The fd stays the
    /// caller's (a mapping does not need its fd open). Returns 0 or -errno; the region starts with
    /// one reference, owned by the caller.
    /// </summary>
    public static int TryMap(in MemoryRegionInfo info, int fd, out MappedRegion? region)
    {
        region = null;
        if (info.Validate() is not null || fd < 0)
        {
            return -Errno.EINVAL;
        }
        // A region reaching past the end of its file would SIGBUS on first touch: refuse it.
        // ESPIPE and friends (no size to speak of, e.g. a device) leave that to the kernel.
        long fileSize = Libc.MappableFileSize(fd);
        if (fileSize >= 0 && info.MmapOffset + info.Size > (ulong)fileSize)
        {
            return -Errno.EINVAL;
        }
        // mmap(2) wants a page-aligned offset: map from the page holding the region's start.
        ulong pageSize = (ulong)Environment.SystemPageSize;
        ulong alignedOffset = info.MmapOffset & ~(pageSize - 1);
        ulong lead = info.MmapOffset - alignedOffset;
        if (info.Size > ulong.MaxValue - lead || info.Size + lead > (ulong)nint.MaxValue)
        {
            return -Errno.EINVAL;
        }
        ulong mapLength = info.Size + lead;
        nint mapBase = Libc.Mmap(0, mapLength, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_NORESERVE,
            fd, (long)alignedOffset);
        // Libc.Mmap returns -errno on failure; user-space addresses are positive on Linux.
        if (mapBase < 0)
        {
            return (int)mapBase;
        }
        region = new MappedRegion(info, mapBase, mapLength, mapBase + (nint)lead);
        return 0;
    }

    /// <summary>Takes another reference for a snapshot that shares this mapping.</summary>
    public MappedRegion AddReference()
    {
        int before;
        do
        {
            before = Volatile.Read(ref _references);
            if (before == 0)
            {
                throw new ObjectDisposedException(nameof(MappedRegion), "region already unmapped");
            }
        }
        while (Interlocked.CompareExchange(ref _references, before + 1, before) != before);
        return this;
    }

    /// <summary>Drops one reference; the last one unmaps.</summary>
    public void Release()
    {
        int after = Interlocked.Decrement(ref _references);
        if (after == 0)
        {
            Libc.Munmap(_mapBase, _mapLength);
        }
        else if (after < 0)
        {
            throw new InvalidOperationException("guest memory region released more often than referenced");
        }
    }
}
