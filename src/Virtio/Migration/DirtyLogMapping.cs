using VirtioFsd.Linux;

namespace VirtioFsd.Virtio.Migration;

/// <summary>
/// The dirty page bitmap the front-end shares with SET_LOG_BASE (vhost-user.rst "Migration"): bit N stands for guest
/// page N (4 KiB, VHOST_LOG_PAGE), set when the back-end wrote that page. QEMU reads and clears it concurrently
/// (vhost_log_sync xchg's whole words), so every bit is set with an atomic OR; bits beyond the mapped size are never
/// touched. A mapping is retired (unmapped) only once no writer is inside it any more, so a bit is never set into memory
/// that is gone, nor into a log the front-end already synced and freed after our reply.
/// </summary>
internal sealed unsafe class DirtyLogMapping
{
    /// <summary>VHOST_LOG_PAGE: one bit covers 4096 bytes of guest physical memory.</summary>
    public const int PageShift = 12;

    /// <summary>
    /// Largest log accepted: 1 GiB of bitmap covers 32 TiB of guest physical address space, far beyond what a
    /// vhost-user guest has; a bigger one is a front-end asking us to map arbitrary amounts of memory.
    /// </summary>
    public const ulong MaxBytes = 1UL << 30;

    private readonly nint _mapBase;
    private readonly ulong _mapLength;
    private readonly uint* _words;
    private readonly ulong _wordCount;
    private int _users;
    private int _retired;

    private DirtyLogMapping(nint mapBase, ulong mapLength, nint log, ulong size)
    {
        _mapBase = mapBase;
        _mapLength = mapLength;
        _words = (uint*)log;
        _wordCount = size / sizeof(uint);
        Size = size;
    }

    /// <summary>Bytes of bitmap: it covers guest physical addresses below Size * 8 * 4096.</summary>
    public ulong Size { get; }

    /// <summary>
    /// Maps <paramref name="size"/> bytes at <paramref name="offset"/> of <paramref name="fd"/> (VhostUserLog mmap_size
    /// and mmap_offset). Both must be multiples of 8 (QEMU's log is an array of u64 starting at offset 0), the size
    /// non-zero and at most <see cref="MaxBytes"/>, and the range inside the file (a mapping past its end would SIGBUS).
    /// Returns 0 or -errno; the fd stays the caller's.
    /// </summary>
    public static int TryMap(int fd, ulong size, ulong offset, out DirtyLogMapping? mapping)
    {
        mapping = null;
        if (fd < 0 || size == 0 || size > MaxBytes || size % 8 != 0 || offset % 8 != 0 || offset > long.MaxValue - size)
        {
            return -Errno.EINVAL;
        }
        long fileSize = Libc.MappableFileSize(fd);
        if (fileSize < 0 || offset + size > (ulong)fileSize)
        {
            return -Errno.EINVAL;
        }
        ulong pageSize = (ulong)Environment.SystemPageSize;
        ulong alignedOffset = offset & ~(pageSize - 1);
        ulong lead = offset - alignedOffset;
        ulong mapLength = size + lead;
        nint mapBase = Libc.Mmap(0, mapLength, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, (long)alignedOffset);
        if (mapBase < 0)
        {
            return (int)mapBase;
        }
        mapping = new DirtyLogMapping(mapBase, mapLength, mapBase + (nint)lead, size);
        return 0;
    }

    /// <summary>Enters as a writer; false once the mapping is retired (take the current one instead).</summary>
    public bool TryEnter()
    {
        // Full fence (Interlocked) before reading _retired; Retire sets _retired with a full fence before reading
        // _users: either Retire sees this writer and waits for it, or this writer sees the retirement and leaves.
        Interlocked.Increment(ref _users);
        if (Volatile.Read(ref _retired) == 0)
        {
            return true;
        }
        Interlocked.Decrement(ref _users);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _users);

    /// <summary>
    /// Marks every page of [<paramref name="guestAddr"/>, +<paramref name="length"/>) dirty. Returns false when part
    /// of the range lies beyond the bitmap (those bits are not set). Only between <see cref="TryEnter"/> and <see cref="Exit"/>.
    /// </summary>
    public bool Mark(ulong guestAddr, ulong length)
    {
        if (length == 0)
        {
            return true;
        }
        ulong first = guestAddr >> PageShift;
        ulong last = guestAddr > ulong.MaxValue - (length - 1) ? ulong.MaxValue >> PageShift : (guestAddr + length - 1) >> PageShift;
        bool inside = true;
        for (ulong page = first; page <= last; page++)
        {
            ulong word = page / 32;
            if (word >= _wordCount)
            {
                inside = false;
                break;
            }
            uint bit = 1u << (int)(page % 32);
            // Sound: word < _wordCount, so the 4 bytes lie inside the mapped bitmap (its size is a multiple of 8 and
            // the mapping starts 8-aligned). The bitmap is little-endian like the host, so bit (page % 32) of word
            // page / 32 is bit (page % 8) of byte page / 8, as the spec's pseudo-code has it.
            ref uint target = ref _words[word];
            if ((Volatile.Read(ref target) & bit) == 0)
            {
                Interlocked.Or(ref target, bit);
            }
        }
        return inside;
    }

    /// <summary>Stops new writers, waits for those inside (they set a few bits each), then unmaps.</summary>
    public void Retire()
    {
        Interlocked.Exchange(ref _retired, 1);
        SpinWait spin = default;
        while (Volatile.Read(ref _users) != 0)
        {
            spin.SpinOnce();
        }
        Libc.Munmap(_mapBase, _mapLength);
    }
}
