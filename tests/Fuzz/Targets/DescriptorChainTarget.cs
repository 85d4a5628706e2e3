using VirtioFsd.Fuzz.Support;
using VirtioFsd.Linux;
using VirtioFsd.Virtio.Memory;
using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Fuzz.Targets;

/// <summary>
/// Descriptor chains, direct and indirect, over a random guest memory layout (one to four memfd
/// regions, some adjacent so buffers cross region edges, some with holes between them, random mmap
/// offsets). A case lays out well-formed chains as Linux's virtio_ring.c would, then (in three cases
/// out of four) corrupts descriptors, indirect tables, avail entries or the avail index, and pops
/// with the device's <see cref="SplitVirtqueue"/>.
/// Invariants: every segment handed out lies inside the device's own mappings; a clean case pops
/// every chain with exactly the bytes the driver wrote and the writable room it offered, in order;
/// a queue that breaks logs exactly one line, one that does not logs nothing; no fd leaks.
/// </summary>
public sealed class DescriptorChainTarget : FuzzTarget
{
    private const ulong Page = 4096;

    public override string Name => FuzzTargets.DescriptorChains;

    protected override void Run(Random rng, long seed)
    {
        using var layout = new Layout(rng);
        layout.Run(rng);
    }

    private sealed class Layout : IDisposable
    {
        private readonly GuestRam _ram = new();
        private const ulong StraddleHalf = 2 * Page;

        private readonly List<GuestAllocator> _allocators = [];
        private readonly List<GuestAllocator> _straddling = [];
        private readonly GuestMemory _memory;
        private readonly LogCollector _log = new();

        public Layout(Random rng)
        {
            int regions = rng.Next(1, 5);
            ulong gpa = Page * (ulong)rng.Next(0, 64);
            for (int i = 0; i < regions; i++)
            {
                ulong size = Page * (ulong)rng.Next(16, 64);
                ulong offset = rng.Next(3) == 0 ? Page * (ulong)rng.Next(1, 8) : 0;
                _ram.AddRegion(gpa, size, offset);
                // Adjacent half the time (a buffer may cross), otherwise a hole the device must refuse.
                gpa += size + (rng.Next(2) == 0 ? 0 : Page * (ulong)rng.Next(1, 32));
            }
            // Per region a pool for rings, tables and buffers; where two regions touch, the last and first
            // 8 KiB around the edge form a straddling pool instead, so some buffers cross the edge.
            for (int i = 0; i < regions; i++)
            {
                GuestRamRegion r = _ram.Regions[i];
                bool touchesPrevious = i > 0 && _ram.Regions[i - 1].GuestPhysEnd == r.GuestPhysAddr;
                bool touchesNext = i + 1 < regions && _ram.Regions[i + 1].GuestPhysAddr == r.GuestPhysEnd;
                _allocators.Add(new GuestAllocator(r.GuestPhysAddr + (touchesPrevious ? StraddleHalf : 0),
                    r.GuestPhysEnd - (touchesNext ? StraddleHalf : 0)));
                if (touchesNext)
                {
                    _straddling.Add(new GuestAllocator(r.GuestPhysEnd - StraddleHalf, r.GuestPhysEnd + StraddleHalf));
                }
            }
            MemoryRegionInfo[] infos = [.. _ram.Regions.Select(r => new MemoryRegionInfo(r.GuestPhysAddr, r.Size, r.UserAddr, r.MmapOffset))];
            int created = GuestMemory.TryCreate(infos, [.. _ram.Regions.Select(r => r.MemFd)], out GuestMemory? memory);
            FuzzInvariantException.Check(created == 0, $"a valid layout was refused: {Errno.Describe(created)}");
            _memory = memory!;
        }

