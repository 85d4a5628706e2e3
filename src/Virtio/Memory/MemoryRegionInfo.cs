namespace VirtioFsd.Virtio.Memory;

/// <summary>
/// One guest memory region as the frontend describes it in SET_MEM_TABLE / ADD_MEM_REG
/// (<c>VhostUserMemoryRegion</c> in QEMU's docs/interop/vhost-user.rst): guest physical address,
/// size, the frontend's own virtual address of the region (ring addresses arrive in that space),
/// and the offset into the accompanying fd where the region starts.
/// </summary>
public readonly record struct MemoryRegionInfo(ulong GuestPhysAddr, ulong Size, ulong UserAddr, ulong MmapOffset)
{
    /// <summary>Exclusive end in guest physical space (valid only once <see cref="Validate"/> returned null).</summary>
    public ulong GuestPhysEnd => GuestPhysAddr + Size;

    /// <summary>Exclusive end in the frontend's virtual space (valid only once <see cref="Validate"/> returned null).</summary>
    public ulong UserEnd => UserAddr + Size;

    /// <summary>
    /// Checks the region on its own (not against others): non-empty, and none of gpa+size,
    /// uva+size, offset+size overflows 64 bits (an overflowing region would make every later
    /// range check meaningless). Returns null when valid, else what is wrong, for the log line.
    /// </summary>
    public string? Validate()
    {
        if (Size == 0)
        {
            return "size 0";
        }
        if (GuestPhysAddr > ulong.MaxValue - Size)
        {
            return "guest physical address + size overflows";
        }
        if (UserAddr > ulong.MaxValue - Size)
        {
            return "user address + size overflows";
        }
        if (MmapOffset > ulong.MaxValue - Size || MmapOffset + Size > long.MaxValue)
        {
            return "mmap offset + size overflows";
        }
        return null;
    }

    public override string ToString() =>
        $"gpa 0x{GuestPhysAddr:x} size 0x{Size:x} uva 0x{UserAddr:x} offset 0x{MmapOffset:x}";
}
