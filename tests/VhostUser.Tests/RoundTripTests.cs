using VirtioFsd.VhostUser.Tests.Support;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests;

/// <summary>End to end: the QEMU-like frontend drives the server over a real Unix socket with memfd memory.</summary>
public sealed class RoundTripTests : IDisposable
{
    private readonly TempDirectory _dir = new("virtiofsd-vhost-user-round-trip-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Thousands_of_chains_round_trip_through_the_echo_backend_on_two_queues()
        => FdTable.AssertNoLeak(() => RoundTrip(20), () => RoundTrip(4000));

    private void RoundTrip(int chains)
    {
        using (var ram = new GuestRam())
        {
            // Two adjacent regions: buffers placed across 0x100000 exercise split translation.
            ram.AddRegion(0, 0x100000);
            ram.AddRegion(0x100000, 0x100000);
            using var h = ServerHarness.OverSocketPath(_dir.Combine($"vu{chains}.sock"), ram, new EchoBackend(queueCount: 2));
            var alloc = new GuestAllocator(0, 0x200000);
            using FrontendQueue q0 = FrontendQueue.Allocate(0, 64, alloc);
            using FrontendQueue q1 = FrontendQueue.Allocate(1, 256, alloc);
            h.Frontend.Handshake([q0, q1]);
            Assert.True((h.Frontend.NegotiatedFeatures & Proto.FeatureEventIdx) != 0);
            Assert.Equal(2, h.Backend.RunningQueues);

            bool eventIdx = true;
            var drivers = new[] { DriverQueue.For(ram, q0, eventIdx), DriverQueue.For(ram, q1, eventIdx) };
            var queues = new[] { q0, q1 };
            // Buffer pool straddling the region boundary.
            ulong pool = 0x100000 - 0x8000;
            var rng = new Random(1234);
            int completed = 0;
            for (int i = 0; i < chains; i++)
            {
                int qi = i % 2;
                int len = 1 + rng.Next(3000);
                ulong inGpa = pool + (ulong)((i % 4) * 0x4000);
                ulong outGpa = inGpa + 0x2000;
                byte[] payload = new byte[len];
                rng.NextBytes(payload);
                ram.Write(inGpa, payload);
                ushort head = i % 3 == 0
                    ? drivers[qi].AddIndirectChain([new DriverBuffer(inGpa, (uint)len)],
                        [new DriverBuffer(outGpa, 1000), new DriverBuffer(outGpa + 1000, 3000)], alloc.Allocate(32, 16))
                    : drivers[qi].AddChain([new DriverBuffer(inGpa, (uint)len)],
                        [new DriverBuffer(outGpa, 1000), new DriverBuffer(outGpa + 1000, 3000)]);
                queues[qi].Notify();
                DriverUsedElement used = WaitUsed(drivers[qi], queues[qi]);
                Assert.Equal(head, used.Id);
                Assert.Equal((uint)len, used.Length);
                byte[] echoed = new byte[len];
                ram.Read(outGpa, echoed);
                for (int b = 0; b < len; b++)
                {
                    Assert.Equal(EchoBackend.Transform(payload[b]), echoed[b]);
                }
                completed++;
            }
            Assert.Equal(chains, completed);
            // The ring stops where the driver's avail index is.
            Assert.Equal((uint)drivers[0].NextAvailIndex, h.Frontend.GetVringBase(0));
            Assert.Equal(1, h.Backend.RunningQueues);
            Assert.Null(h.Escaped);
        }
    }

    internal static DriverUsedElement WaitUsed(DriverQueue driver, FrontendQueue queue)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            if (driver.TryGetUsed(out DriverUsedElement e))
            {
                return e;
            }
            queue.WaitForCall(10);
        }
        throw new Xunit.Sdk.XunitException("backend did not return the chain within 10 s");
    }
}