        public void Run(Random rng)
        {
            ushort size = (ushort)(1 << rng.Next(1, 8));
            GuestAllocator ringAlloc = _allocators[rng.Next(_allocators.Count)];
            using FrontendQueue rings = FrontendQueue.Allocate(0, size, ringAlloc);
            var driver = DriverQueue.For(_ram, rings);
            bool clean = rng.Next(4) == 0;

            // Well-formed chains: (readable bytes, writable room) in avail order.
            var expected = new List<(byte[] Readable, uint Writable)>();
            while (driver.FreeDescriptors > 0 && expected.Count < size && rng.Next(8) != 0 && _allocators.Max(a => a.Remaining) > 20_000)
            {
                int readable = rng.Next(0, 4);
                int writable = rng.Next(readable == 0 ? 1 : 0, 4);
                bool indirect = rng.Next(3) == 0;
                var r = new DriverBuffer[readable];
                var w = new DriverBuffer[writable];
                var bytes = new List<byte>();
                for (int i = 0; i < readable; i++)
                {
                    r[i] = Allocate(rng, (uint)rng.Next(1, 2000));
                    byte[] data = new byte[r[i].Length];
                    rng.NextBytes(data);
                    _ram.Write(r[i].GuestPhysAddr, data);
                    bytes.AddRange(data);
                }
                uint room = 0;
                for (int i = 0; i < writable; i++)
                {
                    w[i] = Allocate(rng, (uint)rng.Next(1, 2000));
                    room += w[i].Length;
                }
                GuestAllocator tables = _allocators.OrderByDescending(x => x.Remaining).First();
                if (indirect && tables.Remaining >= (ulong)(16 * (readable + writable + 1)))
                {
                    ulong table = tables.Allocate((ulong)(16 * (readable + writable)), 16);
                    driver.AddIndirectChain(r, w, table, publish: false);
                }
                else if (readable + writable <= driver.FreeDescriptors)
                {
                    driver.AddChain(r, w, publish: false);
                }
                else
                {
                    break;
                }
                expected.Add(([.. bytes], room));
            }
            driver.PublishAvail();
            if (!clean)
            {
                Corrupt(rng, driver, rings);
            }

            using var queue = new SplitVirtqueue(new VirtqueueConfig
            {
                Index = 0,
                Size = size,
                Rings = Translate(rings),
                UsedRingGuestAddress = rings.UsedGpa,
                LastAvailIndex = 0,
                KickFd = rings.Kick.Value,
                CallFd = rings.Call.Value,
            }, _memory, _log.Logger);
            var chain = new DescriptorChain();
            int popped = 0;
            for (int i = 0; i < size + 2 && queue.TryPopChain(chain); i++)
            {
                CheckInsideMappings(chain);
                if (clean)
                {
                    FuzzInvariantException.Check(popped < expected.Count, "a clean ring yielded more chains than it holds");
                    byte[] got = Gather(chain.Readable);
                    FuzzInvariantException.Check(got.AsSpan().SequenceEqual(expected[popped].Readable),
                        $"chain {popped}: the device read other bytes than the driver wrote");
                    FuzzInvariantException.Check(chain.WritableLength == expected[popped].Writable,
                        $"chain {popped}: {chain.WritableLength} writable bytes, the driver offered {expected[popped].Writable}");
                }
                popped++;
                queue.AddUsed(chain.HeadIndex, 0);
            }
            IReadOnlyList<string> lines = _log.Lines;
            if (clean)
            {
                FuzzInvariantException.Check(!queue.IsBroken && popped == expected.Count,
                    $"a clean ring of {expected.Count} chains popped {popped} (broken: {queue.IsBroken}; {string.Join(" | ", lines)})");
            }
            FuzzInvariantException.Check(queue.IsBroken ? lines.Count == 1 : lines.Count == 0,
                $"broken={queue.IsBroken} with {lines.Count} log lines: {string.Join(" | ", lines)}");
        }

        /// <summary>A buffer in a random pool; a straddling pool's buffers may cross from one region into the next.</summary>
        private DriverBuffer Allocate(Random rng, uint length)
        {
            List<GuestAllocator> pools = _straddling.Count > 0 && rng.Next(4) == 0 ? _straddling : _allocators;
            for (int attempt = 0; attempt < 8; attempt++)
            {
                GuestAllocator pool = pools[rng.Next(pools.Count)];
                if (pool.Remaining >= (ulong)length + 8)
                {
                    return new DriverBuffer(pool.Allocate(length, 8), length);
                }
            }
            GuestAllocator roomy = _allocators.OrderByDescending(x => x.Remaining).First();
            uint fit = (uint)Math.Clamp((long)roomy.Remaining - 16, 1, length);
            return new DriverBuffer(roomy.Allocate(fit, 8), fit);
        }

