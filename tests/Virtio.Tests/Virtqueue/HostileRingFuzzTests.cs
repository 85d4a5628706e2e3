using VirtioFsd.Linux;
using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>
/// Random garbage in the rings (a fuzz pass with fixed seeds): the queue must never fault, never
/// hand out a segment outside guest RAM, and either pop well-formed chains or break with a log line.
/// </summary>
public class HostileRingFuzzTests
{
    private const ushort Size = 16;

    /// <summary>Descriptors that are often plausible (addresses near guest RAM, small lengths, valid-ish next).</summary>
    private static void WriteRandomDescriptor(VirtqueueHarness h, Random random, ulong table, int index, int tableEntries)
    {
        ulong addr = random.Next(4) switch
        {
            0 => (ulong)random.NextInt64(),
            1 => VirtqueueHarness.RamBase + VirtqueueHarness.RamSize - (ulong)random.Next(0, 64),
            _ => VirtqueueHarness.RamBase + (ulong)random.Next(0, (int)VirtqueueHarness.RamSize),
        };
        uint len = random.Next(4) == 0 ? (uint)random.NextInt64(0, uint.MaxValue) : (uint)random.Next(0, 4096);
        if (random.Next(3) == 0 && table == h.Rings.DescGpa)
        {
            // Sometimes point at a small indirect table of more garbage.
            len = (uint)(16 * random.Next(0, 5));
        }
        ushort flags = (ushort)random.Next(0, 8);
        ushort next = (ushort)(random.Next(5) == 0 ? random.Next(0, 65536) : random.Next(0, tableEntries + 1));
        h.Driver.WriteDescriptorAt(table, index, addr, len, flags, next);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Garbage_rings_never_yield_memory_outside_guest_ram(int seed)
    {
        var random = new Random(seed);
        int broken = 0;
        int popped = 0;
        for (int round = 0; round < 200; round++)
        {
            using var h = new VirtqueueHarness(size: Size);
            // The device's own mapping of guest RAM (not the frontend's).
            ulong lo = (ulong)h.Memory.MappedRegions[0].HostAddress;
            ulong hi = lo + h.Memory.MappedRegions[0].Info.Size;
            for (int i = 0; i < Size; i++)
            {
                WriteRandomDescriptor(h, random, h.Rings.DescGpa, i, Size);
            }
            // Fill any small indirect tables referenced, with more garbage, at their (in-RAM) addresses.
            for (int i = 0; i < Size; i++)
            {
                int entries = random.Next(0, 5);
                ulong table = VirtqueueHarness.RamBase + 0x8_0000 + ((ulong)i * 0x100);
                for (int e = 0; e < entries; e++)
                {
                    WriteRandomDescriptor(h, random, table, e, entries);
                }
            }
            int count = random.Next(0, Size + 3);
            for (int i = 0; i < count; i++)
            {
                h.Driver.PushAvail((ushort)(random.Next(6) == 0 ? random.Next(0, 65536) : random.Next(0, Size)), publish: false);
            }
            h.Driver.SetAvailIndex(random.Next(8) == 0 ? (ushort)random.Next(0, 65536) : (ushort)count);

            using SplitVirtqueue q = h.CreateQueue();
            var chain = new DescriptorChain();
            for (int i = 0; i < Size + 2 && q.TryPopChain(chain); i++)
            {
                popped++;
                ulong total = 0;
                foreach (IoVec v in chain.Readable.ToArray().Concat(chain.Writable.ToArray()))
                {
                    Assert.True((ulong)v.Base >= lo && (ulong)v.Length > 0 && (ulong)v.Length <= hi - (ulong)v.Base);
                    total += (ulong)v.Length;
                }
                Assert.Equal(total, (ulong)chain.ReadableLength + chain.WritableLength);
                q.AddUsed(chain.HeadIndex, 0);
            }
            if (q.IsBroken)
            {
                broken++;
                Assert.Single(h.Log.Lines);
            }
            else
            {
                Assert.Empty(h.Log.Lines);
            }
        }
        // The generator must exercise both outcomes, or the test proves little.
        Assert.True(broken > 0);
        Assert.True(popped > 0);
    }
}
