using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>
/// Thousands of requests through a queue: the driver sends random payloads in random chain shapes
/// (direct and indirect, several buffers, some straddling a region edge), the device answers each
/// with the payload reversed, completing out of order, and the driver checks every byte.
/// </summary>
public class RoundTripTests
{
    private const int Slots = 64;          // = queue size: at most this many requests in flight
    private const ulong SlotSize = 8192;   // request area + reply area + indirect table per slot

    /// <summary>One request the driver has in flight.</summary>
    private sealed record Request(int Slot, byte[] Payload, DriverBuffer[] Replies);

    private sealed class Guest
    {
        private readonly VirtqueueHarness _h;
        private readonly ulong _slotsBase;
        private readonly Random _random;
        private readonly Queue<int> _freeSlots = new(Enumerable.Range(0, Slots));
        private readonly Dictionary<ushort, Request> _inFlight = [];

        public Guest(VirtqueueHarness h, int seed)
        {
            _h = h;
            _random = new Random(seed);
            // Place the slots so the edge between the harness's two regions falls 1000 bytes into a
            // slot's request area: longer payloads there straddle two regions.
            ulong edge = VirtqueueHarness.RamBase + (VirtqueueHarness.RamSize / 2);
            ulong next = h.Allocator.Allocate(0, 8);
            h.Allocator.Allocate((edge - 1000 - next) % SlotSize, 1);
            _slotsBase = h.Allocator.Allocate(Slots * SlotSize, 8);
            Assert.Equal(1000UL, (edge - _slotsBase) % SlotSize);
        }

        public int Completed { get; private set; }

        /// <summary>A slot is free and so are descriptors for the longest direct chain (3 + 2).</summary>
        public bool CanSend => _freeSlots.Count > 0 && _h.Driver.FreeDescriptors >= 5;

        /// <summary>Adds one request: 1-3 readable pieces, 1-2 writable pieces, direct or indirect.</summary>
        public void Send(bool publish)
        {
            int slot = _freeSlots.Dequeue();
            ulong area = _slotsBase + ((ulong)slot * SlotSize);
            byte[] payload = new byte[_random.Next(1, 3000)];
            _random.NextBytes(payload);
            _h.Ram.Write(area, payload);
            DriverBuffer[] readable = Split(area, (uint)payload.Length, _random.Next(1, 4));
            uint replyRoom = (uint)payload.Length + (uint)_random.Next(0, 100);
            DriverBuffer[] writable = Split(area + 3200, replyRoom, _random.Next(1, 3));
            ushort head = _random.Next(2) == 0
                ? _h.Driver.AddChain(readable, writable, publish)
                : _h.Driver.AddIndirectChain(readable, writable, area + 6400, publish);
            _inFlight.Add(head, new Request(slot, payload, writable));
        }

        /// <summary>Consumes every used element published so far, checking each reply.</summary>
        public void Drain()
        {
            while (_h.Driver.TryGetUsed(out DriverUsedElement used))
            {
                Assert.True(_inFlight.Remove(used.Id, out Request? request), $"unexpected used id {used.Id}");
                Assert.Equal((uint)request.Payload.Length, used.Length);
                var reply = new byte[request.Payload.Length];
                int offset = 0;
                foreach (DriverBuffer b in request.Replies)
                {
                    int n = Math.Min((int)b.Length, reply.Length - offset);
                    _h.Ram.Read(b.GuestPhysAddr, reply.AsSpan(offset, n));
                    offset += n;
                }
                Array.Reverse(reply);
                Assert.Equal(request.Payload, reply);
                _freeSlots.Enqueue(request.Slot);
                Completed++;
            }
        }

        private DriverBuffer[] Split(ulong gpa, uint length, int pieces)
        {
            pieces = (int)Math.Min(pieces, length);
            var result = new DriverBuffer[pieces];
            uint left = length;
            for (int i = 0; i < pieces; i++)
            {
                uint n = i == pieces - 1 ? left : (uint)_random.Next(1, (int)(left - (uint)(pieces - i - 1)) + 1) ;
                result[i] = new DriverBuffer(gpa, n);
                gpa += n;
                left -= n;
            }
            return result;
        }
    }