        /// <summary>One to four hostile edits of what the driver laid out.</summary>
        private void Corrupt(Random rng, DriverQueue driver, FrontendQueue rings)
        {
            int edits = rng.Next(1, 5);
            for (int e = 0; e < edits; e++)
            {
                int index = rng.Next(driver.Size);
                ulong entry = rings.DescGpa + (16UL * (ulong)index);
                switch (rng.Next(7))
                {
                    case 0:
                        _ram.Write(entry, PlausibleAddress(rng));
                        break;
                    case 1:
                        _ram.Write(entry + 8, rng.Next(3) == 0 ? (uint)rng.NextInt64(0, uint.MaxValue) : (uint)rng.Next(0, 70_000));
                        break;
                    case 2:
                        _ram.Write(entry + 12, (ushort)rng.Next(0, 8));
                        break;
                    case 3:
                        _ram.Write(entry + 14, (ushort)(rng.Next(4) == 0 ? rng.Next(0, 65536) : rng.Next(0, driver.Size + 1)));
                        break;
                    case 4:
                        // An indirect descriptor pointing at a table of whatever lies there.
                        _ram.Write(entry + 12, (ushort)4);
                        _ram.Write(entry + 8, (uint)(16 * rng.Next(0, 9)) + (uint)(rng.Next(4) == 0 ? rng.Next(1, 16) : 0));
                        break;
                    case 5:
                        _ram.Write(rings.AvailGpa + 4 + (2UL * (ulong)rng.Next(driver.Size)),
                            (ushort)(rng.Next(4) == 0 ? rng.Next(0, 65536) : rng.Next(0, driver.Size)));
                        break;
                    default:
                        driver.SetAvailIndex((ushort)(rng.Next(3) == 0 ? rng.Next(0, 65536) : rng.Next(0, driver.Size + 3)));
                        break;
                }
            }
        }

        /// <summary>Addresses near the edges that matter: region starts and ends, holes, zero, the top of the space.</summary>
        private ulong PlausibleAddress(Random rng)
        {
            GuestRamRegion r = _ram.Regions[rng.Next(_ram.Regions.Count)];
            return rng.Next(6) switch
            {
                0 => (ulong)rng.NextInt64(),
                1 => r.GuestPhysEnd - (ulong)rng.Next(0, 64),
                2 => r.GuestPhysEnd + (ulong)rng.Next(0, 8192),
                3 => ulong.MaxValue - (ulong)rng.Next(0, 4096),
                4 => r.GuestPhysAddr - (ulong)Math.Min((long)r.GuestPhysAddr, rng.Next(0, 64)),
                _ => r.GuestPhysAddr + (ulong)rng.NextInt64(0, (long)r.Size),
            };
        }

        private RingAddresses Translate(FrontendQueue rings)
        {
            bool ok = RingAddresses.TryTranslate(_memory, rings.Size, _ram.UserAddrOf(rings.DescGpa),
                _ram.UserAddrOf(rings.AvailGpa), _ram.UserAddrOf(rings.UsedGpa), out RingAddresses addresses);
            FuzzInvariantException.Check(ok, "rings inside one region did not translate");
            return addresses;
        }

        private void CheckInsideMappings(DescriptorChain chain)
        {
            ulong total = 0;
            foreach (IoVec v in chain.Readable.ToArray().Concat(chain.Writable.ToArray()))
            {
                bool inside = false;
                foreach (MappedRegion m in _memory.MappedRegions)
                {
                    ulong lo = (ulong)m.HostAddress;
                    if ((ulong)v.Base >= lo && (ulong)v.Length <= m.Info.Size && (ulong)v.Base - lo <= m.Info.Size - (ulong)v.Length)
                    {
                        inside = true;
                        break;
                    }
                }
                FuzzInvariantException.Check(inside && v.Length > 0,
                    $"segment 0x{(ulong)v.Base:x}+{v.Length} is not inside one mapped region");
                total += (ulong)v.Length;
            }
            FuzzInvariantException.Check(total == (ulong)chain.ReadableLength + chain.WritableLength, "segment lengths do not add up");
        }

        private static unsafe byte[] Gather(ReadOnlySpan<IoVec> segments)
        {
            var bytes = new List<byte>();
            foreach (IoVec v in segments)
            {
                // Checked by CheckInsideMappings: inside the device's live mapping of guest RAM.
                bytes.AddRange(new ReadOnlySpan<byte>((void*)v.Base, checked((int)v.Length)).ToArray());
            }
            return [.. bytes];
        }

        public void Dispose()
        {
            _memory.Dispose();
            _ram.Dispose();
        }
    }
}
