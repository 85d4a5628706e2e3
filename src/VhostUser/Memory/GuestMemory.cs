using VirtioFsd.Linux;

namespace VirtioFsd.VhostUser.Memory;

/// <summary>Immutable snapshot of the guest memory regions mapped into this process.</summary>
public sealed class GuestMemory : IDisposable
{
    /// <summary>VHOST_USER_MAX_RAM_SLOTS: the slot count offered with CONFIGURE_MEM_SLOTS.</summary>
    public const int MaxRegions = 509;

    public static GuestMemory Empty { get; } = new();

    public int RegionCount => 0;

    public MemoryRegionInfo GetRegion(int index) => throw new NotImplementedException();

    /// <summary>Maps a whole table (SET_MEM_TABLE). Returns 0 or -errno; fds stay owned by the caller.</summary>
    public static int TryCreate(ReadOnlySpan<MemoryRegionInfo> regions, ReadOnlySpan<int> fds, out GuestMemory? memory)
        => throw new NotImplementedException();

    /// <summary>ADD_MEM_REG: a new snapshot sharing this one's mappings plus the new region. 0 or -errno.</summary>
    public int WithRegionAdded(in MemoryRegionInfo region, int fd, out GuestMemory? memory) => throw new NotImplementedException();

    /// <summary>REM_MEM_REG: a new snapshot without the region matching gpa, size and uva. 0 or -errno.</summary>
    public int WithRegionRemoved(ulong guestPhysAddr, ulong size, ulong userAddr, out GuestMemory? memory)
        => throw new NotImplementedException();

    public bool TryGetContiguous(ulong guestPhysAddr, ulong length, out nint pointer) => throw new NotImplementedException();

    public bool TryAppendIoVecs(ulong guestPhysAddr, ulong length, List<IoVec> iovecs) => throw new NotImplementedException();

    public bool TryTranslateUserAddress(ulong userAddr, ulong length, out nint pointer) => throw new NotImplementedException();

    public void Dispose()
    {
    }
}