    /// <summary>The device: reverse the request into the reply buffers.</summary>
    private static uint Serve(DescriptorChain chain)
    {
        byte[] request = VirtqueueHarness.Gather(chain.Readable);
        Array.Reverse(request);
        Assert.True(chain.WritableLength >= request.Length);
        return VirtqueueHarness.Scatter(chain.Writable, request);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Thousands_of_chains_round_trip_with_their_data(bool eventIdx)
    {
        const int Total = 5000;
        using var h = new VirtqueueHarness(size: Slots, eventIdx: eventIdx, twoRegions: true);
        using SplitVirtqueue q = h.CreateQueue();
        var guest = new Guest(h, seed: 1234);
        var random = new Random(99);
        int sent = 0;
        var popped = new List<DescriptorChain>();
        nint secondRegionHost = h.Memory.MappedRegions[1].HostAddress;
        int splitAtEdge = 0; // request segments that start at the second region: split buffers
        while (guest.Completed < Total)
        {
            int burst = random.Next(1, Slots + 1);
            for (int i = 0; i < burst && guest.CanSend && sent < Total; i++, sent++)
            {
                guest.Send(publish: false);
            }
            h.Driver.PublishAvail();

            q.DisableNotifications();
            do
            {
                while (q.TryPopChain(out DescriptorChain chain))
                {
                    popped.Add(chain);
                }
            }
            while (q.EnableNotifications());

            // Complete a random part, in random order: the device may finish requests out of order.
            int completing = random.Next(popped.Count == 0 ? 0 : 1, popped.Count + 1);
            random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(popped));
            foreach (DescriptorChain chain in popped.GetRange(0, completing))
            {
                foreach (Linux.IoVec segment in chain.Readable)
                {
                    splitAtEdge += segment.Base == secondRegionHost ? 1 : 0;
                }
                q.AddUsed(chain.HeadIndex, Serve(chain));
            }
            popped.RemoveRange(0, completing);
            q.NotifyIfNeeded();
            guest.Drain();
        }
        Assert.Equal(Total, sent);
        Assert.False(q.IsBroken);
        Assert.Empty(h.Log.Lines);
        Assert.Equal(unchecked((ushort)Total), q.LastAvailIndex);
        Assert.True(splitAtEdge > 0);
    }

    [Fact]
    public void Completions_from_several_threads_are_all_published_once()
    {
        const int Batches = 80;
        const int Workers = 4;
        using var h = new VirtqueueHarness(size: Slots, twoRegions: true);
        using SplitVirtqueue q = h.CreateQueue();
        var guest = new Guest(h, seed: 42);
        int total = 0;
        for (int batch = 0; batch < Batches; batch++)
        {
            int sent = 0;
            for (; guest.CanSend; sent++)
            {
                guest.Send(publish: true);
            }
            var chains = new List<DescriptorChain>();
            while (q.TryPopChain(out DescriptorChain chain))
            {
                chains.Add(chain);
            }
            Assert.Equal(sent, chains.Count);
            Thread[] workers = Enumerable.Range(0, Workers).Select(w => new Thread(() =>
            {
                for (int i = w; i < chains.Count; i += Workers)
                {
                    q.AddUsed(chains[i].HeadIndex, Serve(chains[i]));
                    q.NotifyIfNeeded();
                }
            })).ToArray();
            foreach (Thread t in workers)
            {
                t.Start();
            }
            // The guest reads the used ring while the workers are still writing it.
            while (workers.Any(t => t.IsAlive))
            {
                guest.Drain();
            }
            foreach (Thread t in workers)
            {
                t.Join();
            }
            guest.Drain();
            Assert.Equal(0, h.Driver.InFlight);
            total += sent;
            Assert.Equal(total, guest.Completed);
        }
        Assert.True(total > 1000);
        Assert.False(q.IsBroken);
    }
}
