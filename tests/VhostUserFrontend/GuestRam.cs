using System.Runtime.InteropServices;
using VirtioFsd.Linux;

namespace VirtioFsd.VhostUserFrontend;

/// <summary>One region of test guest RAM: a memfd mapped shared into this process, as QEMU's memory-backend-memfd.</summary>
public sealed class GuestRamRegion
{
    internal GuestRamRegion(ulong guestPhysAddr, ulong size, int memFd, nint hostAddress, ulong mmapOffset)
    {
        GuestPhysAddr = guestPhysAddr;
        Size = size;
        MemFd = memFd;
        HostAddress = hostAddress;
        MmapOffset = mmapOffset;
    }

    public ulong GuestPhysAddr { get; }

    public ulong Size { get; }

    /// <summary>The memfd (owned by <see cref="GuestRam"/>) sent to the backend with the memory table.</summary>
    public int MemFd { get; }

    /// <summary>Where this process mapped the region; also the "userspace address" QEMU would report.</summary>
    public nint HostAddress { get; }

    /// <summary>Offset of the region in <see cref="MemFd"/>.</summary>
    public ulong MmapOffset { get; }

    /// <summary>The frontend virtual address ring addresses are expressed in (QEMU's own mapping).</summary>
    public ulong UserAddr => (ulong)HostAddress;

    public ulong GuestPhysEnd => GuestPhysAddr + Size;
}

/// <summary>
/// Guest RAM for tests and benchmarks: one or more memfd-backed regions at chosen guest physical
/// addresses. Reads and writes by guest physical address walk region by region, so a test can place a
/// buffer that crosses two regions (as real guests see at the 3.5 GiB hole or after hot-plug).
/// </summary>
public sealed class GuestRam : IDisposable
{
    /// <summary>The name of every region's memfd (memfd_create(2)), as a backend sees it in /proc/PID/maps.</summary>
    public const string MemfdName = "vhost-user-frontend-ram";

    private readonly List<GuestRamRegion> _regions = [];

    public IReadOnlyList<GuestRamRegion> Regions => _regions;

    /// <summary>RAM with one region of <paramref name="size"/> bytes at guest physical 0.</summary>
    public static GuestRam Single(ulong size, bool @sealed = true)
    {
        var ram = new GuestRam();
        ram.AddRegion(0, size, @sealed: @sealed);
        return ram;
    }

    /// <summary>Adds a region (page-multiple size) at <paramref name="guestPhysAddr"/> backed by a fresh memfd.</summary>
    /// <param name="sealed">Seal the memfd against growing and shrinking as QEMU's memory-backend-memfd does by default (seal=on).</param>
    public GuestRamRegion AddRegion(ulong guestPhysAddr, ulong size, ulong mmapOffset = 0, bool @sealed = true)
    {
        int fd = Libc.MemfdCreate(MemfdName, Libc.MFD_CLOEXEC | Libc.MFD_ALLOW_SEALING);
        Expect(fd, "memfd_create");
        Expect(Libc.Ftruncate(fd, (long)(mmapOffset + size)), "ftruncate");
        if (@sealed)
        {
            Expect(Libc.Fcntl(fd, Libc.F_ADD_SEALS, Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW | Libc.F_SEAL_SEAL), "F_ADD_SEALS");
        }
        nint host = Libc.Mmap(0, size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, (long)mmapOffset);
        if (host < 0)
        {
            Libc.Close(fd);
            Expect((int)host, "mmap");
        }
        var region = new GuestRamRegion(guestPhysAddr, size, fd, host, mmapOffset);
        _regions.Add(region);
        return region;
    }

    /// <summary>Forgets a region (after REM_MEM_REG) and unmaps it here.</summary>
    public void RemoveRegion(GuestRamRegion region)
    {
        if (_regions.Remove(region))
        {
            Libc.Munmap(region.HostAddress, region.Size);
            Libc.Close(region.MemFd);
        }
    }

    public GuestRamRegion RegionOf(ulong guestPhysAddr)
        => _regions.Find(r => guestPhysAddr >= r.GuestPhysAddr && guestPhysAddr < r.GuestPhysEnd)
           ?? throw new ArgumentOutOfRangeException(nameof(guestPhysAddr), $"0x{guestPhysAddr:x} is not guest RAM");

    /// <summary>The frontend virtual address of a guest physical address (what SET_VRING_ADDR carries).</summary>
    public ulong UserAddrOf(ulong guestPhysAddr)
    {
        GuestRamRegion r = RegionOf(guestPhysAddr);
        return r.UserAddr + (guestPhysAddr - r.GuestPhysAddr);
    }

    /// <summary>A span over <paramref name="length"/> bytes that must lie in one region (ring structures).</summary>
    public unsafe Span<byte> GetSpan(ulong guestPhysAddr, int length)
    {
        GuestRamRegion r = RegionOf(guestPhysAddr);
        ulong offset = guestPhysAddr - r.GuestPhysAddr;
        if ((ulong)length > r.Size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "range crosses a region boundary");
        }
        // The range was just checked to lie inside this live shared mapping.
        return new Span<byte>((void*)(r.HostAddress + (nint)offset), length);
    }

    public T Read<T>(ulong guestPhysAddr) where T : unmanaged
    {
        Span<byte> bytes = stackalloc byte[Marshal.SizeOf<T>()];
        Read(guestPhysAddr, bytes);
        return MemoryMarshal.Read<T>(bytes);
    }

    public void Write<T>(ulong guestPhysAddr, T value) where T : unmanaged
    {
        Span<byte> bytes = stackalloc byte[Marshal.SizeOf<T>()];
        MemoryMarshal.Write(bytes, in value);
        Write(guestPhysAddr, bytes);
    }

    /// <summary>Copies guest memory out, crossing region boundaries where regions are adjacent.</summary>
    public void Read(ulong guestPhysAddr, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            GuestRamRegion r = RegionOf(guestPhysAddr);
            int n = (int)Math.Min((ulong)destination.Length, r.GuestPhysEnd - guestPhysAddr);
            GetSpan(guestPhysAddr, n).CopyTo(destination);
            destination = destination[n..];
            guestPhysAddr += (ulong)n;
        }
    }

    /// <summary>Copies into guest memory, crossing region boundaries where regions are adjacent.</summary>
    public void Write(ulong guestPhysAddr, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            GuestRamRegion r = RegionOf(guestPhysAddr);
            int n = (int)Math.Min((ulong)source.Length, r.GuestPhysEnd - guestPhysAddr);
            source[..n].CopyTo(GetSpan(guestPhysAddr, n));
            source = source[n..];
            guestPhysAddr += (ulong)n;
        }
    }

    public void Dispose()
    {
        foreach (GuestRamRegion r in _regions)
        {
            Libc.Munmap(r.HostAddress, r.Size);
            Libc.Close(r.MemFd);
        }
        _regions.Clear();
    }

    private static void Expect(long result, string what)
    {
        if (result < 0)
        {
            throw new InvalidOperationException($"{what} failed: {Errno.Describe((int)result)}");
        }
    }
}
