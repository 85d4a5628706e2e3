using VirtioFsd.Linux;

namespace VirtioFsd.Virtio.Memory;

/// <summary>
/// Address translation. Every method either translates the whole range or fails: an access not
/// fully inside mapped regions yields nothing (no partial results), so a guest cannot make the
/// device touch memory outside what the frontend shared. Arithmetic never overflows: ranges are
/// compared as "length &lt;= end - address" after establishing address &lt; end.
/// </summary>
public sealed partial class GuestMemory
{
    /// <summary>
    /// Host pointer of <paramref name="length"/> (&gt; 0) bytes at <paramref name="guestPhysAddr"/> that
    /// must lie in one region: for ring structures and indirect tables, read as one array.
    /// </summary>
    public bool TryGetContiguous(ulong guestPhysAddr, ulong length, out nint pointer)
    {
        pointer = 0;
        if (length == 0 || !TryTranslateSegment(Volatile.Read(ref _layout), guestPhysAddr, length, out nint host, out ulong piece)
            || piece != length)
        {
            return false;
        }
        pointer = host;
        return true;
    }

    /// <summary>
    /// Appends host segments covering <paramref name="length"/> (&gt; 0) bytes at
    /// <paramref name="guestPhysAddr"/>, split where the range crosses from one region into an
    /// adjacent one. On failure <paramref name="iovecs"/> is left as it was.
    /// </summary>
    public bool TryAppendIoVecs(ulong guestPhysAddr, ulong length, List<IoVec> iovecs)
    {
        ArgumentNullException.ThrowIfNull(iovecs);
        int before = iovecs.Count;
        Layout layout = Volatile.Read(ref _layout);
        if (length == 0 || guestPhysAddr > ulong.MaxValue - length)
        {
            return false;
        }
        while (length > 0)
        {
            if (!TryTranslateSegment(layout, guestPhysAddr, length, out nint host, out ulong piece))
            {
                iovecs.RemoveRange(before, iovecs.Count - before);
                return false;
            }
            iovecs.Add(new IoVec(host, (nuint)piece));
            guestPhysAddr += piece;
            length -= piece;
        }
        return true;
    }

    /// <summary>
    /// As <see cref="TryAppendIoVecs(ulong, ulong, List{IoVec})"/>, into a caller-owned array that
    /// grows (doubling) when full; <paramref name="count"/> is the number of entries in use.
    /// </summary>
    public bool TryAppendIoVecs(ulong guestPhysAddr, ulong length, ref IoVec[] buffer, ref int count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        int before = count;
        Layout layout = Volatile.Read(ref _layout);
        if (length == 0 || guestPhysAddr > ulong.MaxValue - length)
        {
            return false;
        }
        while (length > 0)
        {
            if (!TryTranslateSegment(layout, guestPhysAddr, length, out nint host, out ulong piece))
            {
                count = before;
                return false;
            }
            if (count == buffer.Length)
            {
                Array.Resize(ref buffer, Math.Max(8, buffer.Length * 2));
            }
            buffer[count++] = new IoVec(host, (nuint)piece);
            guestPhysAddr += piece;
            length -= piece;
        }
        return true;
    }

    /// <summary>
    /// Host pointer of <paramref name="length"/> (&gt; 0) bytes at a frontend virtual address (the
    /// ring addresses of SET_VRING_ADDR live in that space), which must lie in one region.
    /// </summary>
    public bool TryTranslateUserAddress(ulong userAddr, ulong length, out nint pointer)
    {
        pointer = 0;
        if (length == 0)
        {
            return false;
        }
        // Linear: ring addresses are translated once per queue start, and regions are few.
        foreach (MappedRegion region in Volatile.Read(ref _layout).Regions)
        {
            MemoryRegionInfo info = region.Info;
            if (userAddr >= info.UserAddr && userAddr < info.UserEnd)
            {
                if (length > info.UserEnd - userAddr)
                {
                    return false;
                }
                pointer = region.HostAddress + (nint)(userAddr - info.UserAddr);
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// True when [<paramref name="pointer"/>, +<paramref name="length"/>) lies inside one mapping of
    /// this snapshot: lets a virtqueue check that the ring pointers it was handed are sound to use.
    /// </summary>
    internal bool ContainsHostRange(nint pointer, ulong length)
    {
        foreach (MappedRegion region in Volatile.Read(ref _layout).Regions)
        {
            ulong start = (ulong)region.HostAddress;
            ulong p = (ulong)pointer;
            if (p >= start && p - start < region.Info.Size && length <= region.Info.Size - (p - start))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The host address of <paramref name="guestPhysAddr"/> and how many of the wanted
    /// <paramref name="length"/> bytes that region holds from there (at least 1 on success).
    /// </summary>
    private static bool TryTranslateSegment(Layout layout, ulong guestPhysAddr, ulong length, out nint host, out ulong piece)
    {
        host = 0;
        piece = 0;
        ulong[] starts = layout.Starts;
        // Binary search for the last region starting at or below the address.
        int lo = 0;
        int hi = starts.Length - 1;
        int found = -1;
        while (lo <= hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            if (starts[mid] <= guestPhysAddr)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        if (found < 0 || guestPhysAddr >= layout.Ends[found])
        {
            return false;
        }
        ulong offset = guestPhysAddr - starts[found];
        piece = Math.Min(length, layout.Ends[found] - guestPhysAddr);
        host = layout.Hosts[found] + (nint)offset;
        return true;
    }
}
