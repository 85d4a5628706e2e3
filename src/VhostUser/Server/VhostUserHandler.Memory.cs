using VirtioFsd.Linux;
using VirtioFsd.Virtio.Memory;
using VirtioFsd.VhostUser.Protocol;

namespace VirtioFsd.VhostUser.Server;

/// <summary>
/// SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG. A new snapshot is mapped first (failure changes nothing),
/// then every running queue is stopped, the snapshot swapped, the old one released, and the queues
/// rebuilt on the new memory: no backend thread ever sees memory that is being unmapped.
/// </summary>
public sealed partial class VhostUserHandler
{
    private int SetMemTable(VhostUserMessage message)
    {
        ReadOnlySpan<byte> body = message.Body;
        int count = (int)Wire.Read<MemoryTableHeaderWire>(body).RegionCount;
        var regions = new MemoryRegionInfo[count];
        int[] fds = new int[count];
        for (int i = 0; i < count; i++)
        {
            MemoryRegionWire r = Wire.Read<MemoryRegionWire>(body, MemoryTableHeaderWire.Size + (i * MemoryRegionWire.Size));
            if (!r.IsValid)
            {
                _log.Warning("vhost-user: SET_MEM_TABLE region {Region} invalid (size 0 or wrapping)", i);
                return -Errno.EINVAL;
            }
            regions[i] = ToInfo(r);
            // The message keeps owning the fds and closes them after handling: a mapping outlives its fd.
            fds[i] = message.PeekFd(i);
        }
        int result = GuestMemory.TryCreate(regions, fds, out GuestMemory? memory);
        if (result < 0)
        {
            _log.Warning("vhost-user: SET_MEM_TABLE with {Count} regions refused: {Errno}", count, Errno.Describe(result));
            return result;
        }
        SwapMemory(memory!);
        _log.Information("vhost-user: memory table set, {Count} regions", count);
        for (int i = 0; i < count; i++)
        {
            WarnIfShrinkable(regions[i], fds[i]);
        }
        return 0;
    }

    /// <summary>
    /// A region's size was checked against its file when it was mapped (MappedRegion.TryMap), but a
    /// frontend that truncates the file afterwards makes the next access to the lost pages raise
    /// SIGBUS, which kills the daemon. QEMU's memory-backend-memfd seals its memfds against shrinking
    /// (seal=on, the default); other backends (memory-backend-file on /dev/shm or hugetlbfs) cannot
    /// be sealed. Refusing those would refuse working setups, so the residual risk is logged instead
    /// (docs/security.md): only a broken or hostile frontend, which holds the guest's memory anyway,
    /// can use it, and it can only stop the daemon, not read anything through it.
    /// </summary>
    private void WarnIfShrinkable(in MemoryRegionInfo region, int fd)
    {
        int seals = Libc.FileSeals(fd);
        if (seals < 0 || (seals & Libc.F_SEAL_SHRINK) == 0)
        {
            _log.Warning("vhost-user: guest memory region {Region} is not sealed against shrinking ({Seals}); a front-end that "
                + "truncates its file would crash the daemon (SIGBUS)", region, seals < 0 ? Errno.Describe(seals) : $"seals 0x{seals:x}");
        }
    }

    private int AddMemRegion(VhostUserMessage message)
    {
        SingleMemoryRegionWire wire = Wire.Read<SingleMemoryRegionWire>(message.Body);
        if (!wire.IsValid)
        {
            return -Errno.EINVAL;
        }
        MemoryRegionInfo info = ToInfo(wire.Region);
        int result = _memory.WithRegionAdded(info, message.PeekFd(0), out GuestMemory? memory);
        if (result < 0)
        {
            _log.Warning("vhost-user: ADD_MEM_REG {Region} refused: {Errno}", info, Errno.Describe(result));
            return result;
        }
        SwapMemory(memory!);
        WarnIfShrinkable(info, message.PeekFd(0));
        return 0;
    }

    private int RemoveMemRegion(SingleMemoryRegionWire wire)
    {
        MemoryRegionWire r = wire.Region;
        int result = _memory.WithRegionRemoved(r.GuestPhysAddr, r.MemorySize, r.UserspaceAddr, out GuestMemory? memory);
        if (result < 0)
        {
            _log.Warning("vhost-user: REM_MEM_REG {Region} refused: {Errno}", ToInfo(r), Errno.Describe(result));
            return result;
        }
        SwapMemory(memory!);
        return 0;
    }

    private void SwapMemory(GuestMemory memory)
    {
        StopAll();
        GuestMemory old = _memory;
        _memory = memory;
        old.Dispose();
        foreach (VringSlot slot in _vrings)
        {
            // Addresses that did not translate on the old table get another chance on the new one.
            slot.Unusable = false;
        }
        if (memory.RegionCount == 0 && _vrings.Any(v => v.ShouldRun))
        {
            // A frontend that takes away all memory under running rings: they wait, stopped, for memory.
            _log.Warning("vhost-user: the last memory region was removed; queues stay stopped until memory is added");
        }
        ReconcileAll();
    }

    private static MemoryRegionInfo ToInfo(in MemoryRegionWire r) => new(r.GuestPhysAddr, r.MemorySize, r.UserspaceAddr, r.MmapOffset);
}
