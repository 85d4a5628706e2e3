using System.Buffers.Binary;
using System.Collections.Concurrent;
using VirtioFsd.Virtio.Virtqueue;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Virtio.Tests.Virtqueue;

/// <summary>
/// The lock-free pop side under real concurrency: the driver publishes and reaps on its own thread, one
/// consumer thread pops (the single consumer the queue is built for) while three other threads complete
/// requests through the locked used side. Every request must come back exactly once with its own reply.
/// </summary>
public class ConcurrentConsumerTests
{
    private const int Slots = 64;
    private const int Total = 20000;
    private const int Completers = 3;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Single_consumer_and_several_completers_round_trip_every_request(bool eventIdx)
    {
        using var h = new VirtqueueHarness(size: Slots, eventIdx: eventIdx);
        using SplitVirtqueue q = h.CreateQueue();
        ulong area = h.Allocator.Allocate(Slots * 16, 8);
        using var popped = new BlockingCollection<DescriptorChain>();
        int completed = 0;
        bool stop = false; // set when the driver is done or failed, so no thread waits forever
        Exception? failure = null;

        var consumer = new Thread(() =>
        {
            try
            {
                while (!Volatile.Read(ref stop) && !q.IsBroken)
                {
                    bool any = false;
                    q.DisableNotifications();
                    do
                    {
                        while (q.TryPopChain(out DescriptorChain chain))
                        {
                            popped.Add(chain);
                            any = true;
                        }
                    }
                    while (q.EnableNotifications());
                    if (!any)
                    {
                        Thread.Yield();
                    }
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                popped.CompleteAdding();
            }
        });
        Thread[] completers = Enumerable.Range(0, Completers).Select(_ => new Thread(() =>
        {
            // The device: the reply is the request's sequence number plus one.
            foreach (DescriptorChain chain in popped.GetConsumingEnumerable())
            {
                byte[] request = VirtqueueHarness.Gather(chain.Readable);
                byte[] reply = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(reply, BinaryPrimitives.ReadUInt64LittleEndian(request) + 1);
                q.AddUsed(chain.HeadIndex, VirtqueueHarness.Scatter(chain.Writable, reply));
                q.NotifyIfNeeded();
            }
        })).ToArray();
        consumer.Start();
        foreach (Thread t in completers)
        {
            t.Start();
        }

        // The driver, on this thread: keep the ring full, check each reply against what its slot asked.
        var freeSlots = new Queue<int>(Enumerable.Range(0, Slots));
        var inFlight = new Dictionary<ushort, (int Slot, ulong Sequence)>();
        var seen = new HashSet<ulong>();
        ulong sequence = 0;
        try
        {
            while (completed < Total && failure is null && !q.IsBroken)
            {
                while (freeSlots.Count > 0 && h.Driver.FreeDescriptors >= 2 && sequence < Total)
                {
                    int slot = freeSlots.Dequeue();
                    ulong gpa = area + ((ulong)slot * 16);
                    byte[] payload = new byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(payload, sequence);
                    h.Ram.Write(gpa, payload);
                    h.Ram.Write(gpa + 8, new byte[8]);
                    ushort head = h.Driver.AddChain([new DriverBuffer(gpa, 8)], [new DriverBuffer(gpa + 8, 8)], publish: true);
                    inFlight.Add(head, (slot, sequence));
                    sequence++;
                }
                bool reaped = false;
                while (h.Driver.TryGetUsed(out DriverUsedElement used))
                {
                    Assert.True(inFlight.Remove(used.Id, out var request), $"used id {used.Id} not in flight");
                    Assert.Equal(8u, used.Length);
                    byte[] reply = new byte[8];
                    h.Ram.Read(area + ((ulong)request.Slot * 16) + 8, reply);
                    Assert.Equal(request.Sequence + 1, BinaryPrimitives.ReadUInt64LittleEndian(reply));
                    Assert.True(seen.Add(request.Sequence));
                    freeSlots.Enqueue(request.Slot);
                    Interlocked.Increment(ref completed);
                    reaped = true;
                }
                if (!reaped)
                {
                    Thread.Yield();
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            consumer.Join();
        }
        foreach (Thread t in completers)
        {
            t.Join();
        }
        Assert.Null(failure);
        Assert.False(q.IsBroken);
        Assert.Equal(Total, completed);
        Assert.Equal(Total, seen.Count);
        Assert.Equal(unchecked((ushort)Total), q.LastAvailIndex);
        Assert.Equal(unchecked((ushort)Total), q.NextUsedIndex);
        Assert.Empty(h.Log.Lines);
    }
}
